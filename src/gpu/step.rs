//! The step path for any MLP: the math note's "Deeper nets", one kernel per factor of the
//! chain rule, layer by layer, each kernel the twin of the [`crate::cpu`] function of the
//! same name, dispatched in the order [`crate::cpu::mlp`] calls them. It is the readable
//! yardstick and the path every net can take; its buffers hold every layer's activations
//! (`d_l × N` each), so its largest batch is set by the widest of them.

use super::kernels::{adam_table, adam_table_len, record_all, Dispatch, Kernels, Operand, OptimBuffers, Scratch};
use super::trainer::{MAX_EPOCHS_PER_SUBMIT, SAMPLE_EPOCHS_PER_SUBMIT};
use super::Gpu;
use crate::data::Dataset;
use crate::net::optim::{OptState, Optimizer, OptimizerKind};
use crate::net::{Mlp, Net};
use crate::train::{Trainer, MAX_BLOCK};
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

/// The GPU trainer for any net on the step path.
pub struct StepTrainer {
    pub gpu: Gpu,
    net: Net,
    n: usize,
    opt: Optimizer,
    /// Steps taken: the state's count at the start plus the epochs run since.
    steps: u64,
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    m: wgpu::Buffer,
    v: wgpu::Buffer,
    /// Adam's table of step scalars, written once per block.
    adam: wgpu::Buffer,
    loss_now: wgpu::Buffer,
    loss_history: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Forward, loss, backward into `grads`, then the update.
    epoch: Vec<Dispatch>,
    /// Forward, loss and backward, without the update.
    gradient: Vec<Dispatch>,
    /// Forward and loss.
    evaluate: Vec<Dispatch>,
    device_bytes: u64,
}

impl StepTrainer {
    /// Uploads the parameters, the optimizer state (`None`: a fresh start) and the data
    /// (`xt: d₀ × N`, the net's inputs), and builds the epoch. Fails before allocating
    /// anything when the batch does not fit.
    pub fn new(gpu: Gpu, mlp: &Mlp, data: &Dataset, opt: Optimizer, state: Option<&OptState>) -> Result<Self, Error> {
        let (net, n) = (mlp.net.clone(), data.len());
        assert_eq!(data.inputs(), net.inputs(), "the data's width is the net's input width");
        check_fits(&gpu, &net, n)?;
        let p = net.param_count();
        let fresh = OptState::new(opt.kind, p);
        let state = state.cloned().unwrap_or(fresh);
        state.check(opt.kind, p).map_err(Error::Input)?;
        let k = Kernels::new(&gpu)?;
        let g = &gpu;
        let widest = net.widest();
        let built = gpu.scoped("setting up the training buffers", || {
            let xt = g.storage_from("xt: d0 × N", &data.xt);
            let t = g.storage_from("t: 1 × N", &data.t);
            let params = g.storage_from("params: [W1 | B1 | W2 | …]", &mlp.params);
            let grads = g.storage("grads: [dW1 | dB1 | …]", p);
            let m = g.storage_from("m", &state.m);
            let v = g.storage_from("v", &state.v);
            let adam_len = if opt.kind == OptimizerKind::Adam { adam_table_len(MAX_BLOCK) } else { 1 };
            let adam = g.storage("adam: [k, (step_size, √(1 − β₂ᵗ)) per step]", adam_len);
            let a: Vec<wgpu::Buffer> = net.widths[1..]
                .iter()
                .enumerate()
                .map(|(i, &d)| g.storage(&format!("a{}: d × N", i + 1), d * n))
                .collect();
            let z = g.storage("z: widest × N", widest * n);
            let d_a = g.storage("d_a: widest × N", widest * n);
            let d_z = g.storage("d_z: widest × N", widest * n);
            let product = net.shapes().map(|s| s.rows * s.cols).max().unwrap_or(1);
            let scratch = Scratch::new(g, product.max(widest), n);
            let loss_now = g.storage("loss_now", 1);
            let loss_history = g.storage("loss_history", MAX_BLOCK);
            let staging = g.staging(MAX_BLOCK.max(p));

            let mut evaluate = forward(g, &k, &net, &xt, &params, &a, &z, n, &scratch);
            let last = &a[net.layers() - 1];
            // loss = −(1/N) Σ [T log A_L + (1 − T) log(1 − A_L)]
            evaluate.extend(k.bce_loss(g, last, &t, n, &loss_now, 0, &scratch));
            let mut gradient = evaluate.clone();
            // dZ_L = ∂loss/∂A_L ⊙ A_L ⊙ (1 − A_L)
            gradient.push(k.bce_grad(g, last, &t, &d_a, n));
            gradient.push(k.sigmoid_backward(g, &d_a, last, &d_z, (1, n)));
            for l in (1..=net.layers()).rev() {
                let s = net.layer(l);
                let input = if l == 1 { &xt } else { &a[l - 2] };
                // dW_l = dZ_l · A_{l−1}ᵀ; dB_l = Σₙ dZ_l
                gradient.extend(k.matmul(
                    g,
                    Operand::new(&d_z, 0, false),
                    Operand::new(input, 0, true),
                    &grads,
                    s.w,
                    (s.rows, n, s.cols),
                    &scratch,
                ));
                gradient.extend(k.sum_rows(g, &d_z, 0, s.rows, n, &grads, s.b, 1.0, &scratch));
                if l > 1 {
                    // dA_{l−1} = W_lᵀ · dZ_l; dZ_{l−1} = dA_{l−1} ⊙ f′
                    gradient.extend(k.matmul(
                        g,
                        Operand::new(&params, s.w, true),
                        Operand::new(&d_z, 0, false),
                        &d_a,
                        0,
                        (s.cols, s.rows, n),
                        &scratch,
                    ));
                    gradient.push(k.activate_backward(g, net.activation, &d_a, &a[l - 2], &d_z, (s.cols, n)));
                }
            }
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
            let mut bytes: u64 = [&xt, &t, &params, &grads, &m, &v, &adam, &z, &d_a, &d_z, &loss_now, &loss_history]
                .iter()
                .map(|b| b.size())
                .sum();
            bytes += a.iter().map(|b| b.size()).sum::<u64>() + scratch.bytes();
            (params, grads, m, v, adam, loss_now, loss_history, staging, epoch, gradient, evaluate, bytes)
        })?;
        let (params, grads, m, v, adam, loss_now, loss_history, staging, epoch, gradient, evaluate, device_bytes) =
            built;
        Ok(StepTrainer {
            gpu,
            net,
            n,
            opt,
            steps: state.step,
            params,
            grads,
            m,
            v,
            adam,
            loss_now,
            loss_history,
            staging,
            epoch,
            gradient,
            evaluate,
            device_bytes,
        })
    }

