//! A training run on the GPU: every buffer, bind group and dispatch made once, then epochs
//! recorded back to back and submitted in bounded batches, with nothing read back but the
//! loss history once per block.

use super::fused::{samples_per_thread, tiny_workgroup, FusedBuffers, FusedKernels, Mode};
use super::kernels::{epoch_pass, record_all, Dispatch, Kernels, Operand, Scratch};
use super::Gpu;
use super::{binding_samples, upload_chunks};
use crate::data::Dataset;
use crate::model::{Layout, Params};
use crate::train::{Profile, Trainer, MAX_BLOCK};
use crate::Error;

/// Sample-epochs one submission carries at most (and never more than 64 epochs): enough to
/// amortise a submit, little enough that no submission runs near the seconds an OS
/// watchdog allows a GPU job.
pub const SAMPLE_EPOCHS_PER_SUBMIT: usize = 1 << 24;
pub const MAX_EPOCHS_PER_SUBMIT: usize = 64;

/// Epochs one train_tiny dispatch runs at most by default: tens of milliseconds on llvmpipe
/// and on GPUs (an epoch takes 1–2 µs there), far from any watchdog, while each submission
/// costs about 1.5 ms on llvmpipe (measured), so fewer, longer dispatches pay.
pub const DEFAULT_EPOCHS_PER_DISPATCH: usize = 20_000;

/// The most epochs one train_tiny dispatch may run on this adapter. llvmpipe ends a long
/// shader loop early (its guard against endless loops): measured, a dispatch of workgroups
/// of 64 or more stopped after about 65,535 / (4n + 12) epochs (N = 64: 244; N = 256: 63),
/// and of 8 after 16,383. Below that, with a margin; GPUs have no such limit.
fn tiny_epochs_cap(gpu: &Gpu, hidden: usize, n: usize) -> usize {
    if gpu.is_software() {
        (8192 / (n + 4 * hidden + 4)).max(1)
    } else {
        usize::MAX
    }
}

/// The largest batch train_tiny takes on a GPU. Its per-parameter sums run serially over the
/// samples, so its epoch grows with the batch (H100: 1.5 µs at 4 rows, 12 µs at 64, 45 µs
/// at 256, 177 µs at 1024), while the fused pair costs about 10 µs at any small batch.
/// (On llvmpipe, where a workgroup is one SIMD row and its barriers are cheap, train_tiny
/// takes whatever fits.)
pub const GPU_TINY_MAX: usize = 64;

/// Which kernels train.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// The tutorial's kernels, one per step of the chain rule: G1, S1, G2, S2, the loss,
    /// then each backward factor. The readable path and the yardstick.
    Step,
    /// A batch that fits one workgroup: many epochs per dispatch in workgroup memory.
    Tiny,
    /// Any batch: one pass over the data per epoch and a small update pass.
    Fused,
}

impl Path {
    /// The fast path for this batch: [`Path::Tiny`] where it fits (on a GPU, up to
    /// [`GPU_TINY_MAX`] rows), else [`Path::Fused`].
    pub fn fastest(gpu: &Gpu, hidden: usize, n: usize) -> Path {
        let on_gpu = !gpu.is_software();
        if tiny_workgroup(gpu, hidden, n).is_some() && !(on_gpu && n > GPU_TINY_MAX) {
            Path::Tiny
        } else {
            Path::Fused
        }
    }
}

/// How a path runs its epochs.
enum Program {
    /// One epoch's dispatches (the gradient's, then the update), then a copy of `loss_now`
    /// into the history.
    Step { epoch: Vec<Dispatch>, loss_now: wgpu::Buffer },
    /// One dispatch runs up to `epochs_per_dispatch` epochs; a submission carries up to
    /// `epochs_per_submit` (several dispatches where the adapter needs short ones).
    Tiny { train: Dispatch, epochs_per_dispatch: usize, epochs_per_submit: usize },
    /// One epoch's two dispatches.
    Fused { epoch: Vec<Dispatch> },
}

