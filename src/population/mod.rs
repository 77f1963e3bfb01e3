//! Many independent networks trained at once on one shared training set: every seed, rate,
//! width and initial scale of a grid, each network the very one the single trainer would
//! train with those settings (`xorgpu --seed S --lr … --hidden H --init-scale …`).
//!
//! A network here is `D-H-1` (D inputs, one hidden layer), trained by full-batch SGD, SGD
//! with momentum or Adam. The epoch's arithmetic is the reference's (`crate::cpu::mlp`) for
//! one net; the kernel `train_population` (`shaders/population.wgsl`) and its CPU twin
//! ([`crate::cpu::population`]) run it for a whole group of networks of one width, each
//! network on its own lane or thread, so results do not depend on how networks are grouped.
//!
//! **Success**, tested after every update (and on the starting weights): every training
//! sample on the right side of 0.5 and the loss under the target. The epoch it first holds
//! is recorded; a network succeeds when it holds at the end. **Divergence** is the single
//! trainer's rule: a weight past ±[`crate::train::WEIGHT_BOUND`] or not a number after an
//! update, or a loss that is not finite; the network stops there.

pub mod report;

use bytemuck::{Pod, Zeroable};

use crate::net::optim::{Optimizer, OptimizerKind};
use crate::net::{Activation, Mlp, Net};

/// Marks an epoch that never came (no success, no divergence).
pub const NONE: u32 = u32::MAX;

/// The widest hidden layer a population takes: each network's weights, gradient and
/// hidden activations live in one thread's registers (or one SIMD lane) for the whole run.
pub const MAX_HIDDEN: usize = 32;

/// The most floats of training data (samples × (inputs + 1)) a population takes: the
/// shared set sits in each GPU workgroup's memory, and 16 KiB is what every adapter has
/// (WebGPU's minimum). The CPU takes the same sets, so both backends answer the same runs.
pub const MAX_DATA_FLOATS: usize = 4096;

/// The most epochs a population runs: epochs are counted in u32 on the GPU, [`NONE`] kept free.
pub const MAX_EPOCHS: u64 = (u32::MAX - 1) as u64;

/// The most values a grid axis takes (it bounds Adam's per-dispatch table of rates on the GPU).
pub const MAX_AXIS: usize = 1024;

/// One grid cell: what the networks of the cell share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    pub hidden: usize,
    pub lr: f32,
    pub init_scale: f32,
}

/// The grid: every combination of the axes, `models` seeds each, from `seed` on.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub hidden: Vec<usize>,
    pub lr: Vec<f32>,
    pub init_scale: Vec<f32>,
    pub models: usize,
    pub seed: u64,
}

impl Grid {
    /// The cells, widths outermost, then rates, then scales.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        for &hidden in &self.hidden {
            for &lr in &self.lr {
                for &init_scale in &self.init_scale {
                    cells.push(Cell { hidden, lr, init_scale });
                }
            }
        }
        cells
    }

    /// Networks in all: `models` per cell (`None` past usize).
    pub fn networks(&self) -> Option<usize> {
        self.hidden.len().checked_mul(self.lr.len())?.checked_mul(self.init_scale.len())?.checked_mul(self.models)
    }

    /// The seed of member `k` (0-based) of a cell ([`check`] refuses a grid whose seeds
    /// would pass u64::MAX).
    pub fn seed_of(&self, k: usize) -> u64 {
        self.seed + k as u64
    }
}

/// What every network of a run shares besides its cell: the inputs, the activation, the
/// update rule's settings other than the rate, the epochs and the success test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setup {
    /// D, the inputs per sample.
    pub inputs: usize,
    pub activation: Activation,
    /// The update rule and its settings; each cell's rate takes the place of `lr`, and L2
    /// is not offered (0).
    pub optimizer: Optimizer,
    pub epochs: u64,
    pub target_loss: f32,
    pub stop_at_success: bool,
}

impl Setup {
    /// The net of the cell's width.
    pub fn net(&self, hidden: usize) -> Net {
        Net { widths: vec![self.inputs, hidden, 1], activation: self.activation }
    }

