//! Which trainer takes a run: the backend, the GPU kernels, and whether the run fits the
//! device and the host's memory — decided here, before any data is made, for the command
//! line and the live page alike.

use std::sync::Arc;

use clap::ValueEnum;

use crate::cpu::fast::FastCpuTrainer;
use crate::cpu::fast_mlp::FastMlpTrainer;
use crate::data::Dataset;
use crate::gpu::mlp::{MlpGpuOptions, MlpGpuTrainer, MlpPath};
use crate::gpu::trainer::{check_fits, Path, DEFAULT_EPOCHS_PER_DISPATCH};
use crate::gpu::{Gpu, GpuTrainer};
use crate::memory::{self, Need, Runner};
use crate::net::optim::{OptState, Optimizer};
use crate::net::{Mlp, Net};
use crate::train::Trainer;
use crate::Error;

/// A trainer that can move to the thread that runs it.
pub type BoxedTrainer = Box<dyn Trainer + Send>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelChoice {
    /// The tutorial's kernels, one per step of the chain rule: the readable yardstick.
    Step,
    /// Whole epochs in one or two kernels: many epochs per dispatch when the batch fits
    /// one workgroup, else one pass over the data per epoch.
    Fused,
    /// Per layer GEMM-style products over tiles of samples, for any width: the default
    /// for nets too wide for the fused kernels.
    Tiled,
}

/// The kernels a run trains with and what it needs, decided by [`Plan::choose`].
#[derive(Clone, Debug)]
pub struct Plan {
    /// `Some(H)`: the 2-H-1 sigmoid net by plain SGD, which keeps its own paths.
    pub classic: Option<usize>,
    /// The GPU kernels of a 2-H-1 run.
    pub path: Option<Path>,
    /// The GPU kernels of any other net.
    pub mlp_path: Option<MlpPath>,
    /// Why the general path was chosen, where it was chosen rather than asked for.
    pub reason: Option<String>,
    /// Host and device bytes the run needs, checked against what there is.
    pub need: Need,
}

impl Plan {
    /// The plan for training `net` by `opt` on `batch` samples on `gpu` (None: the CPU),
    /// with `kernels` if the user chose them; refused where the device cannot take the run
    /// or the host has not the memory it needs.
    pub fn choose(
        gpu: Option<&Gpu>,
        net: &Net,
        opt: &Optimizer,
        batch: usize,
        kernels: Option<KernelChoice>,
    ) -> Result<Plan, Error> {
        // The 2-H-1 paths train the 2-H-1 sigmoid net by plain SGD; every other model, and
        // any asked to take the tiled kernels, takes the general ones.
        let tiled_gpu = gpu.is_some() && kernels == Some(KernelChoice::Tiled);
        let classic = net.classic_hidden().filter(|_| opt.is_plain_sgd() && !tiled_gpu);
        let mut reason = None;
        let mlp_path = match (gpu, classic) {
            (Some(g), None) => Some(match kernels {
                None => {
                    let (path, why) = MlpPath::choose(g, net, batch);
                    reason = Some(why);
                    path
                }
                Some(KernelChoice::Step) => MlpPath::Step,
                Some(KernelChoice::Fused) => MlpPath::fused_for(g, net, batch),
                Some(KernelChoice::Tiled) => MlpPath::Tiled,
            }),
            _ => None,
        };
        let path = match (gpu, classic) {
            (Some(g), Some(h)) => Some(match kernels.unwrap_or(KernelChoice::Fused) {
                KernelChoice::Step => Path::Step,
                KernelChoice::Fused => Path::fastest(g, h, batch),
                KernelChoice::Tiled => unreachable!("the tiled kernels take the general path"),
            }),
            _ => None,
        };
        let need = match (gpu, classic, path) {
            (Some(g), Some(h), Some(path)) => {
                check_fits(g, path, h, batch)?;
                memory::check(Runner::gpu(g, path), h, batch)?
            }
            (_, Some(h), _) => memory::check(Runner::Cpu, h, batch)?,
            (Some(g), None, _) => {
                let path = mlp_path.expect("a path for any net on the GPU");
                crate::gpu::mlp::check_fits(g, net, batch, path)?;
                let each = memory::mlp_per_sample(net, Some((path, g.is_software())));
                memory::check_per_sample(each, batch, g.is_software())?
            }
            (None, None, _) => memory::check_per_sample(memory::mlp_per_sample(net, None), batch, false)?,
        };
        Ok(Plan { classic, path, mlp_path, reason, need })
    }

    /// The kernels in a word ("fused", "tiny", "step"), on the GPU.
    pub fn kernels(&self) -> Option<String> {
        match (self.path, self.mlp_path) {
            (Some(p), _) => Some(format!("{p:?}").to_lowercase()),
            (None, Some(p)) => Some(p.name().into()),
            (None, None) => None,
        }
    }

    /// The trainer of this plan, from `mlp` (and the optimizer's `state`, to continue a
    /// run) on `data`; `gpu` must be the device the plan was made for.
    pub fn trainer(
        &self,
        gpu: Option<Gpu>,
        mlp: &Mlp,
        data: Arc<Dataset>,
        opt: Optimizer,
        state: Option<OptState>,
        epochs_per_dispatch: Option<usize>,
    ) -> Result<BoxedTrainer, Error> {
        Ok(match (gpu, self.classic) {
            (Some(gpu), Some(_)) => {
                let path = self.path.expect("a 2-H-1 path on the GPU");
                log::info!("kernels: {path:?}");
                let params = mlp.to_params().expect("a 2-H-1 net");
                let per_dispatch = epochs_per_dispatch.unwrap_or(DEFAULT_EPOCHS_PER_DISPATCH);
                Box::new(GpuTrainer::with_path(gpu, &params, &data, opt.lr, path, per_dispatch)?)
            }
            (Some(gpu), None) => {
                let path = self.mlp_path.expect("a general path on the GPU");
                // Said here, where a run starts, not where plans are weighed (scale weighs many).
                log::info!("kernels: {}", self.reason.as_deref().unwrap_or(path.name()));
                let options = MlpGpuOptions { epochs_per_dispatch, ..MlpGpuOptions::default() };
                Box::new(MlpGpuTrainer::with_options(gpu, mlp, &data, opt, state.as_ref(), path, options)?)
            }
            (None, Some(_)) => Box::new(FastCpuTrainer::new(mlp.to_params().expect("a 2-H-1 net"), data, opt.lr)),
            (None, None) => Box::new(FastMlpTrainer::new(mlp.clone(), data, opt, state)),
        })
    }
}