pub struct GpuTrainer {
    pub gpu: Gpu,
    hidden: usize,
    n: usize,
    /// `[w1 | b1 | w2 | b2]`, see [`Layout`].
    params: wgpu::Buffer,
    /// The loss of each epoch of the current block.
    loss_history: wgpu::Buffer,
    /// `[next loss slot, epochs left in the block]`, for the fused kernels.
    state: wgpu::Buffer,
    staging: wgpu::Buffer,
    program: Program,
    /// Pieces the data is bound in (more than one only past one binding's size).
    chunks: usize,
    /// Dispatches that put the loss of the current weights in slot 0 of the history.
    evaluate: Vec<Dispatch>,
    /// Dispatches that put the gradient of the current weights in `grads`, computed as
    /// this path's epoch computes it, and change nothing else.
    gradient: Vec<Dispatch>,
    /// `P` floats: the gradient, packed as the parameters are.
    grads: wgpu::Buffer,
    /// Partial sums per value of the fused epoch (its workgroups over all chunks).
    partial_sums: usize,
    device_bytes: u64,
}

/// The largest batch `path` can train on this device. The step path keeps H × N matrices
/// in single bindings; the fused path binds the data in chunks, so only u32 sample
/// indices bound it (device memory permitting, which wgpu cannot ask).
pub fn max_batch(gpu: &Gpu, path: Path, hidden: usize) -> usize {
    let limits = gpu.device.limits();
    let max_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    match path {
        Path::Step => (max_bytes / (hidden.max(2) as u64 * 4)).min(u32::MAX as u64 / hidden.max(2) as u64) as usize,
        Path::Tiny => binding_samples(gpu, 2).min(u32::MAX as usize / 2),
        Path::Fused => u32::MAX as usize,
    }
}

/// Refuses, before anything is allocated, a batch larger than [`max_batch`], naming it.
pub fn check_fits(gpu: &Gpu, path: Path, hidden: usize, n: usize) -> Result<(), Error> {
    let largest = max_batch(gpu, path, hidden);
    if n > largest {
        return Err(Error::Input(format!(
            "batch {n} is too large for this device with the {path:?} kernels; the largest it can take is {largest}"
        )));
    }
    Ok(())
}

/// How a GPU run is set up.
#[derive(Clone, Copy, Debug)]
pub struct GpuOptions {
    /// None: [`Path::fastest`] for the batch.
    pub path: Option<Path>,
    /// Most epochs one dispatch of train_tiny runs.
    pub epochs_per_dispatch: usize,
    /// Most samples one chunk of the fused path binds (None: what one binding holds);
    /// small values let tests check chunked epochs on small batches.
    pub max_chunk: Option<usize>,
    /// Samples each thread of the fused epoch takes at least (None: what suits the
    /// adapter, [`samples_per_thread`]); small values let tests spread a small batch over
    /// many workgroups on a CPU adapter, where the default puts 262,144 in one.
    pub samples_per_thread: Option<usize>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            path: None,
            epochs_per_dispatch: DEFAULT_EPOCHS_PER_DISPATCH,
            max_chunk: None,
            samples_per_thread: None,
        }
    }
}

impl GpuTrainer {
    /// The fastest path for the batch, with default options.
    pub fn new(gpu: Gpu, params: &Params, data: &Dataset, lr: f32) -> Result<Self, Error> {
        Self::with_options(gpu, params, data, lr, GpuOptions::default())
    }

    /// A given path and epochs per dispatch.
    pub fn with_path(
        gpu: Gpu,
        params: &Params,
        data: &Dataset,
        lr: f32,
        path: Path,
        epochs_per_dispatch: usize,
    ) -> Result<Self, Error> {
        Self::with_options(
            gpu,
            params,
            data,
            lr,
            GpuOptions { path: Some(path), epochs_per_dispatch, ..Default::default() },
        )
    }

