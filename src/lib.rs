//! Trains small MLPs — the 2-H-1 sigmoid network on XOR, and any net of up to eight hidden
//! layers on the TensorFlow Playground's data sets — with WGSL compute shaders through
//! wgpu, with a CPU reference that computes the same math.
//!
//! ```no_run
//! use xorgpu::cpu::mlp::MlpCpuTrainer;
//! use xorgpu::data::playground::DataSet;
//! use xorgpu::net::optim::{Optimizer, OptimizerKind};
//! use xorgpu::net::{Activation, Net};
//!
//! let net = Net::new(vec![2, 16, 16, 1], Activation::Tanh).unwrap();
//! let data = DataSet::Spiral.generate(500, 0.1, 1, 1).unwrap();
//! let opt = Optimizer::defaults(OptimizerKind::Adam);
//! let mut trainer = MlpCpuTrainer::new(net.init(1), data, opt, None);
//! let out = xorgpu::train::train(&mut trainer, 2000, 500, |epoch, loss| println!("{epoch} {loss}")).unwrap();
//! println!("final loss {}", out.final_loss);
//! ```
//!
//! - [`cpu`]: the reference, one function per kernel; `cpu::fast`, the fast CPU backend.
//! - [`gpu`]: the wgpu host: adapter, pipelines, buffers, the recorded epoch.
//! - `shaders/`: the WGSL kernels, one file per family.
//! - [`selfcheck`]: every kernel against its CPU twin.
//! - [`train`]: the loop both backends share; [`backend`]: which trainer takes a run.
//! - [`net`]: any MLP as data: widths, activation, packed parameters, optimizers, weight files.
//! - [`model`], [`data`]: the 2-H-1 weights; batches in the math's feature-major layout,
//!   the playground's data sets and the input features.
//! - [`experiments`]: the batch-scaling sweep and the pictures.
//! - [`memory`]: what a run needs in memory, checked before anything is allocated.
//! - [`files`]: output files written without destroying what the user had.
//! - [`serve`]: the live page, its routes and its runs.
//! - [`cli`]: the command line.

pub mod backend;
pub mod cli;
pub mod cpu;
pub mod data;
pub mod experiments;
pub mod files;
pub mod gpu;
pub mod memory;
pub mod model;
pub mod net;
pub mod population;
pub mod selfcheck;
pub mod serve;
pub mod train;

/// Everything that can go wrong, sorted by whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage or bad input: exit status 2.
    #[error("{0}")]
    Input(String),
    /// No adapter, or an adapter that cannot run the kernels: exit status 1.
    #[error("{0}")]
    NoAdapter(String),
    /// An error wgpu reported (validation, out of memory, device lost): exit status 1.
    #[error("GPU error: {0}")]
    Gpu(String),
    /// `check` found a kernel that disagrees with the CPU reference: exit status 1.
    #[error("some kernels disagree with the CPU reference (see above)")]
    CheckFailed,
    /// The loss or a weight stopped being a finite number, or a weight passed
    /// [`train::WEIGHT_BOUND`]: exit status 1, and nothing is saved.
    #[error("training diverged at epoch {epoch}: {why}; try a smaller --lr (nothing was saved)")]
    Diverged { epoch: u64, why: String },
}

impl Error {
    /// The process exit status for this error: 2 for bad usage or input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            _ => 1,
        }
    }
}
