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
        let rows = read_csv(path, &[&["x1", "x2", "y"]])?;
        let bad = |line: u64, y: f32| {
            Error::Input(format!("{}: line {line}, column 3 (y): labels must be 0 or 1, found {y}", path.display()))
        };
        let rows: Vec<[f32; 3]> = rows
            .into_iter()
            .map(|(line, r)| if r[2] == 0.0 || r[2] == 1.0 { Ok([r[0], r[1], r[2]]) } else { Err(bad(line, r[2])) })
            .collect::<Result<_, _>>()?;
        Ok(Self::from_rows(&rows))
    }

    /// The first `n` samples, in the same layout.
    pub fn head(&self, n: usize) -> Self {
        self.slice(0, n.min(self.len()))
    }

    /// Samples `start..end`, in the same layout.
    pub fn slice(&self, start: usize, end: usize) -> Self {
        let len = self.len();
        let xt = [&self.xt[start..end], &self.xt[len + start..len + end]].concat();
        Dataset { xt, t: self.t[start..end].to_vec() }
    }
}

/// Points to predict for, from a CSV file with the header `x1,x2` or `x1,x2,y` (y ignored).
pub fn read_points(path: &std::path::Path) -> Result<Vec<[f32; 2]>, Error> {
    Ok(read_csv(path, &[&["x1", "x2"], &["x1", "x2", "y"]])?.into_iter().map(|(_, r)| [r[0], r[1]]).collect())
}

/// The rows of a CSV file whose header is exactly one of `headers` (which then fixes the
/// columns), each cell a finite number, with their line numbers; at least one row. Errors
/// name the file, the line and the column.
fn read_csv(path: &std::path::Path, headers: &[&[&str]]) -> Result<Vec<(u64, Vec<f32>)>, Error> {
    let name = path.display();
    let bad = |what: String| Error::Input(format!("{name}: {what}"));
    let expected = headers.iter().map(|h| h.join(",")).collect::<Vec<_>>().join(" or ");
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(file);
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(bad(format!("the file is empty; expected the header {expected} and rows of numbers"))),
        Some(r) => r.map_err(|e| bad(e.to_string()))?,
    };
    let found: Vec<&str> = header.iter().collect();
    let Some(&columns) = headers.iter().find(|h| **h == found) else {
        return Err(bad(format!("line 1: expected the header {expected}, found {:?}", found.join(","))));
    };
    let expected = columns.join(",");
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| bad(e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != columns.len() {
            return Err(bad(format!(
                "line {line}: expected {} columns ({expected}), found {}",
                columns.len(),
                record.len()
            )));
        }
        let mut row = Vec::with_capacity(columns.len());
        for (col, (cell, column)) in record.iter().zip(columns).enumerate() {
            let v: f32 = cell
                .parse()
                .map_err(|_| bad(format!("line {line}, column {} ({column}): {cell:?} is not a number", col + 1)))?;
            if !v.is_finite() {
                return Err(bad(format!("line {line}, column {} ({column}): {cell:?} is not finite", col + 1)));
            }
            row.push(v);
        }
        rows.push((line, row));
    }
    if rows.is_empty() {
        return Err(bad("no data rows after the header".into()));
    }
    Ok(rows)
}