    /// Uploads `params` and `data` and builds the epoch. Fails before allocating anything
    /// when the batch does not fit the device.
    pub fn with_options(
        gpu: Gpu,
        params: &Params,
        data: &Dataset,
        lr: f32,
        options: GpuOptions,
    ) -> Result<Self, Error> {
        let (h, n) = (params.hidden, data.len());
        let path = options.path.unwrap_or_else(|| Path::fastest(&gpu, h, n));
        let epochs_per_dispatch = options.epochs_per_dispatch;
        check_fits(&gpu, path, h, n)?;
        let tiny_wg = tiny_workgroup(&gpu, h, n);
        if path == Path::Tiny && tiny_wg.is_none() {
            return Err(Error::Input(format!("a batch of {n} with {h} hidden units does not fit one workgroup")));
        }
        // Only the fused path splits the data; the others bind it whole (check_fits saw to it).
        let chunk = match path {
            Path::Fused => options.max_chunk.unwrap_or(usize::MAX).min(binding_samples(&gpu, 2)).max(1),
            _ => n,
        };
        let per_thread = options.samples_per_thread.unwrap_or_else(|| samples_per_thread(&gpu));
        let fused = FusedKernels::new(&gpu, h, tiny_wg.unwrap_or(8), per_thread)?;
        let step = if path == Path::Step { Some(Kernels::new(&gpu)?) } else { None };
        let layout = Layout::new(h);
        let g = &gpu;
        let built = gpu.scoped("setting up the training buffers", || {
            // Each chunk's Xᵀ (its slice of x1, then of x2) and T.
            let chunks = upload_chunks(g, data, chunk);
            let params_buf = g.storage_from("params: [w1 | b1 | w2 | b2]", &params.packed());
            let loss_history = g.storage("loss_history", MAX_BLOCK);
            let state = g.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("state: [loss slot, epochs left]"),
                size: 8,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let groups: usize = chunks.iter().map(|c| fused.groups_for(c.n)).sum();
            let partials = g.storage("partials: (P + 1) × groups", (layout.len + 1) * groups);
            let grads = g.storage("grads: [d_w1 | d_b1 | d_w2 | d_b2]", layout.len);
            let staging = g.staging(MAX_BLOCK.max(layout.len));
            let bound: Vec<(FusedBuffers, usize)> = chunks
                .iter()
                .map(|c| {
                    let b = FusedBuffers {
                        xt: &c.xt,
                        t: &c.t,
                        params: &params_buf,
                        partials: &partials,
                        losses: &loss_history,
                        state: &state,
                        grads: &grads,
                    };
                    (b, c.n)
                })
                .collect();
            // Every path evaluates with the fused kernels: one pass, no intermediates.
            let evaluate = fused.epoch(g, &bound, lr, Mode::Loss);
            let mut bytes: u64 =
                [&params_buf, &loss_history, &state, &partials, &grads].map(|b| b.size()).iter().sum::<u64>()
                    + chunks.iter().map(|c| c.xt.size() + c.t.size()).sum::<u64>();
            let (program, gradient) = match path {
                Path::Tiny => {
                    let per_dispatch = epochs_per_dispatch.min(tiny_epochs_cap(g, h, n));
                    let program = Program::Tiny {
                        train: fused.train_tiny(g, &bound[0].0, n, lr, per_dispatch as u32, Mode::Update),
                        epochs_per_dispatch: per_dispatch,
                        epochs_per_submit: epochs_per_dispatch,
                    };
                    (program, vec![fused.train_tiny(g, &bound[0].0, n, lr, 1, Mode::Gradient)])
                }
                Path::Fused => (
                    Program::Fused { epoch: fused.epoch(g, &bound, lr, Mode::Update) },
                    fused.epoch(g, &bound, lr, Mode::Gradient),
                ),
                Path::Step => {
                    let (xt, t) = (&chunks[0].xt, &chunks[0].t);
                    let k = step.as_ref().expect("step kernels");
                    let (gradient, loss_now, step_bytes) = step_gradient(g, k, xt, t, &params_buf, &grads, h, n);
                    // P ← P − lr · dP
                    let update = k.sgd_update(g, &params_buf, &grads, layout.len, lr);
                    bytes += step_bytes;
                    let epoch = gradient.iter().cloned().chain([update]).collect();
                    (Program::Step { epoch, loss_now }, gradient)
                }
            };
            (params_buf, loss_history, state, staging, program, evaluate, gradient, grads, bytes, chunks.len(), groups)
        })?;
        let (params, loss_history, state, staging, program, evaluate, gradient, grads, device_bytes, chunks, groups) =
            built;
        Ok(GpuTrainer {
            gpu,
            hidden: h,
            n,
            params,
            loss_history,
            state,
            staging,
            program,
            chunks,
            evaluate,
            gradient,
            grads,
            partial_sums: groups,
            device_bytes,
        })
    }

    /// Partial sums per value the fused epoch adds in its second pass: its workgroups over
    /// all chunks.
    pub fn partial_sums(&self) -> usize {
        self.partial_sums
    }

    /// Pieces the data is bound in.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// Epochs one submission carries: a block's worth for train_tiny (up to the epochs per
    /// dispatch asked for), else [`SAMPLE_EPOCHS_PER_SUBMIT`] sample-epochs, 1 to
    /// [`MAX_EPOCHS_PER_SUBMIT`] epochs.
    pub fn epochs_per_submit(&self) -> usize {
        match &self.program {
            Program::Tiny { epochs_per_submit, .. } => *epochs_per_submit,
            _ => (SAMPLE_EPOCHS_PER_SUBMIT / self.n).clamp(1, MAX_EPOCHS_PER_SUBMIT),
        }
    }

