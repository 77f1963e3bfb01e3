//! `xorgpu serve`: the live page. The page and its script are embedded in the binary; the
//! routes start runs (each streamed back as server-sent events), steer them, hand out a
//! run's model as a weight file, and run the batch-scaling sweep.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /`, `/app.js`, `/style.css` | the page |
//! | `GET /api/info` | backends (with the adapter's name), choices, limits, runs going |
//! | `POST /api/run?<setup>` | starts a run; the answer is its stream: `setup`, `frame`…, `stopped`, `failed` |
//! | `POST /api/run/{id}/{play,pause,step,reset,stop}` | steers run `id` |
//! | `GET /api/run/{id}/model` | the run's model now (weights and optimizer state), a file `predict` reads |
//! | `POST /api/sweep?<sweep>` | the batch-scaling sweep, a `point` event per measurement |
//!
//! Requests that start or steer work must carry a `Host` that is an IP address or
//! `localhost` (a page elsewhere reaching this server through a DNS name of its own — DNS
//! rebinding — is refused) and, where they carry an `Origin`, the server's own.

pub mod params;
pub mod run;
pub mod sweep;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use crate::backend::Plan;
use crate::data::features;
use crate::data::playground::DataSet;
use crate::gpu::Gpu;
use crate::net::optim::{Optimizer, OptimizerKind};
use crate::Error;
use params::Where;
use run::{Control, ModelRefusal, Refusal, Runs, StopOnDrop};

/// The page, embedded.
const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// How the server is started.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: IpAddr,
    /// 0: any free port (said on stdout).
    pub port: u16,
    /// The most runs (and sweeps) going at once.
    pub max_runs: usize,
    /// Use the adapter whose name contains this.
    pub adapter: Option<String>,
    /// Train on the CPU only, opening no GPU.
    pub cpu_only: bool,
}

/// What every route shares.
struct Shared {
    runs: Arc<Runs>,
    /// The one device every GPU run shares.
    gpu: Option<Gpu>,
}

type AppState = Arc<Shared>;

/// Set while a server runs: Ctrl-C asks it to stop instead of exiting at once.
static SHUTDOWN: OnceLock<tokio::sync::watch::Sender<bool>> = OnceLock::new();
static SHUTDOWN_ASKED: AtomicBool = AtomicBool::new(false);

/// How long a stopping server waits for its runs to end: a run in the middle of a long
/// block of epochs (or making a huge data set) notices only after it, and is left to the
/// process's exit.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Asks a running server to stop cleanly; false where there is none, or where it was asked
/// already (a second Ctrl-C then exits at once).
pub fn interrupt() -> bool {
    match SHUTDOWN.get() {
        Some(stop) if !SHUTDOWN_ASKED.swap(true, Ordering::SeqCst) => {
            stop.send_replace(true);
            true
        }
        _ => false,
    }
}

/// Serves the page until Ctrl-C (or SIGTERM); every run is stopped on the way out.
pub fn serve(options: &Options) -> Result<(), Error> {
    if options.max_runs == 0 {
        return Err(Error::Input("--max-runs must be at least 1".into()));
    }
    let gpu = if options.cpu_only {
        None
    } else {
        match Gpu::new(options.adapter.as_deref()) {
            Ok(g) => Some(g),
            Err(Error::NoAdapter(why)) if options.adapter.is_none() => {
                eprintln!("warning: {why}; the page trains on the CPU only");
                None
            }
            Err(e) => return Err(e),
        }
    };
    // A few heaps for all the runs' threads, and their free pages handed back as each run
    // ends (`run::Slot`): a server stays near its size after its first run, whatever came
    // and went since.
    crate::memory::limit_heap_arenas(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Input(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(options.host, options.port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::Input(format!("cannot listen on {addr}: {e}; choose another --port (0 takes any free one)"))
        })?;
        let local = listener.local_addr().map_err(|e| Error::Input(format!("cannot listen on {addr}: {e}")))?;
        let runs = Runs::new(options.max_runs);
        let shared = Arc::new(Shared { runs: runs.clone(), gpu });
        let backend = match &shared.gpu {
            Some(g) => format!("GPU {}", g.adapter_name),
            None => "CPU only".into(),
        };
        if !options.host.is_loopback() {
            println!(
                "note: listening on {} rather than the loopback address: anyone who can reach this machine can start runs",
                options.host
            );
        }
        println!("serving on http://{local}/ ({backend}; at most {} runs at once; Ctrl-C stops)", options.max_runs);
        use std::io::Write;
        std::io::stdout().flush().ok();
        let stopping = SHUTDOWN.get_or_init(|| tokio::sync::watch::channel(false).0).subscribe();
        SHUTDOWN_ASKED.store(false, Ordering::SeqCst);
        let mut asked = stopping.clone();
        let stop = async move {
            let _ = asked.wait_for(|stop| *stop).await;
            let _ = writeln!(std::io::stderr(), "stopping: ending every run");
            runs.stop_all();
        };
        let mut asked = stopping;
        let grace = async move {
            let _ = asked.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let server = axum::serve(listener, router(shared)).with_graceful_shutdown(stop);
        tokio::select! {
            served = server => served.map_err(|e| Error::Input(format!("the server failed: {e}")))?,
            () = grace => {
                let _ = writeln!(std::io::stderr(), "some runs were still busy {SHUTDOWN_GRACE:?} after Ctrl-C; leaving them");
            }
        }
        // Whoever started the server may have stopped reading its output: not worth a panic.
        let _ = writeln!(std::io::stdout(), "stopped");
        Ok(())
    })
}

