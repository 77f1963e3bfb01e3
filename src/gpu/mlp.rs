//! The GPU trainer for any net, on one of four paths: for narrow nets the many-epochs
//! kernel ([`super::mlp_tiny`], small batches, its own update) or the fused pair
//! ([`super::fused_mlp`]); for any width the tiled layer kernels ([`super::tiled`]) or the
//! step kernels ([`super::step`], the readable yardstick); the last three then the same
//! update kernels. Buffers, pipelines and every dispatch are built once; an epoch is
//! replayed from them, many to a command buffer, with no read-back until the block ends.

use super::fused_mlp::{self, FusedMlpBuffers, FusedMlpKernels, PartialSums};
use super::kernels::{adam_table, adam_table_len, epoch_pass, record_all, Dispatch, Kernels, OptimBuffers};
use super::mlp_tiny::{self, TinyMlpBuffers, TinyMlpKernel};
use super::step::{self, StepBuffers};
use super::tiled::{self, TiledBuffers, TiledKernels};
use super::trainer::{MAX_EPOCHS_PER_SUBMIT, SAMPLE_EPOCHS_PER_SUBMIT};
use super::{binding_samples, upload_chunks, Gpu};
use crate::data::Dataset;
use crate::net::optim::{OptState, Optimizer, OptimizerKind};
use crate::net::{Mlp, Net};
use crate::train::{Profile, Trainer, MAX_BLOCK};
use crate::Error;

/// Which kernels train a net other than the 2-H-1 sigmoid one by plain SGD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlpPath {
    /// One kernel per factor of the chain rule, every activation in a buffer.
    Step,
    /// One pass over the data per epoch, each sample's whole pass in private memory.
    Fused,
    /// Per layer a GEMM-style product over tiles of samples, the element-wise steps fused
    /// into it; every activation in a buffer.
    Tiled,
    /// A small batch in one workgroup: many epochs a dispatch, the update included.
    Tiny,
}

impl MlpPath {
    /// The path for `net` on `n` samples when the user does not choose, and why: where
    /// the net is narrow enough for the fused code, the many-epochs kernel on a small batch
    /// and the fused pair on any other; else the tiled kernels.
    pub fn choose(gpu: &Gpu, net: &Net, n: usize) -> (MlpPath, String) {
        match (unfit(gpu, net, n, MlpPath::Fused), unfit(gpu, net, n, MlpPath::Tiny)) {
            (None, None) => (MlpPath::Tiny, "tiny: many epochs per dispatch in one workgroup".into()),
            (None, Some(why)) => (MlpPath::Fused, format!("fused: one pass over the data per epoch (not tiny: {why})")),
            (Some(why), _) => (MlpPath::Tiled, format!("tiled: not fused because {why}")),
        }
    }

    /// The fused kernels for `net` on `n` samples, as `--kernels fused` asks: the
    /// many-epochs kernel where the batch is small enough for it, else the fused pair.
    pub fn fused_for(gpu: &Gpu, net: &Net, n: usize) -> MlpPath {
        if unfit(gpu, net, n, MlpPath::Tiny).is_none() {
            MlpPath::Tiny
        } else {
            MlpPath::Fused
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MlpPath::Step => "step",
            MlpPath::Fused => "fused",
            MlpPath::Tiled => "tiled",
            MlpPath::Tiny => "tiny",
        }
    }
}

/// Why `path` cannot train `net` on `n` samples on this device, if it cannot.
pub fn unfit(gpu: &Gpu, net: &Net, n: usize, path: MlpPath) -> Option<String> {
    if n == 0 {
        return Some("the batch is empty".into());
    }
    match path {
        MlpPath::Step => {
            let largest = step::max_batch(gpu, net);
            (n > largest)
                .then(|| format!("batch {n} is past the {largest} the step kernels take with {}", net.describe()))
        }
        MlpPath::Tiny => mlp_tiny::unfit(gpu, net, n),
        MlpPath::Tiled => {
            let largest = tiled::max_batch(gpu, net);
            (n > largest)
                .then(|| format!("batch {n} is past the {largest} the tiled kernels take with {}", net.describe()))
        }
        // Past one binding the data is bound in chunks ([`binding_samples`]).
        MlpPath::Fused => fused_mlp::unfit(net).or_else(|| {
            (n > u32::MAX as usize)
                .then(|| format!("batch {n} is past the {} samples the fused kernels count", u32::MAX))
        }),
    }
}

