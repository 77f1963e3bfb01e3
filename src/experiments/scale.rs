//! `scale`: how the GPU's advantage grows with the batch. For each batch size and backend:
//! data made and uploaded outside the timing, a warm-up, then epochs timed in repeats, the
//! median reported.

use std::time::Instant;

use serde::Serialize;

use crate::backend::{KernelChoice, Plan};
use crate::data::Dataset;
use crate::gpu::Gpu;
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
    pub net: Net,
    pub lr: f32,
    pub seed: u64,
    pub noise: f32,
    /// Fixed epochs per repeat, or None to aim each point at `seconds`.
    pub epochs: Option<u64>,
    pub seconds: f64,
    pub repeats: usize,
    /// The kernels asked for, or None to let [`Plan::choose`] choose at each batch.
    pub kernels: Option<KernelChoice>,
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

/// The largest power of two up to 2^26 that [`Plan::choose`] lets `spec` train on this
/// host (and device, if any) with half the host's free memory to spare: every limit is
/// monotone in the batch, so the first from the top that fits.
pub fn default_max_batch(gpu: Option<&Gpu>, spec: &PointSpec) -> usize {
    let spare = crate::experiments::host_available_bytes().unwrap_or(u64::MAX) / 2;
    let opt = Optimizer::sgd(spec.lr);
    let fits = |b: usize| Plan::choose(gpu, &spec.net, &opt, b, spec.kernels).is_ok_and(|plan| plan.need.host <= spare);
    let mut b = 1usize << 26;
    while b > 4 && !fits(b) {
        b /= 2;
    }
    b
}

/// Builds the trainer [`Plan::choose`] picks for one point (plain SGD at the spec's rate)
/// and measures it.
pub fn point(backend: &str, gpu: Option<&Gpu>, data: Dataset, spec: &PointSpec) -> Result<Record, Error> {
    let batch = data.len();
    let opt = Optimizer::sgd(spec.lr);
    let plan = Plan::choose(gpu, &spec.net, &opt, batch, spec.kernels)?;
    let mut t = plan.trainer(gpu.cloned(), &spec.net.init(spec.seed), data.into(), opt, None, None)?;
    let (epochs, seconds_per_epoch) = measure(&mut *t, spec)?;
    let gpu_seconds_per_epoch = t.gpu_seconds_per_epoch(epochs as usize)?;
    Ok(Record {
        backend: backend.into(),
        adapter: gpu.map_or_else(crate::experiments::cpu_name, |g| g.adapter_name.clone()),
        batch,
        epochs,
        seconds_per_epoch,
        gpu_seconds_per_epoch,
        samples_per_s: batch as f64 / seconds_per_epoch,
        final_loss: t.loss()?,
        device_bytes: t.memory_bytes(),
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
