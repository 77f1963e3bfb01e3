//! The fused path for any narrow net (`shaders/fused_mlp.wgsl`): `mlp_partials` reads each
//! sample once per epoch and runs its forward pass, loss and backward pass in the thread's
//! private memory, leaving per-workgroup partial sums; `mlp_reduce` adds them in a fixed
//! order into the gradient and the loss history; the update is the step path's kernels
//! (`l2_grad`, then `sgd_update`, `momentum_update` or `adam_update`). The CPU twin of the
//! pair is one epoch of [`crate::cpu::mlp`].
//!
//! The host writes the net into the shader: `add_sample` unit by unit, every weight and
//! sum at a literal index (see [`source`]).

use std::fmt::Write;

use bytemuck::{Pod, Zeroable};

use super::kernels::{Binding, Dispatch, Family, WG};
use super::{DataChunk, Gpu};
use crate::net::{Activation, Net};
use crate::Error;

/// The widest layer the fused path takes: each thread keeps the net's parameters and its
/// gradient sums in private memory (2P floats: 9.5 KB at 2-32-32-1).
pub const FUSED_MAX_WIDTH: usize = 32;

/// Why `net` cannot take the fused path, if it cannot.
pub fn unfit(net: &Net) -> Option<String> {
    if net.widest() > FUSED_MAX_WIDTH {
        return Some(format!(
            "its widest layer has {} units and the fused kernels keep a thread's sums in private memory, up to {FUSED_MAX_WIDTH} units a layer",
            net.widest()
        ));
    }
    (net.param_count() > FUSED_MAX_PARAMS).then(|| {
        format!(
            "it has {} parameters and the fused kernels' code, written out for the net, takes up to {FUSED_MAX_PARAMS} (past that it compiles for tens of seconds)",
            net.param_count()
        )
    })
}

/// The most parameters the fused pair takes: its per-sample code is written out with every
/// index a literal, which llvmpipe compiles in 1.4 s at 2-16-16-1 (353 parameters) and 3.2 s
/// at 2-20-20-1 (501). Written as loops over private arrays instead, it took 14 s at
/// 2-16-16-16-1 (625) and 50 s at 2-32-32-1 (1,185) to compile, so larger nets take the
/// step kernels.
pub const FUSED_MAX_PARAMS: usize = 600;

/// How mlp_partials adds its threads' sums before mlp_reduce adds the workgroups'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartialSums {
    /// Each thread writes its own P + 1 sums and mlp_reduce adds them all: a CPU adapter's
    /// default, where a barrier switches through every invocation of the workgroup.
    Direct,
    /// The workgroup adds them in a fixed tree through workgroup memory, a barrier a level:
    /// a GPU's without subgroup operations.
    Tree,
    /// Each subgroup adds its lanes' by `subgroupAdd`, then the workgroup the subgroups' in
    /// order: two barriers a pass of values instead of a tree's ten, a GPU's default where
    /// it has subgroup operations. On llvmpipe (subgroups of 8), 2-16-16-1, ms an epoch at
    /// 4,096 and 2^16 samples (medians of 5): trees 6.3 and 16.8, subgroups 3.1 and 9.8,
    /// each thread's sums written 0.9 and 3.7, which stays its default (llvmpipe switches
    /// through the workgroup's 32 SIMD rows at each barrier).
    Subgroups,
}

impl PartialSums {
    /// The adapter's default (see the variants).
    pub fn default_for(gpu: &Gpu) -> PartialSums {
        if gpu.is_software() {
            PartialSums::Direct
        } else if gpu.has_subgroups() {
            PartialSums::Subgroups
        } else {
            PartialSums::Tree
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PartialSums::Direct => "each thread's sums written",
            PartialSums::Tree => "workgroup trees",
            PartialSums::Subgroups => "subgroup sums",
        }
    }
}

/// Floats of workgroup memory the subgroup form stages its subgroups' sums in (8 KiB).
const SG_FLOATS: u32 = 2048;

