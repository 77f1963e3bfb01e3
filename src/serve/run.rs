//! A run behind the page: a thread that owns one trainer, trains at full speed while the
//! page plays, and sends frames — the loss, the accuracies, the weights, the boundary over
//! a grid — at most [`FRAMES_PER_S`] a second and never more than [`FRAME_SHARE`] of its
//! time, so that watching costs training little. The thread ends when the page leaves
//! (its stream is dropped) or the server stops; its slot in [`Runs`] goes with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::response::sse::Event;
use serde::Serialize;
use serde_json::{json, Value};

use super::params::RunParams;
use crate::backend::{BoxedTrainer, Plan};
use crate::cpu;
use crate::cpu::mlp::{score, score_head, Score};
use crate::data::Dataset;
use crate::gpu::points::PointsForward;
use crate::gpu::Gpu;
use crate::net::file::{into_inputs, Model};
use crate::net::Mlp;
use crate::train::{check_weights, MAX_BLOCK};
use crate::Error;

/// The most frames a second a run sends.
pub const FRAMES_PER_S: f64 = 30.0;
/// The most of a run's time its frames may take (the weights read back, the boundary, the
/// scores); past it frames come less often.
pub const FRAME_SHARE: f64 = 0.03;
/// The longest a playing run goes without a frame, whatever frames cost.
pub const MAX_FRAME_GAP: f64 = 1.0;
/// The boundary's grid: `GRID × GRID` points over the data's square (half as many a side
/// for a net past [`WIDE_MACS`], whose forward pass costs hundreds of times more).
pub const GRID: usize = 50;
/// Multiply-adds a sample past which a net's pictures are drawn coarser.
pub const WIDE_MACS: usize = 10_000;
/// Multiply-adds a frame's scores may take on each set (about 50 ms of the CPU reference):
/// a larger set is scored on its first samples, as many as that allows (at least 1,000),
/// and the frame says how many.
pub const SCORE_MACS: usize = 50_000_000;
/// Each hidden unit's small map: `UNIT_GRID × UNIT_GRID` points.
pub const UNIT_GRID: usize = 16;
/// The most hidden units whose maps a frame carries (the first of each layer, up to 16 a
/// layer): a wide net's maps would outweigh the rest of the frame many times.
pub const MAX_UNIT_MAPS: usize = 64;
/// The most points of each set the page draws.
pub const MAX_POINTS: usize = 1000;

/// What the page asks of a run.
#[derive(Debug)]
pub enum Control {
    Play,
    Pause,
    /// One epoch, then pause.
    Step,
    /// Back to the initial weights at epoch 0, paused.
    Reset,
    Stop,
    /// The model now, as a weight file (weights and optimizer state of one epoch), with
    /// that epoch.
    Model(Sender<Result<(u64, Value), ModelRefusal>>),
}

impl Control {
    pub fn parse(s: &str) -> Option<Control> {
        Some(match s {
            "play" => Control::Play,
            "pause" => Control::Pause,
            "step" => Control::Step,
            "reset" => Control::Reset,
            "stop" => Control::Stop,
            _ => return None,
        })
    }
}

/// Why a run's model cannot be had.
#[derive(Debug)]
pub enum ModelRefusal {
    /// No such run.
    NoRun(String),
    /// The run is busy (starting, or in a long block) and did not answer in time.
    Busy(String),
    /// The run stopped on an error (it diverged): its weights are not a model.
    Stopped(String),
}

/// A live run as the routes see it.
pub struct Handle {
    control: Mutex<Sender<Control>>,
    /// Host bytes the run will allocate and has not yet (0 once it has started): counted
    /// against what the next run may take, so that two runs asked for at once cannot each
    /// count the same free memory.
    starting_bytes: AtomicU64,
}

/// The runs going on, at most `max` at once.
pub struct Runs {
    max: usize,
    next: AtomicU64,
    live: Mutex<HashMap<u64, Arc<Handle>>>,
    /// Told whenever a run ends, for a start waiting for a place.
    pub ended: tokio::sync::Notify,
}

