//! The update rules and what they carry from epoch to epoch, as PyTorch's `torch.optim`
//! defines them (the math note): plain SGD, SGD with momentum, Adam. The arithmetic is in
//! [`crate::cpu`] (`sgd_update`, `momentum_update`, `adam_update`, `l2_grad`) and its WGSL
//! twins; this module holds the settings and the state.

use serde::{Deserialize, Serialize};

/// Which rule updates the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `P ← P − lr·g`.
    Sgd,
    /// `v ← μ·v + g`, `P ← P − lr·v` (PyTorch's SGD with momentum, no dampening).
    Momentum,
    /// Adam with bias correction.
    Adam,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Adam => "adam",
        }
    }

    /// The learning rate used when none is given: what trains the README's examples well.
    /// SGD keeps the 2-2-1 tutorial's 2.
    pub fn default_lr(self) -> f32 {
        match self {
            OptimizerKind::Sgd => 2.0,
            OptimizerKind::Momentum => 0.5,
            OptimizerKind::Adam => 0.03,
        }
    }

    /// How many state vectors of P floats the rule keeps: none, `v`, or `m` and `v`.
    pub fn state_vectors(self) -> usize {
        match self {
            OptimizerKind::Sgd => 0,
            OptimizerKind::Momentum => 1,
            OptimizerKind::Adam => 2,
        }
    }
}

/// The update rule and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub lr: f32,
    /// μ of momentum (PyTorch has no default; 0.9 is the common one).
    pub momentum: f32,
    /// Adam's β₁, β₂ and ε (PyTorch's defaults 0.9, 0.999, 1e-8).
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// λ of L2 on the weights (not the biases): `g ← g + λ·W` before the rule.
    pub l2: f32,
}

impl Optimizer {
    /// Plain SGD at `lr`, no L2: the 2-H-1 tutorial's rule.
    pub fn sgd(lr: f32) -> Self {
        Optimizer { lr, ..Self::defaults(OptimizerKind::Sgd) }
    }

    /// `kind` with every default.
    pub fn defaults(kind: OptimizerKind) -> Self {
        Optimizer { kind, lr: kind.default_lr(), momentum: 0.9, beta1: 0.9, beta2: 0.999, eps: 1e-8, l2: 0.0 }
    }

    /// Checks the settings hold what the command line would accept: a learning rate and ε
    /// finite and > 0, μ, β₁ and β₂ in [0, 1), λ finite and ≥ 0. A weight file's settings
    /// are held to this, so a hand-edited one cannot train backwards or divide by zero.
    pub fn check(&self) -> Result<(), String> {
        let positive = |name: &str, v: f32| {
            if v.is_finite() && v >= f32::MIN_POSITIVE {
                Ok(())
            } else {
                Err(format!("the optimizer's {name} is {v}; it must be a finite number > 0"))
            }
        };
        let unit = |name: &str, v: f32| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("the optimizer's {name} is {v}; it must be from 0 up to (not including) 1"))
            }
        };
        positive("lr", self.lr)?;
        positive("eps", self.eps)?;
        unit("momentum", self.momentum)?;
        unit("beta1", self.beta1)?;
        unit("beta2", self.beta2)?;
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(format!("the optimizer's l2 is {}; it must be a finite number ≥ 0", self.l2));
        }
        Ok(())
    }

    /// Whether this is plain SGD without L2, which the 2-H-1 paths implement.
    pub fn is_plain_sgd(&self) -> bool {
        self.kind == OptimizerKind::Sgd && self.l2 == 0.0
    }

    /// `sgd, lr 2` / `adam, lr 0.03, β 0.9/0.999, ε 1e-8, L2 0.001`, for reports.
    pub fn describe(&self) -> String {
        let mut s = format!("{}, lr {}", self.kind.name(), self.lr);
        match self.kind {
            OptimizerKind::Sgd => {}
            OptimizerKind::Momentum => s += &format!(", μ {}", self.momentum),
            OptimizerKind::Adam => s += &format!(", β {}/{}, ε {:e}", self.beta1, self.beta2, self.eps),
        }
        if self.l2 > 0.0 {
            s += &format!(", L2 {}", self.l2);
        }
        s
    }
}

