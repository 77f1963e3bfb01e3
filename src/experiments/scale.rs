//! `scale`: how the GPU's advantage grows with the batch. For each batch size and backend:
//! data made and uploaded outside the timing, a warm-up, then epochs timed in repeats, the
//! median reported.

use std::time::Instant;

use serde::Serialize;

use crate::cpu::fast::FastCpuTrainer;
use crate::cpu::fast_mlp::FastMlpTrainer;
use crate::data::Dataset;
use crate::gpu::mlp::{MlpGpuTrainer, MlpPath};
use crate::gpu::trainer::{max_batch, Path, DEFAULT_EPOCHS_PER_DISPATCH};
use crate::gpu::{Gpu, GpuTrainer};
use crate::memory::Runner;
use crate::model::Params;
use crate::net::optim::Optimizer;
use crate::net::Net;
use crate::train::{Trainer, MAX_BLOCK};
use crate::Error;

/// One point of the sweep; the CSV columns, in order.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub backend: String,
    pub adapter: String,
    pub batch: usize,
    pub epochs: u64,
    pub seconds_per_epoch: f64,
    pub gpu_seconds_per_epoch: Option<f64>,
    pub samples_per_s: f64,
    pub final_loss: f32,
    pub device_bytes: u64,
}

/// What a sweep point runs with.
#[derive(Clone, Debug)]
pub struct PointSpec {
    /// The net: the 2-H-1 sigmoid one takes its own paths, any other the general ones.
    pub net: Net,
    pub hidden: usize,
    pub lr: f32,
    pub seed: u64,
    pub noise: f32,
    /// Fixed epochs per repeat, or None to aim each point at `seconds`.
    pub epochs: Option<u64>,
    pub seconds: f64,
    pub repeats: usize,
    pub kernels: Option<Path>,
    /// For a net other than 2-H-1 sigmoid: the GPU path, or None to let it choose.
    pub mlp_path: Option<MlpPath>,
}