/// Refuses, before anything is allocated, a batch `path` cannot take.
pub fn check_fits(gpu: &Gpu, net: &Net, n: usize, path: MlpPath) -> Result<(), Error> {
    match unfit(gpu, net, n, path) {
        Some(why) => Err(Error::Input(format!("the {} kernels cannot train this run: {why}", path.name()))),
        None => Ok(()),
    }
}

/// How the loss of an epoch reaches the history.
enum LossRoute {
    /// The step path leaves it in one buffer, copied to the epoch's slot.
    Copy(wgpu::Buffer),
    /// The fused pair writes the slot itself, counted in `state`, which the host resets.
    Slot(wgpu::Buffer),
    /// The many-epochs kernel writes the slots itself, each dispatch up to `per_dispatch`
    /// epochs; its `state` holds the slot, the epochs left in the block and Adam's table.
    Tiny { state: wgpu::Buffer, per_dispatch: usize, per_submit: usize },
}

/// Settings of an [`MlpGpuTrainer`] beyond its path.
#[derive(Clone, Copy, Debug, Default)]
pub struct MlpGpuOptions {
    /// How the fused pair adds its threads' sums; `None`: the adapter's default.
    pub sums: Option<PartialSums>,
    /// The most epochs one dispatch of the many-epochs kernel runs (`--epochs-per-dispatch`),
    /// under its own cap; `None`: that cap.
    pub epochs_per_dispatch: Option<usize>,
    /// The most samples one chunk of the fused pair binds (`None`: what one binding holds,
    /// [`binding_samples`]); small values let the tests check chunked epochs on
    /// small batches.
    pub max_chunk: Option<usize>,
}

/// The GPU trainer for any net.
pub struct MlpGpuTrainer {
    pub gpu: Gpu,
    net: Net,
    n: usize,
    path: MlpPath,
    opt: Optimizer,
    /// Steps taken: the state's count at the start plus the epochs run since.
    steps: u64,
    params: wgpu::Buffer,
    m: wgpu::Buffer,
    v: wgpu::Buffer,
    /// Adam's table of step scalars, written once per block.
    adam: wgpu::Buffer,
    loss: LossRoute,
    loss_history: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Where [`MlpGpuTrainer::gradient`]'s dispatches leave the gradient: `grads`, or the
    /// many-epochs kernel's partial sums.
    grads_at: wgpu::Buffer,
    /// The gradient's dispatches, then the update's (the many-epochs kernel: one dispatch,
    /// up to a dispatch's worth of epochs).
    epoch: Vec<Dispatch>,
    /// The gradient into `grads` and the loss, without the update.
    gradient: Vec<Dispatch>,
    /// The loss alone (the step path: the forward pass and the loss).
    evaluate: Vec<Dispatch>,
    device_bytes: u64,
    /// Pieces the data is bound in (more than one only on the fused path past one binding).
    chunks: usize,
}

impl MlpGpuTrainer {
    /// The step path (every net): see [`MlpGpuTrainer::with_path`].
    pub fn new(gpu: Gpu, mlp: &Mlp, data: &Dataset, opt: Optimizer, state: Option<&OptState>) -> Result<Self, Error> {
        Self::with_path(gpu, mlp, data, opt, state, MlpPath::Step)
    }

    /// Uploads the parameters, the optimizer state (`None`: a fresh start) and the data
    /// (`xt: d₀ × N`, the net's inputs), and builds the epoch on `path`. Fails before
    /// allocating anything when the batch does not fit.
    pub fn with_path(
        gpu: Gpu,
        mlp: &Mlp,
        data: &Dataset,
        opt: Optimizer,
        state: Option<&OptState>,
        path: MlpPath,
    ) -> Result<Self, Error> {
        Self::with_reduction(gpu, mlp, data, opt, state, path, None)
    }

