//! The network's parameters and their weight file.
//!
//! Shapes, in the math's terms (H = hidden width):
//! `w1: H × 2`, `b1: H × 1`, `w2: 1 × H`, `b2: 1 × 1`, each stored row-major.
//! On the GPU the four live back to back in one buffer in that order (see [`Layout`]),
//! so one update kernel covers them all and a gradient buffer mirrors them.

use std::fs;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::files::write_atomically;
use crate::Error;

/// The widest hidden layer the kernels accept. The step kernels would take more, but the
/// fused kernels keep one row of per-unit state per thread in registers, and past this the
/// network is no longer the small reference this project is about.
pub const MAX_HIDDEN: usize = 256;

/// The parameters of a 2-H-1 network, generic over the float type so the CPU reference
/// can run in `f64` for gradient checks.
#[derive(Clone, Debug, PartialEq)]
pub struct Params<F = f32> {
    /// Hidden width H.
    pub hidden: usize,
    /// `w1: H × 2`
    pub w1: Vec<F>,
    /// `b1: H × 1`
    pub b1: Vec<F>,
    /// `w2: 1 × H`
    pub w2: Vec<F>,
    /// `b2: 1 × 1`
    pub b2: Vec<F>,
}

/// Where each parameter sits in the packed buffer `[w1 | b1 | w2 | b2]`, in floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub w1: usize,
    pub b1: usize,
    pub w2: usize,
    pub b2: usize,
    pub len: usize,
}

impl Layout {
    pub fn new(hidden: usize) -> Self {
        let h = hidden;
        Layout { w1: 0, b1: 2 * h, w2: 3 * h, b2: 4 * h, len: 4 * h + 1 }
    }

    /// Packed index `i` in the math's names: `w1[j,c]`, `b1[j]`, `w2[j]`, `b2`.
    pub fn name(&self, i: usize) -> String {
        match i {
            _ if i < self.b1 => format!("w1[{},{}]", i / 2, i % 2),
            _ if i < self.w2 => format!("b1[{}]", i - self.b1),
            _ if i < self.b2 => format!("w2[{}]", i - self.w2),
            _ => "b2".into(),
        }
    }
}

impl Params<f32> {
    /// Initial weights from a ChaCha8 generator seeded with `seed` (stream 0; the data use
    /// stream 1), drawn on the CPU so that every backend starts from the same numbers.
    /// Each layer is uniform in ±1/√fan_in, PyTorch's default for `nn.Linear`,
    /// drawn in the order w1, b1, w2, b2, each row-major.
    pub fn init(hidden: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0);
        let bound1 = 1.0 / 2f32.sqrt();
        let bound2 = 1.0 / (hidden as f32).sqrt();
        let mut draw = |n: usize, bound: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
        let w1 = draw(2 * hidden, bound1);
        let b1 = draw(hidden, bound1);
        let w2 = draw(hidden, bound2);
        let b2 = draw(1, bound2);
        Params { hidden, w1, b1, w2, b2 }
    }

    /// Reads a weight file: `{"w1": [[..],..], "b1": .., "w2": .., "b2": ..}`; other
    /// fields are ignored. Every shape and every number is checked, and a problem is named.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let name = path.display();
        let text = read_bounded(path).map_err(|e| Error::Input(format!("cannot read weights file {name}: {e}")))?;
        Self::from_json(&text).map_err(|e| Error::Input(format!("weights file {name}: {e}")))
    }

    /// Parses the weight-file JSON; see [`Params::load`].
    pub fn from_json(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the file is empty".into());
        }
        let file: WeightFile = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let w1 = file.w1.ok_or("missing matrix \"w1\" (expected H × 2)")?;
        let hidden = w1.len();
        if hidden == 0 {
            return Err("\"w1\" has no rows (expected H × 2 with H ≥ 1)".into());
        }
        if hidden > MAX_HIDDEN {
            return Err(format!("\"w1\" has {hidden} rows; the widest hidden layer supported is {MAX_HIDDEN}"));
        }
        let w1 = flatten("w1", &w1, hidden, 2)?;
        let b1 = flatten("b1", &file.b1.ok_or(format!("missing matrix \"b1\" (expected {hidden} × 1)"))?, hidden, 1)?;
        let w2 = flatten("w2", &file.w2.ok_or(format!("missing matrix \"w2\" (expected 1 × {hidden})"))?, 1, hidden)?;
        let b2 = flatten("b2", &file.b2.ok_or("missing matrix \"b2\" (expected 1 × 1)")?, 1, 1)?;
        Ok(Params { hidden, w1, b1, w2, b2 })
    }

    /// Writes the weight file atomically: a temporary file beside the target, then a
    /// rename, so an existing file is either replaced whole or left as it was.
    /// `extra` fields (what produced the weights) are written beside the matrices.
    pub fn save(&self, path: &Path, extra: serde_json::Map<String, serde_json::Value>) -> Result<(), Error> {
        let mut doc = extra;
        doc.insert("w1".into(), rows(&self.w1, 2).into());
        doc.insert("b1".into(), rows(&self.b1, 1).into());
        doc.insert("w2".into(), rows(&self.w2, self.hidden).into());
        doc.insert("b2".into(), rows(&self.b2, 1).into());
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(doc)).expect("weights serialise");
        write_atomically(path, text.as_bytes())
    }

    /// The packed `[w1 | b1 | w2 | b2]` vector the GPU holds.
    pub fn packed(&self) -> Vec<f32> {
        [&self.w1[..], &self.b1, &self.w2, &self.b2].concat()
    }

    /// The inverse of [`Params::packed`].
    pub fn unpack(hidden: usize, packed: &[f32]) -> Self {
        let l = Layout::new(hidden);
        assert_eq!(packed.len(), l.len, "packed parameter length");
        Params {
            hidden,
            w1: packed[l.w1..l.b1].to_vec(),
            b1: packed[l.b1..l.w2].to_vec(),
            w2: packed[l.w2..l.b2].to_vec(),
            b2: packed[l.b2..].to_vec(),
        }
    }

    /// The same parameters in `f64`, for the gradient check.
    pub fn to_f64(&self) -> Params<f64> {
        let up = |v: &[f32]| v.iter().map(|&x| x as f64).collect();
        Params { hidden: self.hidden, w1: up(&self.w1), b1: up(&self.b1), w2: up(&self.w2), b2: up(&self.b2) }
    }
}