fn router(shared: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/app.js", get(|| async { page("text/javascript; charset=utf-8", APP_JS) }))
        .route("/style.css", get(|| async { page("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/api/info", get(info))
        .route("/api/run", post(start_run))
        .route("/api/run/{id}/model", get(model))
        .route("/api/run/{id}/{action}", post(steer))
        .route("/api/sweep", post(sweep::start))
        .fallback(|uri: axum::http::Uri| async move {
            refuse(StatusCode::NOT_FOUND, format!("no page {:?} here", uri.path()))
        })
        .method_not_allowed_fallback(|| async {
            refuse(StatusCode::METHOD_NOT_ALLOWED, "not a method this address takes (runs start with POST)")
        })
        .with_state(shared)
}

fn page(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// An error answer: `{"error": message}`.
pub(crate) fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The answer to an [`Error`]: bad input 400, anything else 500.
fn failure(e: Error) -> Response {
    let status = match e {
        Error::Input(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(status, e.to_string())
}

/// Refuses a request whose `Host` is not an address of this server's kind (an IP address
/// or localhost, with any port) or whose `Origin`, where given, is not `http://` + that host.
pub(crate) fn check_origin(headers: &HeaderMap) -> Result<(), Box<Response>> {
    for name in [header::HOST, header::ORIGIN] {
        if headers.get_all(&name).iter().count() > 1 {
            return Err(Box::new(refuse(StatusCode::BAD_REQUEST, format!("{name} given twice"))));
        }
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => name,
        _ => host,
    };
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    if !(name.eq_ignore_ascii_case("localhost") || literal.parse::<IpAddr>().is_ok()) {
        return Err(Box::new(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "Host {host:?} is not an address of this server: it answers requests to an IP address or localhost"
            ),
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
            return Err(Box::new(refuse(
                StatusCode::FORBIDDEN,
                format!("Origin {origin:?} is not this server's page (http://{host}); runs start from the page itself"),
            )));
        }
    }
    Ok(())
}

impl Shared {
    fn default_backend(&self) -> Where {
        if self.gpu.is_some() {
            Where::Gpu
        } else {
            Where::Cpu
        }
    }

    /// The device of a run on `w`, or why there is none.
    fn device(&self, w: Where) -> Result<Option<Gpu>, String> {
        match (w, &self.gpu) {
            (Where::Cpu, _) => Ok(None),
            (Where::Gpu, Some(g)) => Ok(Some(g.clone())),
            (Where::Gpu, None) => Err("backend: this server has no GPU (see its log); use backend=cpu".into()),
        }
    }
}

async fn info(State(s): State<AppState>) -> Response {
    let mut backends = Vec::new();
    if let Some(g) = &s.gpu {
        backends.push(json!({"name": "gpu", "adapter": g.adapter_name}));
    }
    backends.push(json!({"name": "cpu", "adapter": crate::experiments::cpu_name()}));
    let datasets: Vec<_> = [DataSet::Corners, DataSet::Circle, DataSet::Gauss, DataSet::Spiral, DataSet::Quadrants]
        .iter()
        .map(|d| json!({"name": d.name(), "domain": d.domain(), "noise": if d.is_playground() { "ν, 0 to 0.5" } else { "σ" }}))
        .collect();
    let optimizers: Vec<_> = [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Adam]
        .iter()
        .map(|k| {
            let o = Optimizer::defaults(*k);
            let d = crate::net::optim::decimal;
            json!({"name": k.name(), "lr": d(o.lr), "momentum": d(o.momentum), "beta1": d(o.beta1), "beta2": d(o.beta2), "eps": d(o.eps)})
        })
        .collect();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "backends": backends,
        "default_backend": s.default_backend(),
        "max_runs": s.runs.max(),
        "runs": s.runs.count(),
        "starting_bytes": s.runs.starting_bytes(),
        "datasets": datasets,
        "activations": ["sigmoid", "tanh", "relu"],
        "optimizers": optimizers,
        "features": features::ALL.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "max_test": params::MAX_TEST,
        "max_hidden_layers": crate::net::MAX_HIDDEN_LAYERS,
        "max_width": crate::net::MAX_WIDTH,
    }))
    .into_response()
}

/// How long a start waits for a place before it is answered "busy": a page that closes
/// its run and starts another at once finds the old one's place freed a few ms later.
const WAIT_FOR_PLACE: Duration = Duration::from_secs(1);

/// A place for a run taking `host_bytes`, waiting up to [`WAIT_FOR_PLACE`] while the
/// server is busy; else the answer: 503 busy, or 400 where memory is short.
async fn place(s: &Shared, host_bytes: u64) -> Result<(run::Slot, std::sync::mpsc::Receiver<Control>), Response> {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_PLACE;
    loop {
        let ended = s.runs.ended.notified();
        match s.runs.reserve(host_bytes) {
            Ok(place) => return Ok(place),
            Err(Refusal::Memory(why)) => return Err(refuse(StatusCode::BAD_REQUEST, why)),
            Err(Refusal::Busy(why)) => {
                if tokio::time::timeout_at(deadline, ended).await.is_err() {
                    return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, why));
                }
            }
        }
    }
}

/// A stream of a thread's events that stops its run when the page goes.
fn stream(events: tokio::sync::mpsc::Receiver<Event>, stop: StopOnDrop) -> Response {
    let stream = ReceiverStream::new(events).map(move |e| {
        let _keep = &stop;
        Ok::<_, Infallible>(e)
    });
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(2))).into_response();
    // No proxy or browser may hold frames back.
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

