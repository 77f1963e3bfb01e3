//! Host side of `shaders/fused.wgsl`: whole epochs without per-sample intermediates.
//!
//! - `train_tiny`: a batch that fits one workgroup trains many epochs in one dispatch,
//!   the weights held in workgroup memory.
//! - `epoch_partials` + `apply_update`: any batch, one read of the data per epoch and a
//!   small second pass that sums the per-workgroup partials in a fixed order.

use bytemuck::{Pod, Zeroable};

use std::fmt::Write;

use super::kernels::{Binding, Dispatch, Family, WG};
use super::Gpu;
use crate::Error;

/// The fused kernels' source for hidden width `hidden`: the constants the host fixes per
/// run, the common prelude, `shaders/fused.wgsl`, and the per-sample code generated for
/// this width ([`sample_code`]).
pub fn fused_source(hidden: usize, tiny_wg: u32) -> String {
    format!(
        "const H: u32 = {hidden}u;\nconst TINY_WG: u32 = {tiny_wg}u;\n{}{}{}",
        include_str!("../../shaders/common.wgsl"),
        include_str!("../../shaders/fused.wgsl"),
        sample_code(hidden)
    )
}

/// The widest hidden layer whose per-sample code is unrolled.
pub const UNROLLED_MAX_H: usize = 8;

/// epoch_partials' helpers for hidden width `h`, every array index a literal so that the
/// thread's parameters and sums (`wp`, `acc`: private arrays in `shaders/fused.wgsl`) can
/// live in registers. The same arithmetic, in the same order, as a loop over the hidden
/// units j would do:
///
/// - `load_weights()`: `wp[p] = params[p]` for every p;
/// - `add_sample(x1, x2, t, inv_n)`: `S1[j] = σ(w1[j]·x + b1[j])`, `G2 = b2 + Σ w2[j]·S1[j]`,
///   `S2 = σ(G2)`, the loss term `log(t ? S2 : 1 − S2)`, `dG2 = (S2 − t)/N`, then `dW2[j] += dG2·S1[j]`,
///   `dG1[j] = w2[j]·dG2·S1[j](1 − S1[j])`, `dW1[j] += dG1[j]·x`, `dB1[j] += dG1[j]`, `dB2 += dG2`;
/// - `stash_sums(base, lid)`: `sums[k·WG + lid] = acc[base + k]` (0 past the last value) for
///   the batch of SUM_BATCH values that starts at `base`.
///
/// Past [`UNROLLED_MAX_H`] the same functions are loops (`shaders/fused_loops.wgsl`): a
/// thousand private values cannot stay in registers anyway, and the unrolled form would be
/// thousands of lines for the driver to compile (llvmpipe already spends 20–30 s on the
/// first compile at H = 256, then caches it).
pub fn sample_code(h: usize) -> String {
    if h > UNROLLED_MAX_H {
        return include_str!("../../shaders/fused_loops.wgsl").to_string();
    }
    let (b1, w2, b2, p) = (2 * h, 3 * h, 4 * h, 4 * h + 1);
    let mut c = String::new();
    c.push_str("\n// ---- Generated for this H by sample_code in src/gpu/fused.rs. ----\n\n");
    c.push_str("fn load_weights() {\n");
    for i in 0..p {
        writeln!(c, "    wp[{i}] = params[{i}];").unwrap();
    }
    c.push_str("}\n\nfn add_sample(x1: f32, x2: f32, tn: f32, inv_n: f32) {\n");
    writeln!(c, "    var g2 = wp[{b2}];").unwrap();
    for j in 0..h {
        writeln!(c, "    let s1_{j} = sigmoid_scalar(wp[{}] * x1 + wp[{}] * x2 + wp[{}]);", 2 * j, 2 * j + 1, b1 + j)
            .unwrap();
        writeln!(c, "    g2 += wp[{}] * s1_{j};", w2 + j).unwrap();
    }
    c.push_str("    let s2 = sigmoid_scalar(g2);\n");
    writeln!(c, "    acc[{p}] += clamped_log(select(1.0 - s2, s2, tn > 0.5));").unwrap();
    c.push_str("    let dg2 = (s2 - tn) * inv_n;\n");
    writeln!(c, "    acc[{b2}] += dg2;").unwrap();
    for j in 0..h {
        writeln!(c, "    acc[{}] += dg2 * s1_{j};", w2 + j).unwrap();
        writeln!(c, "    let dg1_{j} = wp[{}] * dg2 * s1_{j} * (1.0 - s1_{j});", w2 + j).unwrap();
        writeln!(c, "    acc[{}] += dg1_{j} * x1;", 2 * j).unwrap();
        writeln!(c, "    acc[{}] += dg1_{j} * x2;", 2 * j + 1).unwrap();
        writeln!(c, "    acc[{}] += dg1_{j};", b1 + j).unwrap();
    }
    c.push_str("}\n\n");
    c.push_str(&stash_sums_code(p));
    c
}