/// Runs `epochs` epochs in blocks and returns the wall time (the last block's loss read-back
/// makes it synchronous).
fn timed(trainer: &mut dyn Trainer, epochs: u64) -> Result<f64, Error> {
    let mut losses = vec![0.0; MAX_BLOCK];
    let start = Instant::now();
    let mut left = epochs;
    while left > 0 {
        let block = left.min(MAX_BLOCK as u64) as usize;
        trainer.run_epochs(&mut losses[..block])?;
        left -= block as u64;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Measures one point: warm-up, calibration (unless epochs are fixed), then `repeats`
/// timed runs; the median seconds per epoch.
pub fn measure(trainer: &mut dyn Trainer, spec: &PointSpec) -> Result<(u64, f64), Error> {
    timed(trainer, 1)?;
    let epochs = match spec.epochs {
        Some(e) => e,
        None => {
            // Double until a run takes a quarter of a repeat's share of the budget, then scale
            // to the share: a run's fixed cost (a submission and a read-back, milliseconds on a
            // software adapter) is then a small part of it, not taken for the epochs' time.
            // The faster of two runs, so that one slow read-back cannot pass for the rate.
            let share = spec.seconds / spec.repeats as f64;
            let mut e = 1u64;
            let mut t = timed(trainer, e)?.min(timed(trainer, e)?);
            while t < share / 4.0 && e < 1 << 24 {
                e *= 2;
                t = timed(trainer, e)?.min(timed(trainer, e)?);
            }
            let per_epoch = t / e as f64;
            ((share / per_epoch) as u64).clamp(1, 1 << 26)
        }
    };
    let mut times: Vec<f64> =
        (0..spec.repeats).map(|_| timed(trainer, epochs).map(|t| t / epochs as f64)).collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    Ok((epochs, times[times.len() / 2]))
}

/// The batch sizes of a sweep: `min`, `min·factor`, … up to `max`, and `max` itself.
pub fn batches(min: usize, max: usize, factor: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut b = min;
    while b < max {
        out.push(b);
        b = b.saturating_mul(factor);
    }
    out.push(max);
    out
}

/// The largest power of two up to 2^26 that this host (and device, if any) can train, with
/// half the free memory to spare.
pub fn default_max_batch(gpu: Option<&Gpu>, hidden: usize, kernels: Option<Path>) -> usize {
    let runner = gpu.map_or(Runner::Cpu, |g| Runner::gpu(g, kernels.unwrap_or(Path::Fused)));
    let per_sample = crate::memory::per_sample(runner, hidden).host;
    let host = crate::experiments::host_available_bytes().unwrap_or(u64::MAX) / 2 / per_sample;
    let device = gpu.map(|g| max_batch(g, kernels.unwrap_or(Path::Fused), hidden) as u64).unwrap_or(u64::MAX);
    let limit = host.min(device).clamp(4, 1 << 26);
    1 << (63 - limit.leading_zeros())
}

/// The largest power of two up to 2^26 that this host (and device, if any) can train `net`
/// on, with half the free memory to spare, for a net other than 2-H-1 sigmoid.
pub fn default_max_batch_mlp(gpu: Option<&Gpu>, net: &Net, path: Option<MlpPath>) -> usize {
    let on_gpu = gpu.map(|g| (path.unwrap_or_else(|| MlpPath::choose(g, net, 1 << 20).0), g.is_software()));
    let per_sample = crate::memory::mlp_per_sample(net, on_gpu).host.max(1);
    let host = crate::experiments::host_available_bytes().unwrap_or(u64::MAX) / 2 / per_sample;
    let device = match (gpu, on_gpu) {
        (Some(g), Some((path, _))) => {
            // The largest power of two the path takes (its limits are monotone in the batch).
            let mut b = 1u64 << 26;
            while b > 4 && crate::gpu::mlp::unfit(g, net, b as usize, path).is_some() {
                b /= 2;
            }
            b
        }
        _ => u64::MAX,
    };
    let limit = host.min(device).clamp(4, 1 << 26);
    1 << (63 - limit.leading_zeros())
}

/// Builds the trainer for one point and measures it.
pub fn point(backend: &str, gpu: Option<&Gpu>, data: Dataset, spec: &PointSpec) -> Result<Record, Error> {
    // A general path asked for (the tiled kernels) takes even the 2-H-1 net.
    if spec.net.classic_hidden().is_none() || spec.mlp_path.is_some() {
        return point_mlp(backend, gpu, data, spec);
    }
    let params = Params::init(spec.hidden, spec.seed);
    let batch = data.len();
    let (epochs, seconds_per_epoch, gpu_seconds_per_epoch, final_loss, adapter, device_bytes) = match gpu {
        Some(g) => {
            let gpu = g.clone();
            let path = spec.kernels.unwrap_or_else(|| Path::fastest(&gpu, spec.hidden, batch));
            let name = gpu.adapter_name.clone();
            let mut t = GpuTrainer::with_path(gpu, &params, &data, spec.lr, path, DEFAULT_EPOCHS_PER_DISPATCH)?;
            let (epochs, wall) = measure(&mut t, spec)?;
            let gpu_time = t.gpu_seconds_per_epoch(epochs as usize)?;
            (epochs, wall, gpu_time, t.loss()?, name, t.device_bytes())
        }
        None => {
            let mut t = FastCpuTrainer::new(params, data, spec.lr);
            let (epochs, wall) = measure(&mut t, spec)?;
            (epochs, wall, None, t.loss()?, crate::experiments::cpu_name(), t.memory_bytes())
        }
    };
    Ok(Record {
        backend: backend.into(),
        adapter,
        batch,
        epochs,
        seconds_per_epoch,
        gpu_seconds_per_epoch,
        samples_per_s: batch as f64 / seconds_per_epoch,
        final_loss,
        device_bytes,
    })
}

/// [`point`] for a net other than 2-H-1 sigmoid: plain SGD at the spec's rate on the general
/// paths (the fast CPU trainer; the GPU's fused pair, tiled or step kernels).
fn point_mlp(backend: &str, gpu: Option<&Gpu>, data: Dataset, spec: &PointSpec) -> Result<Record, Error> {
    let mlp = spec.net.init(spec.seed);
    let batch = data.len();
    let opt = Optimizer::sgd(spec.lr);
    let (epochs, seconds_per_epoch, gpu_seconds_per_epoch, final_loss, adapter, device_bytes) = match gpu {
        Some(g) => {
            let path = spec.mlp_path.unwrap_or_else(|| MlpPath::choose(g, &spec.net, batch).0);
            let mut t = MlpGpuTrainer::with_path(g.clone(), &mlp, &data, opt, None, path)?;
            let (epochs, wall) = measure(&mut t, spec)?;
            let gpu_time = t.gpu_seconds_per_epoch(epochs as usize)?;
            (epochs, wall, gpu_time, t.loss()?, g.adapter_name.clone(), t.device_bytes())
        }
        None => {
            let bytes = ((data.xt.len() + data.t.len()) * 4) as u64;
            let mut t = FastMlpTrainer::new(mlp, data, opt, None);
            let (epochs, wall) = measure(&mut t, spec)?;
            (epochs, wall, None, t.loss()?, crate::experiments::cpu_name(), bytes)
        }
    };
    Ok(Record {
        backend: backend.into(),
        adapter,
        batch,
        epochs,
        seconds_per_epoch,
        gpu_seconds_per_epoch,
        samples_per_s: batch as f64 / seconds_per_epoch,
        final_loss,
        device_bytes,
    })
}

/// The first batch of the sweep at which the GPU's samples per second beat the CPU's.
pub fn crossover(records: &[Record]) -> Option<usize> {
    let rate = |backend: &str, batch: usize| {
        records.iter().find(|r| r.backend == backend && r.batch == batch).map(|r| r.samples_per_s)
    };
    let mut batches: Vec<usize> = records.iter().map(|r| r.batch).collect();
    batches.sort();
    batches.dedup();
    batches.into_iter().find(|&b| matches!((rate("gpu", b), rate("cpu", b)), (Some(g), Some(c)) if g > c))
}
