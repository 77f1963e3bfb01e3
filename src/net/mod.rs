//! The network's description and its parameters, for any small MLP.
//!
//! A [`Net`] is data every path reads: the widths `d₀ … d_L` (inputs, hidden layers,
//! the one output) and the hidden layers' activation. Layer l (1-based, as in the math
//! note) has `W_l: d_l × d_{l−1}` and `B_l: d_l × 1`. The parameters are packed layer
//! by layer, each `W` row-major then its `B`:
//! `[W_1 | B_1 | W_2 | B_2 | …]`. For the 2-H-1 net that is `[w1 | b1 | w2 | b2]`,
//! the packing of [`crate::model::Layout`], so the two agree float for float. The same
//! offsets serve the CPU, the GPU's buffers and every optimizer state vector.

pub mod file;
pub mod optim;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::Params;

/// The widest layer the kernels accept.
pub const MAX_WIDTH: usize = crate::model::MAX_HIDDEN;
/// The most hidden layers.
pub const MAX_HIDDEN_LAYERS: usize = 8;

/// The hidden layers' activation `f`; the output is always a sigmoid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// σ(z) = 1 / (1 + e^(−z)); f′ = A(1 − A).
    Sigmoid,
    /// tanh z; f′ = 1 − A².
    Tanh,
    /// max(z, 0); f′ = `[Z > 0]` (0 at Z = 0, as PyTorch takes it).
    Relu,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        }
    }
}

/// The network: widths `d₀ … d_L` with `d_L = 1`, and the hidden activation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Net {
    pub widths: Vec<usize>,
    pub activation: Activation,
}

/// Where layer l's parameters sit in the packed vector, and its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// `d_l`: rows of `W_l`, units of the layer.
    pub rows: usize,
    /// `d_{l−1}`: columns of `W_l`, the layer's inputs.
    pub cols: usize,
    /// Offset of `W_l` (`rows × cols`, row-major).
    pub w: usize,
    /// Offset of `B_l` (`rows × 1`), right after `W_l`.
    pub b: usize,
}