/// `fn stash_sums(base, lid)`: `sums[k·WG + lid] = acc[base + k]` for the batch of
/// `min(P + 1, 16)` values (SUM_BATCH in the shaders) that starts at `base`, 0 past the last
/// of the P + 1 values, every index a literal. Shared by the fused kernels of `fused.wgsl`
/// and `fused_mlp.wgsl`.
pub(super) fn stash_sums_code(p: usize) -> String {
    let mut c = String::from("fn stash_sums(base: u32, lid: u32) {\n    switch base {\n");
    let batch = (p + 1).min(16);
    for base in (0..=p).step_by(batch) {
        writeln!(c, "        case {base}u: {{").unwrap();
        for k in 0..batch {
            let v = base + k;
            let value = if v <= p { format!("acc[{v}]") } else { "0.0".into() };
            writeln!(c, "            sums[{k}u * WG + lid] = {value};").unwrap();
        }
        c.push_str("        }\n");
    }
    c.push_str("        default: {}\n    }\n}\n");
    c
}

/// Floats of workgroup memory train_tiny needs per thread (S1, dG1: H each; Xᵀ: 2; dG2 and
/// the loss term: 1 each) besides the P parameters.
fn tiny_floats(hidden: usize, wg: u32) -> usize {
    (2 * hidden + 4) * wg as usize + 4 * hidden + 1
}

/// The workgroup size train_tiny would run `n` samples with, if they fit one workgroup
/// and its memory on this device: a power of two, at least 8 (a SIMD row on CPU adapters).
pub fn tiny_workgroup(gpu: &Gpu, hidden: usize, n: usize) -> Option<u32> {
    let limits = gpu.device.limits();
    // In usize, then checked: a batch past 2^31 must not wrap to a small workgroup.
    let wg = u32::try_from(n.checked_next_power_of_two()?.max(8)).ok()?;
    let fits_threads = wg <= limits.max_compute_invocations_per_workgroup.min(limits.max_compute_workgroup_size_x);
    let fits_memory = tiny_floats(hidden, wg) * 4 <= limits.max_compute_workgroup_storage_size as usize;
    (fits_threads && fits_memory).then_some(wg)
}

/// At most this many workgroups (and partial sums per value) per chunk: enough to fill any
/// current GPU, few enough for one dimension of a dispatch and a short second pass.
pub const MAX_GROUPS: usize = 4096;

/// Samples each thread of epoch_partials takes at least. Fewer, fuller workgroups make the
/// workgroup trees and the second pass cheaper; a GPU still needs many threads in flight,
/// a CPU adapter only a few workgroups per core, and its barriers are costly (llvmpipe at
/// 2^20 samples: 65 ms an epoch at 8 samples a thread, 11 ms at 128, 8.8 ms at 1024).
pub fn samples_per_thread(gpu: &Gpu) -> usize {
    if gpu.is_software() {
        1024
    } else {
        64
    }
}

/// Workgroups of epoch_partials for a batch (or chunk) of `n` at `samples_per_thread`: one
/// per `WG · samples_per_thread` samples, at most [`MAX_GROUPS`] (past that each thread
/// takes more samples).
pub fn groups_for(n: usize, samples_per_thread: usize) -> usize {
    n.div_ceil(WG as usize * samples_per_thread.max(1)).clamp(1, MAX_GROUPS)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FusedDims {
    n: u32,
    epochs_per_dispatch: u32,
    lr: f32,
    groups: u32,
    group_offset: u32,
    groups_total: u32,
    total_n: u32,
    mode: u32,
}

/// What a fused epoch ends with (`MODE_*` in `shaders/fused.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The loss of the current weights into the history; nothing else changes.
    Loss = 0,
    /// The loss, then the update: a training epoch.
    Update = 1,
    /// The loss, and the gradient into `grads` instead of the update (for the tests).
    Gradient = 2,
}