    /// The starting weights of the network with this seed in this cell: the single
    /// trainer's draw ([`Net::init_scaled`]).
    pub fn init(&self, cell: &Cell, seed: u64) -> Mlp {
        self.net(cell.hidden).init_scaled(seed, cell.init_scale)
    }

    /// The cell's update rule: the run's, at the cell's rate.
    pub fn optimizer_for(&self, cell: &Cell) -> Optimizer {
        Optimizer { lr: cell.lr, ..self.optimizer }
    }
}

/// Where a network stands: what `train_population` reads and writes for each network.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct Status {
    /// The first epoch (updates done) at which the success test held, or [`NONE`].
    pub success: u32,
    /// The epoch whose update (or whose loss) diverged, or [`NONE`].
    pub diverged: u32,
    /// The loss of the final weights once the run has ended (of those it stopped at, for a
    /// network stopped at its success; NaN or stale for one that diverged). Before the end
    /// the kernel may leave an earlier epoch's loss here.
    pub loss: f32,
    /// 1 where the success test held on the last weights evaluated, else 0.
    pub held: u32,
}

impl Status {
    pub const START: Status = Status { success: NONE, diverged: NONE, loss: f32::NAN, held: 0 };

    /// Whether the network trains no further: it diverged, or it succeeded and stops there.
    pub fn stopped(&self, stop_at_success: bool) -> bool {
        self.diverged != NONE || (stop_at_success && self.success != NONE)
    }

    /// Succeeded: not diverged, and the test held on the final weights (with
    /// `--stop-at-success`, those it stopped at).
    pub fn succeeded(&self) -> bool {
        self.diverged == NONE && self.held == 1
    }

    /// The updates this network ran in a run of `epochs`.
    pub fn epochs_run(&self, epochs: u64, stop_at_success: bool) -> u64 {
        if self.diverged != NONE {
            self.diverged as u64
        } else if stop_at_success && self.success != NONE {
            self.success as u64
        } else {
            epochs
        }
    }
}

/// A group of networks of one width, as both backends hold it: parameters network-major
/// (`P` floats each, the single trainer's packing), a rate each, the rule's state vectors
/// (as [`crate::net::optim::OptState`]'s), and a status each.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub hidden: usize,
    pub params: Vec<f32>,
    pub lr: Vec<f32>,
    /// Adam's first moment, `P` floats a network; empty under the other rules.
    pub m: Vec<f32>,
    /// Momentum's velocity or Adam's second moment, `P` floats a network; empty under SGD.
    pub v: Vec<f32>,
    pub status: Vec<Status>,
}

impl Group {
    /// The networks `members` (cell index, seed) of `cells`, all of width `hidden`, at
    /// their starting weights.
    pub fn new(setup: &Setup, cells: &[Cell], hidden: usize, members: &[(usize, u64)]) -> Self {
        use rayon::prelude::*;
        assert!(members.iter().all(|&(c, _)| cells[c].hidden == hidden), "a group holds one width");
        let p = setup.net(hidden).param_count();
        let mut params = vec![0.0f32; members.len() * p];
        params.par_chunks_mut(p).zip(members.par_iter()).for_each(|(w, &(c, seed))| {
            w.copy_from_slice(&setup.init(&cells[c], seed).params);
        });
        let lr = members.iter().map(|&(c, _)| cells[c].lr).collect();
        let state = |used: bool| if used { vec![0.0; params.len()] } else { Vec::new() };
        let kind = setup.optimizer.kind;
        let (m, v) = (state(kind == OptimizerKind::Adam), state(kind != OptimizerKind::Sgd));
        Group { hidden, params, lr, m, v, status: vec![Status::START; members.len()] }
    }

    pub fn len(&self) -> usize {
        self.lr.len()
    }

    /// The group's rates, each once (bit for bit), in order of first appearance: the
    /// rates Adam's per-rate step sizes are computed for, on either backend.
    pub fn distinct_rates(&self) -> Vec<f32> {
        let mut rates: Vec<f32> = Vec::new();
        for &lr in &self.lr {
            if !rates.iter().any(|r| r.to_bits() == lr.to_bits()) {
                rates.push(lr);
            }
        }
        rates
    }