/// The WGSL of the fused pair for `net` (at most [`FUSED_MAX_PARAMS`] parameters): the
/// common prelude, the net's constants and its functions, `shaders/fused_mlp.wgsl`, then
/// mlp_partials in the form `sums` asks for. The subgroup form makes room for subgroups of
/// WebGPU's smallest size, whatever the adapter reports: a driver that reported too large a
/// minimum would otherwise have its subgroups' slots overrun one another's, unseen.
/// The functions are written out unit by unit with every index a literal and each
/// activation a named value, so the values can stay in registers (as loops, with indices
/// the compiler cannot resolve, llvmpipe kept them in memory and a 2-16-16-1 epoch of 2^16
/// samples took 93 ms instead of 12).
pub fn source(net: &Net, sums: PartialSums) -> String {
    let mut s = net_prelude(net);
    let _ = writeln!(s, "const DIRECT: bool = {};", sums == PartialSums::Direct);
    s.push_str(&unrolled(net));
    s.push_str(include_str!("../../shaders/fused_mlp.wgsl"));
    if sums == PartialSums::Subgroups {
        let max_subgroups = WG / wgpu::MINIMUM_SUBGROUP_MIN_SIZE;
        let batch = (net.param_count() as u32 + 1).min(WG).min(SG_FLOATS / max_subgroups);
        let _ = writeln!(s, "\nconst MAX_SUBGROUPS: u32 = {max_subgroups}u;");
        let _ = writeln!(s, "const SG_BATCH: u32 = {batch}u;");
        s.push_str(&stash_subgroup_sums_code(net.param_count(), batch as usize));
        s.push_str(include_str!("../../shaders/fused_mlp_subgroups.wgsl"));
    } else {
        s.push_str(&super::fused::stash_sums_code(net.param_count()));
        s.push_str(include_str!("../../shaders/fused_mlp_sums.wgsl"));
    }
    s
}

/// `stash_subgroup_sums(base, sg, lane)`: for the `batch` values from `base`, each
/// subgroup's sum by `subgroupAdd` into `sg_sums[k·MAX_SUBGROUPS + sg]` from its lane 0
/// (nothing past the last value, whose slots the reader skips). Every lane of the workgroup
/// calls it, so each subgroupAdd sees full subgroups.
fn stash_subgroup_sums_code(p: usize, batch: usize) -> String {
    let mut c = String::from("\nfn stash_subgroup_sums(base: u32, sg: u32, lane: u32) {\n    switch base {\n");
    for base in (0..=p).step_by(batch) {
        let _ = writeln!(c, "        case {base}u: {{");
        let count = batch.min(p + 1 - base);
        for k in 0..count {
            let _ = writeln!(c, "            let s{k} = subgroupAdd(acc[{}]);", base + k);
        }
        c.push_str("            if lane == 0u {\n");
        for k in 0..count {
            let _ = writeln!(c, "                sg_sums[{k}u * MAX_SUBGROUPS + sg] = s{k};");
        }
        c.push_str("            }\n        }\n");
    }
    c.push_str("        default: {}\n    }\n}\n");
    c
}

/// The common prelude and the net's constants (`P`, `D0`) and activation (`hidden_act`,
/// `hidden_back`): what the kernels written for a net start with.
pub(super) fn net_prelude(net: &Net) -> String {
    let mut s = String::from(include_str!("../../shaders/common.wgsl"));
    let _ = writeln!(s, "\n// The net: {}.", net.describe());
    let _ = writeln!(s, "const P: u32 = {}u;", net.param_count());
    let _ = writeln!(s, "const D0: u32 = {}u;", net.inputs());
    // The activation, and `g ⊙ f′` from its output y (ReLU selects, so an infinite g at a
    // unit below the kink gives 0 as the CPU's does, not ∞·0).
    let (act, back) = match net.activation {
        Activation::Sigmoid => ("sigmoid_scalar(z)", "g * y * (1.0 - y)"),
        Activation::Tanh => ("tanh_scalar(z)", "g * (1.0 - y * y)"),
        // A NaN stays NaN, so divergence shows.
        Activation::Relu => ("select(z, 0.0, z < 0.0)", "select(0.0, g, y > 0.0)"),
    };
    let _ = writeln!(s, "fn hidden_act(z: f32) -> f32 {{ return {act}; }}");
    let _ = writeln!(s, "fn hidden_back(g: f32, y: f32) -> f32 {{ return {back}; }}");
    s
}