/// Why a run could not have a place.
#[derive(Debug)]
pub enum Refusal {
    /// `max` runs are going.
    Busy(String),
    /// The host's free memory, less what starting runs are about to take, is too little.
    Memory(String),
}

/// A run's place in [`Runs`], given back when dropped (when its thread ends).
pub struct Slot {
    runs: Arc<Runs>,
    pub id: u64,
    handle: Arc<Handle>,
}

impl Slot {
    /// The run has made its data and trainer: its memory is in use, no longer reserved.
    pub fn started(&self) {
        self.handle.starting_bytes.store(0, Ordering::Relaxed);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.runs.live.lock().expect("runs").remove(&self.id);
        crate::memory::return_freed_memory();
        self.runs.ended.notify_waiters();
    }
}

impl Runs {
    pub fn new(max: usize) -> Arc<Runs> {
        Arc::new(Runs {
            max,
            next: AtomicU64::new(1),
            live: Mutex::new(HashMap::new()),
            ended: tokio::sync::Notify::new(),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn count(&self) -> usize {
        self.live.lock().expect("runs").len()
    }

    /// Host bytes held for runs still making their data and trainers.
    pub fn starting_bytes(&self) -> u64 {
        self.live.lock().expect("runs").values().map(|h| h.starting_bytes.load(Ordering::Relaxed)).sum()
    }

    /// A slot for a run that will take `host_bytes` of the host's memory, or why not.
    pub fn reserve(self: &Arc<Self>, host_bytes: u64) -> Result<(Slot, Receiver<Control>), Refusal> {
        let mut live = self.live.lock().expect("runs");
        if live.len() >= self.max {
            return Err(Refusal::Busy(format!(
                "busy: {} runs are going, the most this server takes at once (serve --max-runs); try again when one ends",
                live.len()
            )));
        }
        let reserved: u64 = live.values().map(|h| h.starting_bytes.load(Ordering::Relaxed)).sum();
        if reserved > 0 {
            let free = crate::experiments::host_available_bytes().unwrap_or(u64::MAX);
            if host_bytes.saturating_add(reserved) > free {
                return Err(Refusal::Memory(format!(
                    "batch: the run needs {} of host memory and {} is free, of which runs starting now take {}; try again when they have started",
                    gb(host_bytes),
                    gb(free),
                    gb(reserved)
                )));
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = Arc::new(Handle { control: Mutex::new(tx), starting_bytes: AtomicU64::new(host_bytes) });
        live.insert(id, handle.clone());
        Ok((Slot { runs: self.clone(), id, handle }, rx))
    }

    /// Sends `c` to run `id`; false where there is no such run.
    pub fn control(&self, id: u64, c: Control) -> bool {
        let handle = self.live.lock().expect("runs").get(&id).cloned();
        handle.is_some_and(|h| h.control.lock().expect("control").send(c).is_ok())
    }

    /// Run `id`'s model now: the epoch and the weight file. Blocks until the run's thread
    /// is between two blocks of epochs (milliseconds), or fails after `limit`.
    pub fn model(&self, id: u64, limit: Duration) -> Result<(u64, Value), ModelRefusal> {
        let (tx, rx) = std::sync::mpsc::channel();
        if !self.control(id, Control::Model(tx)) {
            return Err(ModelRefusal::NoRun(format!("no run {id} (it ended, or never began)")));
        }
        rx.recv_timeout(limit).unwrap_or_else(|_| {
            Err(ModelRefusal::Busy(format!(
                "run {id} did not answer within {limit:?} (starting, or in a long block of epochs); try again"
            )))
        })
    }

    /// Tells every run to stop (the server is stopping).
    pub fn stop_all(&self) {
        for handle in self.live.lock().expect("runs").values() {
            let _ = handle.control.lock().expect("control").send(Control::Stop);
        }
    }
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// Sends `Stop` to its run when dropped: the page's stream holds one, so a page that
/// closes or vanishes stops its run.
pub struct StopOnDrop(pub Arc<Runs>, pub u64);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.control(self.1, Control::Stop);
    }
}

/// Points `(x1, x2, label)` of a raw set, at most [`MAX_POINTS`].
fn points(raw: &Dataset) -> Vec<[f32; 3]> {
    let n = raw.len();
    (0..n.min(MAX_POINTS)).map(|i| [raw.xt[i], raw.xt[n + i], raw.t[i]]).collect()
}

/// The raw points of a `k × k` grid over the square `domain²`, row by row from the top
/// (largest x2) as an image is drawn, each at its cell's centre.
pub fn grid_points(domain: [f32; 2], k: usize) -> Dataset {
    let [lo, hi] = domain;
    let at = |i: usize| lo + (hi - lo) * (i as f32 + 0.5) / k as f32;
    let rows: Vec<[f32; 3]> = (0..k * k).map(|p| [at(p % k), at(k - 1 - p / k), 0.0]).collect();
    Dataset::from_rows(&rows)
}

/// Multiply-adds of one sample's forward pass.
fn macs(net: &crate::net::Net) -> usize {
    net.widths.windows(2).map(|w| w[0] * w[1]).sum()
}

/// A hidden unit's map in a frame: its layer (1-based), its index, its values over the grid.
type UnitMap = (usize, usize, Vec<f32>);

/// A layer's parameters in a frame.
#[derive(Serialize)]
struct LayerWeights {
    w: Vec<f32>,
    b: Vec<f32>,
}

/// One frame of a run, as the page draws it.
#[derive(Serialize)]
struct Frame {
    epoch: u64,
    playing: bool,
    /// The run reached its `epochs`.
    done: bool,
    loss: f32,
    train_accuracy: f64,
    test_loss: Option<f32>,
    test_accuracy: Option<f64>,
    /// The training and test samples the scores are of (the first so many; see
    /// [`SCORE_MACS`]).
    scored: usize,
    test_scored: Option<usize>,
    epochs_per_s: f64,
    samples_per_s: f64,
    /// Seconds spent playing, frames included.
    seconds: f64,
    /// Each layer's `W` (row-major) and `B`.
    layers: Vec<LayerWeights>,
    /// The output over the boundary grid, row by row from the top.
    grid: Vec<f32>,
    /// `[layer, unit, map]` for each hidden unit shown.
    units: Vec<UnitMap>,
}

/// The page's pictures of a run: the boundary over the grid and the shown hidden units'
/// maps, computed by the backend that trains (on the GPU, `forward_points`).
struct Watch {
    /// The boundary grid's side.
    side: usize,
    grid: Dataset,
    unit_grid: Dataset,
    shown_units: Vec<(usize, usize)>,
    gpu: Option<PointsForward>,
}

impl Watch {
    fn new(p: &RunParams, domain: [f32; 2], gpu: Option<&Gpu>) -> Result<Watch, Error> {
        let net = &p.net;
        let side = if macs(net) <= WIDE_MACS { GRID } else { GRID / 2 };
        let grid = into_inputs(net, Some(&p.features), grid_points(domain, side))?;
        let unit_grid = into_inputs(net, Some(&p.features), grid_points(domain, UNIT_GRID))?;
        let mut shown_units = Vec::new();
        for l in 1..net.layers() {
            for u in 0..net.widths[l].min(16) {
                if shown_units.len() < MAX_UNIT_MAPS {
                    shown_units.push((l, u));
                }
            }
        }
        let gpu =
            gpu.map(|g| PointsForward::new(g, net, &[(&grid.xt, &[]), (&unit_grid.xt, &shown_units)])).transpose()?;
        Ok(Watch { side, grid, unit_grid, shown_units, gpu })
    }

    /// The boundary and the hidden units' maps of `mlp`.
    fn maps(&self, mlp: &Mlp) -> Result<(Vec<f32>, Vec<UnitMap>), Error> {
        let (grid, units) = match &self.gpu {
            Some(kernel) => {
                let mut sets = kernel.run(&mlp.params)?;
                let units = sets.pop().expect("the unit grid").1;
                (sets.pop().expect("the boundary grid").0, units)
            }
            None => {
                let grid = cpu::mlp::forward_points(mlp, &self.grid.xt, &[]).0;
                (grid, cpu::mlp::forward_points(mlp, &self.unit_grid.xt, &self.shown_units).1)
            }
        };
        Ok((grid, self.shown_units.iter().zip(units).map(|(&(l, u), map)| (l, u, map)).collect()))
    }
}

/// The run's state on its thread.
struct Run {
    params: RunParams,
    plan: Plan,
    gpu: Option<Gpu>,
    data: Arc<Dataset>,
    test: Option<Dataset>,
    initial: Mlp,
    trainer: BoxedTrainer,
    watch: Watch,
    epoch: u64,
    playing: bool,
    stopped_by: Option<String>,
    play_seconds: f64,
    /// (epoch, instant) where the rate's window began.
    rate_from: (u64, Instant),
    epochs_per_s: f64,
    extra: serde_json::Map<String, Value>,
    /// The points the page draws, `{"train": [[x1, x2, y], …], "test": …}`: sent once, with
    /// the setup.
    shown: Option<Value>,
}

/// Starts run `slot` of `params` on a thread of its own; its events (the setup, frames, an
/// error) arrive on the returned receiver, which ends when the run does.
pub fn start(
    slot: Slot,
    control: Receiver<Control>,
    params: RunParams,
    plan: Plan,
    gpu: Option<Gpu>,
) -> tokio::sync::mpsc::Receiver<Event> {
    let (events, rx) = tokio::sync::mpsc::channel(4);
    std::thread::Builder::new()
        .name(format!("run {}", slot.id))
        .spawn(move || {
            let id = slot.id;
            let result = Run::new(params, plan, gpu).and_then(|mut run| {
                // Its data and trainer are made: their memory is in use, no longer held.
                slot.started();
                run.serve(id, &control, &events).map(|()| run)
            });
            match result {
                Ok(run) => log::info!("run {id} ended at epoch {}", run.epoch),
                Err(e) => {
                    let _ = events.blocking_send(Event::default().event("failed").data(e.to_string()));
                }
            }
            drop(slot);
        })
        .expect("a thread for the run");
    rx
}

impl Run {
    fn new(params: RunParams, plan: Plan, gpu: Option<Gpu>) -> Result<Run, Error> {
        let p = &params;
        let raw = p.dataset.generate(p.batch, p.noise, p.data_seed, 1)?;
        let test_raw = (p.test > 0).then(|| p.dataset.generate(p.test, p.noise, p.data_seed, 2)).transpose()?;
        let domain = p.dataset.domain();
        let watch = Watch::new(p, domain, gpu.as_ref())?;
        let shown = json!({"train": points(&raw), "test": test_raw.as_ref().map(points)});
        let test = test_raw.map(|t| into_inputs(&p.net, Some(&p.features), t)).transpose()?;
        let data = Arc::new(into_inputs(&p.net, Some(&p.features), raw)?);
        let initial = p.net.init_scaled(p.seed, p.init_scale);
        let trainer = plan.trainer(gpu.clone(), &initial, data.clone(), p.opt, None, None)?;
        let mut extra = serde_json::Map::new();
        for (k, v) in [
            ("seed", json!(p.seed)),
            ("init_scale", json!(p.init_scale)),
            ("dataset", json!(p.dataset.name())),
            ("batch", json!(p.batch)),
            ("backend", json!(p.backend)),
            ("adapter", json!(gpu.as_ref().map(|g| g.adapter_name.clone()))),
        ] {
            extra.insert(k.into(), v);
        }
        Ok(Run {
            params,
            plan,
            gpu,
            data,
            test,
            initial,
            trainer,
            watch,
            epoch: 0,
            playing: false,
            stopped_by: None,
            play_seconds: 0.0,
            rate_from: (0, Instant::now()),
            epochs_per_s: 0.0,
            extra,
            shown: Some(shown),
        })
    }

    /// The setup event: what runs, where, and the points to draw.
    fn setup(&mut self, id: u64) -> Value {
        let p = &self.params;
        let points = self.shown.take().unwrap_or(Value::Null);
        json!({
            "id": id,
            "backend": p.backend,
            "adapter": match &self.gpu {
                Some(g) => g.adapter_name.clone(),
                None => crate::experiments::cpu_name(),
            },
            "kernels": self.plan.kernels(),
            "kernels_reason": self.plan.reason,
            "net": p.net.describe(),
            "widths": p.net.widths,
            "activation": p.net.activation.name(),
            "optimizer": p.opt.describe(),
            "source": p.source(),
            "batch": p.batch,
            "test": p.test,
            "features": p.features,
            "domain": p.dataset.domain(),
            "grid": self.watch.side,
            "unit_grid": UNIT_GRID,
            "host_bytes": self.plan.need.host,
            "device_bytes": self.plan.need.device,
            "points": points,
        })
    }

    /// The run's loop: controls, training in blocks of 50 to 150 ms, and frames.
    fn serve(
        &mut self,
        id: u64,
        control: &Receiver<Control>,
        events: &tokio::sync::mpsc::Sender<Event>,
    ) -> Result<(), Error> {
        let send = |e: Event| events.blocking_send(e).is_ok();
        if !send(Event::default().event("setup").json_data(self.setup(id)).expect("json")) {
            return Ok(());
        }
        let mut losses = vec![0.0f32; MAX_BLOCK];
        let mut block = 1usize;
        let mut steps = 0u64;
        let mut frame_due = true;
        let mut next_frame = Instant::now();
        let mut frame_cost = 0.0f64;
        loop {
            // Controls: every one that has come, applied in order, then one frame for them
            // all (a burst of clicks is not a burst of frames); waited for while paused.
            let idle = !(self.playing || steps > 0 || frame_due);
            let Some(controls) = Self::controls(control, idle, events) else { return Ok(()) };
            for c in controls {
                match c {
                    Control::Stop => return Ok(()),
                    Control::Play if self.stopped_by.is_none() && !self.at_end() => {
                        self.playing = true;
                        self.rate_from = (self.epoch, Instant::now());
                    }
                    Control::Pause | Control::Play => {
                        self.playing = false;
                        frame_due = true;
                    }
                    Control::Step if self.stopped_by.is_none() && !self.at_end() => {
                        self.playing = false;
                        steps += 1;
                    }
                    Control::Step => frame_due = true,
                    Control::Model(reply) => {
                        let answer = match &self.stopped_by {
                            Some(why) => Err(ModelRefusal::Stopped(format!("{why}; there is no model to save"))),
                            None => Ok((self.epoch, self.model_file()?)),
                        };
                        let _ = reply.send(answer);
                    }
                    Control::Reset => {
                        self.reset()?;
                        (steps, block, frame_due) = (0, 1, true);
                    }
                }
            }
            if self.playing || steps > 0 {
                let left = self.params.epochs.map_or(u64::MAX, |e| e - self.epoch);
                let n = if steps > 0 { steps.min(left) as usize } else { (block as u64).min(left) as usize };
                let started = Instant::now();
                let result = self.train(&mut losses[..n]);
                let took = started.elapsed().as_secs_f64();
                if self.playing {
                    self.play_seconds += took;
                    // Blocks of 50 to 150 ms: long enough that a block's submission and
                    // read-back (milliseconds on a busy software GPU: blocks of 20 to 60 ms
                    // cost XOR a third of its speed there) are noise, short enough that a
                    // pause waits for little; frames come between blocks.
                    if took < 0.05 && block < MAX_BLOCK {
                        block *= 2;
                    } else if took > 0.15 && block > 1 {
                        block /= 2;
                    }
                }
                if steps > 0 {
                    steps = 0;
                    frame_due = true;
                }
                if let Err(e) = result {
                    self.playing = false;
                    self.stopped_by = Some(stop_reason(e));
                    frame_due = true;
                }
                if self.at_end() {
                    self.playing = false;
                    frame_due = true;
                }
            }
            if frame_due || (self.playing && Instant::now() >= next_frame) {
                let started = Instant::now();
                let frame = self.frame()?;
                let event = Event::default().event("frame").json_data(frame).expect("json");
                // A page that is behind misses frames while the run plays; the frame after a
                // step, a pause or a stop is waited for, as the page must show where it is.
                let delivered = if frame_due {
                    events.blocking_send(event).is_ok()
                } else {
                    !matches!(events.try_send(event), Err(tokio::sync::mpsc::error::TrySendError::Closed(_)))
                };
                if !delivered {
                    return Ok(());
                }
                if let Some(why) = self.stopped_by.take() {
                    if !send(Event::default().event("stopped").data(why.clone())) {
                        return Ok(());
                    }
                    self.stopped_by = Some(why);
                }
                frame_due = false;
                let took = started.elapsed().as_secs_f64();
                log::debug!("run {id}: a frame took {:.2} ms", took * 1e3);
                if self.playing {
                    self.play_seconds += took;
                    // What a frame costs while training, smoothed: a frame taken paused (the
                    // first, with the kernels' first compilation) or one slowed by a busy
                    // machine says little about the next.
                    frame_cost = if frame_cost == 0.0 { took } else { 0.7 * frame_cost + 0.3 * took };
                }
                let gap = (frame_cost * (1.0 - FRAME_SHARE) / FRAME_SHARE).clamp(1.0 / FRAMES_PER_S, MAX_FRAME_GAP);
                next_frame = Instant::now() + Duration::from_secs_f64(gap);
            }
        }
    }

    /// The controls that have come (waiting up to half a second for one when `idle`), or
    /// None when the run is to end: its page left (the stream closed, or every sender gone).
    fn controls(
        control: &Receiver<Control>,
        idle: bool,
        events: &tokio::sync::mpsc::Sender<Event>,
    ) -> Option<Vec<Control>> {
        let mut all = Vec::new();
        if idle {
            match control.recv_timeout(Duration::from_millis(500)) {
                Ok(c) => all.push(c),
                Err(RecvTimeoutError::Timeout) if events.is_closed() => return None,
                Err(RecvTimeoutError::Timeout) => return Some(all),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        loop {
            match control.try_recv() {
                Ok(c) => all.push(c),
                Err(TryRecvError::Empty) => return Some(all),
                Err(TryRecvError::Disconnected) => return None,
            }
        }
    }

    fn at_end(&self) -> bool {
        self.params.epochs.is_some_and(|e| self.epoch >= e)
    }

    /// Runs `losses.len()` epochs, stopping at a loss or weights that diverge as `train` does.
    fn train(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        self.trainer.run_epochs(losses)?;
        let first = self.epoch;
        self.epoch += losses.len() as u64;
        if let Some(i) = losses.iter().position(|l| !l.is_finite()) {
            return Err(Error::Diverged { epoch: first + i as u64 + 1, why: format!("the loss is {}", losses[i]) });
        }
        check_weights(&self.trainer.mlp()?, self.epoch)
    }

    fn reset(&mut self) -> Result<(), Error> {
        let p = &self.params;
        self.trainer = self.plan.trainer(self.gpu.clone(), &self.initial, self.data.clone(), p.opt, None, None)?;
        self.epoch = 0;
        self.playing = false;
        self.stopped_by = None;
        self.play_seconds = 0.0;
        self.epochs_per_s = 0.0;
        Ok(())
    }

    /// The weight file of the model now, with its optimizer state.
    fn model_file(&mut self) -> Result<Value, Error> {
        let mlp = self.trainer.mlp()?;
        let loss = score(&mlp, &self.data).loss;
        let model = Model {
            mlp,
            features: Some(self.params.features.clone()),
            domain: self.params.dataset.domain(),
            optimizer: Some(self.params.opt),
            state: self.trainer.optimizer_state()?,
            curve: Vec::new(),
        };
        let mut extra = self.extra.clone();
        extra.insert("epochs".into(), json!(self.epoch));
        extra.insert("final_loss".into(), json!(loss));
        Ok(model.to_json(extra))
    }

    fn frame(&mut self) -> Result<Frame, Error> {
        let mlp = self.trainer.mlp()?;
        let most = (SCORE_MACS / macs(&mlp.net).max(1)).max(1000);
        let scored = self.data.len().min(most);
        let train = score_head(&mlp, &self.data, scored);
        // A forward pass that overflows stops the run as a diverging loss does (this frame
        // shows where it went, then the page is told why).
        if let Err(e) = crate::train::check_outputs(&mlp, &train, scored, self.epoch) {
            self.playing = false;
            self.stopped_by = Some(stop_reason(e));
        }
        let Score { loss, accuracy: train_accuracy, .. } = train;
        let test_scored = self.test.as_ref().map(|t| t.len().min(most));
        let test = self.test.as_ref().zip(test_scored).map(|(t, k)| score_head(&mlp, t, k));
        let (grid, units) = self.watch.maps(&mlp)?;
        let now = Instant::now();
        let window = now.duration_since(self.rate_from.1).as_secs_f64();
        if self.playing && window > 0.25 {
            self.epochs_per_s = (self.epoch - self.rate_from.0) as f64 / window;
            self.rate_from = (self.epoch, now);
        }
        let net = &mlp.net;
        let layers = net
            .shapes()
            .map(|s| LayerWeights { w: mlp.params[s.w..s.b].to_vec(), b: mlp.params[s.b..s.b + s.rows].to_vec() })
            .collect();
        Ok(Frame {
            epoch: self.epoch,
            playing: self.playing,
            done: self.at_end(),
            loss,
            train_accuracy,
            test_loss: test.map(|t| t.loss),
            test_accuracy: test.map(|t| t.accuracy),
            scored,
            test_scored,
            epochs_per_s: self.epochs_per_s,
            samples_per_s: self.epochs_per_s * self.params.batch as f64,
            seconds: self.play_seconds,
            layers,
            grid,
            units,
        })
    }
}

/// What the page is told when a run stops on an error (a divergence in the page's words:
/// it has no `--lr`).
fn stop_reason(e: Error) -> String {
    match e {
        Error::Diverged { epoch, why } => {
            format!("training diverged at epoch {epoch}: {why}; try a smaller learning rate")
        }
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two runs asked for at once cannot both count the same free memory: while the first
    /// is starting, what it will take is held against the second.
    #[test]
    fn starting_runs_hold_their_memory() {
        let runs = Runs::new(4);
        let free = crate::experiments::host_available_bytes().expect("this machine says its free memory");
        let big = free / 10 * 6;
        let (first, _c1) = runs.reserve(big).expect("the first fits");
        match runs.reserve(big) {
            Err(Refusal::Memory(why)) => assert!(why.starts_with("batch: ") && why.contains("starting"), "{why}"),
            Err(Refusal::Busy(why)) => panic!("the second should be refused for memory, not {why}"),
            Ok(_) => panic!("the second should be refused for memory"),
        }
        // Started: its memory is in use, and the free memory says so itself.
        first.started();
        let (second, _c2) = runs.reserve(big).expect("counted by what is free now");
        drop((first, second));
        assert_eq!(runs.count(), 0);
    }

    #[test]
    fn past_the_most_runs_is_busy() {
        let runs = Runs::new(2);
        let a = runs.reserve(0).unwrap();
        let _b = runs.reserve(0).unwrap();
        assert!(matches!(runs.reserve(0), Err(Refusal::Busy(why)) if why.starts_with("busy")));
        drop(a);
        assert!(runs.reserve(0).is_ok());
    }
}
