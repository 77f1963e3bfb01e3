//! The step path for any MLP: the math note's "Deeper nets", one kernel per factor of the
//! chain rule, layer by layer, each kernel the twin of the [`crate::cpu`] function of the
//! same name, dispatched in the order [`crate::cpu::mlp`] calls them. It is the readable
//! yardstick and the path every net can take; its buffers hold every layer's activations
//! (`d_l × N` each), so its largest batch is set by the widest of them. The trainer that
//! runs it is [`super::mlp::MlpGpuTrainer`].

use super::kernels::{Dispatch, Kernels, Operand, Scratch};
use super::Gpu;
use crate::net::{Mlp, Net};
use crate::train::MAX_BLOCK;
use crate::Error;

/// The largest single buffer and the total device bytes the step path needs for `net` on
/// `n` samples: the data, every activation, the backward pass's two working matrices, the
/// reductions' scratch, the parameters with their gradient and state.
pub fn step_bytes(net: &Net, n: usize) -> (u64, u64) {
    let n = n as u64;
    let widest = net.widest() as u64;
    let product = net.shapes().map(|s| (s.rows * s.cols) as u64).max().unwrap_or(1);
    let splits = n.div_ceil(super::kernels::K_SPLIT as u64).max(n.div_ceil(super::kernels::REDUCE_CHUNK as u64));
    let buffers = [
        net.inputs() as u64 * n,      // xt
        n,                            // t
        widest * n,                   // z
        widest * n,                   // d_a
        widest * n,                   // d_z
        product.max(widest) * splits, // scratch partials
    ];
    let activations: u64 = net.widths[1..].iter().map(|&d| d as u64 * n).sum();
    let params = 4 * net.param_count() as u64;
    let largest = buffers.iter().copied().max().unwrap_or(0);
    let total = buffers.iter().sum::<u64>() + activations + 2 * widest * n.div_ceil(1024) + MAX_BLOCK as u64;
    (4 * largest, 4 * total + params)
}

/// The largest batch the step path takes for `net` on this device: every buffer within
/// one binding, every index within u32.
pub fn max_batch(gpu: &Gpu, net: &Net) -> usize {
    let limits = gpu.device.limits();
    let max_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    // The largest buffer grows linearly in n: find the n at which it reaches the limit.
    let per_sample = step_bytes(net, 1 << 20).0 / (1 << 20);
    (max_bytes / per_sample.max(1)).min(u32::MAX as u64 / net.widest().max(2) as u64) as usize
}

/// Refuses, before anything is allocated, a batch past [`max_batch`].
pub fn check_fits(gpu: &Gpu, net: &Net, n: usize) -> Result<(), Error> {
    let largest = max_batch(gpu, net);
    if n > largest {
        return Err(Error::Input(format!(
            "batch {n} is too large for this device with the step kernels and {}; the largest it can take is {largest}",
            net.describe()
        )));
    }
    Ok(())
}

/// The forward pass's dispatches: per layer `Z_l = W_l·A_{l−1}` (matmul), `+ B_l`
/// (add_bias), `A_l = f(Z_l)` (the activation; sigmoid for the output). `a[l − 1]` holds
/// `A_l`; `z` is scratch of `widest × n`.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    g: &Gpu,
    k: &Kernels,
    net: &Net,
    xt: &wgpu::Buffer,
    params: &wgpu::Buffer,
    a: &[wgpu::Buffer],
    z: &wgpu::Buffer,
    n: usize,
    scratch: &Scratch,
) -> Vec<Dispatch> {
    let mut d = Vec::new();
    for (i, s) in net.shapes().enumerate() {
        let input = if i == 0 { xt } else { &a[i - 1] };
        d.extend(k.matmul(
            g,
            Operand::new(params, s.w, false),
            Operand::new(input, 0, false),
            z,
            0,
            (s.rows, s.cols, n),
            scratch,
        ));
        d.push(k.add_bias(g, z, params, s.b, (s.rows, n)));
        if i + 1 == net.layers() {
            d.push(k.sigmoid(g, z, &a[i], (s.rows, n)));
        } else {
            d.push(k.activate(g, net.activation, z, &a[i], (s.rows, n)));
        }
    }
    d
}

/// The buffers of a step epoch, allocated once per run.
pub struct StepBuffers {
    /// `A_l: d_l × N` for l = 1..L.
    pub a: Vec<wgpu::Buffer>,
    /// `widest × N` scratch for Z, and the backward pass's dA and dZ.
    pub z: wgpu::Buffer,
    pub d_a: wgpu::Buffer,
    pub d_z: wgpu::Buffer,
    pub scratch: Scratch,
    /// The loss of the epoch's forward pass.
    pub loss_now: wgpu::Buffer,
}