    /// The epochs the group's networks ran, in all.
    pub fn epochs_run(&self, setup: &Setup) -> u64 {
        self.status.iter().map(|st| st.epochs_run(setup.epochs, setup.stop_at_success)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.lr.is_empty()
    }

    /// Network `k`'s optimizer state after `epochs` updates, so that a saved member
    /// resumes exactly.
    pub fn state(&self, k: usize, epochs: u64) -> crate::net::optim::OptState {
        let p = self.params.len() / self.len().max(1);
        let of = |x: &Vec<f32>| if x.is_empty() { Vec::new() } else { x[k * p..(k + 1) * p].to_vec() };
        crate::net::optim::OptState { step: epochs, m: of(&self.m), v: of(&self.v) }
    }

    /// Network `k`'s parameters as a model of `setup`'s net.
    pub fn mlp(&self, setup: &Setup, k: usize) -> Mlp {
        let net = setup.net(self.hidden);
        let p = net.param_count();
        Mlp { net, params: self.params[k * p..(k + 1) * p].to_vec() }
    }
}

/// A trained population: its cells, and a group per width with its members.
pub struct Population {
    pub cells: Vec<Cell>,
    /// One group per width in the grid's order, with each member's (cell, seed).
    pub groups: Vec<(Group, Vec<(usize, u64)>)>,
    /// Wall time of the training alone (not drawing the weights or compiling kernels).
    pub seconds: f64,
}

impl Population {
    /// Every network as (cell, seed, status), group by group.
    pub fn members(&self) -> impl Iterator<Item = (usize, u64, &Status)> + '_ {
        self.groups.iter().flat_map(|(g, m)| m.iter().zip(&g.status).map(|(&(c, s), st)| (c, s, st)))
    }

    /// The epochs the networks ran, in all: fewer than networks × epochs where some stopped.
    pub fn network_epochs(&self, setup: &Setup) -> u64 {
        self.groups.iter().map(|(g, _)| g.epochs_run(setup)).sum()
    }

    /// The network with this cell and seed: its group and index there.
    pub fn find(&self, cell: usize, seed: u64) -> Option<(&Group, usize)> {
        self.groups.iter().find_map(|(g, m)| m.iter().position(|&x| x == (cell, seed)).map(|k| (g, k)))
    }
}

/// Bytes each network needs: on the host its parameters (and velocity), rate, status and
/// identity; on the device its parameters (and velocity), rate and status.
pub fn bytes_per_network(setup: &Setup, hidden: usize) -> crate::memory::Need {
    let p = setup.net(hidden).param_count() as u64;
    let state = p * (1 + setup.optimizer.kind.state_vectors() as u64);
    let device = 4 * state + 4 + 16;
    crate::memory::Need { host: device + 16, device }
}