impl Net {
    /// A net from its widths, every rule checked: 1 to 256 inputs, 0 to 8 hidden layers of
    /// 1 to 256 units, an output of width 1.
    pub fn new(widths: Vec<usize>, activation: Activation) -> Result<Self, String> {
        let shown = widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",");
        if widths.len() < 2 {
            return Err(format!(
                "a network needs at least an input and an output width (like 2,1 or 2,16,1), got {shown:?}"
            ));
        }
        if widths.len() - 2 > MAX_HIDDEN_LAYERS {
            return Err(format!("{} hidden layers in {shown:?}; at most {MAX_HIDDEN_LAYERS}", widths.len() - 2));
        }
        if let Some((i, w)) = widths.iter().enumerate().find(|(_, &w)| w == 0 || w > MAX_WIDTH) {
            return Err(format!("width {w} at position {} of {shown:?}: widths run from 1 to {MAX_WIDTH}", i + 1));
        }
        if *widths.last().expect("two or more") != 1 {
            return Err(format!(
                "the output width must be 1 (one probability), got {} in {shown:?}",
                widths.last().expect("two or more")
            ));
        }
        Ok(Net { widths, activation })
    }

    /// The classic 2-H-1 sigmoid network.
    pub fn classic(hidden: usize) -> Self {
        Net { widths: vec![2, hidden, 1], activation: Activation::Sigmoid }
    }

    /// `Some(H)` for a 2-H-1 sigmoid net: what the 2-H-1 paths (and the old weight file) cover.
    pub fn classic_hidden(&self) -> Option<usize> {
        (self.widths.len() == 3 && self.widths[0] == 2 && self.activation == Activation::Sigmoid)
            .then_some(self.widths[1])
    }

    /// `d₀`, the number of inputs.
    pub fn inputs(&self) -> usize {
        self.widths[0]
    }

    /// L, the number of layers with weights.
    pub fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// The widest layer, inputs included.
    pub fn widest(&self) -> usize {
        *self.widths.iter().max().expect("two or more widths")
    }

    /// Layer `l` (1-based, `1..=L`): its shape and offsets.
    pub fn layer(&self, l: usize) -> LayerShape {
        assert!((1..=self.layers()).contains(&l), "layer {l} of {}", self.layers());
        let w = (1..l).map(|k| self.widths[k] * (self.widths[k - 1] + 1)).sum();
        let (rows, cols) = (self.widths[l], self.widths[l - 1]);
        LayerShape { rows, cols, w, b: w + rows * cols }
    }

    /// Every layer, 1 to L.
    pub fn shapes(&self) -> impl Iterator<Item = LayerShape> + '_ {
        (1..=self.layers()).map(|l| self.layer(l))
    }

    /// P, the number of parameters.
    pub fn param_count(&self) -> usize {
        let last = self.layer(self.layers());
        last.b + last.rows
    }

    /// Multiply-adds of one sample's gradient: per layer `W_l·A_{l−1}` and `dZ_l·A_{l−1}ᵀ`,
    /// and above the first `W_lᵀ·dZ_l`, each `d_l·d_{l−1}`.
    pub fn macs_per_sample(&self) -> u64 {
        self.shapes().enumerate().map(|(i, s)| (s.rows * s.cols) as u64 * if i == 0 { 2 } else { 3 }).sum()
    }

    /// Packed index `i` in the math's names: `w2[j,c]`, `b2[j]`.
    pub fn param_name(&self, i: usize) -> String {
        for (l, s) in self.shapes().enumerate().map(|(k, s)| (k + 1, s)) {
            if i < s.b {
                let k = i - s.w;
                return format!("w{l}[{},{}]", k / s.cols, k % s.cols);
            }
            if i < s.b + s.rows {
                return format!("b{l}[{}]", i - s.b);
            }
        }
        format!("parameter {i} (past the last, {})", self.param_count())
    }

    /// `2-16-16-1 tanh`, as the reports say it.
    pub fn describe(&self) -> String {
        let widths = self.widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-");
        if self.layers() == 1 {
            format!("{widths} (logistic regression)")
        } else {
            format!("{widths} {}", self.activation.name())
        }
    }

    /// Initial parameters from the seed, drawn on the CPU so every backend starts from the
    /// same numbers (ChaCha8, stream 0). The 2-H-1 sigmoid net keeps its original draw
    /// ([`Params::init`]: PyTorch's `nn.Linear` default). Every other net draws layer by
    /// layer, each `W` row-major: Glorot-uniform (±√(6/(fan_in + fan_out))) for a layer
    /// followed by a sigmoid or tanh, He-uniform (±√(6/fan_in)) for one followed by a
    /// ReLU; the output layer, a sigmoid, is Glorot. Biases start at 0.
    pub fn init(&self, seed: u64) -> Mlp {
        if let Some(h) = self.classic_hidden() {
            return Mlp::from_params(&Params::init(h, seed));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0);
        let mut params = vec![0.0f32; self.param_count()];
        for (k, s) in self.shapes().enumerate() {
            let hidden = k + 1 < self.layers();
            let bound = if hidden && self.activation == Activation::Relu {
                (6.0 / s.cols as f64).sqrt()
            } else {
                (6.0 / (s.cols + s.rows) as f64).sqrt()
            } as f32;
            for w in &mut params[s.w..s.b] {
                *w = rng.random_range(-bound..bound);
            }
        }
        Mlp { net: self.clone(), params }
    }

    /// [`Net::init`] with every parameter multiplied by `scale` (`--init-scale`; 1 leaves
    /// the draw as it is, bit for bit).
    pub fn init_scaled(&self, seed: u64, scale: f32) -> Mlp {
        let mut m = self.init(seed);
        m.params.iter_mut().for_each(|p| *p *= scale);
        m
    }
}

/// A network's parameters, packed (see the module's notes). Generic over the float type so
/// the CPU reference runs the same code in `f64` for gradient checks.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp<F = f32> {
    pub net: Net,
    pub params: Vec<F>,
}

impl<F: Copy> Mlp<F> {
    /// `W_l` (`d_l × d_{l−1}`, row-major).
    pub fn w(&self, l: usize) -> &[F] {
        let s = self.net.layer(l);
        &self.params[s.w..s.b]
    }

