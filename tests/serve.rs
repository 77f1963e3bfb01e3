//! `xorgpu serve` over HTTP: runs streamed and steered, the same weights as the command
//! line, every bad parameter refused by name, the Host and Origin guard, the run limit,
//! vanished clients, a load of clients, and a clean Ctrl-C.

// Only these two binaries build the HTTP client: in `common` every test binary would.
#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use serde_json::Value;
use server::{Events, Server};

const MINUTE: Duration = Duration::from_secs(60);

fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}

/// Starts a run of `query`; its stream, with the setup event read.
async fn start(server: &Server, c: &reqwest::Client, query: &str) -> (Events, Value) {
    let response = c.post(server.url(&format!("/api/run?{query}"))).send().await.unwrap();
    let status = response.status();
    if status != 200 {
        panic!("{query}: {status} {}", response.text().await.unwrap());
    }
    let mut events = Events::new(response);
    let setup = events.expect("setup").await;
    (events, setup)
}

async fn steer(server: &Server, c: &reqwest::Client, id: &Value, action: &str) {
    let r = c.post(server.url(&format!("/api/run/{id}/{action}"))).send().await.unwrap();
    assert_eq!(r.status(), 200, "{action}: {}", r.text().await.unwrap());
}

fn weights(frame: &Value) -> Vec<f32> {
    frame["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| {
            let w = l["w"].as_array().unwrap().iter();
            w.chain(l["b"].as_array().unwrap().iter()).map(|x| x.as_f64().unwrap() as f32).collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_learns_xor_on_each_backend_with_the_loss_falling() {
    let server = Server::start(&[]);
    let c = client();
    for backend in ["gpu", "cpu"] {
        let (mut events, setup) = start(&server, &c, &format!("backend={backend}")).await;
        assert_eq!(setup["backend"], backend);
        assert_eq!(setup["net"], "2-2-1 sigmoid");
        assert_eq!(setup["points"]["train"].as_array().unwrap().len(), 4, "the XOR table");
        // Started: the memory held for it while it made its data is let go.
        let info: Value =
            serde_json::from_str(&c.get(server.url("/api/info")).send().await.unwrap().text().await.unwrap()).unwrap();
        assert_eq!(info["starting_bytes"], 0, "{backend}: a started run still holds memory against others");
        // Paused at epoch 0 until play.
        let first = events.expect("frame").await;
        assert_eq!((first["epoch"].as_u64(), first["playing"].as_bool()), (Some(0), Some(false)));
        assert_eq!(first["grid"].as_array().unwrap().len(), 50 * 50);
        steer(&server, &c, &setup["id"], "play").await;
        let frames = events
            .frames_until(MINUTE, |f| f["loss"].as_f64().unwrap() < 0.05 && f["train_accuracy"].as_f64() == Some(1.0))
            .await;
        let last = frames.last().unwrap();
        assert!(last["epoch"].as_u64().unwrap() > 0 && last["playing"] == true);
        let losses: Vec<f64> = frames.iter().map(|f| f["loss"].as_f64().unwrap()).collect();
        assert!(losses[losses.len() - 1] < first["loss"].as_f64().unwrap() / 10.0, "{backend}: {losses:?}");
        // Epochs only go up, and the rates are reported once measured.
        assert!(frames.windows(2).all(|w| w[1]["epoch"].as_u64() >= w[0]["epoch"].as_u64()));
        // The boundary at the corners: class 0 at (0,0) and (1,1), class 1 at the others.
        // The grid is 50 × 50 over [−0.5, 1.5]², rows from the top: x = −0.5 + (i + 0.5)/25.
        let grid: Vec<f64> = last["grid"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let at = |x: f64, y: f64| {
            let (i, j) = (((x + 0.5) * 25.0) as usize, ((1.5 - y) * 25.0) as usize);
            grid[j * 50 + i]
        };
        assert!(at(0.0, 0.0) < 0.5 && at(1.0, 1.0) < 0.5 && at(0.0, 1.0) > 0.5 && at(1.0, 0.0) > 0.5, "{backend}");
        drop(events);
    }
    server.wait_runs(&c, 0, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_pause_and_reset() {
    let server = Server::start(&[]);
    let c = client();
    for backend in ["cpu", "gpu"] {
        let query =
            format!("backend={backend}&dataset=circle&batch=200&hidden=4&activation=tanh&optimizer=adam&test=100");
        let (mut events, setup) = start(&server, &c, &query).await;
        let id = &setup["id"];
        let start_frame = events.expect("frame").await;
        assert!(start_frame["test_loss"].is_number() && start_frame["test_accuracy"].is_number());
        assert_eq!(start_frame["units"].as_array().unwrap().len(), 4, "a map per hidden unit");
        for expected in 1..=3u64 {
            steer(&server, &c, id, "step").await;
            let f = events.expect("frame").await;
            assert_eq!(f["epoch"].as_u64(), Some(expected), "{backend}: one step is one epoch");
            assert_eq!(f["playing"], false);
        }
        steer(&server, &c, id, "play").await;
        events.frames_until(MINUTE, |f| f["epoch"].as_u64().unwrap() > 100).await;
        steer(&server, &c, id, "pause").await;
        let paused = events.frames_until(MINUTE, |f| f["playing"] == false).await.pop().unwrap();
        let at = paused["epoch"].as_u64().unwrap();
        // Paused means paused: the next step moves it by exactly one.
        tokio::time::sleep(Duration::from_millis(300)).await;
        steer(&server, &c, id, "step").await;
        let f = events.frames_until(MINUTE, |f| f["epoch"].as_u64() != Some(at)).await.pop().unwrap();
        assert_eq!(f["epoch"].as_u64(), Some(at + 1), "{backend}");
        // Reset: epoch 0 and the very weights and loss it started from.
        steer(&server, &c, id, "reset").await;
        let f = events.frames_until(MINUTE, |f| f["epoch"].as_u64() == Some(0)).await.pop().unwrap();
        assert_eq!(weights(&f), weights(&start_frame), "{backend}");
        assert_eq!(f["loss"], start_frame["loss"]);
        // Stop ends the stream.
        steer(&server, &c, id, "stop").await;
        while let Some((name, _)) = events.next(MINUTE).await {
            assert_eq!(name, "frame");
        }
    }
}

/// A run of `epochs=N` ends with the weights `xorgpu --epochs N --save` writes, and its
/// downloaded model is a file `predict` reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ends_where_the_command_line_does() {
    let server = Server::start(&[]);
    let c = client();
    let dir = tempfile::tempdir().unwrap();
    for (backend, query, args) in [
        ("cpu", "", vec![]),
        ("gpu", "", vec![]),
        (
            "cpu",
            "&dataset=spiral&batch=300&hidden=6,6&activation=tanh&optimizer=adam&seed=4",
            vec![
                "--dataset",
                "spiral",
                "--batch",
                "300",
                "--layers",
                "2,6,6,1",
                "--activation",
                "tanh",
                "--optimizer",
                "adam",
                "--seed",
                "4",
                "--noise",
                "0",
            ],
        ),
        (
            "gpu",
            "&dataset=gauss&batch=100&hidden=3&optimizer=momentum&features=x1,x2,x1*x2&seed=2",
            vec![
                "--dataset",
                "gauss",
                "--batch",
                "100",
                "--layers",
                "3,3,1",
                "--optimizer",
                "momentum",
                "--features",
                "x1,x2,x1*x2",
                "--seed",
                "2",
                "--noise",
                "0",
            ],
        ),
    ] {
        let epochs = 700;
        let (mut events, setup) = start(&server, &c, &format!("backend={backend}&epochs={epochs}{query}")).await;
        events.expect("frame").await;
        steer(&server, &c, &setup["id"], "play").await;
        let last = events.frames_until(MINUTE, |f| f["done"] == true).await.pop().unwrap();
        assert_eq!(last["epoch"].as_u64(), Some(epochs));
        let saved = dir.path().join(format!("{backend}.json"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xorgpu"))
            .args(["--backend", backend, "--epochs", &epochs.to_string(), "--quiet", "--save"])
            .arg(&saved)
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
        let from_cli: Vec<f32> = match file.get("layers") {
            Some(layers) => layers
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|l| {
                    let rows = |k: &str| {
                        l[k].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().clone()).collect::<Vec<_>>()
                    };
                    rows("w").into_iter().chain(rows("b")).map(|x| x.as_f64().unwrap() as f32).collect::<Vec<_>>()
                })
                .collect(),
            None => ["w1", "b1", "w2", "b2"]
                .iter()
                .flat_map(|k| {
                    file[k].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().clone()).collect::<Vec<_>>()
                })
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        };
        // Bit for bit: the same trainer, initial weights and data, in other blocks of epochs.
        assert_eq!(weights(&last), from_cli, "{backend}{query}");
        let model = c.get(server.url(&format!("/api/run/{}/model", setup["id"]))).send().await.unwrap();
        assert_eq!(model.status(), 200);
        assert!(model.headers()["content-disposition"].to_str().unwrap().contains(&format!("epoch-{epochs}.json")));
        let downloaded = dir.path().join(format!("downloaded-{backend}.json"));
        let bytes = model.bytes().await.unwrap();
        std::fs::write(&downloaded, &bytes).unwrap();
        // The same file as --save's: weights, and the optimizer's state to resume from.
        let page_file: Value = serde_json::from_slice(&bytes).unwrap();
        for field in ["layers", "w1", "b1", "w2", "b2", "optimizer", "optimizer_state", "features", "domain"] {
            assert_eq!(page_file.get(field), file.get(field), "{backend}{query}: {field}");
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xorgpu"))
            .args(["predict", "--backend", "cpu", "--json", "--x", "0,1", "--model"])
            .arg(&downloaded)
            .output()
            .unwrap();
        assert!(out.status.success(), "predict reads the download: {}", String::from_utf8_lossy(&out.stderr));
        let saved_predict = std::process::Command::new(env!("CARGO_BIN_EXE_xorgpu"))
            .args(["predict", "--backend", "cpu", "--json", "--x", "0,1", "--model"])
            .arg(&saved)
            .output()
            .unwrap();
        let answer = |o: &std::process::Output| -> Value { serde_json::from_slice(&o.stdout).unwrap() };
        assert_eq!(answer(&out)["predictions"], answer(&saved_predict)["predictions"], "{backend}{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_is_refused_with_its_reason() {
    let server = Server::start(&["--max-runs", "2"]);
    let c = client();
    for (query, name) in [
        ("lr=0", "lr"),
        ("lr=-1", "lr"),
        ("lr=nan", "lr"),
        ("batch=0", "batch"),
        ("batch=99999999999999999999", "batch"),
        ("batch=2000000000000", "batch"),
        ("hidden=0", "hidden"),
        ("hidden=2,x", "hidden"),
        ("hidden=1,1,1,1,1,1,1,1,1", "hidden"),
        ("dataset=moons", "dataset"),
        ("dataset=circle&noise=0.7", "noise"),
        ("noise=-1", "noise"),
        ("features=", "features"),
        ("features=x1,x1", "features"),
        ("activation=gelu", "activation"),
        ("optimizer=rmsprop", "optimizer"),
        ("momentum=1.5", "momentum"),
        ("eps=0", "eps"),
        ("l2=-1", "l2"),
        ("test=-3", "test"),
        ("test=1000000", "test"),
        ("seed=1.5", "seed"),
        ("epochs=0", "epochs"),
        ("backend=tpu", "backend"),
        ("kernels=magic", "kernels"),
        ("colour=red", "colour"),
        ("lr=1&lr=2", "lr"),
    ] {
        let r = c.post(server.url(&format!("/api/run?{query}"))).send().await.unwrap();
        let status = r.status();
        let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        let message = body["error"].as_str().unwrap();
        // A batch past the device or the host's memory is refused by the command line's
        // own checks, in their words.
        if query.starts_with("batch=2000") {
            assert_eq!(status, 400, "{query}: {message}");
            assert!(message.contains("batch") && message.contains("too large"), "{query}: {message}");
            continue;
        }
        assert_eq!(status, 400, "{query}: {message}");
        assert!(message.starts_with(&format!("{name}: ")), "{query}: {message}");
        assert!(!message.contains('\n'));
    }
    // Steering what is not there.
    for (path, status) in [("/api/run/999/play", 404), ("/api/run/abc/play", 404), ("/api/run/1/dance", 404)] {
        let r = c.post(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert!(r.text().await.unwrap().contains("\"error\""));
    }
    assert_eq!(c.get(server.url("/api/run/999/model")).send().await.unwrap().status(), 404);
    // Host and Origin: a page elsewhere cannot start or steer work.
    let port = server.base.rsplit(':').next().unwrap();
    for (host, origin) in [
        (format!("evil.example:{port}"), None),
        (format!("127.0.0.1.nip.io:{port}"), None),
        (format!("127.0.0.1:{port}"), Some("http://evil.example".to_string())),
        (format!("localhost:{port}"), Some(format!("http://127.0.0.1:{port}"))),
    ] {
        let mut request = c.post(server.url("/api/run")).header("host", &host);
        if let Some(o) = &origin {
            request = request.header("origin", o);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 403, "{host} {origin:?}");
        let message = r.text().await.unwrap();
        assert!(message.contains(if origin.is_some() { "Origin" } else { "Host" }), "{message}");
    }
    // The page's own origin is let in, as is localhost.
    for (host, origin) in [
        (format!("127.0.0.1:{port}"), format!("http://127.0.0.1:{port}")),
        (format!("localhost:{port}"), format!("http://localhost:{port}")),
    ] {
        let r = c
            .post(server.url("/api/run?backend=cpu"))
            .header("host", &host)
            .header("origin", &origin)
            .send()
            .await
            .unwrap();
        let mut events = Events::new(r);
        events.expect("setup").await;
    }
    server.wait_runs(&c, 0, Duration::from_secs(10)).await;
    // Past --max-runs: busy, said plainly, and a place again once a run ends.
    let (a, _) = start(&server, &c, "backend=cpu").await;
    let (_b, _) = start(&server, &c, "backend=cpu").await;
    let r = c.post(server.url("/api/run?backend=cpu")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("busy"));
    let r = c.post(server.url("/api/sweep?backends=cpu")).send().await.unwrap();
    assert_eq!(r.status(), 503, "a sweep takes a run's place");
    drop(a);
    server.wait_runs(&c, 1, Duration::from_secs(10)).await;
    let (_c, _) = start(&server, &c, "backend=cpu").await;
    // The server still answers, and never panicked: its process is alive.
    assert_eq!(server.runs(&c).await, 2);
}

/// A client that vanishes mid-stream (its socket dropped, no goodbye) frees its run, while
/// playing and while paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_client_frees_its_run() {
    let server = Server::start(&[]);
    let c = client();
    for (backend, play) in [("cpu", true), ("gpu", true), ("cpu", false)] {
        let (mut events, setup) = start(&server, &c, &format!("backend={backend}&batch=1000")).await;
        if play {
            steer(&server, &c, &setup["id"], "play").await;
            events.frames_until(MINUTE, |f| f["epoch"].as_u64().unwrap() > 0).await;
        }
        assert_eq!(server.runs(&c).await, 1);
        drop(events);
        server.wait_runs(&c, 0, Duration::from_secs(10)).await;
    }
}

/// 100 clients on loopback, ten at a time against four places, each starting a run (asking
/// again when told "busy"), watching a few frames and leaving, never more than four runs at
/// once: the server keeps answering, every run ends, and its memory after
/// them is within 10% of its level after the first client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_clients_come_and_go() {
    let server = std::sync::Arc::new(Server::start(&["--max-runs", "4"]));
    let c = client();
    /// One client: a run (asking again while the server is busy, up to 200 times), a few
    /// frames, and away; how many times it was told busy.
    async fn visit(server: &Server, c: &reqwest::Client, k: usize) -> usize {
        let backend = if k.is_multiple_of(10) { "gpu" } else { "cpu" };
        let query = format!(
            "backend={backend}&dataset=spiral&batch=500&hidden=8,8&activation=tanh&optimizer=adam&test=200&seed={k}"
        );
        let mut busy = 0;
        let r = loop {
            let r = c.post(server.url(&format!("/api/run?{query}"))).send().await.unwrap();
            if r.status() != 503 {
                break r;
            }
            assert!(r.text().await.unwrap().contains("busy"));
            busy += 1;
            assert!(busy < 200, "client {k} was told busy 200 times");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut events = Events::new(r);
        let setup = events.expect("setup").await;
        events.expect("frame").await;
        steer(server, c, &setup["id"], "play").await;
        events.frames_until(MINUTE, |f| f["epoch"].as_u64().unwrap() >= 20).await;
        // Half leave by stopping, half by closing.
        if k.is_multiple_of(2) {
            steer(server, c, &setup["id"], "stop").await;
        }
        busy
    }
    // The first client, on each backend.
    visit(&server, &c, 0).await;
    visit(&server, &c, 1).await;
    server.wait_runs(&c, 0, Duration::from_secs(10)).await;
    let after_first = server.resident_bytes();
    let start = Instant::now();
    let mut busy = 0;
    // Watching throughout: never more than four runs at once, and four reached.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (server, c, watching) = (server.clone(), c.clone(), watching.clone());
        tokio::spawn(async move {
            let mut most = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let runs = server.runs(&c).await;
                assert!(runs <= 4, "{runs} runs at once, past --max-runs 4");
                most = most.max(runs);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            most
        })
    };
    for wave in 0..10 {
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let (server, c) = (server.clone(), c.clone());
                tokio::spawn(async move { visit(&server, &c, 10 + wave * 10 + i).await })
            })
            .collect();
        for t in tasks {
            busy += t.await.unwrap();
        }
        // Between waves the server answers at once.
        let t = Instant::now();
        server.runs(&c).await;
        assert!(t.elapsed() < Duration::from_secs(2), "info took {:?}", t.elapsed());
        assert!(start.elapsed() < Duration::from_secs(300), "the load ran past five minutes");
    }
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let most = watcher.await.unwrap();
    server.wait_runs(&c, 0, Duration::from_secs(10)).await;
    let after = server.resident_bytes();
    eprintln!(
        "100 clients trained, at most {most} runs at once, told busy {busy} times (a start waits a second for a place first); resident {:.1} MB after the first, {:.1} MB after all",
        after_first as f64 / 1e6,
        after as f64 / 1e6
    );
    assert_eq!(most, 4, "ten clients at a time against four places fill them");
    assert!(
        after as f64 <= 1.10 * after_first as f64,
        "{after} bytes after the clients, {after_first} after the first"
    );
}

/// Ctrl-C with a run playing: every run ends, the streams close, and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_server_cleanly() {
    let mut server = Server::start(&[]);
    let c = client();
    let (mut events, setup) = start(&server, &c, "backend=gpu").await;
    steer(&server, &c, &setup["id"], "play").await;
    events.frames_until(MINUTE, |f| f["epoch"].as_u64().unwrap() > 0).await;
    let (_paused, _) = start(&server, &c, "backend=cpu").await;
    let status = std::process::Command::new("kill").args(["-INT", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let start = Instant::now();
    while events.next(MINUTE).await.is_some() {}
    let code = loop {
        if let Some(code) = server.child.try_wait().unwrap() {
            break code;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "still running 20 s after Ctrl-C");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(code.success(), "exit status {code:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_streams_its_points() {
    let server = Server::start(&[]);
    let c = client();
    let r = c.post(server.url("/api/sweep?backends=cpu,gpu&min=4&max=64&seconds=0.02")).send().await.unwrap();
    let mut events = Events::new(r);
    let setup = events.expect("setup").await;
    assert_eq!(setup["sizes"], serde_json::json!([4, 16, 64]));
    let mut seen = Vec::new();
    for _ in 0..6 {
        let p = events.expect("point").await;
        assert!(p["samples_per_s"].as_f64().unwrap() > 0.0);
        seen.push((p["backend"].as_str().unwrap().to_string(), p["batch"].as_u64().unwrap()));
    }
    let expected: Vec<(String, u64)> =
        ["cpu", "gpu"].iter().flat_map(|b| [4, 16, 64].map(|n| (b.to_string(), n))).collect();
    assert_eq!(seen, expected);
    assert_eq!(events.next(MINUTE).await.map(|e| e.0), Some("end".into()));
    for (query, name) in [
        ("max=1000000000", "max"),
        ("min=9&max=3", "max"),
        ("hidden=0", "hidden"),
        ("backends=tpu", "backends"),
        ("backends=cpu,CPU", "backends"),
        ("seconds=0", "seconds"),
        ("x=1", "x"),
    ] {
        let r = c.post(server.url(&format!("/api/sweep?{query}"))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert!(body["error"].as_str().unwrap().starts_with(&format!("{name}: ")), "{query}: {body}");
    }
}

#[test]
fn the_page_and_the_banner() {
    let server = Server::start(&[]);
    assert!(server.banner.starts_with("serving on http://127.0.0.1:"), "{}", server.banner);
    assert!(!server.banner.contains("note"), "{}", server.banner);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = client();
        for (path, kind, marker) in [
            ("/", "text/html", "<canvas id=\"boundary\""),
            ("/app.js", "text/javascript", "readEvents"),
            ("/style.css", "text/css", "--pos"),
        ] {
            let r = c.get(server.url(path)).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind));
            assert!(r.text().await.unwrap().contains(marker), "{path}");
        }
        let info: Value =
            serde_json::from_str(&c.get(server.url("/api/info")).send().await.unwrap().text().await.unwrap()).unwrap();
        assert_eq!(info["default_backend"], "gpu");
        assert!(info["backends"][0]["adapter"].as_str().unwrap().len() > 3);
    });
    // Elsewhere than loopback it says so; a port taken is one line and exit 2.
    let open = Server::start(&["--host", "0.0.0.0", "--cpu-only"]);
    assert!(open.banner.contains("CPU only") && open.banner.contains("note: listening on 0.0.0.0"), "{}", open.banner);
    let port = server.base.rsplit(':').next().unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_xorgpu")).args(["serve", "--port", port]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen") && stderr.trim().lines().count() == 1, "{stderr}");
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_xorgpu")).args(["serve", "--max-runs", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// What a hostile-input run found, held: a burst of commands is applied at once (stop does
/// not wait behind them), a diverged run has no model to download and resets to the same
/// run, a start right after a close finds the place, duplicate Hosts are refused, errors of
/// the plan name the batch, unknown addresses answer in JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_divergence_and_odd_requests() {
    let server = Server::start(&["--max-runs", "1"]);
    let c = client();
    // 300 commands, then stop: the stream ends at once.
    let (mut events, setup) = start(&server, &c, "backend=cpu&dataset=spiral&batch=200&hidden=16,16").await;
    let id = setup["id"].clone();
    let sends: Vec<_> = (0..300)
        .map(|k| {
            let (c, url) =
                (c.clone(), server.url(&format!("/api/run/{id}/{}", ["play", "pause", "step", "reset"][k % 4])));
            tokio::spawn(async move { c.post(url).send().await.unwrap().status() })
        })
        .collect();
    for s in sends {
        assert_eq!(s.await.unwrap(), 200);
    }
    let t = Instant::now();
    steer(&server, &c, &id, "stop").await;
    while events.next(MINUTE).await.is_some() {}
    assert!(t.elapsed() < Duration::from_secs(3), "stop took {:?} behind a burst", t.elapsed());
    // A start right after a close finds the place (the old run frees it a moment later).
    let (events, _) = start(&server, &c, "backend=cpu").await;
    drop(events);
    let (events, _) = start(&server, &c, "backend=cpu").await;
    drop(events);
    server.wait_runs(&c, 0, Duration::from_secs(10)).await;
    // Divergence: said in the page's words; no model to download; a reset replays it.
    for backend in ["cpu", "gpu"] {
        let (mut events, setup) = start(&server, &c, &format!("backend={backend}&lr=1e30&optimizer=adam")).await;
        let id = &setup["id"];
        events.expect("frame").await;
        let mut stops = Vec::new();
        for _ in 0..2 {
            steer(&server, &c, id, "play").await;
            let why = loop {
                let (name, data) = events.next(MINUTE).await.expect("the stream ended");
                if name == "stopped" {
                    break data;
                }
            };
            assert!(why.contains("diverged") && why.contains("learning rate") && !why.contains("--lr"), "{why}");
            let r = c.get(server.url(&format!("/api/run/{id}/model"))).send().await.unwrap();
            assert_eq!(r.status(), 409, "{backend}: a diverged run's model");
            stops.push(why);
            steer(&server, &c, id, "reset").await;
            events.frames_until(MINUTE, |f| f["epoch"].as_u64() == Some(0)).await;
        }
        assert_eq!(stops[0], stops[1], "{backend}: a reset replays the run");
        drop(events);
        server.wait_runs(&c, 0, Duration::from_secs(10)).await;
    }
    // The plan's refusals name the batch; unknown addresses and methods answer in JSON.
    let r = c.post(server.url("/api/run?backend=cpu&batch=4294967296000")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("\"batch: "));
    for (request, status) in [(c.get(server.url("/nothing")), 404), (c.get(server.url("/api/run")), 405)] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status);
        let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert!(body["error"].is_string());
    }
    let r = c.post(server.url("/api/run?%0A=1")).send().await.unwrap();
    assert!(!r.text().await.unwrap().contains("\n"), "a name is quoted, not printed raw");
    // Two Host headers: refused (the server cannot tell which is meant).
    use std::io::{Read, Write};
    let address = server.base.trim_start_matches("http://").to_string();
    let mut socket = std::net::TcpStream::connect(&address).unwrap();
    let request = format!("POST /api/run HTTP/1.1\r\nHost: {address}\r\nHost: evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// Ctrl-C while a run is inside a long block of epochs: the server waits a little for it,
/// then exits 0 all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_does_not_wait_for_a_long_block() {
    let mut server = Server::start(&[]);
    let c = client();
    // Eight layers of 256 on 20,000 samples: an epoch takes seconds on this CPU.
    let (mut events, setup) =
        start(&server, &c, "backend=cpu&hidden=256,256,256,256,256,256,256,256&batch=20000").await;
    events.expect("frame").await;
    steer(&server, &c, &setup["id"], "play").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    std::process::Command::new("kill").args(["-INT", &server.child.id().to_string()]).status().unwrap();
    let code = loop {
        if let Some(code) = server.child.try_wait().unwrap() {
            break code;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "still running 15 s after Ctrl-C");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(code.success(), "{code:?}");
    eprintln!("exited {:?} after Ctrl-C", t.elapsed());
}
