//! The population kernel's host (`shaders/population.wgsl`): one thread per network, the
//! shared training set in workgroup memory, blocks of epochs per dispatch. The CPU twin is
//! [`crate::cpu::population::train_population`].

use std::fmt::Write;

use bytemuck::{Pod, Zeroable};

use super::kernels::{grid, Binding, Family};
use super::Gpu;
use crate::data::Dataset;
use crate::net::optim::{adam_corrections, decimal, OptimizerKind};
use crate::net::Activation;
use crate::population::{Group, Setup, Status, MAX_DATA_FLOATS};
use crate::Error;

/// Threads (networks) a workgroup: each copies a share of the training set into the
/// workgroup's memory, so a bigger group copies less per network.
pub const POP_WG: u32 = 64;

/// The work one dispatch may hold, in network-sample-unit steps (networks × epochs ×
/// samples × units): about a millisecond on a large GPU and a quarter second on llvmpipe,
/// far from any watchdog.
const WORK_PER_DISPATCH: u64 = 1 << 28;

/// The WGSL of the kernel for `setup`'s nets of width `hidden`: the common prelude, the
/// net's constants and activation, then `shaders/population.wgsl`.
pub fn source(setup: &Setup, hidden: usize) -> String {
    let mut s = String::from(include_str!("../../shaders/common.wgsl"));
    let p = setup.net(hidden).param_count();
    let _ = writeln!(s, "\n// The nets: {}.", setup.net(hidden).describe());
    let _ = writeln!(s, "const H: u32 = {hidden}u;");
    let _ = writeln!(s, "const D: u32 = {}u;", setup.inputs);
    let _ = writeln!(s, "const P: u32 = {p}u;");
    let _ = writeln!(s, "const MAX_DATA: u32 = {MAX_DATA_FLOATS}u;");
    let _ = writeln!(s, "const POP_WG: u32 = {POP_WG}u;");
    let rule = match setup.optimizer.kind {
        OptimizerKind::Sgd => 0,
        OptimizerKind::Momentum => 1,
        OptimizerKind::Adam => 2,
    };
    let _ = writeln!(s, "const RULE: u32 = {rule}u;");
    // The Rust side's constants, so the two cannot drift apart.
    let _ = writeln!(s, "const GRAD_EPS: f32 = {:e};", crate::cpu::GRAD_EPS);
    let _ = writeln!(s, "const WEIGHT_BOUND: f32 = {:e};", crate::train::WEIGHT_BOUND);
    let _ = writeln!(s, "const NONE: u32 = {}u;", crate::population::NONE);
    // The activation, and `g ⊙ f′` from its output y (ReLU selects: ∞·0 would be NaN).
    let (act, back) = match setup.activation {
        Activation::Sigmoid => ("sigmoid_scalar(z)", "g * y * (1.0 - y)"),
        Activation::Tanh => ("tanh_scalar(z)", "g * (1.0 - y * y)"),
        Activation::Relu => ("select(z, 0.0, z < 0.0)", "select(0.0, g, y > 0.0)"),
    };
    let _ = writeln!(s, "fn hidden_act(z: f32) -> f32 {{ return {act}; }}");
    let _ = writeln!(s, "fn hidden_back(g: f32, y: f32) -> f32 {{ return {back}; }}");
    s.push_str(include_str!("../../shaders/population.wgsl"));
    s
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PopulationDims {
    networks: u32,
    n: u32,
    start: u32,
    end: u32,
    total: u32,
    stop_at_success: u32,
    target_loss: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    rates: u32,
    _pad: [u32; 2],
}

/// The floats of Adam's table: the distinct rates, then a row per epoch of the dispatch
/// (√(1 − β₂ᵗ) and a step size per rate), which bounds Adam's epochs per dispatch.
const ADAM_TABLE: u64 = 1 << 16;

/// The kernel compiled for one width.
pub struct PopulationKernel {
    family: Family,
    hidden: usize,
    params: usize,
    /// Test knobs: at most this many epochs a dispatch, and networks a slice (the tests
    /// run several dispatches and slices at sizes where the defaults take one).
    pub max_epochs_per_dispatch: Option<u64>,
    pub max_slice: Option<usize>,
}

/// Iterations one llvmpipe invocation may run in all, its loops' counts summed: past
/// 65,535 it ends the shader early (its guard against endless loops; measured for
/// train_tiny, see `tiny_epochs_cap`), so a run that would need more is refused.
const SOFTWARE_LOOP_BUDGET: u64 = 60_000;

impl PopulationKernel {
    pub fn new(gpu: &Gpu, setup: &Setup, hidden: usize) -> Result<Self, Error> {
        use Binding::{Read, ReadWrite, Uniform};
        let family = Family::new(
            gpu,
            "population.wgsl",
            &source(setup, hidden),
            &[Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite, ReadWrite, Read],
            &["train_population"],
        )?;
        Ok(PopulationKernel {
            family,
            hidden,
            params: setup.net(hidden).param_count(),
            max_epochs_per_dispatch: None,
            max_slice: None,
        })
    }

    /// One epoch's iterations for one network on `n` samples of `inputs` inputs: the sample
    /// loop with its unit and input loops, forward and back, and the update's.
    fn iterations_per_epoch(&self, inputs: usize, n: usize) -> u64 {
        let h = self.hidden as u64;
        n as u64 * (2 * h * (inputs as u64 + 1) + 2) + 2 * self.params as u64 + 4
    }

    /// Whether llvmpipe can run even one epoch of this shape in one invocation (with the
    /// invocation's own loops: the set's copy, the weights' loads and stores, Adam's rates).
    pub fn check_fits(&self, gpu: &Gpu, inputs: usize, n: usize, rates: usize) -> Result<(), Error> {
        if !gpu.is_software() {
            return Ok(());
        }
        let once = (n * (inputs + 1)) as u64 / POP_WG as u64 + 6 * self.params as u64 + rates as u64 + 64;
        let need = self.iterations_per_epoch(inputs, n) + once;
        if need > SOFTWARE_LOOP_BUDGET {
            return Err(Error::Input(format!(
                "an epoch of {n} samples at width {} needs {need} loop iterations in one shader invocation, more than the software adapter runs ({SOFTWARE_LOOP_BUDGET}); use --backend cpu, fewer samples or a narrower layer",
                self.hidden
            )));
        }
        Ok(())
    }

    /// The most networks one dispatch takes on this device: the parameter buffer within
    /// one binding, the workgroups within the dispatch grid.
    pub fn max_networks(&self, gpu: &Gpu) -> usize {
        let limits = gpu.device.limits();
        let binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let by_binding = binding / (4 * self.params as u64).max(16);
        let by_grid = limits.max_compute_workgroups_per_dimension as u64 * 65_535 * POP_WG as u64;
        by_binding.min(by_grid).min(u32::MAX as u64) as usize
    }

    /// Epochs per dispatch for `networks` networks on `n` samples: `WORK_PER_DISPATCH`,
    /// and on llvmpipe under its guard against endless shader loops (it ends a loop after
    /// 65,535 iterations, counting the inner loops': see `tiny_epochs_cap`).
    pub fn epochs_per_dispatch(&self, gpu: &Gpu, inputs: usize, networks: usize, n: usize) -> u64 {
        let per_epoch = self.iterations_per_epoch(inputs, n);
        let by_work = WORK_PER_DISPATCH / (networks as u64 * per_epoch).max(1);
        let by_loops = if gpu.is_software() { 16_384 / per_epoch } else { u64::MAX };
        by_work.min(by_loops).min(self.max_epochs_per_dispatch.unwrap_or(u64::MAX)).max(1)
    }

    /// Runs `group` (this kernel's width) from its current state through epoch `setup.epochs`
    /// and the final evaluation, in slices that fit one dispatch, calling `progress` with the
    /// network-epochs done after each dispatch.
    pub fn train(
        &self,
        gpu: &Gpu,
        setup: &Setup,
        data: &Dataset,
        group: &mut Group,
        mut progress: impl FnMut(u64),
    ) -> Result<(), Error> {
        assert_eq!(group.hidden, self.hidden, "the kernel's width");
        let n = data.len();
        let floats = n * (setup.inputs + 1);
        assert!(floats <= MAX_DATA_FLOATS, "the caller checks the data's size");
        // Sample by sample: its inputs, then its target.
        let mut samples = Vec::with_capacity(floats);
        for s in 0..n {
            samples.extend((0..setup.inputs).map(|c| data.xt[c * n + s]));
            samples.push(data.t[s]);
        }
        let p = self.params;
        let adam = setup.optimizer.kind == OptimizerKind::Adam;
        // Slices within one binding, and small enough that one epoch of a slice stays
        // within a dispatch's work.
        let by_work = (WORK_PER_DISPATCH / self.iterations_per_epoch(setup.inputs, n)).max(1) as usize;
        let slice = self.max_networks(gpu).min(by_work).min(self.max_slice.unwrap_or(usize::MAX)).max(1);
        let scalars = setup.optimizer.adam_step(1);
        // Adam's rates: the group's, each once; a network finds its slot among them.
        let rates = group.distinct_rates();
        let rate_decimals: Vec<f64> = rates.iter().map(|&r| decimal(r)).collect();
        for first in (0..group.len()).step_by(slice) {
            let count = slice.min(group.len() - first);
            let range = first..first + count;
            let params = &mut group.params[first * p..(first + count) * p];
            let status = &mut group.status[range.clone()];
            // A state vector the rule keeps, this slice of it; else a placeholder.
            let state = |x: &Vec<f32>, label: &str| {
                if x.is_empty() {
                    gpu.storage(label, 1)
                } else {
                    gpu.storage_from(label, &x[first * p..(first + count) * p])
                }
            };
            let buffers = gpu.scoped("allocating the population's buffers", || {
                let status_floats: Vec<f32> = bytemuck::cast_slice(status).to_vec();
                [
                    gpu.storage_from("samples", &samples),
                    gpu.storage_from("rates", &group.lr[range.clone()]),
                    gpu.storage_from("params", params),
                    state(&group.v, "velocity"),
                    gpu.storage_from("status", &status_floats),
                    gpu.storage("running", 1),
                    state(&group.m, "moment"),
                    gpu.storage("adam table", if adam { ADAM_TABLE as usize } else { 1 }),
                ]
            })?;
            let mut per_dispatch = self.epochs_per_dispatch(gpu, setup.inputs, count, n);
            if adam {
                per_dispatch = per_dispatch.min((ADAM_TABLE - rates.len() as u64) / (rates.len() as u64 + 1)).max(1);
            }
            let staging = gpu.staging(count * p.max(4));
            let groups = grid((count as u32).div_ceil(POP_WG));
            let mut start = 0u64;
            // Every network of a slice has the same epochs behind it: the run's start.
            while start < setup.epochs {
                let end = (start + per_dispatch).min(setup.epochs);
                let dims = PopulationDims {
                    networks: count as u32,
                    n: n as u32,
                    start: start as u32,
                    end: end as u32,
                    total: setup.epochs as u32,
                    stop_at_success: setup.stop_at_success as u32,
                    target_loss: setup.target_loss,
                    momentum: decimal(setup.optimizer.momentum) as f32,
                    beta1: scalars.beta1 as f32,
                    beta2: scalars.beta2 as f32,
                    one_minus_beta1: scalars.one_minus_beta1 as f32,
                    one_minus_beta2: scalars.one_minus_beta2 as f32,
                    eps: scalars.eps as f32,
                    rates: rates.len() as u32,
                    _pad: [0; 2],
                };
                if adam {
                    // The rates, then for steps start + 1 ..= end √(1 − β₂ᵗ) and each rate's
                    // lr/(1 − β₁ᵗ), in f64 as Optimizer::adam_step, rounded once.
                    let mut table = rates.clone();
                    for t in start + 1..=end {
                        let (bias1, correction2_sqrt) = adam_corrections(scalars.beta1, scalars.beta2, t);
                        table.push(correction2_sqrt as f32);
                        table.extend(rate_decimals.iter().map(|lr| (lr / bias1) as f32));
                    }
                    gpu.queue.write_buffer(&buffers[7], 0, bytemuck::cast_slice(&table));
                }
                let refs: Vec<&wgpu::Buffer> = buffers.iter().collect();
                let dispatch = self.family.dispatch(gpu, "train_population", &dims, &refs, [groups[0], groups[1], 1]);
                gpu.queue.write_buffer(&buffers[5], 0, &[0; 4]);
                super::kernels::submit(gpu, &[dispatch])?;
                let mut running = [0.0f32];
                gpu.read(&buffers[5], 0, &staging, &mut running)?;
                progress(count as u64 * (end - start));
                start = end;
                // Every network diverged or stopped at its success: nothing left to run.
                if running[0].to_bits() == 0 {
                    break;
                }
            }
            gpu.read(&buffers[2], 0, &staging, params)?;
            if !group.v.is_empty() {
                gpu.read(&buffers[3], 0, &staging, &mut group.v[first * p..(first + count) * p])?;
            }
            if !group.m.is_empty() {
                gpu.read(&buffers[6], 0, &staging, &mut group.m[first * p..(first + count) * p])?;
            }
            let mut status_floats = vec![0.0f32; 4 * count];
            gpu.read(&buffers[4], 0, &staging, &mut status_floats)?;
            group.status[range].copy_from_slice(bytemuck::cast_slice::<f32, Status>(&status_floats));
        }
        Ok(())
    }
}