    /// [`MlpGpuTrainer::with_path`], the fused pair's partial sums added as `sums` asks
    /// whatever the adapter's default (see [`FusedMlpKernels::new`]): so the tests run every
    /// form the adapter has.
    pub fn with_reduction(
        gpu: Gpu,
        mlp: &Mlp,
        data: &Dataset,
        opt: Optimizer,
        state: Option<&OptState>,
        path: MlpPath,
        sums: Option<PartialSums>,
    ) -> Result<Self, Error> {
        let options = MlpGpuOptions { sums, ..MlpGpuOptions::default() };
        Self::with_options(gpu, mlp, data, opt, state, path, options)
    }

    /// [`MlpGpuTrainer::with_path`] with the settings of [`MlpGpuOptions`].
    pub fn with_options(
        gpu: Gpu,
        mlp: &Mlp,
        data: &Dataset,
        opt: Optimizer,
        state: Option<&OptState>,
        path: MlpPath,
        options: MlpGpuOptions,
    ) -> Result<Self, Error> {
        let (net, n) = (mlp.net.clone(), data.len());
        assert_eq!(data.inputs(), net.inputs(), "the data's width is the net's input width");
        check_fits(&gpu, &net, n, path)?;
        let p = net.param_count();
        let state = state.cloned().unwrap_or_else(|| OptState::new(opt.kind, p));
        state.check(opt.kind, p).map_err(Error::Input)?;
        let k = Kernels::new(&gpu)?;
        let fused = if path == MlpPath::Fused { Some(FusedMlpKernels::new(&gpu, &net, options.sums)?) } else { None };
        let tiled = if path == MlpPath::Tiled { Some(TiledKernels::new(&gpu)?) } else { None };
        let tiny = match path {
            MlpPath::Tiny => Some(TinyMlpKernel::new(&gpu, &net, opt.kind, n, options.epochs_per_dispatch)?),
            _ => None,
        };
        // The fused pair binds the batch in chunks of what one binding holds; every other
        // path binds it whole.
        let chunk = match path {
            MlpPath::Fused => options.max_chunk.unwrap_or(usize::MAX).min(binding_samples(&gpu, net.inputs())).max(1),
            _ => n.max(1),
        };
        let g = &gpu;
        let built = gpu.scoped("setting up the training buffers", || {
            let chunks = upload_chunks(g, data, chunk);
            let (xt, t) = (&chunks[0].xt, &chunks[0].t);
            let params = g.storage_from("params: [W1 | B1 | W2 | …]", &mlp.params);
            // The many-epochs kernel leaves its gradient in its partials and keeps Adam's
            // table in its own state: it needs neither buffer (the table is 512 KiB).
            let own_update = path == MlpPath::Tiny;
            let grads = g.storage("grads: [dW1 | dB1 | …]", if own_update { 1 } else { p });
            let m = g.storage_from("m", &state.m);
            let v = g.storage_from("v", &state.v);
            let adam_len = if opt.kind == OptimizerKind::Adam && !own_update { adam_table_len(MAX_BLOCK) } else { 1 };
            let adam = g.storage("adam: [k, (step_size, √(1 − β₂ᵗ)) per step]", adam_len);
            let loss_history = g.storage("loss_history", MAX_BLOCK);
            let staging = g.staging(MAX_BLOCK.max(p));
            let mut bytes: u64 = [&params, &grads, &m, &v, &adam, &loss_history].iter().map(|b| b.size()).sum::<u64>()
                + chunks.iter().map(|c| c.xt.size() + c.t.size()).sum::<u64>();
            let (gradient, evaluate, loss) = match (&fused, &tiled, &tiny) {
                (Some(f), _, _) => {
                    let partials = g.storage("partials: (P + 1) × groups", f.partials_len(chunks.iter().map(|c| c.n)));
                    let slot = g.storage("state: [loss slot]", 1);
                    bytes += partials.size() + slot.size();
                    let b = FusedMlpBuffers {
                        chunks: &chunks,
                        params: &params,
                        partials: &partials,
                        losses: &loss_history,
                        state: &slot,
                        grads: &grads,
                    };
                    let once = f.epoch(g, &b, false);
                    let training = f.epoch(g, &b, true);
                    // The epoch's gradient dispatches advance the slot; evaluations do not.
                    (training, once, LossRoute::Slot(slot))
                }
                (None, Some(tk), _) => {
                    let b = TiledBuffers::new(g, &net, n);
                    bytes += b.bytes();
                    let (gradient, evaluate) = tiled::tiled_gradient(g, &k, tk, &net, xt, t, &params, &grads, n, &b);
                    (gradient, evaluate, LossRoute::Copy(b.loss_now))
                }
                (None, None, Some(tiny)) => {
                    let partials = g.storage("partials: (P + 1) × threads", tiny.partials_len());
                    let state =
                        g.storage("state: [slot, epochs left, Adam's table]", TinyMlpKernel::state_len(MAX_BLOCK));
                    bytes += partials.size() + state.size();
                    let b = TinyMlpBuffers {
                        xt,
                        t,
                        params: &params,
                        partials: &partials,
                        losses: &loss_history,
                        state: &state,
                        m: &m,
                        v: &v,
                    };
                    let train = tiny.dispatch(g, &b, n, &opt, mlp_tiny::Mode::Update);
                    let gradient = tiny.dispatch(g, &b, n, &opt, mlp_tiny::Mode::Gradient);
                    let evaluate = tiny.dispatch(g, &b, n, &opt, mlp_tiny::Mode::Loss);
                    // A submission of whole dispatches, about as many epochs as one would run
                    // on a GPU (or as the user allows one).
                    let per_dispatch = tiny.epochs_per_dispatch;
                    let wanted = options.epochs_per_dispatch.unwrap_or(super::trainer::DEFAULT_EPOCHS_PER_DISPATCH);
                    let per_submit = per_dispatch * (wanted / per_dispatch).max(1);
                    let loss = LossRoute::Tiny { state, per_dispatch, per_submit };
                    let built = (params, m, v, adam, loss, loss_history, staging, vec![train], vec![gradient]);
                    return (built, vec![evaluate], partials, bytes);
                }
                (None, None, None) => {
                    let b = StepBuffers::new(g, &net, n);
                    bytes += b.bytes();
                    let (gradient, evaluate) = step::step_gradient(g, &k, &net, xt, t, &params, &grads, n, &b);
                    (gradient, evaluate, LossRoute::Copy(b.loss_now))
                }
            };
            let b = OptimBuffers { params: &params, grads: &grads, m: &m, v: &v, adam: &adam };
            let mut epoch = gradient.clone();
            if opt.l2 > 0.0 {
                epoch.extend(net.shapes().map(|s| k.l2_grad(g, &b, s.w, s.b - s.w, opt.l2)));
            }
            match opt.kind {
                OptimizerKind::Sgd => epoch.push(k.sgd_update(g, &params, &grads, p, opt.lr)),
                OptimizerKind::Momentum => epoch.push(k.momentum_update(g, &b, p, opt.lr, opt.momentum)),
                OptimizerKind::Adam => epoch.extend(k.adam_update(g, &b, p, &opt)),
            }
            // The fused path's gradient for the tests is the evaluation's pass (it writes
            // `grads` too, and leaves the slot where it is).
            let gradient = if fused.is_some() { evaluate.clone() } else { gradient };
            ((params, m, v, adam, loss, loss_history, staging, epoch, gradient), evaluate, grads, bytes)
        })?;
        let ((params, m, v, adam, loss, loss_history, staging, epoch, gradient), evaluate, grads_at, device_bytes) =
            built;
        let trainer = MlpGpuTrainer {
            gpu,
            net,
            n,
            path,
            opt,
            steps: state.step,
            params,
            m,
            v,
            adam,
            loss,
            loss_history,
            staging,
            grads_at,
            epoch,
            gradient,
            evaluate,
            device_bytes,
            chunks: n.div_ceil(chunk).max(1),
        };
        // One evaluation now: a driver may compile a pipeline at its first dispatch (llvmpipe
        // does, seconds for the fused pair), which belongs to the set-up, not to the first
        // epoch's time.
        trainer.once(&trainer.evaluate)?;
        trainer.gpu.wait()?;
        Ok(trainer)
    }