    /// Submits `epochs` epochs, the losses going to slots 0.. of the history.
    fn submit_epochs(&self, epochs: usize) {
        self.gpu.queue.write_buffer(&self.state, 0, bytemuck::cast_slice(&[0u32, epochs as u32]));
        let per_submit = self.epochs_per_submit();
        for first in (0..epochs).step_by(per_submit) {
            let count = per_submit.min(epochs - first);
            let mut encoder =
                self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("epochs") });
            self.record_epochs(&mut encoder, first, count, None);
            self.gpu.queue.submit([encoder.finish()]);
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
        match &self.program {
            Program::Step { epoch, loss_now } => {
                for i in first..first + count {
                    {
                        let mut pass = encoder.begin_compute_pass(&pass_desc(i == first, i + 1 == first + count));
                        record_all(&mut pass, epoch);
                    }
                    // The loss slot differs per epoch, and a copy needs no bind group.
                    encoder.copy_buffer_to_buffer(loss_now, 0, &self.loss_history, (i * 4) as u64, 4);
                }
            }
            Program::Tiny { train, epochs_per_dispatch, .. } => {
                // Each dispatch runs up to epochs_per_dispatch epochs, counted on the device.
                let mut pass = encoder.begin_compute_pass(&pass_desc(true, true));
                for _ in 0..count.div_ceil(*epochs_per_dispatch) {
                    train.record(&mut pass);
                }
            }
            Program::Fused { epoch } => {
                let mut pass = encoder.begin_compute_pass(&pass_desc(true, true));
                for _ in 0..count {
                    record_all(&mut pass, epoch);
                }
            }
        }
    }

    /// Each dispatch of `epochs` epochs in a pass of its own, timed by timestamp queries
    /// (None without them). The weights train on. Separate passes add a little time; the
    /// per-kernel split is what this is for.
    pub fn profile_kernels(&mut self, epochs: usize) -> Result<Option<Profile>, Error> {
        if !self.gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Ok(None);
        }
        let (dispatches, epochs): (Vec<&Dispatch>, usize) = match &self.program {
            Program::Step { epoch, .. } | Program::Fused { epoch } => {
                let epochs = epochs.clamp(1, 2048 / epoch.len().max(1)).max(1);
                (epoch.iter().cycle().take(epoch.len() * epochs).collect(), epochs)
            }
            // One dispatch runs the epochs (up to epochs_per_dispatch of them).
            Program::Tiny { train, epochs_per_dispatch, .. } => (vec![train], epochs.clamp(1, *epochs_per_dispatch)),
        };
        self.gpu.queue.write_buffer(&self.state, 0, bytemuck::cast_slice(&[0u32, epochs as u32]));
        let kernels = super::kernels::time_dispatches(&self.gpu, &dispatches, epochs)?;
        let per_submit = self.epochs_per_submit() as f64;
        let dispatches_per_epoch = match &self.program {
            Program::Step { epoch, .. } | Program::Fused { epoch } => epoch.len() as f64,
            Program::Tiny { epochs_per_dispatch, .. } => 1.0 / *epochs_per_dispatch as f64,
        };
        Ok(Some(Profile {
            epochs,
            kernels,
            dispatches_per_epoch,
            submissions_per_epoch: 1.0 / per_submit,
            bytes_per_epoch: 12 * self.n as u64,
            macs_per_epoch: crate::net::Net::classic(self.hidden).macs_per_sample() * self.n as u64,
        }))
    }

    /// [`Gpu::timestamps`] for a block of `epochs` epochs, the fused kernels' state set for it.
    fn timestamps(
        &self,
        what: &str,
        count: u32,
        epochs: usize,
        record: impl FnOnce(&mut wgpu::CommandEncoder, &wgpu::QuerySet),
    ) -> Result<Vec<f64>, Error> {
        self.gpu.queue.write_buffer(&self.state, 0, bytemuck::cast_slice(&[0u32, epochs as u32]));
        self.gpu.timestamps(what, count, record)
    }
}