/// The decimal number a hyper-parameter was written as, in f64: the shortest decimal that
/// rounds to the f32 (`0.999f32` is 0.99899999…; this gives 0.999, PyTorch's Python float).
/// Quantities such as `1 − β₂` and `1 − β₂ᵗ` are then computed from the number meant, not
/// from its f32 rounding, which near 1 would change them by parts in 10⁵.
pub fn decimal(x: f32) -> f64 {
    x.to_string().parse().expect("a float's display parses back")
}

/// Adam's scalars for step t (counted from 1), computed in f64 from the decimal
/// hyper-parameters, the way PyTorch computes them in Python floats:
/// `step_size = lr / (1 − β₁ᵗ)` and `√(1 − β₂ᵗ)`. The CPU rule and the GPU kernel both take
/// them from here (the GPU as a table written once per block of epochs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub beta1: f64,
    pub beta2: f64,
    pub one_minus_beta1: f64,
    pub one_minus_beta2: f64,
    pub eps: f64,
    pub step_size: f64,
    pub correction2_sqrt: f64,
}

impl Optimizer {
    /// Adam's scalars at step `t` ≥ 1.
    pub fn adam_step(&self, t: u64) -> AdamStep {
        let (beta1, beta2) = (decimal(self.beta1), decimal(self.beta2));
        let (bias1, correction2_sqrt) = adam_corrections(beta1, beta2, t);
        AdamStep {
            beta1,
            beta2,
            one_minus_beta1: 1.0 - beta1,
            one_minus_beta2: 1.0 - beta2,
            eps: decimal(self.eps),
            step_size: decimal(self.lr) / bias1,
            correction2_sqrt,
        }
    }
}

/// Adam's bias corrections at step t ≥ 1 in f64: `1 − β₁ᵗ` (the step size is the rate's
/// decimal over it) and `√(1 − β₂ᵗ)`. The one place they are computed: the single
/// trainer's rule, and the population's lanes and GPU table, which take a step size per rate.
pub fn adam_corrections(beta1: f64, beta2: f64, t: u64) -> (f64, f64) {
    let t = t.min(i32::MAX as u64) as i32;
    (1.0 - beta1.powi(t), (1.0 - beta2.powi(t)).sqrt())
}

/// The most steps an optimizer state may have taken: Adam's `β^t` is taken with an i32
/// power, and no run of this trainer comes near 2^31 epochs.
pub const MAX_STEPS: u64 = i32::MAX as u64;

/// What the rule carries between epochs: the steps taken so far (Adam's t) and its state
/// vectors, each packed like the parameters (`v` for momentum; `m`, `v` for Adam). Generic
/// so the reference can run the rules in `f64`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OptState<F = f32> {
    pub step: u64,
    pub m: Vec<F>,
    pub v: Vec<F>,
}

impl<F: num_traits::Float> OptState<F> {
    /// The state before the first step: zeros. (PyTorch starts momentum's `v` at the first
    /// gradient; `μ·0 + g` is that same number.)
    pub fn new(kind: OptimizerKind, params: usize) -> Self {
        let m = if kind == OptimizerKind::Adam { params } else { 0 };
        let v = if kind.state_vectors() >= 1 { params } else { 0 };
        OptState { step: 0, m: vec![F::zero(); m], v: vec![F::zero(); v] }
    }

    /// Checks the state fits `kind` over `params` parameters.
    pub fn check(&self, kind: OptimizerKind, params: usize) -> Result<(), String> {
        if self.step > MAX_STEPS {
            return Err(format!("the optimizer state has taken {} steps; at most {MAX_STEPS} are counted", self.step));
        }
        let want = OptState::<F>::new(kind, params);
        if self.m.len() != want.m.len() || self.v.len() != want.v.len() {
            return Err(format!(
                "the {} state holds m of {} and v of {} numbers; over {params} parameters it needs {} and {}",
                kind.name(),
                self.m.len(),
                self.v.len(),
                want.m.len(),
                want.v.len()
            ));
        }
        if self.m.iter().chain(&self.v).any(|x| !x.is_finite()) {
            return Err("the optimizer state holds a number that is not finite".into());
        }
        if kind == OptimizerKind::Adam && self.v.iter().any(|&x| x < F::zero()) {
            return Err("Adam's v is a running mean of squares and cannot be negative".into());
        }
        Ok(())
    }
}

impl OptState<f32> {
    pub fn to_f64(&self) -> OptState<f64> {
        let up = |v: &[f32]| v.iter().map(|&x| x as f64).collect();
        OptState { step: self.step, m: up(&self.m), v: up(&self.v) }
    }
}