impl StepBuffers {
    pub fn new(g: &Gpu, net: &Net, n: usize) -> Self {
        let widest = net.widest();
        let product = net.shapes().map(|s| s.rows * s.cols).max().unwrap_or(1);
        StepBuffers {
            a: net.widths[1..]
                .iter()
                .enumerate()
                .map(|(i, &d)| g.storage(&format!("a{}: d × N", i + 1), d * n))
                .collect(),
            z: g.storage("z: widest × N", widest * n),
            d_a: g.storage("d_a: widest × N", widest * n),
            d_z: g.storage("d_z: widest × N", widest * n),
            scratch: Scratch::new(g, product.max(widest), n),
            loss_now: g.storage("loss_now", 1),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        [&self.z, &self.d_a, &self.d_z, &self.loss_now].iter().map(|b| b.size()).sum::<u64>()
            + self.a.iter().map(|b| b.size()).sum::<u64>()
            + self.scratch.bytes()
    }
}

/// The step epoch up to the update, and the forward pass with the loss alone: one kernel
/// per factor of the chain rule, layer by layer, the gradient into `grads` (packed as the
/// parameters) and the loss into `b.loss_now`. Returns (gradient, evaluate).
#[allow(clippy::too_many_arguments)]
pub fn step_gradient(
    g: &Gpu,
    k: &Kernels,
    net: &Net,
    xt: &wgpu::Buffer,
    t: &wgpu::Buffer,
    params: &wgpu::Buffer,
    grads: &wgpu::Buffer,
    n: usize,
    b: &StepBuffers,
) -> (Vec<Dispatch>, Vec<Dispatch>) {
    let (a, scratch) = (&b.a, &b.scratch);
    let mut evaluate = forward(g, k, net, xt, params, a, &b.z, n, scratch);
    let last = &a[net.layers() - 1];
    // loss = −(1/N) Σ [T log A_L + (1 − T) log(1 − A_L)]
    evaluate.extend(k.bce_loss(g, last, t, n, &b.loss_now, 0, scratch));
    let mut gradient = evaluate.clone();
    // dZ_L = ∂loss/∂A_L ⊙ A_L ⊙ (1 − A_L)
    gradient.push(k.bce_grad(g, last, t, &b.d_a, n));
    gradient.push(k.sigmoid_backward(g, &b.d_a, last, &b.d_z, (1, n)));
    for l in (1..=net.layers()).rev() {
        let s = net.layer(l);
        let input = if l == 1 { xt } else { &a[l - 2] };
        // dW_l = dZ_l · A_{l−1}ᵀ; dB_l = Σₙ dZ_l
        gradient.extend(k.matmul(
            g,
            Operand::new(&b.d_z, 0, false),
            Operand::new(input, 0, true),
            grads,
            s.w,
            (s.rows, n, s.cols),
            scratch,
        ));
        gradient.extend(k.sum_rows(g, &b.d_z, 0, s.rows, n, grads, s.b, 1.0, scratch));
        if l > 1 {
            // dA_{l−1} = W_lᵀ · dZ_l; dZ_{l−1} = dA_{l−1} ⊙ f′
            gradient.extend(k.matmul(
                g,
                Operand::new(params, s.w, true),
                Operand::new(&b.d_z, 0, false),
                &b.d_a,
                0,
                (s.cols, s.rows, n),
                scratch,
            ));
            gradient.push(k.activate_backward(g, net.activation, &b.d_a, &a[l - 2], &b.d_z, (s.cols, n)));
        }
    }
    (gradient, evaluate)
}

/// The predictions `A_L: 1 × N` of `mlp` for its inputs `xt: d₀ × N`, on the GPU.
pub fn predict(gpu: &Gpu, mlp: &Mlp, xt: &[f32]) -> Result<Vec<f32>, Error> {
    let net = &mlp.net;
    let n = xt.len() / net.inputs();
    check_fits(gpu, net, n)?;
    let k = Kernels::new(gpu)?;
    let a = gpu.scoped("predicting", || {
        let xt = gpu.storage_from("xt: d0 × N", xt);
        let params = gpu.storage_from("params", &mlp.params);
        let a: Vec<wgpu::Buffer> = net.widths[1..].iter().map(|&d| gpu.storage("a: d × N", d * n)).collect();
        let z = gpu.storage("z: widest × N", net.widest() * n);
        let scratch = Scratch::new(gpu, net.widest(), n);
        let d = forward(gpu, &k, net, &xt, &params, &a, &z, n, &scratch);
        super::kernels::submit(gpu, &d).map(|()| a)
    })??;
    let mut out = vec![f32::NAN; n];
    gpu.read(&a[net.layers() - 1], 0, &gpu.staging(n), &mut out)?;
    Ok(out)
}
