//! Trains a 2-H-1 sigmoid network on XOR with WGSL compute shaders through wgpu, with a
//! CPU reference that computes the same math.
//!
//! - [`cpu`]: the reference, one function per kernel; `cpu::fast`, the fast CPU backend.
//! - [`gpu`]: the wgpu host: adapter, pipelines, buffers, the recorded epoch.
//! - `shaders/`: the WGSL kernels, one file per family.
//! - [`selfcheck`]: every kernel against its CPU twin.
//! - [`train`]: the loop both backends share.
//! - [`model`], [`data`]: weights and batches in the math's feature-major layout.
//! - [`experiments`]: the batch-scaling sweep and the pictures.
//! - [`memory`]: what a run needs in memory, checked before anything is allocated.
//! - [`files`]: output files written without destroying what the user had.
//! - [`cli`]: the command line.

pub mod cli;
pub mod cpu;
pub mod data;
pub mod experiments;
pub mod files;
pub mod gpu;
pub mod memory;
pub mod model;
pub mod net;
pub mod selfcheck;
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
