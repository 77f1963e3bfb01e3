//! The yardsticks for compute-bound work (`shaders/special.wgsl`): how many exponentials
//! and divisions a second this device runs (`special_ops`), against which a population's
//! network-epochs per second are read (a 2-H-1 sigmoid network-epoch on N samples is about
//! N·(2H + 5) of them, see [`special_ops_per_epoch`]); and how many f32 multiply-adds
//! (`fma_ops`), against which a wide net's epoch is read (see
//! [`crate::net::Net::macs_per_sample`]).

use std::time::Instant;

use bytemuck::{Pod, Zeroable};

use super::kernels::{grid, Binding, Family, WG};
use super::Gpu;
use crate::Error;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SpecialDims {
    threads: u32,
    rounds: u32,
    _pad: [u32; 2],
}

/// Exponentials and divisions per round of a `special_ops` thread: four chains, one of
/// each a step.
pub const OPS_PER_ROUND: u64 = 8;
/// Multiply-adds per round of an `fma_ops` thread: eight chains, four steps.
pub const FMA_PER_ROUND: u64 = 32;

/// The yardstick kernels, compiled.
pub struct SpecialOps {
    family: Family,
}

impl SpecialOps {
    pub fn new(gpu: &Gpu) -> Result<Self, Error> {
        let source = concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/special.wgsl"));
        let family = Family::new(
            gpu,
            "special.wgsl",
            source,
            &[Binding::Uniform, Binding::Read, Binding::ReadWrite],
            &["special_ops", "fma_ops"],
        )?;
        Ok(SpecialOps { family })
    }

    /// Runs `rounds` rounds of `kernel` (`special_ops` or `fma_ops`) on one thread per
    /// seed, writing each thread's sum of its chains to `out`; the wall time in seconds,
    /// submission and wait included.
    pub fn run(
        &self,
        gpu: &Gpu,
        kernel: &'static str,
        seeds: &wgpu::Buffer,
        out: &wgpu::Buffer,
        threads: usize,
        rounds: u32,
    ) -> Result<f64, Error> {
        let dims = SpecialDims { threads: threads as u32, rounds, _pad: [0; 2] };
        let [x, y] = grid((threads as u32).div_ceil(WG));
        let dispatch = gpu.scoped(&format!("binding {kernel}"), || {
            self.family.dispatch(gpu, kernel, &dims, &[seeds, out], [x, y, 1])
        })?;
        let start = Instant::now();
        super::kernels::submit(gpu, &[dispatch])?;
        gpu.wait()?;
        Ok(start.elapsed().as_secs_f64())
    }
}

/// The CPU twin of one thread of `special_ops`: the four chains from `seed`, summed.
pub fn special_ops_twin(seed: f32, rounds: u32) -> f32 {
    let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
    let (mut a, mut b, mut c, mut d) = (seed, seed + 0.25, seed - 0.25, 0.5 * seed);
    for _ in 0..rounds {
        (a, b, c, d) = (sigmoid(a), sigmoid(b), sigmoid(c), sigmoid(d));
    }
    a + b + c + d
}

/// The CPU twin of one thread of `fma_ops`: the eight chains from `seed`, summed.
pub fn fma_ops_twin(seed: f32, rounds: u32) -> f32 {
    let (m, c) = (0.5 + 0.25 * seed.sin(), 0.125 * seed);
    let s = seed;
    let mut x = [s, s + 0.5, s - 0.5, s * 0.5, s + 1.0, s - 1.0, s * 0.25, s + 0.25];
    for _ in 0..rounds * 4 {
        for v in &mut x {
            *v = *v * m + c;
        }
    }
    x.iter().sum()
}

/// Exponentials and divisions a second (`special_ops`): a warm-up, then rounds enough for
/// about 50 ms a submission over enough threads to fill any GPU, median of 5.
pub fn special_ops_rate(gpu: &Gpu) -> Result<f64, Error> {
    rate(gpu, "special_ops", OPS_PER_ROUND)
}

/// f32 multiply-adds a second (`fma_ops`), measured as [`special_ops_rate`] is.
pub fn fma_rate(gpu: &Gpu) -> Result<f64, Error> {
    rate(gpu, "fma_ops", FMA_PER_ROUND)
}

/// Operations a second of `kernel` (`per_round` a thread a round): a warm-up, then rounds
/// enough for about 50 ms a submission over enough threads to fill any GPU (2^20; 2^14 on
/// a CPU adapter), median of 5.
fn rate(gpu: &Gpu, kernel: &'static str, per_round: u64) -> Result<f64, Error> {
    let threads: usize = if gpu.is_software() { 1 << 14 } else { 1 << 20 };
    let seeds: Vec<f32> = (0..threads).map(|i| (i % 1000) as f32 / 500.0 - 1.0).collect();
    let (seeds, out) = gpu.scoped(&format!("allocating {kernel} buffers"), || {
        (gpu.storage_from("seeds", &seeds), gpu.storage("out", threads))
    })?;
    let yardstick = SpecialOps::new(gpu)?;
    yardstick.run(gpu, kernel, &seeds, &out, threads, 16)?;
    let one = yardstick.run(gpu, kernel, &seeds, &out, threads, 64)?;
    let rounds = ((64.0 * 0.05 / one.max(1e-9)) as u32).clamp(64, 1 << 16);
    let mut rates = (0..5)
        .map(|_| {
            yardstick
                .run(gpu, kernel, &seeds, &out, threads, rounds)
                .map(|s| (threads as u64 * rounds as u64 * per_round) as f64 / s)
        })
        .collect::<Result<Vec<f64>, Error>>()?;
    rates.sort_by(f64::total_cmp);
    Ok(rates[2])
}

/// Exponentials and divisions in one epoch of a 2-H-1 sigmoid network on `n` samples, as
/// `train_population` runs it: per sample H + 1 sigmoids (an exponential and a division
/// each), the loss gradient's two divisions and the loss's log.
pub fn special_ops_per_epoch(hidden: usize, n: usize) -> u64 {
    (n * (2 * (hidden + 1) + 3)) as u64
}
