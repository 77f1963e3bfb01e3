//! Training data in the feature-major layout: `xt: d × N` (row 0 is x1 for every sample,
//! row 1 is x2, …) and `t: 1 × N`, the targets. The generated sets are in [`playground`],
//! the input features computed from raw points in [`features`].

pub mod features;
pub mod playground;

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
    /// `xt: d × N`, row-major: `xt[n]` is x1 of sample n, `xt[N + n]` its x2, ….
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

    /// d, the number of inputs per sample.
    pub fn inputs(&self) -> usize {
        self.xt.len().checked_div(self.len()).unwrap_or(0)
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
        Self::noisy_xor_on(n, noise, seed, 1)
    }

    /// [`Dataset::noisy_xor`] from the generator's `stream` (the test set's is 2).
    pub fn noisy_xor_on(n: usize, noise: f32, seed: u64, stream: u64) -> Result<Self, Error> {
        let normal = Normal::new(0.0f32, noise)
            .map_err(|_| Error::Input(format!("noise must be a finite number ≥ 0, got {noise}")))?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
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
    /// Reads the user's rows from a CSV file with the header `x1,…,xd,y` (d from 1 to
    /// 256), y 0 or 1. Every problem is named with its line and column, before any training.
    pub fn from_csv(path: &std::path::Path) -> Result<Self, Error> {
        Self::from_csv_at_most(path, None)
    }

    /// [`Dataset::from_csv`], refusing a file of more than `limit.0` rows as soon as it
    /// reads one more (`limit.1` says why), so a long file is never read whole.
    pub fn from_csv_at_most(path: &std::path::Path, limit: Option<(usize, &str)>) -> Result<Self, Error> {
        let (header, flat) = read_csv(path, Header::Labelled, limit, |column, names, v| {
            if column + 1 == names.len() && v != 0.0 && v != 1.0 {
                Err(format!("labels must be 0 or 1, found {v}"))
            } else {
                Ok(())
            }
        })?;
        Ok(columns_to_dataset(&flat, header.len(), true))
    }

    /// The first `n` samples, in the same layout.
    pub fn head(&self, n: usize) -> Self {
        self.slice(0, n.min(self.len()))
    }

    /// Samples `start..end`, in the same layout.
    pub fn slice(&self, start: usize, end: usize) -> Self {
        let len = self.len();
        let xt = (0..self.inputs()).flat_map(|k| &self.xt[k * len + start..k * len + end]).copied().collect();
        Dataset { xt, t: self.t[start..end].to_vec() }
    }
}

/// Points to predict for, from a CSV file with the header `x1,…,xd` or `x1,…,xd,y`:
/// the inputs `xt: d × N`, and whether the file has labels (then in `t`, each 0 or 1).
pub fn read_points(path: &std::path::Path) -> Result<(Dataset, bool), Error> {
    let (header, flat) = read_csv(path, Header::Either, None, |column, names, v| {
        if names[column] == "y" && v != 0.0 && v != 1.0 {
            Err(format!("labels must be 0 or 1, found {v}"))
        } else {
            Ok(())
        }
    })?;
    let labelled = header.last().is_some_and(|h| h == "y");
    Ok((columns_to_dataset(&flat, header.len(), labelled), labelled))
}

/// Rows of `columns` cells (the label last where `labelled`) in the feature-major layout.
fn columns_to_dataset(flat: &[f32], columns: usize, labelled: bool) -> Dataset {
    let d = if labelled { columns - 1 } else { columns };
    let n = flat.len() / columns;
    let mut xt = vec![0.0; d * n];
    let mut t = vec![0.0; n];
    for (i, row) in flat.chunks_exact(columns).enumerate() {
        for (k, &v) in row[..d].iter().enumerate() {
            xt[k * n + i] = v;
        }
        if labelled {
            t[i] = row[d];
        }
    }
    Dataset { xt, t }
}

/// The headers a data file may have: `x1,…,xd,y` (labelled) or also `x1,…,xd` (either).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Header {
    Labelled,
    Either,
}

impl Header {
    fn accepts(self, fields: &[&str]) -> bool {
        let labelled = fields.last() == Some(&"y");
        let d = if labelled { fields.len() - 1 } else { fields.len() };
        (labelled || self == Header::Either)
            && (1..=crate::net::MAX_WIDTH).contains(&d)
            && fields[..d].iter().enumerate().all(|(k, f)| *f == format!("x{}", k + 1))
    }

