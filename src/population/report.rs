//! What a population's run says: per grid cell the success rate with its 95% interval,
//! the median epochs to success and the final-loss quartiles; a row per network.

use std::fmt::Write;
use std::path::Path;

use super::{Cell, Population, Setup, Status, NONE};
use crate::Error;

/// One cell's results.
#[derive(Clone, Debug, PartialEq)]
pub struct CellSummary {
    pub cell: Cell,
    pub models: usize,
    pub successes: usize,
    pub diverged: usize,
    /// The Wilson score interval at 95% around successes / models.
    pub interval: (f64, f64),
    /// The median of the first epoch the test held, over the networks that succeeded.
    pub median_epochs: Option<f64>,
    /// The final loss's quartiles (25%, 50%, 75%) over the networks that did not diverge.
    pub loss_quartiles: Option<[f64; 3]>,
}

impl CellSummary {
    pub fn rate(&self) -> f64 {
        self.successes as f64 / self.models as f64
    }
}

/// The Wilson score interval for `k` successes in `n` trials at 95% (z = 1.96): unlike
/// the normal approximation it stays inside [0, 1] and is honest at 0 and n.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The q-quantile of sorted values, interpolating between neighbours (R's type 7).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Each cell's summary, in the grid's order.
pub fn summarize(pop: &Population) -> Vec<CellSummary> {
    let mut epochs: Vec<Vec<f64>> = vec![Vec::new(); pop.cells.len()];
    let mut losses: Vec<Vec<f64>> = vec![Vec::new(); pop.cells.len()];
    let mut counts = vec![(0usize, 0usize, 0usize); pop.cells.len()];
    for (c, _, st) in pop.members() {
        counts[c].0 += 1;
        if st.succeeded() {
            counts[c].1 += 1;
            epochs[c].push(st.success as f64);
        }
        if st.diverged != NONE {
            counts[c].2 += 1;
        } else {
            losses[c].push(st.loss as f64);
        }
    }
    pop.cells
        .iter()
        .enumerate()
        .map(|(c, &cell)| {
            let (models, successes, diverged) = counts[c];
            epochs[c].sort_by(f64::total_cmp);
            losses[c].sort_by(f64::total_cmp);
            CellSummary {
                cell,
                models,
                successes,
                diverged,
                interval: wilson(successes, models),
                median_epochs: (!epochs[c].is_empty()).then(|| quantile(&epochs[c], 0.5)),
                loss_quartiles: (!losses[c].is_empty()).then(|| [0.25, 0.5, 0.75].map(|q| quantile(&losses[c], q))),
            }
        })
        .collect()
}

/// The success test in words, for every report.
pub fn criterion(setup: &Setup) -> String {
    format!(
        "success: every training sample on the right side of 0.5 and loss < {} on the {}",
        setup.target_loss,
        if setup.stop_at_success { "weights where the network stopped (--stop-at-success)" } else { "final weights" }
    )
}

/// The per-cell table.
pub fn table(summaries: &[CellSummary]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>6} {:>8} {:>6} {:>8} {:>9} {:>17} {:>9} {:>8}  {:<32}",
        "hidden",
        "lr",
        "scale",
        "models",
        "success",
        "95% interval",
        "diverged",
        "epochs",
        "final loss 25% / 50% / 75%"
    );
    for c in summaries {
        let quartiles = match c.loss_quartiles {
            Some([a, b, d]) => format!("{a:.3e} / {b:.3e} / {d:.3e}"),
            None => "-".into(),
        };
        let _ = writeln!(
            s,
            "{:>6} {:>8} {:>6} {:>8} {:>8.2}% {:>7.2}% – {:>5.2}% {:>9} {:>8}  {quartiles}",
            c.cell.hidden,
            c.cell.lr,
            c.cell.init_scale,
            c.models,
            100.0 * c.rate(),
            100.0 * c.interval.0,
            100.0 * c.interval.1,
            c.diverged,
            c.median_epochs.map_or("-".into(), |e| format!("{e}")),
        );
    }
    s
}

/// `epoch` or empty where it never came.
fn epoch_field(e: u32) -> String {
    if e == NONE {
        String::new()
    } else {
        e.to_string()
    }
}

/// One row per network: seed, cell, final loss, success and its epoch, divergence.
pub fn write_csv(path: &Path, pop: &Population) -> Result<(), Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = ["seed", "lr", "hidden", "init_scale", "final_loss", "success", "success_epoch", "diverged_epoch"];
    out.write_record(header).map_err(|e| Error::Input(format!("--csv: {e}")))?;
    let mut rows: Vec<(usize, u64, &Status)> = pop.members().collect();
    rows.sort_by_key(|&(c, seed, _)| (c, seed));
    for (c, seed, st) in rows {
        let cell = &pop.cells[c];
        out.write_record([
            seed.to_string(),
            cell.lr.to_string(),
            cell.hidden.to_string(),
            cell.init_scale.to_string(),
            if st.diverged == NONE { st.loss.to_string() } else { String::new() },
            (st.succeeded() as u8).to_string(),
            epoch_field(if st.succeeded() { st.success } else { NONE }),
            epoch_field(st.diverged),
        ])
        .map_err(|e| Error::Input(format!("--csv: {e}")))?;
    }
    let bytes = out.into_inner().map_err(|e| Error::Input(format!("--csv: {e}")))?;
    crate::files::write_atomically(path, &bytes)
}

/// The summaries as JSON values.
pub fn json(summaries: &[CellSummary]) -> serde_json::Value {
    serde_json::Value::Array(
        summaries
            .iter()
            .map(|c| {
                serde_json::json!({
                    "hidden": c.cell.hidden,
                    "lr": crate::net::optim::decimal(c.cell.lr),
                    "init_scale": crate::net::optim::decimal(c.cell.init_scale),
                    "models": c.models,
                    "successes": c.successes,
                    "success_rate": c.rate(),
                    "interval_95": [c.interval.0, c.interval.1],
                    "diverged": c.diverged,
                    "median_epochs_to_success": c.median_epochs,
                    "final_loss_quartiles": c.loss_quartiles,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), table I: 81/263 → 0.2553–0.3662; 15/148 → 0.0624–0.1605; 0/10 → 0–0.2775.
        for (k, n, lo, hi) in [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 10, 0.0, 0.2775)] {
            let (a, b) = wilson(k, n);
            assert!((a - lo).abs() < 1e-4 && (b - hi).abs() < 1e-4, "{k}/{n}: {a} {b}");
        }
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.25), 1.75);
        assert_eq!(quantile(&[7.0], 0.75), 7.0);
    }
}
