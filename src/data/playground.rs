//! The TensorFlow Playground's four classification sets, re-implemented from their
//! definitions (the math note), labels 0/1 instead of ±1, and today's noisy corners, under
//! one name each. Every set is drawn from ChaCha8 seeded with the data seed, on the stream
//! the caller names (training data 1, test data 2; the weights use 0), so the same seed
//! gives the same points on every backend and machine.

use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::Dataset;
use crate::Error;

/// The data sets `--dataset` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSet {
    /// The XOR table at 4 samples, else samples around its corners with Gaussian noise
    /// of standard deviation --noise.
    Corners,
    /// Label 1 inside radius 2.5, 0 in the ring from 3.5 to 5.
    Circle,
    /// Two Gaussian clouds at (2, 2) (label 1) and (−2, −2) (label 0).
    Gauss,
    /// Two interleaved spiral arms.
    Spiral,
    /// The playground's "xor": the sign of x1·x2 on [−5, 5]².
    Quadrants,
}

/// The largest playground noise ν.
pub const MAX_PLAYGROUND_NOISE: f32 = 0.5;

impl DataSet {
    pub fn name(self) -> &'static str {
        match self {
            DataSet::Corners => "corners",
            DataSet::Circle => "circle",
            DataSet::Gauss => "gauss",
            DataSet::Spiral => "spiral",
            DataSet::Quadrants => "quadrants",
        }
    }

    /// The square `[lo, hi]²` the set lives in, which the pictures show.
    pub fn domain(self) -> [f32; 2] {
        match self {
            DataSet::Corners => [-0.5, 1.5],
            _ => [-6.0, 6.0],
        }
    }

    /// Whether `--noise` is the playground's ν in [0, 0.5] (else it is corners' σ).
    pub fn is_playground(self) -> bool {
        self != DataSet::Corners
    }

    /// Checks `noise` means something for this set.
    pub fn check_noise(self, noise: f32) -> Result<(), Error> {
        if self.is_playground() && !(0.0..=MAX_PLAYGROUND_NOISE).contains(&noise) {
            return Err(Error::Input(format!(
                "--noise {noise}: for {} it is the playground's noise ν, from 0 to {MAX_PLAYGROUND_NOISE}",
                self.name()
            )));
        }
        Ok(())
    }

    /// `n` samples (raw x1, x2 and a 0/1 label) from ChaCha8 with `seed` on `stream`.
    pub fn generate(self, n: usize, noise: f32, seed: u64, stream: u64) -> Result<Dataset, Error> {
        if n == 0 {
            return Err(Error::Input("batch must be at least 1".into()));
        }
        self.check_noise(noise)?;
        if self == DataSet::Corners {
            return if n == 4 { Ok(Dataset::xor()) } else { Dataset::noisy_xor_on(n, noise, seed, stream) };
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let nu = noise as f64;
        // Written straight into the feature-major batch: a set of 10^8 samples needs its
        // 12 bytes a sample and no copy beside it (the memory check counts 12).
        let (mut xt, mut t) = (vec![0.0f32; 2 * n], vec![0.0f32; n]);
        let mut next = 0;
        let mut push = |x: f64, y: f64, label: bool| {
            (xt[next], xt[n + next], t[next]) = (x as f32, y as f32, label as u8 as f32);
            next += 1;
        };
        // The two classes' counts: the first takes the odd sample.
        let (first, second) = (n - n / 2, n / 2);
        match self {
            DataSet::Corners => unreachable!("handled above"),
            DataSet::Circle => {
                for (count, (r0, r1)) in [(first, (0.0, 2.5)), (second, (3.5, 5.0))] {
                    for _ in 0..count {
                        let r = rng.random_range(r0..r1);
                        let angle = rng.random_range(0.0..2.0 * PI);
                        let (x, y) = (r * angle.sin(), r * angle.cos());
                        let nx = rng.random_range(-5.0..5.0) * nu;
                        let ny = rng.random_range(-5.0..5.0) * nu;
                        push(x, y, ((x + nx).powi(2) + (y + ny).powi(2)).sqrt() < 2.5);
                    }
                }
            }
            DataSet::Gauss => {
                let sd = (0.5 + 7.0 * nu).sqrt();
                let normal = Normal::new(0.0, sd).expect("a finite standard deviation");
                for (count, centre, label) in [(first, 2.0, true), (second, -2.0, false)] {
                    for _ in 0..count {
                        let x = centre + normal.sample(&mut rng);
                        let y = centre + normal.sample(&mut rng);
                        push(x, y, label);
                    }
                }
            }
            DataSet::Spiral => {
                for (count, delta, label) in [(first, 0.0, true), (second, PI, false)] {
                    for i in 0..count {
                        let f = i as f64 / count as f64;
                        let (r, angle) = (5.0 * f, 1.75 * 2.0 * PI * f + delta);
                        let x = r * angle.sin() + rng.random_range(-1.0..1.0) * nu;
                        let y = r * angle.cos() + rng.random_range(-1.0..1.0) * nu;
                        push(x, y, label);
                    }
                }
            }
            DataSet::Quadrants => {
                let padded = |v: f64| if v > 0.0 { v + 0.3 } else { v - 0.3 };
                for _ in 0..n {
                    let x = padded(rng.random_range(-5.0..5.0));
                    let y = padded(rng.random_range(-5.0..5.0));
                    let nx = rng.random_range(-5.0..5.0) * nu;
                    let ny = rng.random_range(-5.0..5.0) * nu;
                    push(x, y, (x + nx) * (y + ny) >= 0.0);
                }
            }
        }
        Ok(Dataset { xt, t })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each set's defining facts, on the points it draws.
    #[test]
    fn the_sets_keep_their_definitions() {
        let n = 2001;
        let at = |d: &Dataset, i: usize| (d.xt[i], d.xt[d.len() + i], d.t[i]);
        let circle = DataSet::Circle.generate(n, 0.0, 3, 1).unwrap();
        for i in 0..n {
            let (x, y, t) = at(&circle, i);
            let r = (x * x + y * y).sqrt();
            assert_eq!(t == 1.0, r < 2.5, "circle {i}: r {r}, label {t}");
            assert!(r <= 5.0 && !(2.5..3.5).contains(&r));
        }
        let spiral = DataSet::Spiral.generate(n, 0.0, 3, 1).unwrap();
        assert_eq!(spiral.t.iter().filter(|&&t| t == 1.0).count(), 1001);
        let (x, y, _) = at(&spiral, 1000);
        assert!(((x * x + y * y).sqrt() - 5.0 * 1000.0 / 1001.0).abs() < 1e-4);
        let quadrants = DataSet::Quadrants.generate(n, 0.0, 3, 1).unwrap();
        for i in 0..n {
            let (x, y, t) = at(&quadrants, i);
            assert!(x.abs() >= 0.3 && y.abs() >= 0.3 && x.abs() <= 5.3);
            assert_eq!(t == 1.0, x * y >= 0.0);
        }
        let gauss = DataSet::Gauss.generate(20_000, 0.5, 3, 1).unwrap();
        let ones: Vec<f32> = (0..20_000).filter(|&i| gauss.t[i] == 1.0).map(|i| gauss.xt[i]).collect();
        let mean = ones.iter().sum::<f32>() / ones.len() as f32;
        let var = ones.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / ones.len() as f32;
        assert!((mean - 2.0).abs() < 0.1 && (var - 4.0).abs() < 0.2, "mean {mean}, variance {var}");
        // Streams: the test stream is other data, the same stream the same data.
        assert_ne!(
            DataSet::Circle.generate(100, 0.1, 3, 1).unwrap(),
            DataSet::Circle.generate(100, 0.1, 3, 2).unwrap()
        );
        assert_eq!(
            DataSet::Circle.generate(100, 0.1, 3, 2).unwrap(),
            DataSet::Circle.generate(100, 0.1, 3, 2).unwrap()
        );
        assert!(DataSet::Spiral.generate(10, 0.6, 1, 1).is_err());
    }
}