    /// Pieces the data is bound in.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// The kernels this run trains with.
    pub fn path(&self) -> MlpPath {
        self.path
    }

    /// Epochs one dispatch of the epoch's kernels runs: 1, or the many-epochs kernel's.
    fn epochs_per_dispatch(&self) -> usize {
        match &self.loss {
            LossRoute::Tiny { per_dispatch, .. } => *per_dispatch,
            _ => 1,
        }
    }

    /// Epochs one submission carries: [`SAMPLE_EPOCHS_PER_SUBMIT`] sample-epochs, 1 to
    /// [`MAX_EPOCHS_PER_SUBMIT`].
    pub fn epochs_per_submit(&self) -> usize {
        match &self.loss {
            LossRoute::Tiny { per_submit, .. } => *per_submit,
            _ => (SAMPLE_EPOCHS_PER_SUBMIT / self.n).clamp(1, MAX_EPOCHS_PER_SUBMIT),
        }
    }

    fn read(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, Error> {
        let mut out = vec![f32::NAN; len];
        self.gpu.read(buffer, 0, &self.staging, &mut out)?;
        Ok(out)
    }

    /// Readies a block of `epochs` epochs: Adam's step table from the next step on, the
    /// fused path's loss slot at 0.
    fn start_block(&self, epochs: usize) {
        if let LossRoute::Tiny { state, .. } = &self.loss {
            let words = TinyMlpKernel::state(&self.opt, self.steps + 1, epochs);
            self.gpu.queue.write_buffer(state, 0, bytemuck::cast_slice(&words));
            return;
        }
        if self.opt.kind == OptimizerKind::Adam {
            let table = adam_table(&self.opt, self.steps + 1, epochs);
            self.gpu.queue.write_buffer(&self.adam, 0, bytemuck::cast_slice(&table));
        }
        if let LossRoute::Slot(slot) = &self.loss {
            self.gpu.queue.write_buffer(slot, 0, bytemuck::cast_slice(&[0u32]));
        }
    }

    /// Records epochs `first..first + count` of a block. With `timestamps`, the first pass
    /// writes query 0 at its start and the last pass query 1 at its end.
    fn record_epochs(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        first: usize,
        count: usize,
        timestamps: Option<&wgpu::QuerySet>,
    ) {
        let pass_desc = |is_first: bool, is_last: bool| epoch_pass(timestamps, is_first, is_last);
        match &self.loss {
            LossRoute::Copy(loss_now) => {
                for i in first..first + count {
                    {
                        let mut pass = encoder.begin_compute_pass(&pass_desc(i == first, i + 1 == first + count));
                        record_all(&mut pass, &self.epoch);
                    }
                    encoder.copy_buffer_to_buffer(loss_now, 0, &self.loss_history, (i * 4) as u64, 4);
                }
            }
            LossRoute::Slot(_) => {
                let mut pass = encoder.begin_compute_pass(&pass_desc(true, true));
                for _ in 0..count {
                    record_all(&mut pass, &self.epoch);
                }
            }
            LossRoute::Tiny { per_dispatch, .. } => {
                let mut pass = encoder.begin_compute_pass(&pass_desc(true, true));
                for _ in 0..count.div_ceil(*per_dispatch) {
                    record_all(&mut pass, &self.epoch);
                }
            }
        }
    }

    /// Runs `dispatches` once with the fused path's loss slot at 0 (an evaluation).
    fn once(&self, dispatches: &[Dispatch]) -> Result<(), Error> {
        if let LossRoute::Slot(slot) | LossRoute::Tiny { state: slot, .. } = &self.loss {
            self.gpu.queue.write_buffer(slot, 0, bytemuck::cast_slice(&[0u32]));
        }
        super::kernels::submit(&self.gpu, dispatches)
    }
}

impl Trainer for MlpGpuTrainer {
    fn gpu_seconds_per_epoch(&mut self, epochs: usize) -> Result<Option<f64>, Error> {
        if !self.gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Ok(None);
        }
        let epochs = epochs.clamp(1, MAX_BLOCK);
        self.start_block(epochs);
        let stamps = self.gpu.timestamps("timing epochs", 2, |encoder, query_set| {
            self.record_epochs(encoder, 0, epochs, Some(query_set));
        })?;
        self.steps += epochs as u64;
        Ok(Some((stamps[1] - stamps[0]).max(0.0) / epochs as f64))
    }

