//! A training run on the GPU: every buffer, bind group and dispatch made once, then epochs
//! recorded back to back and submitted in bounded batches, with nothing read back but the
//! loss history once per block.

use super::kernels::{record_all, Dispatch, Kernels, Operand, Scratch};
use super::Gpu;
use crate::data::Dataset;
use crate::model::{Layout, Params};
use crate::train::{Trainer, MAX_BLOCK};
use crate::Error;

/// Epochs per command buffer: enough to amortise a submit, few enough that one submission
/// stays far from the seconds an OS watchdog allows a GPU job.
pub const EPOCHS_PER_SUBMIT: usize = 64;

/// The step-by-step kernels of the tutorial, one per factor of the chain rule.
pub struct GpuTrainer {
    pub gpu: Gpu,
    hidden: usize,
    /// `[w1 | b1 | w2 | b2]`, see [`Layout`].
    params: wgpu::Buffer,
    /// The loss of the current epoch's forward pass (1 float).
    loss_now: wgpu::Buffer,
    /// `loss_now` of each epoch of a block, copied there after the epoch.
    loss_history: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Forward, loss, backward, update: one epoch.
    epoch: Vec<Dispatch>,
    /// Forward and loss only: the loss of the current weights.
    evaluate: Vec<Dispatch>,
    device_bytes: u64,
}

impl GpuTrainer {
    /// Uploads `params` and `data` and builds the epoch. Fails before allocating anything
    /// when the batch does not fit the device's buffers.
    pub fn new(gpu: Gpu, params: &Params, data: &Dataset, lr: f32) -> Result<Self, Error> {
        let (h, n) = (params.hidden, data.len());
        check_fits(&gpu, h, n)?;
        let kernels = Kernels::new(&gpu)?;
        let layout = Layout::new(h);
        let parts = gpu.scoped("setting up the training buffers", || {
            let g = &gpu;
            // Inputs and parameters.
            let xt = g.storage_from("xt: 2 × N", &data.xt);
            let t = g.storage_from("t: 1 × N", &data.t);
            let params_buf = g.storage_from("params: [w1 | b1 | w2 | b2]", &params.packed());
            let grads = g.storage("grads: [d_w1 | d_b1 | d_w2 | d_b2]", layout.len);
            // Forward.
            let g1 = g.storage("g1: H × N", h * n);
            let s1 = g.storage("s1: H × N", h * n);
            let g2 = g.storage("g2: 1 × N", n);
            let s2 = g.storage("s2: 1 × N", n);
            // Backward.
            let d_s2 = g.storage("d_s2: 1 × N", n);
            let d_g2 = g.storage("d_g2: 1 × N", n);
            let d_s1 = g.storage("d_s1: H × N", h * n);
            let d_g1 = g.storage("d_g1: H × N", h * n);
            let loss_now = g.storage("loss_now", 1);
            let loss_history = g.storage("loss_history", MAX_BLOCK);
            let staging = g.staging(MAX_BLOCK.max(layout.len));
            let scratch = Scratch::new(g, 2 * h, n);
            let k = &kernels;

            let mut forward = Vec::new();
            // G1 = W1 · Xᵀ + B1; S1 = σ(G1)
            forward.extend(k.matmul(
                g,
                Operand::new(&params_buf, layout.w1, false),
                Operand::new(&xt, 0, false),
                &g1,
                0,
                (h, 2, n),
                &scratch,
            ));
            forward.push(k.add_bias(g, &g1, &params_buf, layout.b1, (h, n)));
            forward.push(k.sigmoid(g, &g1, &s1, (h, n)));
            // G2 = W2 · S1 + B2; S2 = σ(G2)
            forward.extend(k.matmul(
                g,
                Operand::new(&params_buf, layout.w2, false),
                Operand::new(&s1, 0, false),
                &g2,
                0,
                (1, h, n),
                &scratch,
            ));
            forward.push(k.add_bias(g, &g2, &params_buf, layout.b2, (1, n)));
            forward.push(k.sigmoid(g, &g2, &s2, (1, n)));
            let loss = k.bce_loss(g, &s2, &t, n, &loss_now, 0, &scratch);

            let mut backward = Vec::new();
            // dG2 = ∂loss/∂S2 ⊙ S2 ⊙ (1 − S2)
            backward.push(k.bce_grad(g, &s2, &t, &d_s2, n));
            backward.push(k.sigmoid_backward(g, &d_s2, &s2, &d_g2, (1, n)));
            // dW2 = dG2 · S1ᵀ; dB2 = Σₙ dG2
            backward.extend(k.matmul(
                g,
                Operand::new(&d_g2, 0, false),
                Operand::new(&s1, 0, true),
                &grads,
                layout.w2,
                (1, n, h),
                &scratch,
            ));
            backward.extend(k.sum_rows(g, &d_g2, 0, 1, n, &grads, layout.b2, 1.0, &scratch));
            // dS1 = W2ᵀ · dG2; dG1 = dS1 ⊙ S1 ⊙ (1 − S1)
            backward.extend(k.matmul(
                g,
                Operand::new(&params_buf, layout.w2, true),
                Operand::new(&d_g2, 0, false),
                &d_s1,
                0,
                (h, 1, n),
                &scratch,
            ));
            backward.push(k.sigmoid_backward(g, &d_s1, &s1, &d_g1, (h, n)));
            // dW1 = dG1 · X (X is Xᵀ transposed); dB1 = Σₙ dG1
            backward.extend(k.matmul(
                g,
                Operand::new(&d_g1, 0, false),
                Operand::new(&xt, 0, true),
                &grads,
                layout.w1,
                (h, n, 2),
                &scratch,
            ));
            backward.extend(k.sum_rows(g, &d_g1, 0, h, n, &grads, layout.b1, 1.0, &scratch));

            let update = k.sgd_update(g, &params_buf, &grads, layout.len, lr);

            let buffers = [
                &xt,
                &t,
                &params_buf,
                &grads,
                &g1,
                &s1,
                &g2,
                &s2,
                &d_s2,
                &d_g2,
                &d_s1,
                &d_g1,
                &loss_now,
                &loss_history,
            ];
            let device_bytes = buffers.iter().map(|b| b.size()).sum::<u64>() + scratch.bytes();
            let evaluate: Vec<Dispatch> = forward.iter().chain(&loss).map(Dispatch::clone).collect();
            let epoch = forward.into_iter().chain(loss).chain(backward).chain([update]).collect();
            (params_buf, loss_now, loss_history, staging, epoch, evaluate, device_bytes)
        })?;
        let (params, loss_now, loss_history, staging, epoch, evaluate, device_bytes) = parts;
        Ok(GpuTrainer { gpu, hidden: h, params, loss_now, loss_history, staging, epoch, evaluate, device_bytes })
    }