/// The per-sample functions with every index a literal: `load_weights`, `add_sample` (`x_c`
/// the inputs, `a_l_j` layer l's outputs, `d_l_j` its dZ), `clear_sums` and
/// `write_partials`.
pub(super) fn unrolled(net: &Net) -> String {
    let layers = net.layers();
    let p = net.param_count();
    let mut c = String::from(
        "\n// ---- Written for this net by `unrolled` in src/gpu/fused_mlp.rs. ----\n\nfn load_weights() {\n",
    );
    for i in 0..p {
        let _ = writeln!(c, "    wp[{i}] = params[{i}];");
    }
    c.push_str("}\n\nfn add_sample(i: u32, n: u32, inv_n: f32) {\n");
    for k in 0..net.inputs() {
        let _ = writeln!(c, "    let a_0_{k} = xt[{k}u * n + i];");
    }
    for l in 1..=layers {
        let sh = net.layer(l);
        let f = if l == layers { "sigmoid_scalar" } else { "hidden_act" };
        for j in 0..sh.rows {
            let terms: Vec<String> =
                (0..sh.cols).map(|k| format!("wp[{}] * a_{}_{k}", sh.w + j * sh.cols + k, l - 1)).collect();
            let _ = writeln!(c, "    let a_{l}_{j} = {f}(wp[{}] + {});", sh.b + j, terms.join(" + "));
        }
    }
    let _ = writeln!(c, "    let tn = t[i];");
    let _ = writeln!(c, "    acc[{p}] += clamped_log(select(1.0 - a_{layers}_0, a_{layers}_0, tn > 0.5));");
    let _ = writeln!(c, "    let out_slope = a_{layers}_0 * (1.0 - a_{layers}_0);");
    let _ = writeln!(c, "    let d_{layers}_0 = (a_{layers}_0 - tn) / max(out_slope, GRAD_EPS) * inv_n * out_slope;");
    for l in (1..=layers).rev() {
        let sh = net.layer(l);
        for j in 0..sh.rows {
            for k in 0..sh.cols {
                let _ = writeln!(c, "    acc[{}] += d_{l}_{j} * a_{}_{k};", sh.w + j * sh.cols + k, l - 1);
            }
            let _ = writeln!(c, "    acc[{}] += d_{l}_{j};", sh.b + j);
        }
        if l > 1 {
            for k in 0..sh.cols {
                let terms: Vec<String> =
                    (0..sh.rows).map(|j| format!("wp[{}] * d_{l}_{j}", sh.w + j * sh.cols + k)).collect();
                let _ = writeln!(c, "    let d_{}_{k} = hidden_back({}, a_{}_{k});", l - 1, terms.join(" + "), l - 1);
            }
        }
    }
    c.push_str("}\n\nfn clear_sums() {\n");
    for v in 0..=p {
        let _ = writeln!(c, "    acc[{v}] = 0.0;");
    }
    c.push_str("}\n\nfn write_partials(thread: u32, threads: u32) {\n");
    for v in 0..=p {
        let _ = writeln!(c, "    partials[{v}u * threads + thread] = acc[{v}];");
    }
    c.push_str("}\n\n");
    c
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FusedMlpDims {
    /// Samples in the bound chunk.
    n: u32,
    /// Workgroups of mlp_partials over the chunk.
    groups: u32,
    advance: u32,
    /// Samples in the batch: the mean's divisor.
    total_n: u32,
    /// Workgroups over every chunk, and those of the chunks before this one.
    groups_total: u32,
    group_offset: u32,
    _pad: [u32; 2],
}

/// The buffers the pair binds, in binding order after the uniform (each chunk's data first).
pub struct FusedMlpBuffers<'a> {
    pub chunks: &'a [DataChunk],
    pub params: &'a wgpu::Buffer,
    /// `(P + 1) ×` every chunk's workgroups (× `WG` where each thread writes its own) floats.
    pub partials: &'a wgpu::Buffer,
    pub losses: &'a wgpu::Buffer,
    /// One u32: the next loss slot.
    pub state: &'a wgpu::Buffer,
    /// `P` floats: the gradient.
    pub grads: &'a wgpu::Buffer,
}

/// The fused pair's pipelines, compiled for one net.
pub struct FusedMlpKernels {
    family: Family,
    params: usize,
    sums: PartialSums,
}

