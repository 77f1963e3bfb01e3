//! The many-epochs path for any narrow net on a small batch (`shaders/mlp_tiny.wgsl`): one
//! workgroup runs many epochs in one dispatch, each sample's pass written out for the net
//! as the fused pair's is ([`super::fused_mlp`]), the gradient's sums added in a fixed
//! order, the optimizer's update applied in the same dispatch. Its CPU twin is an epoch of
//! [`crate::cpu::mlp`], as the fused pair's is.

use std::fmt::Write;

use bytemuck::{Pod, Zeroable};

use super::kernels::{adam_table, Binding, Dispatch, Family};
use super::Gpu;
use crate::net::optim::{Optimizer, OptimizerKind};
use crate::net::Net;
use crate::Error;

/// The largest batch the path takes on a GPU: each thread's samples run one after another,
/// so past a workgroup of samples its epoch grows with the batch while the fused pair's
/// stays near its dispatches' cost.
pub const GPU_MAX_BATCH: usize = 64;
/// The largest batch the path takes on a CPU adapter: up to it the fused pair runs one
/// workgroup too (see [`super::fused_mlp::groups_for`]), and this path, without the pair's
/// three dispatches an epoch, is faster (2-16-16-1 on llvmpipe, samples/s, this path against
/// the pair: 4.6·10⁶ and 5.8·10⁵ at 256 samples, 1.0·10⁷ and 4.3·10⁶ at 4,096, 1.09·10⁷ and
/// 7.7·10⁶ at 16,384; at 2^16 the pair's workgroup a core gives it 1.5·10⁷).
pub const SOFTWARE_MAX_BATCH: usize = 1 << 14;
/// The workgroup: on a GPU the batch rounded up to a power of two, from 8 to 64 (past it,
/// threads take several samples each); on a CPU adapter 8, one SIMD row, whatever the batch:
/// llvmpipe runs a larger workgroup's barriers by switching between its rows, and each thread
/// writes and reads back its sums through memory (2-16-16-1 on llvmpipe, epochs/s at 64 and
/// 256 samples: 4,900 and 4,500 with 64 threads, 27,000 and 18,000 with 8).
pub fn workgroup(gpu: &Gpu, n: usize) -> u32 {
    if gpu.is_software() {
        8
    } else {
        n.next_power_of_two().clamp(8, 64) as u32
    }
}

/// Why the path cannot train `net` on `n` samples on this device, if it cannot.
pub fn unfit(gpu: &Gpu, net: &Net, n: usize) -> Option<String> {
    super::fused_mlp::unfit(net).or_else(|| {
        let most = if gpu.is_software() { SOFTWARE_MAX_BATCH } else { GPU_MAX_BATCH };
        (n > most).then(|| format!("batch {n} is past the {most} samples the many-epochs kernel takes on this adapter"))
    })
}

/// The most epochs one dispatch may run: on a CPU adapter, under llvmpipe's guard against
/// endless loops (which ends a shader after about 65,535 loop iterations, see
/// `tiny_epochs_cap` in src/gpu/trainer.rs), with half to spare; on a GPU, short enough to be
/// far from any watchdog.
pub fn epochs_per_dispatch(gpu: &Gpu, net: &Net, n: usize) -> usize {
    if gpu.is_software() {
        let tw = workgroup(gpu, n) as usize;
        let p = net.param_count() + 1;
        // A thread's loop iterations an epoch: its samples, its rows of sums and their terms.
        let per_epoch = n.div_ceil(tw) + p.div_ceil(tw) * (tw + 1) + 2;
        (32_768 / per_epoch).max(1)
    } else {
        super::trainer::DEFAULT_EPOCHS_PER_DISPATCH
    }
}