    /// Bytes of device memory the run allocated (buffers the kernels use; not uniforms).
    pub fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    /// Dispatches one epoch records.
    pub fn dispatches_per_epoch(&self) -> usize {
        self.epoch.len()
    }
}

/// Refuses, before anything is allocated, a batch whose largest buffer (`H × N` floats)
/// exceeds what the device can bind, and names the largest batch it could take.
fn check_fits(gpu: &Gpu, hidden: usize, n: usize) -> Result<(), Error> {
    let limits = gpu.device.limits();
    let max_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    let need = (hidden * n * 4) as u64;
    if need > max_bytes {
        let largest = max_bytes / (hidden as u64 * 4);
        return Err(Error::Input(format!(
            "batch {n} with {hidden} hidden units needs a {need}-byte buffer, over this device's {max_bytes}-byte limit; \
             the largest batch it can take is {largest}"
        )));
    }
    Ok(())
}

impl Trainer for GpuTrainer {
    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error> {
        assert!(losses.len() <= MAX_BLOCK, "a block is at most MAX_BLOCK epochs");
        self.gpu.scoped("running epochs", || {
            for first in (0..losses.len()).step_by(EPOCHS_PER_SUBMIT) {
                let count = EPOCHS_PER_SUBMIT.min(losses.len() - first);
                let mut encoder =
                    self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("epochs") });
                for i in first..first + count {
                    {
                        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("epoch"),
                            timestamp_writes: None,
                        });
                        record_all(&mut pass, &self.epoch);
                    }
                    // The loss slot differs per epoch, and a copy needs no bind group.
                    encoder.copy_buffer_to_buffer(&self.loss_now, 0, &self.loss_history, (i * 4) as u64, 4);
                }
                self.gpu.queue.submit([encoder.finish()]);
            }
        })?;
        self.gpu.read(&self.loss_history, 0, &self.staging, losses)
    }

    fn params(&mut self) -> Result<Params, Error> {
        let mut packed = vec![0.0; Layout::new(self.hidden).len];
        self.gpu.read(&self.params, 0, &self.staging, &mut packed)?;
        Ok(Params::unpack(self.hidden, &packed))
    }

    fn loss(&mut self) -> Result<f32, Error> {
        self.gpu.scoped("evaluating the loss", || {
            let mut encoder =
                self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("evaluate") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("evaluate"),
                    timestamp_writes: None,
                });
                record_all(&mut pass, &self.evaluate);
            }
            self.gpu.queue.submit([encoder.finish()]);
        })?;
        let mut loss = [0.0];
        self.gpu.read(&self.loss_now, 0, &self.staging, &mut loss)?;
        Ok(loss[0])
    }
}