/// The buffers the fused kernels bind, in binding order after the uniform.
pub struct FusedBuffers<'a> {
    /// `2 × n` and `1 × n`: the batch, or one chunk of it.
    pub xt: &'a wgpu::Buffer,
    pub t: &'a wgpu::Buffer,
    pub params: &'a wgpu::Buffer,
    /// `(P + 1) × groups` floats.
    pub partials: &'a wgpu::Buffer,
    pub losses: &'a wgpu::Buffer,
    /// Two u32: the next loss slot, and the epochs left in the block.
    pub state: &'a wgpu::Buffer,
    /// `P` floats: the gradient, written only by [`Mode::Gradient`].
    pub grads: &'a wgpu::Buffer,
}

impl FusedBuffers<'_> {
    fn list(&self) -> [&wgpu::Buffer; 7] {
        [self.xt, self.t, self.params, self.partials, self.losses, self.state, self.grads]
    }
}

/// The fused pipelines, compiled for one hidden width.
pub struct FusedKernels {
    family: Family,
    hidden: usize,
    samples_per_thread: usize,
}

impl FusedKernels {
    /// The kernels for `hidden` units; train_tiny with workgroups of `tiny_wg`, and
    /// epoch_partials with at least `samples_per_thread` samples a thread.
    pub fn new(gpu: &Gpu, hidden: usize, tiny_wg: u32, samples_per_thread: usize) -> Result<Self, Error> {
        use Binding::{Read, ReadWrite, Uniform};
        let source = fused_source(hidden, tiny_wg);
        let family = Family::new(
            gpu,
            "fused.wgsl",
            &source,
            &[Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite, ReadWrite],
            &["train_tiny", "epoch_partials", "apply_update"],
        )?;
        Ok(FusedKernels { family, hidden, samples_per_thread: samples_per_thread.max(1) })
    }

    /// Workgroups of epoch_partials for a batch (or chunk) of `n`.
    pub fn groups_for(&self, n: usize) -> usize {
        groups_for(n, self.samples_per_thread)
    }

    /// Up to `epochs_per_dispatch` epochs of a batch of `n` ≤ the workgroup in one
    /// dispatch; how many is read from the state buffer, which it advances.
    pub fn train_tiny(
        &self,
        gpu: &Gpu,
        b: &FusedBuffers,
        n: usize,
        lr: f32,
        epochs_per_dispatch: u32,
        mode: Mode,
    ) -> Dispatch {
        let n = n as u32;
        let dims = FusedDims {
            n,
            epochs_per_dispatch,
            lr,
            groups: 1,
            group_offset: 0,
            groups_total: 1,
            total_n: n,
            mode: mode as u32,
        };
        self.family.dispatch(gpu, "train_tiny", &dims, &b.list(), [1, 1, 1])
    }

    /// One epoch for a batch bound as `chunks` (each with its sample count): partial sums
    /// chunk by chunk, then what `mode` says: the update, the gradient, or only the loss
    /// of the current weights into `losses[state[0]]`.
    pub fn epoch(&self, gpu: &Gpu, chunks: &[(FusedBuffers, usize)], lr: f32, mode: Mode) -> Vec<Dispatch> {
        let total_n = chunks.iter().map(|(_, n)| n).sum::<usize>() as u32;
        let groups_total = chunks.iter().map(|(_, n)| self.groups_for(*n)).sum::<usize>() as u32;
        let mode = mode as u32;
        let mut dispatches = Vec::new();
        let mut group_offset = 0;
        for (b, n) in chunks {
            let groups = self.groups_for(*n) as u32;
            let n = *n as u32;
            let dims = FusedDims { n, epochs_per_dispatch: 1, lr, groups, group_offset, groups_total, total_n, mode };
            dispatches.push(self.family.dispatch(gpu, "epoch_partials", &dims, &b.list(), [groups, 1, 1]));
            group_offset += groups;
        }
        let dims = FusedDims {
            n: total_n,
            epochs_per_dispatch: 1,
            lr,
            groups: groups_total,
            group_offset: 0,
            groups_total,
            total_n,
            mode,
        };
        // One workgroup per sum: the P parameters' and the loss.
        let values = 4 * self.hidden as u32 + 2;
        dispatches.push(self.family.dispatch(gpu, "apply_update", &dims, &chunks[0].0.list(), [values, 1, 1]));
        dispatches
    }
}