impl<F: Copy> Params<F> {
    /// All parameters in packed order, for comparisons.
    pub fn iter(&self) -> impl Iterator<Item = F> + '_ {
        self.w1.iter().chain(&self.b1).chain(&self.w2).chain(&self.b2).copied()
    }
}

/// The largest weight file read: the largest net allowed (eight hidden layers of 256 units)
/// saved with Adam's two moments is some 42 MB of JSON, so anything past this is not a
/// weight file (or never ends).
pub const MAX_WEIGHTS_BYTES: u64 = 128 << 20;

/// The file's text, refusing one past [`MAX_WEIGHTS_BYTES`] without reading further (a pipe
/// or an endless stream such as /dev/zero ends in an error, not in memory running out).
pub(crate) fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    fs::File::open(path)?.take(MAX_WEIGHTS_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_WEIGHTS_BYTES {
        return Err(std::io::Error::other(format!("larger than {} MiB; not a weight file", MAX_WEIGHTS_BYTES >> 20)));
    }
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("not text (UTF-8)"))
}

#[derive(Deserialize)]
struct WeightFile {
    w1: Option<Vec<Vec<f64>>>,
    b1: Option<Vec<Vec<f64>>>,
    w2: Option<Vec<Vec<f64>>>,
    b2: Option<Vec<Vec<f64>>>,
}

/// A row-major nested matrix checked against its expected shape and made flat.
pub(crate) fn flatten(name: &str, m: &[Vec<f64>], rows: usize, cols: usize) -> Result<Vec<f32>, String> {
    let shape = format!("expected {rows} × {cols}");
    if m.len() != rows {
        return Err(format!("\"{name}\" has {} rows, {shape}", m.len()));
    }
    let mut flat = Vec::with_capacity(rows * cols);
    for (r, row) in m.iter().enumerate() {
        if row.len() != cols {
            return Err(format!("\"{name}\" row {r} has {} columns, {shape}", row.len()));
        }
        for (c, &v) in row.iter().enumerate() {
            let v32 = v as f32;
            if !v32.is_finite() {
                return Err(format!("\"{name}\"[{r}][{c}] = {v} is not a finite f32"));
            }
            if v32.abs() > crate::train::WEIGHT_BOUND {
                return Err(format!(
                    "\"{name}\"[{r}][{c}] = {v} is past ±{:e}, where training counts a run as diverged",
                    crate::train::WEIGHT_BOUND
                ));
            }
            flat.push(v32);
        }
    }
    Ok(flat)
}

pub(crate) fn rows(flat: &[f32], cols: usize) -> Vec<serde_json::Value> {
    flat.chunks(cols).map(|r| serde_json::json!(r)).collect()
}