/// The forward pass's buffers and dispatches.
pub struct StepForward {
    /// `g1, s1: H × N`
    pub g1: wgpu::Buffer,
    pub s1: wgpu::Buffer,
    /// `g2, s2: 1 × N`
    pub g2: wgpu::Buffer,
    pub s2: wgpu::Buffer,
    pub dispatches: Vec<Dispatch>,
}

/// G1 = W1·Xᵀ + B1, S1 = σ(G1), G2 = W2·S1 + B2, S2 = σ(G2), one kernel a step.
pub fn step_forward(
    g: &Gpu,
    k: &Kernels,
    xt: &wgpu::Buffer,
    params: &wgpu::Buffer,
    h: usize,
    n: usize,
    scratch: &Scratch,
) -> StepForward {
    let layout = Layout::new(h);
    let g1 = g.storage("g1: H × N", h * n);
    let s1 = g.storage("s1: H × N", h * n);
    let g2 = g.storage("g2: 1 × N", n);
    let s2 = g.storage("s2: 1 × N", n);
    let mut d = Vec::new();
    // G1 = W1 · Xᵀ + B1; S1 = σ(G1)
    d.extend(k.matmul(
        g,
        Operand::new(params, layout.w1, false),
        Operand::new(xt, 0, false),
        &g1,
        0,
        (h, 2, n),
        scratch,
    ));
    d.push(k.add_bias(g, &g1, params, layout.b1, (h, n)));
    d.push(k.sigmoid(g, &g1, &s1, (h, n)));
    // G2 = W2 · S1 + B2; S2 = σ(G2)
    d.extend(k.matmul(
        g,
        Operand::new(params, layout.w2, false),
        Operand::new(&s1, 0, false),
        &g2,
        0,
        (1, h, n),
        scratch,
    ));
    d.push(k.add_bias(g, &g2, params, layout.b2, (1, n)));
    d.push(k.sigmoid(g, &g2, &s2, (1, n)));
    StepForward { g1, s1, g2, s2, dispatches: d }
}

/// The predictions `S2: 1 × N` of `params` for the inputs `xt: 2 × N`, on the GPU.
pub fn predict(gpu: &Gpu, params: &Params, xt: &[f32]) -> Result<Vec<f32>, Error> {
    let (h, n) = (params.hidden, xt.len() / 2);
    check_fits(gpu, Path::Step, h, n)?;
    let k = Kernels::new(gpu)?;
    let forward = gpu.scoped("predicting", || {
        let xt = gpu.storage_from("xt: 2 × N", xt);
        let params = gpu.storage_from("params", &params.packed());
        let scratch = Scratch::new(gpu, 2 * h, n);
        let forward = step_forward(gpu, &k, &xt, &params, h, n, &scratch);
        super::kernels::submit(gpu, &forward.dispatches).map(|()| forward)
    })??;
    let mut s2 = vec![0.0; n];
    gpu.read(&forward.s2, 0, &gpu.staging(n), &mut s2)?;
    Ok(s2)
}

