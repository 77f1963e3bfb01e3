//! Training data in the feature-major layout: `xt: 2 × N` (row 0 is x1 for every sample,
//! row 1 is x2) and `t: 1 × N`, the targets.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::Error;

/// The XOR truth table, in the order every report lists predictions.
pub const XOR_INPUTS: [[f32; 2]; 4] = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// XOR of each row of [`XOR_INPUTS`].
pub const XOR_TARGETS: [f32; 4] = [0.0, 1.0, 1.0, 0.0];

/// A batch of N samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// `xt: 2 × N`, row-major: `xt[n]` is x1 of sample n, `xt[N + n]` its x2.
    pub xt: Vec<f32>,
    /// `t: 1 × N`, each 0 or 1.
    pub t: Vec<f32>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Builds the feature-major batch from sample rows `(x1, x2, t)`.
    pub fn from_rows(rows: &[[f32; 3]]) -> Self {
        let n = rows.len();
        let mut xt = vec![0.0; 2 * n];
        let mut t = vec![0.0; n];
        for (i, r) in rows.iter().enumerate() {
            xt[i] = r[0];
            xt[n + i] = r[1];
            t[i] = r[2];
        }
        Dataset { xt, t }
    }

    /// The four XOR rows.
    pub fn xor() -> Self {
        let rows: Vec<[f32; 3]> = XOR_INPUTS.iter().zip(XOR_TARGETS).map(|(x, t)| [x[0], x[1], t]).collect();
        Self::from_rows(&rows)
    }

    /// `n` noisy XOR samples: each picks one of the four corners uniformly, adds
    /// Gaussian noise of standard deviation `noise` to both inputs, and takes the corner's
    /// XOR as its label. ChaCha8 seeded with `seed`, stream 1 (the weights use stream 0),
    /// so the same seed gives the same data on every backend and machine.
    pub fn noisy_xor(n: usize, noise: f32, seed: u64) -> Result<Self, Error> {
        let normal = Normal::new(0.0f32, noise)
            .map_err(|_| Error::Input(format!("noise must be a finite number ≥ 0, got {noise}")))?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        let mut xt = vec![0.0; 2 * n];
        let mut t = vec![0.0; n];
        for i in 0..n {
            let corner = rng.random_range(0..4usize);
            let [x1, x2] = XOR_INPUTS[corner];
            xt[i] = x1 + normal.sample(&mut rng);
            xt[n + i] = x2 + normal.sample(&mut rng);
            t[i] = XOR_TARGETS[corner];
        }
        Ok(Dataset { xt, t })
    }

    /// The training batch the command line means by `--batch N`: the four XOR rows for
    /// N = 4, noisy samples otherwise.
    pub fn for_batch(n: usize, noise: f32, seed: u64) -> Result<Self, Error> {
        if n == 0 {
            return Err(Error::Input("batch must be at least 1".into()));
        }
        if n == 4 {
            Ok(Self::xor())
        } else {
            Self::noisy_xor(n, noise, seed)
        }
    }
}