/// The WGSL of the kernel for `net` trained by `rule` in workgroups of `tw` threads.
pub fn source(net: &Net, rule: OptimizerKind, tw: u32) -> String {
    let mut s = super::fused_mlp::net_prelude(net);
    let _ = writeln!(s, "const TW: u32 = {tw}u;");
    let code = match rule {
        OptimizerKind::Sgd => 0,
        OptimizerKind::Momentum => 1,
        OptimizerKind::Adam => 2,
    };
    let _ = writeln!(s, "const RULE: u32 = {code}u;");
    let weights: Vec<String> = net.shapes().map(|l| format!("(v >= {}u && v < {}u)", l.w, l.b)).collect();
    let _ = writeln!(s, "fn is_weight(v: u32) -> bool {{ return {}; }}", weights.join(" || "));
    s.push_str(&super::fused_mlp::unrolled(net));
    s.push_str(include_str!("../../shaders/mlp_tiny.wgsl"));
    s
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TinyMlpDims {
    n: u32,
    epochs_per_dispatch: u32,
    mode: u32,
    _pad: u32,
    lr: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    lambda: f32,
}

/// What a dispatch does (`MODE_*` in the shader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The loss of the current weights into the history's slot.
    Loss = 0,
    /// Epochs of training, as many as the state says are left (up to a dispatch's worth).
    Update = 1,
    /// The loss, and the gradient left at the start of `partials`.
    Gradient = 2,
}

/// The buffers the kernel binds, in binding order after the uniform.
pub struct TinyMlpBuffers<'a> {
    pub xt: &'a wgpu::Buffer,
    pub t: &'a wgpu::Buffer,
    pub params: &'a wgpu::Buffer,
    /// [`TinyMlpKernel::partials_len`] floats.
    pub partials: &'a wgpu::Buffer,
    pub losses: &'a wgpu::Buffer,
    /// [`TinyMlpKernel::state_len`] words: see [`TinyMlpKernel::state`].
    pub state: &'a wgpu::Buffer,
    pub m: &'a wgpu::Buffer,
    pub v: &'a wgpu::Buffer,
}

/// The kernel, compiled for one net, rule and batch.
pub struct TinyMlpKernel {
    family: Family,
    params: usize,
    workgroup: u32,
    pub epochs_per_dispatch: usize,
}

impl TinyMlpKernel {
    /// The kernel for `net` trained by `rule` on `n` samples, each dispatch up to `most`
    /// epochs where given (and never past [`epochs_per_dispatch`]).
    pub fn new(gpu: &Gpu, net: &Net, rule: OptimizerKind, n: usize, most: Option<usize>) -> Result<Self, Error> {
        use Binding::{Read, ReadWrite, Uniform};
        let workgroup = workgroup(gpu, n);
        let family = Family::new(
            gpu,
            "mlp_tiny.wgsl",
            &source(net, rule, workgroup),
            &[Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite, ReadWrite, ReadWrite],
            &["train_mlp_tiny"],
        )?;
        Ok(TinyMlpKernel {
            family,
            params: net.param_count(),
            workgroup,
            epochs_per_dispatch: epochs_per_dispatch(gpu, net, n).min(most.unwrap_or(usize::MAX)).max(1),
        })
    }

    /// Floats of `partials`: `P + 1` sums per thread.
    pub fn partials_len(&self) -> usize {
        (self.params + 1) * self.workgroup as usize
    }

    /// Words of `state` for blocks of up to `epochs`.
    pub fn state_len(epochs: usize) -> usize {
        2 + super::kernels::adam_table_len(epochs)
    }

    /// The state a block of `epochs` starts from: slot 0, `epochs` left, and for Adam the
    /// table of steps `first..` (counted from 1).
    pub fn state(opt: &Optimizer, first: u64, epochs: usize) -> Vec<u32> {
        let table = if opt.kind == OptimizerKind::Adam { adam_table(opt, first, epochs) } else { vec![0] };
        [0, epochs as u32].into_iter().chain(table).collect()
    }

    /// A dispatch in `mode` on `n` samples with `opt`'s hyper-parameters.
    pub fn dispatch(&self, gpu: &Gpu, b: &TinyMlpBuffers, n: usize, opt: &Optimizer, mode: Mode) -> Dispatch {
        let s = opt.adam_step(1);
        let dims = TinyMlpDims {
            n: n as u32,
            epochs_per_dispatch: self.epochs_per_dispatch as u32,
            mode: mode as u32,
            _pad: 0,
            lr: opt.lr,
            momentum: opt.momentum,
            beta1: s.beta1 as f32,
            beta2: s.beta2 as f32,
            one_minus_beta1: s.one_minus_beta1 as f32,
            one_minus_beta2: s.one_minus_beta2 as f32,
            eps: s.eps as f32,
            lambda: opt.l2,
        };
        let buffers = [b.xt, b.t, b.params, b.partials, b.losses, b.state, b.m, b.v];
        self.family.dispatch(gpu, "train_mlp_tiny", &dims, &buffers, [1, 1, 1])
    }
}