impl FusedMlpKernels {
    /// `sums`: how mlp_partials adds its threads' sums, `None` for the adapter's default
    /// ([`PartialSums::default_for`]); refused where it asks for subgroups the adapter has
    /// not. The tests run every form the adapter has.
    pub fn new(gpu: &Gpu, net: &Net, sums: Option<PartialSums>) -> Result<Self, Error> {
        use Binding::{Read, ReadWrite, Uniform};
        let sums = sums.unwrap_or_else(|| PartialSums::default_for(gpu));
        if sums == PartialSums::Subgroups && !gpu.has_subgroups() {
            return Err(Error::Input(format!("{} has no subgroup operations", gpu.adapter_name)));
        }
        let family = Family::new(
            gpu,
            "fused_mlp.wgsl",
            &source(net, sums),
            &[Uniform, Read, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite],
            &["mlp_partials", "mlp_reduce"],
        )?;
        Ok(FusedMlpKernels { family, params: net.param_count(), sums })
    }

    /// Floats of `partials` for `chunks` (of these sample counts): `P + 1` per workgroup, or
    /// per thread where each writes its own.
    pub fn partials_len(&self, chunks: impl Iterator<Item = usize>) -> usize {
        let groups: usize = chunks.map(|n| self.groups_for(n)).sum();
        (self.params + 1) * groups * if self.sums == PartialSums::Direct { WG as usize } else { 1 }
    }

    /// One pass over every chunk's samples (a dispatch of mlp_partials each), then the sums
    /// into `grads` and the loss into the history (its slot advanced where `advance`): the
    /// epoch up to the update.
    pub fn epoch(&self, gpu: &Gpu, b: &FusedMlpBuffers, advance: bool) -> Vec<Dispatch> {
        let groups: Vec<usize> = b.chunks.iter().map(|c| self.groups_for(c.n)).collect();
        let mut dims = FusedMlpDims {
            n: 0,
            groups: 0,
            advance: advance as u32,
            total_n: b.chunks.iter().map(|c| c.n).sum::<usize>() as u32,
            groups_total: groups.iter().sum::<usize>() as u32,
            group_offset: 0,
            _pad: [0; 2],
        };
        fn buffers<'a>(b: &FusedMlpBuffers<'a>, c: &'a DataChunk) -> [&'a wgpu::Buffer; 7] {
            [&c.xt, &c.t, b.params, b.partials, b.losses, b.state, b.grads]
        }
        let mut epoch = Vec::with_capacity(b.chunks.len() + 1);
        for (chunk, &g) in b.chunks.iter().zip(&groups) {
            dims.n = chunk.n as u32;
            dims.groups = g as u32;
            epoch.push(self.family.dispatch(gpu, "mlp_partials", &dims, &buffers(b, chunk), [g as u32, 1, 1]));
            dims.group_offset += g as u32;
        }
        let reduce = [(self.params as u32 + 1).div_ceil(WG), 1, 1];
        epoch.push(self.family.dispatch(gpu, "mlp_reduce", &dims, &buffers(b, &b.chunks[0]), reduce));
        epoch
    }

    /// Workgroups of mlp_partials for `n` samples on this reduction (see [`groups_for`]).
    pub fn groups_for(&self, n: usize) -> usize {
        groups_for(self.sums == PartialSums::Direct, n)
    }
}

/// Workgroups of mlp_partials for `n` samples: a workgroup per `WG · 64` samples on a GPU,
/// at most [`super::fused::MAX_GROUPS`]; on a CPU adapter, where each thread writes its own
/// sums and mlp_reduce adds `groups · WG` of them per value, one per core of this host (the
/// adapter's cores) and per 2^14 samples, whichever is fewer. 2-16-16-1 on llvmpipe, two
/// cores, samples/s at 2^16 and 2^18: one workgroup 1.17·10⁷ and 1.26·10⁷, two 1.6–1.8·10⁷
/// and 1.8·10⁷, four 1.4–1.5·10⁷ and 1.6–2.0·10⁷, sixteen 0.5·10⁷.
pub fn groups_for(direct: bool, n: usize) -> usize {
    if direct {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        n.div_ceil(1 << 14).clamp(1, cores.max(1))
    } else {
        super::fused::groups_for(n, 64)
    }
}