    /// Bytes of device memory the run's buffers hold.
    pub fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    /// Epochs one submission carries: [`SAMPLE_EPOCHS_PER_SUBMIT`] sample-epochs, 1 to
    /// [`MAX_EPOCHS_PER_SUBMIT`].
    pub fn epochs_per_submit(&self) -> usize {
        (SAMPLE_EPOCHS_PER_SUBMIT / self.n).clamp(1, MAX_EPOCHS_PER_SUBMIT)
    }

    fn read(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, Error> {
        let mut out = vec![f32::NAN; len];
        self.gpu.read(buffer, 0, &self.staging, &mut out)?;
        Ok(out)
    }
}

impl Trainer for StepTrainer {
    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        assert!(losses.len() <= MAX_BLOCK, "a block is at most MAX_BLOCK epochs");
        let epochs = losses.len();
        let per_submit = self.epochs_per_submit();
        if self.opt.kind == OptimizerKind::Adam {
            let table = adam_table(&self.opt, self.steps + 1, epochs);
            self.gpu.queue.write_buffer(&self.adam, 0, bytemuck::cast_slice(&table));
        }
        self.gpu.scoped("running epochs", || {
            for first in (0..epochs).step_by(per_submit) {
                let mut encoder =
                    self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("epochs") });
                for i in first..(first + per_submit).min(epochs) {
                    {
                        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("epoch"),
                            timestamp_writes: None,
                        });
                        record_all(&mut pass, &self.epoch);
                    }
                    encoder.copy_buffer_to_buffer(&self.loss_now, 0, &self.loss_history, (i * 4) as u64, 4);
                }
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

    fn loss(&mut self) -> Result<f32, Error> {
        super::kernels::submit(&self.gpu, &self.evaluate)?;
        Ok(self.read(&self.loss_now, 1)?[0])
    }

    fn gradients(&mut self) -> Result<Vec<f32>, Error> {
        let p = self.net.param_count();
        self.gpu.queue.write_buffer(&self.grads, 0, bytemuck::cast_slice(&vec![f32::NAN; p]));
        super::kernels::submit(&self.gpu, &self.gradient)?;
        self.read(&self.grads, p)
    }
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