    fn expected(self) -> &'static str {
        match self {
            Header::Labelled => "x1,x2,y (or x1,…,xd,y)",
            Header::Either => "x1,x2 or x1,x2,y (or x1,…,xd with or without y)",
        }
    }
}

/// The longest line a data file may have: a row of 256 inputs and a label written at full
/// precision is about 6 KB, so a longer line means the file is not one (an endless stream
/// such as /dev/zero, say).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The rows of a CSV file whose header (its first line that is not blank) `header`
/// accepts, which then fixes the columns; each cell a finite number that `check(column,
/// names, value)` accepts; at least one row. Returns the column names and the cells row by
/// row. Lines are counted as a text editor counts them (blank lines included, `\r\n` one
/// line end), and every error names the file, the line and the column. The file is read as
/// a stream, so a pipe works; a line past [`MAX_LINE_BYTES`] or more rows than the host's
/// free memory holds is refused with one line instead of reading on.
fn read_csv(
    path: &std::path::Path,
    header: Header,
    limit: Option<(usize, &str)>,
    check: impl Fn(usize, &[String], f32) -> Result<(), String>,
) -> Result<(Vec<String>, Vec<f32>), Error> {
    use std::io::{BufRead, Read};
    let name = path.display();
    let bad = |what: String| Error::Input(format!("{name}: {what}"));
    let expected = header.expected();
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut reader = std::io::BufReader::new(file);
    // Rows past what half the free memory holds (the data is then copied once more).
    let max_cells = crate::experiments::host_available_bytes().map_or(u64::MAX, |b| b / 2 / 4);
    let mut columns: Option<Vec<String>> = None;
    let mut cells = Vec::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        // The line end (\r\n at most) is not part of the limit.
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        let ends = line.iter().rev().take_while(|&&b| b == b'\n' || b == b'\r').count();
        if line.len() - ends > MAX_LINE_BYTES {
            return Err(bad(format!("line {number} is longer than {MAX_LINE_BYTES} bytes; not a CSV file of numbers")));
        }
        let text = std::str::from_utf8(&line).map_err(|_| bad(format!("line {number} is not text (UTF-8)")))?;
        let text = text.trim_end_matches(['\n', '\r']);
        // A byte-order mark, as spreadsheets write one, is not part of the header.
        let text = if number == 1 { text.trim_start_matches('\u{feff}') } else { text };
        if text.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = text.split(',').map(|f| f.trim().trim_matches('"').trim()).collect();
        let Some(columns) = &columns else {
            match header.accepts(&fields) {
                true => columns = Some(fields.iter().map(|f| f.to_string()).collect()),
                false => {
                    let inputs = fields.iter().take_while(|f| **f != "y").count();
                    if inputs > crate::net::MAX_WIDTH {
                        return Err(bad(format!(
                            "line {number}: the header has {inputs} input columns; at most {} are taken",
                            crate::net::MAX_WIDTH
                        )));
                    }
                    let found = fields.join(",");
                    let shown: String = found.chars().take(80).collect();
                    let more = if shown.len() < found.len() { "…" } else { "" };
                    return Err(bad(format!("line {number}: expected the header {expected}, found {shown:?}{more}")));
                }
            }
            continue;
        };
        if fields.len() != columns.len() {
            return Err(bad(format!(
                "line {number}: expected {} columns ({}), found {}",
                columns.len(),
                columns.join(","),
                fields.len()
            )));
        }
        if let Some((rows, why)) = limit.filter(|(rows, _)| cells.len() / columns.len() == *rows) {
            return Err(bad(format!("line {number}: more than {rows} rows; {why}")));
        }
        if cells.len() as u64 + columns.len() as u64 > max_cells {
            return Err(bad(format!(
                "line {number}: more rows than fit in the memory that is free ({} rows of {} columns)",
                cells.len() / columns.len(),
                columns.len()
            )));
        }
        for (col, (cell, column)) in fields.iter().zip(columns).enumerate() {
            let at = || format!("line {number}, column {} ({column})", col + 1);
            let v: f32 = cell.parse().map_err(|_| bad(format!("{}: {cell:?} is not a number", at())))?;
            if !v.is_finite() {
                return Err(bad(format!("{}: {cell:?} is not finite", at())));
            }
            check(col, columns, v).map_err(|e| bad(format!("{}: {e}", at())))?;
            cells.push(v);
        }
    }
    match columns {
        None => Err(bad(format!("the file is empty; expected the header {expected} and rows of numbers"))),
        Some(_) if cells.is_empty() => Err(bad("no data rows after the header".into())),
        Some(c) => Ok((c, cells)),
    }
}
