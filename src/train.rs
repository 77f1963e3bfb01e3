//! The training loop both backends share: epochs in blocks, the loss read back once per
//! block, logging, divergence detection and timing.

use std::time::Instant;

use crate::net::optim::OptState;
use crate::net::Mlp;
use crate::Error;

/// The most epochs between two loss read-backs: bounds the GPU's loss history buffer.
pub const MAX_BLOCK: usize = 1 << 16;

/// A backend that can run epochs of full-batch gradient descent on its own batch.
pub trait Trainer {
    /// Runs `losses.len()` epochs. `losses[i]` receives the loss of the weights before the
    /// i-th update of the call, the loss that epoch's forward pass saw.
    fn run_epochs(&mut self, losses: &mut [f32]) -> Result<(), Error>;
    /// The current parameters, with the net they belong to.
    fn mlp(&mut self) -> Result<Mlp, Error>;
    /// The optimizer's state after the epochs run so far (plain SGD has none), saved with
    /// the weights so that a run resumes exactly.
    fn optimizer_state(&mut self) -> Result<OptState, Error> {
        Ok(OptState::default())
    }
    /// The loss of the current weights on the training batch.
    fn loss(&mut self) -> Result<f32, Error>;
    /// The gradient of the loss at the current weights, packed as the parameters are
    /// (`[d_W1 | d_B1 | d_W2 | …]`), computed as this backend's epoch computes it, before
    /// any update rule; the weights do not change. The tests compare it element by element.
    fn gradients(&mut self) -> Result<Vec<f32>, Error>;
    /// Per-kernel device time over `epochs` more epochs, where the backend can measure it.
    fn profile(&mut self, _epochs: usize) -> Result<Option<Profile>, Error> {
        Ok(None)
    }
    /// The device's own seconds per epoch over `epochs` more epochs (at most a block, in one
    /// submission; the weights train on), from timestamp queries; None where the trainer
    /// cannot measure it (on the CPU, or an adapter without timestamps).
    fn gpu_seconds_per_epoch(&mut self, _epochs: usize) -> Result<Option<f64>, Error> {
        Ok(None)
    }
    /// Bytes the run holds where it runs: the device's buffers for a GPU trainer (not the
    /// small uniforms), the data and the sums in memory for a CPU one.
    fn memory_bytes(&self) -> u64;
}

/// Where an epoch's device time goes, from timestamp queries.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The epochs timed (a backend may time fewer than asked).
    pub epochs: usize,
    /// Each kernel's device seconds per epoch, in the order first dispatched.
    pub kernels: Vec<(&'static str, f64)>,
    /// Dispatches and submissions per epoch in the training loop.
    pub dispatches_per_epoch: f64,
    pub submissions_per_epoch: f64,
    /// Bytes one epoch must move at the least: the data read once (12 bytes a sample).
    pub bytes_per_epoch: u64,
    /// Multiply-adds one epoch must do: [`crate::net::Net::macs_per_sample`] a sample.
    pub macs_per_epoch: u64,
}

/// What a training run ends with.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub params: Mlp,
    /// The optimizer's state at the end.
    pub state: OptState,
    /// The loss of `params` on the training batch.
    pub final_loss: f32,
    /// Wall time of the training loop alone (no set-up, no final evaluation).
    pub seconds: f64,
}

/// A weight whose magnitude passes this has diverged, though still finite: no useful
/// network of this size comes near it (a saturated run that learned XOR has weights of tens
/// to thousands), and it is far enough below f32's 3.4e38 that the check sees a run
/// running away before its numbers overflow.
pub const WEIGHT_BOUND: f32 = 1e30;

/// The divergence check the backends share, on the weights after `epoch`: every weight
/// finite and within ±[`WEIGHT_BOUND`]. (A gradient that is not finite makes the loss of
/// the next epoch and the weights after it not finite, so it is caught there.)
pub fn check_weights(params: &Mlp, epoch: u64) -> Result<(), Error> {
    match params.iter().enumerate().find(|(_, w)| w.is_nan() || w.abs() > WEIGHT_BOUND) {
        Some((i, w)) => Err(Error::Diverged {
            epoch,
            why: format!("weight {} is {w:e}, past the bound ±{WEIGHT_BOUND:e}", params.net.param_name(i)),
        }),
        None => Ok(()),
    }
}

/// The divergence a loss's clamp hides: weights within [`WEIGHT_BOUND`] whose forward pass
/// still overflows f32 (ReLU units multiply), so that predictions are not numbers. `score`
/// is the model's on the first `scored` training samples.
pub fn check_outputs(params: &Mlp, score: &crate::cpu::mlp::Score, scored: usize, epoch: u64) -> Result<(), Error> {
    if score.not_a_number == 0 {
        return Ok(());
    }
    let largest = params.params.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    Err(Error::Diverged {
        epoch,
        why: format!(
            "the net's output is not a number on {} of {scored} training samples (weights up to {largest:e} overflow f32)",
            score.not_a_number
        ),
    })
}

/// Trains for `epochs` epochs. `on_log(epoch, loss)` is called for epoch 1 and every
/// `log_every`-th epoch (1-based), with the loss that epoch started from. Stops with
/// [`Error::Diverged`] at the first epoch whose loss is not finite, or at the end of a block
/// (a log point, at most [`MAX_BLOCK`] epochs apart: the same epochs on every backend) whose
/// weights fail [`check_weights`].
pub fn train(
    trainer: &mut dyn Trainer,
    epochs: u64,
    log_every: u64,
    on_log: impl FnMut(u64, f32),
) -> Result<Outcome, Error> {
    train_observed(trainer, epochs, log_every, on_log, |_, _| {})
}

/// [`train`], also calling `on_block(first_epoch, losses)` with every block's losses (epoch
/// `first_epoch + i` started from `losses[i]`), for progress and loss curves.
pub fn train_observed(
    trainer: &mut dyn Trainer,
    epochs: u64,
    log_every: u64,
    mut on_log: impl FnMut(u64, f32),
    mut on_block: impl FnMut(u64, &[f32]),
) -> Result<Outcome, Error> {
    let log_every = log_every.max(1);
    let mut losses = vec![0.0f32; MAX_BLOCK];
    let start = Instant::now();
    let mut done = 0u64;
    while done < epochs {
        // Blocks end at log points, so each logged loss is in hand when it is due.
        let next_log = (done / log_every + 1) * log_every;
        let end = next_log.min(epochs).min(done + MAX_BLOCK as u64);
        let block = &mut losses[..(end - done) as usize];
        trainer.run_epochs(block)?;
        on_block(done + 1, block);
        for (i, &loss) in block.iter().enumerate() {
            let epoch = done + i as u64 + 1;
            if !loss.is_finite() {
                return Err(if epoch == 1 {
                    // Before any update: the rate cannot be to blame.
                    Error::Input(format!(
                        "the loss of the starting weights is {loss}: the inputs or the weights overflow f32"
                    ))
                } else {
                    Error::Diverged { epoch, why: format!("the loss is {loss}") }
                });
            }
            if epoch == 1 || epoch.is_multiple_of(log_every) {
                on_log(epoch, loss);
            }
        }
        done = end;
        check_weights(&trainer.mlp()?, done)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let params = trainer.mlp()?;
    let state = trainer.optimizer_state()?;
    let final_loss = trainer.loss()?;
    if !final_loss.is_finite() {
        return Err(Error::Diverged { epoch: epochs, why: format!("the final loss is {final_loss}") });
    }
    Ok(Outcome { params, state, final_loss, seconds })
}
