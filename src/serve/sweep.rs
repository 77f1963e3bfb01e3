//! The page's second view: the batch-scaling sweep of `xorgpu scale` for the 2-H-1 net,
//! streamed a point at a time as each is measured. A sweep takes a run's slot.

use std::sync::mpsc::TryRecvError;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event;
use axum::response::Response;
use serde_json::json;

use super::run::{Control, StopOnDrop};
use super::{check_origin, failure, refuse, stream, AppState};
use crate::backend::Plan;
use crate::cli::{hidden_width, positive_usize};
use crate::data::Dataset;
use crate::experiments::scale::{batches, point, PointSpec};
use crate::net::optim::Optimizer;
use crate::net::Net;
use crate::Error;

/// The largest batch the page's sweep goes to: past it one point takes long on a CPU.
pub const MAX_SWEEP_BATCH: usize = 1 << 24;

/// A sweep's setup: `backends=gpu,cpu&hidden=2&min=4&max=65536&factor=4&seconds=0.2`.
#[derive(Clone, Debug)]
struct SweepParams {
    backends: Vec<super::params::Where>,
    hidden: usize,
    sizes: Vec<usize>,
    seconds: f64,
}

fn parse(pairs: &[(String, String)], s: &super::Shared) -> Result<SweepParams, String> {
    super::params::check_names(pairs, &["backends", "hidden", "min", "max", "factor", "seconds"], "a sweep")?;
    let get = |k: &str| pairs.iter().find(|(j, _)| j == k).map(|(_, v)| v.as_str());
    let backends = match get("backends") {
        None => {
            let mut all = vec![super::params::Where::Cpu];
            if s.gpu.is_some() {
                all.insert(0, super::params::Where::Gpu);
            }
            all
        }
        Some(list) => {
            let mut backends = Vec::new();
            for b in list.split(',') {
                let b = match b.trim().to_lowercase().as_str() {
                    "cpu" => super::params::Where::Cpu,
                    "gpu" if s.gpu.is_some() => super::params::Where::Gpu,
                    "gpu" => return Err("backends: this server has no GPU; use backends=cpu".to_string()),
                    other => return Err(format!("backends: {other:?} is not one of cpu, gpu")),
                };
                if backends.contains(&b) {
                    return Err(format!("backends: {list:?} names a backend twice"));
                }
                backends.push(b);
            }
            backends
        }
    };
    let hidden = get("hidden").map(hidden_width).transpose().map_err(|e| format!("hidden: {e}"))?.unwrap_or(2);
    let size = |k: &str, default: usize| -> Result<usize, String> {
        let v = get(k).map(positive_usize).transpose().map_err(|e| format!("{k}: {e}"))?.unwrap_or(default);
        if v > MAX_SWEEP_BATCH {
            return Err(format!(
                "{k}: {v} is past the page's largest batch, {MAX_SWEEP_BATCH} (xorgpu scale goes further)"
            ));
        }
        Ok(v)
    };
    let (min, max) = (size("min", 4)?, size("max", 1 << 16)?);
    if max < min {
        return Err(format!("max: {max} is below min {min}"));
    }
    let factor = match get("factor").map(str::parse::<usize>) {
        None => 4,
        Some(Ok(f)) if (2..=1024).contains(&f) => f,
        Some(_) => return Err("factor: expected a whole number from 2 to 1024".into()),
    };
    let seconds = match get("seconds").map(str::parse::<f64>) {
        None => 0.2,
        Some(Ok(t)) if (0.01..=10.0).contains(&t) => t,
        Some(_) => return Err("seconds: expected the seconds to spend on each point, from 0.01 to 10".into()),
    };
    Ok(SweepParams { backends, hidden, sizes: batches(min, max, factor), seconds })
}

pub(super) async fn start(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = check_origin(&headers) {
        return *r;
    }
    let p = match parse(&pairs, &s) {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let net = Net::classic(p.hidden);
    let largest = *p.sizes.last().expect("a batch or more");
    // The largest point of each backend must fit before any runs (they run one at a time).
    for &b in &p.backends {
        let gpu = s.device(b).expect("backends were checked");
        match Plan::choose(gpu.as_ref(), &net, &Optimizer::sgd(2.0), largest, None) {
            Ok(_) => {}
            Err(Error::Input(why)) => return refuse(StatusCode::BAD_REQUEST, format!("max: {why}")),
            Err(e) => return failure(e),
        }
    }
    // Its points are made and freed one at a time, each checked above: nothing to reserve.
    let (slot, control) = match super::place(&s, 0).await {
        Ok(place) => place,
        Err(answer) => return answer,
    };
    slot.started();
    let stop = StopOnDrop(s.runs.clone(), slot.id);
    let (events, rx) = tokio::sync::mpsc::channel(4);
    let gpu = s.gpu.clone();
    std::thread::Builder::new()
        .name(format!("sweep {}", slot.id))
        .spawn(move || {
            let spec = PointSpec {
                net,
                lr: 2.0,
                seed: 1,
                noise: 0.1,
                epochs: None,
                seconds: p.seconds,
                repeats: 3,
                kernels: None,
            };
            let setup = json!({"id": slot.id, "hidden": p.hidden, "sizes": p.sizes, "backends": p.backends,
                "adapters": {"gpu": gpu.as_ref().map(|g| g.adapter_name.clone()), "cpu": crate::experiments::cpu_name()}});
            if events.blocking_send(Event::default().event("setup").json_data(setup).expect("json")).is_err() {
                return;
            }
            // Backend by backend, as `scale` does: the CPU's thread pool spins a while after
            // its work, which would steal cores from a software adapter's points.
            for &b in &p.backends {
                for &batch in &p.sizes {
                    if matches!(control.try_recv(), Ok(Control::Stop) | Err(TryRecvError::Disconnected)) {
                        return;
                    }
                    let name = if b == super::params::Where::Gpu { "gpu" } else { "cpu" };
                    let gpu = if name == "gpu" { gpu.as_ref() } else { None };
                    let event = Dataset::for_batch(batch, spec.noise, spec.seed)
                        .and_then(|data| point(name, gpu, data, &spec))
                        .map(|r| Event::default().event("point").json_data(r).expect("json"));
                    let event = event.unwrap_or_else(|e| Event::default().event("failed").data(e.to_string()));
                    if events.blocking_send(event).is_err() {
                        return;
                    }
                }
            }
            let _ = events.blocking_send(Event::default().event("end").data("done"));
            drop(slot);
        })
        .expect("a thread for the sweep");
    stream(rx, stop)
}
