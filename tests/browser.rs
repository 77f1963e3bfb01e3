//! The live page in a real browser: headless Chromium driven by chromedriver (Debian's
//! `chromium` and `chromium-driver`). It opens the page on today's defaults, plays until
//! XOR is learned, reads the boundary's pixels at the four corners, steps one epoch,
//! reloads the address to find the same setup, shows a refused setup's message, and runs
//! the batch sweep. A screenshot is left in the test's target folder.

// Only these two binaries build the HTTP client: in `common` every test binary would.
#[path = "common/server.rs"]
mod server;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use server::Server;

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the browser test needs chromedriver ({e}); on Debian: apt-get install chromium chromium-driver")
        });
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url: format!("http://127.0.0.1:{port}") }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,860"]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not start Chromium ({e}); apt-get install chromium"))
}

/// Evaluates `script` (a function body) in the page.
async fn eval(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Waits until `script` returns true, failing with `what` and the page's state after `limit`.
async fn wait_for(c: &Client, what: &str, script: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        if eval(c, script).await == Value::Bool(true) {
            return;
        }
        if start.elapsed() > limit {
            let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-failure.png");
            std::fs::write(&shot, c.screenshot().await.unwrap()).unwrap();
            let page = eval(c, "return {error: document.getElementById('error').textContent, status: document.getElementById('status').textContent, epoch: document.getElementById('epoch').textContent, loss: document.getElementById('train-loss').textContent};").await;
            panic!("{what}: not within {limit:?}; the page shows {page} (screenshot {})", shot.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(c: &Client, id: &str) -> String {
    c.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
}

async fn value(c: &Client, id: &str) -> String {
    c.find(Locator::Id(id)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
}

/// Types `v` into field `id` and leaves it, as a person would (the page acts on change).
async fn type_into(c: &Client, id: &str, v: &str) {
    let field = c.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(v).await.unwrap();
    field.send_keys(&char::from(Key::Tab).to_string()).await.unwrap();
}

/// The boundary canvas's mean colour over a 7 × 7 patch around the point (x1, x2).
async fn colour_at(c: &Client, x1: f64, x2: f64) -> [f64; 3] {
    let script = format!(
        "const c = document.getElementById('boundary'); const [lo, hi] = window.xorgpu.setup.domain;
         const px = Math.round(({x1} - lo) / (hi - lo) * c.width), py = Math.round((hi - {x2}) / (hi - lo) * c.height);
         const d = c.getContext('2d').getImageData(px - 3, py - 3, 7, 7).data; const m = [0, 0, 0];
         for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) m[k] += d[i + k] / 49;
         return m;"
    );
    let v = eval(c, &script).await;
    let m: Vec<f64> = v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    [m[0], m[1], m[2]]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_learns_xor_in_a_real_browser() {
    let server = Server::start(&[]);
    let driver = chromedriver();
    let c = browser(&driver).await;
    c.goto(&server.url("/")).await.unwrap();
    // Today's defaults: the XOR table, 2-2-1 sigmoid, lr 2, on the GPU.
    wait_for(&c, "the run's setup", "return !!(window.xorgpu.setup && window.xorgpu.frame);", Duration::from_secs(60))
        .await;
    assert_eq!(value(&c, "dataset").await, "corners");
    assert_eq!(value(&c, "batch").await, "4");
    assert_eq!(value(&c, "hidden").await, "2");
    assert_eq!(value(&c, "lr").await, "2");
    assert_eq!(value(&c, "backend").await, "gpu");
    assert_eq!(eval(&c, "return window.xorgpu.setup.net;").await, "2-2-1 sigmoid");
    assert!(text(&c, "where").await.contains("the XOR table"));
    assert_eq!(text(&c, "epoch").await, "0");

    // Play until the page shows a train loss under 0.05 and every sample right.
    c.find(Locator::Id("play")).await.unwrap().click().await.unwrap();
    wait_for(
        &c,
        "train loss < 0.05 and 100% accuracy",
        "return parseFloat(document.getElementById('train-loss').textContent) < 0.05
             && document.getElementById('train-acc').textContent === '100.0%';",
        Duration::from_secs(60),
    )
    .await;
    c.find(Locator::Id("play")).await.unwrap().click().await.unwrap();
    wait_for(
        &c,
        "paused",
        "return window.xorgpu.frame.playing === false && document.getElementById('play').textContent.includes('Play');",
        Duration::from_secs(20),
    )
    .await;
    // The boundary: class 0's blue around (0,0) and (1,1), class 1's orange around (0,1), (1,0).
    for (x1, x2, class) in [(0.0, 0.0, 0), (1.0, 1.0, 0), (0.0, 1.0, 1), (1.0, 0.0, 1)] {
        let [r, g, b] = colour_at(&c, x1, x2).await;
        let is_orange = r > b + 60.0;
        let is_blue = b > r + 60.0;
        assert!(
            if class == 1 { is_orange } else { is_blue },
            "({x1},{x2}) should be class {class}: rgb({r:.0},{g:.0},{b:.0})"
        );
    }
    let png = c.screenshot().await.unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-xor.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());

    // Step: the epoch advances by exactly one.
    let before: u64 = text(&c, "epoch").await.parse().unwrap();
    c.find(Locator::Id("step")).await.unwrap().click().await.unwrap();
    let expected = (before + 1).to_string();
    wait_for(
        &c,
        "the epoch after a step",
        &format!("return document.getElementById('epoch').textContent === '{expected}';"),
        Duration::from_secs(20),
    )
    .await;

    // A new setup goes into the address; reloading the address gives the same setup.
    type_into(&c, "hidden", "3").await;
    type_into(&c, "lr", "1.5").await;
    c.find(Locator::Css("select#activation option[value='tanh']")).await.unwrap().click().await.unwrap();
    wait_for(
        &c,
        "the new run",
        "return !!window.xorgpu.setup && window.xorgpu.setup.net === '2-3-1 tanh';",
        Duration::from_secs(60),
    )
    .await;
    let address = c.current_url().await.unwrap().to_string();
    assert!(
        address.contains("hidden=3") && address.contains("lr=1.5") && address.contains("activation=tanh"),
        "{address}"
    );
    c.refresh().await.unwrap();
    wait_for(
        &c,
        "the setup after a reload",
        "return !!window.xorgpu.setup && !!window.xorgpu.frame;",
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(c.current_url().await.unwrap().to_string(), address);
    assert_eq!(value(&c, "hidden").await, "3");
    assert_eq!(value(&c, "lr").await, "1.5");
    assert_eq!(value(&c, "activation").await, "tanh");
    assert_eq!(eval(&c, "return window.xorgpu.setup.net;").await, "2-3-1 tanh");
    assert_eq!(eval(&c, "return window.xorgpu.setup.optimizer;").await, "sgd, lr 1.5");

    // A playground setup from its address: Adam's settings shown (and only Adam's), a test
    // set, the loss falling as it plays.
    let spiral =
        "/?dataset=spiral&batch=300&noise=0.1&test=200&hidden=8,8&activation=tanh&optimizer=adam&lr=0.03&backend=gpu";
    c.goto(&server.url(spiral)).await.unwrap();
    wait_for(
        &c,
        "the spiral run",
        "return !!window.xorgpu.frame && window.xorgpu.setup.net === '2-8-8-1 tanh';",
        Duration::from_secs(60),
    )
    .await;
    let shown = |id: &str| format!("return !document.getElementById('{id}').closest('label').hidden;");
    assert_eq!(eval(&c, &shown("beta1")).await, true);
    assert_eq!(eval(&c, &shown("momentum")).await, false);
    let start_loss = eval(&c, "return window.xorgpu.frame.loss;").await.as_f64().unwrap();
    c.find(Locator::Id("play")).await.unwrap().click().await.unwrap();
    wait_for(&c, "3,000 epochs", "return window.xorgpu.frame.epoch >= 3000;", Duration::from_secs(120)).await;
    let loss = eval(&c, "return window.xorgpu.frame.loss;").await.as_f64().unwrap();
    assert!(loss < start_loss / 2.0, "the spiral's loss {start_loss} → {loss}");
    assert!(eval(&c, "return window.xorgpu.frame.test_accuracy;").await.as_f64().unwrap() > 0.5);
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-spiral.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // A setup the server refuses: its message on the page, the field marked.
    type_into(&c, "hidden", "2,0").await;
    wait_for(&c, "the refusal", "return !document.getElementById('error').hidden;", Duration::from_secs(20)).await;
    let message = text(&c, "error").await;
    assert!(message.starts_with("hidden: "), "{message}");
    assert_eq!(eval(&c, "return document.getElementById('hidden').classList.contains('invalid');").await, true);

    // The sweep view: points arrive and are drawn, one table row each.
    c.goto(&server.url("/#sweep")).await.unwrap();
    wait_for(&c, "the sweep view", "return !document.getElementById('view-sweep').hidden && document.querySelectorAll('#sweep-backends input').length === 2;", Duration::from_secs(20)).await;
    type_into(&c, "sweep-max", "256").await;
    type_into(&c, "sweep-seconds", "0.05").await;
    c.find(Locator::Id("sweep-run")).await.unwrap().click().await.unwrap();
    wait_for(
        &c,
        "eight sweep points",
        "return document.querySelectorAll('#sweep-table tbody tr').length === 8;",
        Duration::from_secs(120),
    )
    .await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-sweep.png"), png).unwrap();
    c.close().await.unwrap();
    // The browser gone, its runs end.
    let http = reqwest::Client::new();
    server.wait_runs(&http, 0, Duration::from_secs(15)).await;
}