    /// `B_l` (`d_l × 1`).
    pub fn b(&self, l: usize) -> &[F] {
        let s = self.net.layer(l);
        &self.params[s.b..s.b + s.rows]
    }

    /// Every parameter in packed order.
    pub fn iter(&self) -> impl Iterator<Item = F> + '_ {
        self.params.iter().copied()
    }
}

impl Mlp<f32> {
    /// The 2-H-1 parameters in the general form (the packing is the same).
    pub fn from_params(p: &Params) -> Self {
        Mlp { net: Net::classic(p.hidden), params: p.packed() }
    }

    /// The 2-H-1 form, for the paths written for it; `None` for any other net.
    pub fn to_params(&self) -> Option<Params> {
        self.net.classic_hidden().map(|h| Params::unpack(h, &self.params))
    }

    /// The same parameters in `f64`.
    pub fn to_f64(&self) -> Mlp<f64> {
        Mlp { net: self.net.clone(), params: self.params.iter().map(|&x| x as f64).collect() }
    }
}

/// Parses a `--layers` list: `2,16,16,1`.
pub fn parse_widths(s: &str) -> Result<Vec<usize>, String> {
    if s.trim().is_empty() {
        return Err("expected widths like 2,16,16,1, got nothing".into());
    }
    s.split(',')
        .map(|w| {
            w.trim()
                .parse::<usize>()
                .map_err(|_| format!("{:?} in {s:?} is not a width (a whole number 1 to {MAX_WIDTH})", w.trim()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2_h_1_packing_is_the_old_layout() {
        for h in [1, 2, 7] {
            let net = Net::classic(h);
            let old = crate::model::Layout::new(h);
            let (l1, l2) = (net.layer(1), net.layer(2));
            assert_eq!((l1.w, l1.b, l2.w, l2.b, net.param_count()), (old.w1, old.b1, old.w2, old.b2, old.len));
            // The same elements: w1 and b1 by the same names, w2's row vector as a 1 × H matrix.
            for i in 0..old.w2 {
                assert_eq!(net.param_name(i), old.name(i));
            }
            assert_eq!(net.param_name(old.w2 + h - 1), format!("w2[0,{}]", h - 1));
            assert_eq!(net.param_name(old.b2), "b2[0]");
            assert_eq!(net.init(5), Mlp::from_params(&Params::init(h, 5)));
        }
    }

    #[test]
    fn deep_offsets_chain() {
        let net = Net::new(vec![7, 4, 2, 1], Activation::Tanh).unwrap();
        assert_eq!(net.layer(1), LayerShape { rows: 4, cols: 7, w: 0, b: 28 });
        assert_eq!(net.layer(2), LayerShape { rows: 2, cols: 4, w: 32, b: 40 });
        assert_eq!(net.layer(3), LayerShape { rows: 1, cols: 2, w: 42, b: 44 });
        assert_eq!(net.param_count(), 45);
        assert_eq!(net.param_name(29), "b1[1]");
        assert_eq!(net.param_name(41), "b2[1]");
        let m = net.init(3);
        assert!(m.b(1).iter().chain(m.b(2)).chain(m.b(3)).all(|&b| b == 0.0));
        let bound = (6.0f32 / 11.0).sqrt();
        assert!(m.w(1).iter().all(|w| w.abs() <= bound) && m.w(1).iter().any(|w| w.abs() > 0.5 * bound));
    }

    #[test]
    fn bad_lists_are_named() {
        for (widths, says) in [
            (vec![], "at least"),
            (vec![2], "at least"),
            (vec![2, 0, 1], "width 0"),
            (vec![2, 257, 1], "width 257"),
            (vec![2, 4, 2], "output width must be 1"),
            (vec![2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], "hidden layers"),
        ] {
            let e = Net::new(widths, Activation::Relu).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
        assert!(parse_widths("2,x,1").unwrap_err().contains("\"x\""));
        assert!(parse_widths("").is_err());
        assert_eq!(parse_widths("2, 16,1").unwrap(), vec![2, 16, 1]);
    }
}