/// Checks what a run needs against the data's size and the host's memory, before anything
/// is allocated; returns the bytes it will need.
pub fn check(grid: &Grid, setup: &Setup, samples: usize) -> Result<crate::memory::Need, crate::Error> {
    use crate::Error;
    if setup.epochs > MAX_EPOCHS {
        return Err(Error::Input(format!("{} epochs: a population runs at most {MAX_EPOCHS}", setup.epochs)));
    }
    for (name, len) in
        [("--hidden", grid.hidden.len()), ("--lr", grid.lr.len()), ("--init-scale", grid.init_scale.len())]
    {
        if len == 0 || len > MAX_AXIS {
            return Err(Error::Input(format!("{name} has {len} values; a grid axis takes 1 to {MAX_AXIS}")));
        }
    }
    let floats = samples.saturating_mul(setup.inputs + 1);
    if floats > MAX_DATA_FLOATS {
        return Err(Error::Input(format!(
            "{samples} samples of {} inputs and a label are {floats} floats; a population's training set holds at most {MAX_DATA_FLOATS} (it sits in each GPU workgroup's 16 KiB), so at most {} samples here",
            setup.inputs,
            MAX_DATA_FLOATS / (setup.inputs + 1)
        )));
    }
    let too_many = || {
        Error::Input(format!(
            "{} seeds × {} cells is more networks than any machine holds",
            grid.models,
            grid.hidden.len() * grid.lr.len() * grid.init_scale.len()
        ))
    };
    let networks = grid.networks().ok_or_else(too_many)?;
    if grid.seed.checked_add(grid.models as u64 - 1).is_none() {
        return Err(Error::Input(format!(
            "seeds {} onwards: {} of them pass the largest seed, {}",
            grid.seed,
            grid.models,
            u64::MAX
        )));
    }
    let mut need = crate::memory::Need { host: 0, device: 0 };
    for &h in &grid.hidden {
        let each = bytes_per_network(setup, h);
        let k = (networks / grid.hidden.len()) as u64;
        need.host = need.host.saturating_add(each.host.saturating_mul(k));
        need.device = need.device.max(each.device.saturating_mul(k));
    }
    if let Some(free) = crate::experiments::host_available_bytes() {
        if need.host > free {
            return Err(Error::Input(format!(
                "{networks} networks need {:.2} GB of host memory and {:.2} GB is free: use fewer --models or a smaller grid",
                need.host as f64 / 1e9,
                free as f64 / 1e9
            )));
        }
    }
    Ok(need)
}

/// Trains every network of the grid on `data` (already the nets' inputs), on the GPU where
/// one is given, else on the CPU; `progress` hears the network-epochs done as they finish.
pub fn train(
    grid: &Grid,
    setup: &Setup,
    data: &crate::data::Dataset,
    gpu: Option<&crate::gpu::Gpu>,
    mut progress: impl FnMut(u64),
) -> Result<Population, crate::Error> {
    check(grid, setup, data.len())?;
    let cells = grid.cells();
    let mut groups = Vec::new();
    let mut seconds = 0.0;
    // On the GPU every width's kernel is compiled, and checked against the adapter, before
    // any network trains.
    let kernels = match gpu {
        Some(gpu) => grid
            .hidden
            .iter()
            .map(|&h| {
                let kernel = crate::gpu::population::PopulationKernel::new(gpu, setup, h)?;
                kernel.check_fits(gpu, setup.inputs, data.len(), grid.lr.len())?;
                Ok(kernel)
            })
            .collect::<Result<Vec<_>, crate::Error>>()?,
        None => Vec::new(),
    };
    let mut widths: Vec<usize> = Vec::new();
    for (w, &h) in grid.hidden.iter().enumerate() {
        if widths.contains(&h) {
            continue;
        }
        widths.push(h);
        let members: Vec<(usize, u64)> = (0..cells.len())
            .filter(|&c| cells[c].hidden == h)
            .flat_map(|c| (0..grid.models).map(move |k| (c, grid.seed_of(k))))
            .collect();
        let mut group = Group::new(setup, &cells, h, &members);
        match gpu {
            Some(gpu) => {
                let start = std::time::Instant::now();
                kernels[w].train(gpu, setup, data, &mut group, &mut progress)?;
                seconds += start.elapsed().as_secs_f64();
            }
            None => {
                let started = std::time::Instant::now();
                // Blocks of about 2^28 network-sample-unit steps (a few seconds), for the
                // progress bar; each block copies the lanes in and out once.
                let per_epoch = (group.len() * data.len() * (h + 1)) as u64;
                let block = ((1u64 << 28) / per_epoch.max(1)).max(1);
                let mut start = 0;
                while start < setup.epochs {
                    let end = (start + block).min(setup.epochs);
                    crate::cpu::population::train_population(setup, data, &mut group, start, end);
                    progress(group.len() as u64 * (end - start));
                    start = end;
                    if group.status.iter().all(|st| st.stopped(setup.stop_at_success)) {
                        break;
                    }
                }
                seconds += started.elapsed().as_secs_f64();
            }
        }
        groups.push((group, members));
    }
    Ok(Population { cells, groups, seconds })
}
