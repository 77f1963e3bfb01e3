#![allow(dead_code)]
//! `xorgpu serve` as a test drives it: the real binary on a free loopback port, and a
//! reader of its event streams.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running server, killed when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Its first lines on stdout, up to the address.
    pub banner: String,
}

impl Server {
    /// Starts `xorgpu serve --port 0` with `args`, waiting for its address line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xorgpu"))
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        // Notes may come first; the address line ends the banner.
        let mut banner = String::new();
        while !banner.contains("serving on") {
            let read = out.read_line(&mut banner).expect("the address line");
            assert!(read > 0, "the server ended before its address: {banner:?}");
        }
        let at = banner.find("http://").unwrap_or_else(|| panic!("no address in {banner:?}"));
        let base = banner[at..].split('/').take(3).collect::<Vec<_>>().join("/");
        // The rest of stdout is drained so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        Server { child, base, banner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The number of runs going, from `/api/info`.
    pub async fn runs(&self, client: &reqwest::Client) -> u64 {
        let info: Value =
            serde_json::from_str(&client.get(self.url("/api/info")).send().await.unwrap().text().await.unwrap())
                .unwrap();
        info["runs"].as_u64().unwrap()
    }

    /// Waits until `runs` is `n`, failing after `limit`.
    pub async fn wait_runs(&self, client: &reqwest::Client, n: u64, limit: Duration) {
        let start = Instant::now();
        loop {
            let now = self.runs(client).await;
            if now == n {
                return;
            }
            assert!(start.elapsed() < limit, "{now} runs still going after {limit:?}, expected {n}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's resident memory now, in bytes.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A run's (or a sweep's) stream of server-sent events.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    pub fn new(response: reqwest::Response) -> Events {
        assert_eq!(response.status(), 200, "a stream answers 200");
        Events { response, buffer: String::new() }
    }

    /// The next event `(name, data)`, or None when the stream ends; fails after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<(String, String)> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_string();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = n.trim().to_string();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push(d.strip_prefix(' ').unwrap_or(d).to_string());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((name, data.join("\n")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Err(_) => panic!("no event within {limit:?}"),
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) => return None,
                Ok(Err(e)) => panic!("the stream broke: {e}"),
            }
        }
    }

    /// The next event, which must be `name`; its data as JSON.
    pub async fn expect(&mut self, name: &str) -> Value {
        let (got, data) =
            self.next(Duration::from_secs(60)).await.unwrap_or_else(|| panic!("the stream ended before {name}"));
        assert_eq!(got, name, "expected a {name} event, got {got}: {data}");
        serde_json::from_str(&data).unwrap_or_else(|e| panic!("{name} is not JSON ({e}): {data}"))
    }

    /// Frames until `done(frame)` holds, failing after `limit`; the frames seen.
    pub async fn frames_until(&mut self, limit: Duration, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (name, data) = self.next(left).await.expect("the stream ended");
            assert_eq!(name, "frame", "{data}");
            let frame: Value = serde_json::from_str(&data).unwrap();
            let stop = done(&frame);
            frames.push(frame);
            if stop {
                return frames;
            }
        }
    }
}