async fn start_run(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = check_origin(&headers) {
        return *r;
    }
    let p = match params::parse(&pairs, s.default_backend()) {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let gpu = match s.device(p.backend) {
        Ok(g) => g,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    // The command line's own checks: what the device takes and the memory the run needs,
    // said as the parameter's problem (the batch's, or the kernels' where they were chosen).
    let plan = match Plan::choose(gpu.as_ref(), &p.net, &p.opt, p.batch, p.kernels) {
        Ok(plan) => plan,
        Err(Error::Input(why)) => {
            let name = if p.kernels.is_some() && why.contains("kernels cannot") { "kernels" } else { "batch" };
            return refuse(StatusCode::BAD_REQUEST, format!("{name}: {why}"));
        }
        Err(e) => return failure(e),
    };
    let (slot, control) = match place(&s, plan.need.host).await {
        Ok(place) => place,
        Err(answer) => return answer,
    };
    let stop = StopOnDrop(s.runs.clone(), slot.id);
    let events = run::start(slot, control, p, plan, gpu);
    stream(events, stop)
}

async fn steer(State(s): State<AppState>, headers: HeaderMap, Path((id, action)): Path<(String, String)>) -> Response {
    if let Err(r) = check_origin(&headers) {
        return *r;
    }
    let Some(c) = Control::parse(&action) else {
        return refuse(StatusCode::NOT_FOUND, format!("{action:?} is not an action (play, pause, step, reset, stop)"));
    };
    match id.parse::<u64>() {
        Ok(id) if s.runs.control(id, c) => Json(json!({"ok": true})).into_response(),
        _ => refuse(StatusCode::NOT_FOUND, format!("no run {id} (it ended, or never began)")),
    }
}

async fn model(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = check_origin(&headers) {
        return *r;
    }
    let Ok(id) = id.parse::<u64>() else {
        return refuse(StatusCode::NOT_FOUND, format!("no run {id:?} (runs are numbered)"));
    };
    let runs = s.runs.clone();
    let answer = tokio::task::spawn_blocking(move || runs.model(id, Duration::from_secs(10))).await;
    match answer {
        Ok(Ok((epoch, doc))) => {
            let body = serde_json::to_string_pretty(&doc).expect("a model serialises");
            let name = format!("attachment; filename=\"xorgpu-model-epoch-{epoch}.json\"");
            ([(header::CONTENT_TYPE, "application/json".to_string()), (header::CONTENT_DISPOSITION, name)], body)
                .into_response()
        }
        Ok(Err(ModelRefusal::NoRun(why))) => refuse(StatusCode::NOT_FOUND, why),
        Ok(Err(ModelRefusal::Busy(why))) => refuse(StatusCode::SERVICE_UNAVAILABLE, why),
        Ok(Err(ModelRefusal::Stopped(why))) => refuse(StatusCode::CONFLICT, why),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("the model could not be read: {e}")),
    }
}
