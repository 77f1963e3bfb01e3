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

impl Dataset {
    /// Reads the user's rows from a CSV file with the header `x1,x2,y`, y 0 or 1. Every
    /// problem is named with its line and column, before any training.
    pub fn from_csv(path: &std::path::Path) -> Result<Self, Error> {
        let name = path.display();
        let bad = |what: String| Error::Input(format!("{name}: {what}"));
        let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(file);
        let mut records = reader.records();
        let header = match records.next() {
            None => return Err(bad("the file is empty; expected the header x1,x2,y and rows of numbers".into())),
            Some(r) => r.map_err(|e| bad(e.to_string()))?,
        };
        if header.iter().collect::<Vec<_>>() != ["x1", "x2", "y"] {
            let found = header.iter().collect::<Vec<_>>().join(",");
            return Err(bad(format!("line 1: expected the header x1,x2,y, found {found:?}")));
        }
        let mut rows = Vec::new();
        for record in records {
            let record = record.map_err(|e| bad(e.to_string()))?;
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != 3 {
                return Err(bad(format!("line {line}: expected 3 columns (x1,x2,y), found {}", record.len())));
            }
            let mut row = [0.0f32; 3];
            for (col, (cell, name)) in record.iter().zip(["x1", "x2", "y"]).enumerate() {
                let v: f32 = cell
                    .parse()
                    .map_err(|_| bad(format!("line {line}, column {} ({name}): {cell:?} is not a number", col + 1)))?;
                if !v.is_finite() {
                    return Err(bad(format!("line {line}, column {} ({name}): {cell:?} is not finite", col + 1)));
                }
                row[col] = v;
            }
            if row[2] != 0.0 && row[2] != 1.0 {
                return Err(bad(format!("line {line}, column 3 (y): labels must be 0 or 1, found {}", row[2])));
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(bad("no data rows after the header".into()));
        }
        Ok(Self::from_rows(&rows))
    }

    /// The first `n` samples, in the same layout.
    pub fn head(&self, n: usize) -> Self {
        let len = self.len();
        let n = n.min(len);
        let xt = [&self.xt[..n], &self.xt[len..len + n]].concat();
        Dataset { xt, t: self.t[..n].to_vec() }
    }
}