/// The step-by-step epoch up to the update: forward, loss, backward, one kernel per factor,
/// with every intermediate in its own buffer, the gradient into `grads` (`P`, packed as the
/// parameters). Returns the dispatches, the buffer the loss lands in, and the bytes
/// allocated.
#[allow(clippy::too_many_arguments)]
fn step_gradient(
    g: &Gpu,
    k: &Kernels,
    xt: &wgpu::Buffer,
    t: &wgpu::Buffer,
    params: &wgpu::Buffer,
    grads: &wgpu::Buffer,
    h: usize,
    n: usize,
) -> (Vec<Dispatch>, wgpu::Buffer, u64) {
    let layout = Layout::new(h);
    let d_s2 = g.storage("d_s2: 1 × N", n);
    let d_g2 = g.storage("d_g2: 1 × N", n);
    let d_s1 = g.storage("d_s1: H × N", h * n);
    let d_g1 = g.storage("d_g1: H × N", h * n);
    let loss_now = g.storage("loss_now", 1);
    let scratch = Scratch::new(g, 2 * h, n);
    let StepForward { g1, s1, g2, s2, dispatches: mut epoch } = step_forward(g, k, xt, params, h, n, &scratch);
    // loss = −(1/N) Σ [T log S2 + (1 − T) log(1 − S2)]
    epoch.extend(k.bce_loss(g, &s2, t, n, &loss_now, 0, &scratch));
    // dG2 = ∂loss/∂S2 ⊙ S2 ⊙ (1 − S2)
    epoch.push(k.bce_grad(g, &s2, t, &d_s2, n));
    epoch.push(k.sigmoid_backward(g, &d_s2, &s2, &d_g2, (1, n)));
    // dW2 = dG2 · S1ᵀ; dB2 = Σₙ dG2
    epoch.extend(k.matmul(
        g,
        Operand::new(&d_g2, 0, false),
        Operand::new(&s1, 0, true),
        grads,
        layout.w2,
        (1, n, h),
        &scratch,
    ));
    epoch.extend(k.sum_rows(g, &d_g2, 0, 1, n, grads, layout.b2, 1.0, &scratch));
    // dS1 = W2ᵀ · dG2; dG1 = dS1 ⊙ S1 ⊙ (1 − S1)
    epoch.extend(k.matmul(
        g,
        Operand::new(params, layout.w2, true),
        Operand::new(&d_g2, 0, false),
        &d_s1,
        0,
        (h, 1, n),
        &scratch,
    ));
    epoch.push(k.sigmoid_backward(g, &d_s1, &s1, &d_g1, (h, n)));
    // dW1 = dG1 · X (X is Xᵀ transposed); dB1 = Σₙ dG1
    epoch.extend(k.matmul(
        g,
        Operand::new(&d_g1, 0, false),
        Operand::new(xt, 0, true),
        grads,
        layout.w1,
        (h, n, 2),
        &scratch,
    ));
    epoch.extend(k.sum_rows(g, &d_g1, 0, h, n, grads, layout.b1, 1.0, &scratch));

    let bytes = [&g1, &s1, &g2, &s2, &d_s2, &d_g2, &d_s1, &d_g1, &loss_now].map(|b| b.size()).iter().sum::<u64>()
        + scratch.bytes();
    (epoch, loss_now, bytes)
}

impl Trainer for GpuTrainer {
    fn gpu_seconds_per_epoch(&mut self, epochs: usize) -> Result<Option<f64>, Error> {
        if !self.gpu.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Ok(None);
        }
        let epochs = epochs.clamp(1, MAX_BLOCK);
        let stamps = self.timestamps("timing epochs", 2, epochs, |encoder, query_set| {
            self.record_epochs(encoder, 0, epochs, Some(query_set));
        })?;
        Ok(Some((stamps[1] - stamps[0]).max(0.0) / epochs as f64))
    }

    fn memory_bytes(&self) -> u64 {
        self.device_bytes
    }

    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        assert!(losses.len() <= MAX_BLOCK, "a block is at most MAX_BLOCK epochs");
        self.gpu.scoped("running epochs", || self.submit_epochs(losses.len()))?;
        self.gpu.read(&self.loss_history, 0, &self.staging, losses)
    }

    fn mlp(&mut self) -> Result<crate::net::Mlp, Error> {
        Ok(crate::net::Mlp::from_params(&self.params()?))
    }

    fn profile(&mut self, epochs: usize) -> Result<Option<Profile>, Error> {
        self.profile_kernels(epochs)
    }

    fn loss(&mut self) -> Result<f32, Error> {
        self.gpu.queue.write_buffer(&self.state, 0, bytemuck::cast_slice(&[0u32, 0]));
        super::kernels::submit(&self.gpu, &self.evaluate)?;
        let mut loss = [0.0];
        self.gpu.read(&self.loss_history, 0, &self.staging, &mut loss)?;
        Ok(loss[0])
    }

    fn gradients(&mut self) -> Result<Vec<f32>, Error> {
        let len = Layout::new(self.hidden).len;
        // One epoch's worth for train_tiny, which reads its count from the state; the
        // gradient poisoned first, so an element the kernels leave unwritten reads NaN.
        self.gpu.queue.write_buffer(&self.state, 0, bytemuck::cast_slice(&[0u32, 1]));
        self.gpu.queue.write_buffer(&self.grads, 0, bytemuck::cast_slice(&vec![f32::NAN; len]));
        super::kernels::submit(&self.gpu, &self.gradient)?;
        let mut grads = vec![f32::NAN; len];
        self.gpu.read(&self.grads, 0, &self.staging, &mut grads)?;
        Ok(grads)
    }
}

impl GpuTrainer {
    /// The current weights in the 2-H-1 form.
    pub fn params(&mut self) -> Result<Params, Error> {
        let mut packed = vec![0.0; Layout::new(self.hidden).len];
        self.gpu.read(&self.params, 0, &self.staging, &mut packed)?;
        Ok(Params::unpack(self.hidden, &packed))
    }
}