    fn memory_bytes(&self) -> u64 {
        self.device_bytes
    }

    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        assert!(losses.len() <= MAX_BLOCK, "a block is at most MAX_BLOCK epochs");
        let epochs = losses.len();
        let per_submit = self.epochs_per_submit();
        self.start_block(epochs);
        self.gpu.scoped("running epochs", || {
            for first in (0..epochs).step_by(per_submit) {
                let mut encoder =
                    self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("epochs") });
                self.record_epochs(&mut encoder, first, per_submit.min(epochs - first), None);
                self.gpu.queue.submit([encoder.finish()]);
            }
        })?;
        self.steps += epochs as u64;
        self.gpu.read(&self.loss_history, 0, &self.staging, losses)
    }

    fn mlp(&mut self) -> Result<Mlp, Error> {
        let params = self.read(&self.params, self.net.param_count())?;
        Ok(Mlp { net: self.net.clone(), params })
    }

    fn optimizer_state(&mut self) -> Result<OptState, Error> {
        let p = self.net.param_count();
        let fresh = OptState::<f32>::new(self.opt.kind, p);
        let m = if fresh.m.is_empty() { Vec::new() } else { self.read(&self.m, p)? };
        let v = if fresh.v.is_empty() { Vec::new() } else { self.read(&self.v, p)? };
        Ok(OptState { step: self.steps, m, v })
    }

    /// Each dispatch of up to `epochs` epochs in a pass of its own, timed by timestamp
    /// queries (None without them). The weights train on.
    fn profile(&mut self, epochs: usize) -> Result<Option<Profile>, Error> {
        if !self.gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Ok(None);
        }
        // Up to 2,048 dispatches (the timestamps a query set holds); the many-epochs kernel's
        // epochs take a dispatch per its share of them, not one each.
        let per_dispatch = self.epochs_per_dispatch();
        let epochs = epochs.clamp(1, (2048 / self.epoch.len().max(1)).max(1) * per_dispatch);
        self.start_block(epochs);
        let rounds = epochs.div_ceil(per_dispatch);
        let dispatches: Vec<&Dispatch> = self.epoch.iter().cycle().take(self.epoch.len() * rounds).collect();
        let kernels = super::kernels::time_dispatches(&self.gpu, &dispatches, epochs)?;
        self.steps += epochs as u64;
        Ok(Some(Profile {
            epochs,
            kernels,
            dispatches_per_epoch: self.epoch.len() as f64 / self.epochs_per_dispatch() as f64,
            submissions_per_epoch: 1.0 / self.epochs_per_submit() as f64,
            bytes_per_epoch: 4 * (self.net.inputs() as u64 + 1) * self.n as u64,
            macs_per_epoch: self.net.macs_per_sample() * self.n as u64,
        }))
    }

    fn loss(&mut self) -> Result<f32, Error> {
        self.once(&self.evaluate)?;
        let from = match &self.loss {
            LossRoute::Copy(loss_now) => loss_now,
            LossRoute::Slot(_) | LossRoute::Tiny { .. } => &self.loss_history,
        };
        Ok(self.read(from, 1)?[0])
    }

    fn gradients(&mut self) -> Result<Vec<f32>, Error> {
        let p = self.net.param_count();
        self.gpu.queue.write_buffer(&self.grads_at, 0, bytemuck::cast_slice(&vec![f32::NAN; p]));
        self.once(&self.gradient)?;
        self.read(&self.grads_at, p)
    }
}
