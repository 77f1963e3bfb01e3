//! The population's picture: the success rate over widths × rates (a panel per initial
//! scale), and the histogram of final losses.

use std::path::Path;

use plotters::prelude::*;

use crate::files::draw_png;
use crate::population::report::CellSummary;
use crate::population::{Grid, Population, NONE};
use crate::Error;

const PANEL: u32 = 420;
const HEIGHT: u32 = 460;

/// Success rate 0 → white, 1 → dark green.
fn shade(rate: f64) -> RGBColor {
    let mix = |a: f64, b: f64| (a + (b - a) * rate.clamp(0.0, 1.0)).round() as u8;
    RGBColor(mix(255.0, 0.0), mix(255.0, 109.0), mix(255.0, 44.0))
}

/// A grid value as a short label: plain in the usual range, with an exponent past it.
fn short(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e5).contains(&v.abs()) {
        format!("{v:.1e}")
    } else {
        format!("{v}")
    }
}

/// Draws the heat maps and the histogram to a PNG at `path`.
pub fn population_chart(path: &Path, grid: &Grid, summaries: &[CellSummary], pop: &Population) -> Result<(), Error> {
    let panels = grid.init_scale.len() as u32;
    let width = PANEL * (panels + 1);
    draw_png(path, |file| {
        let root = BitMapBackend::new(file, (width, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((1, panels as usize + 1));
        let (rows, cols) = (grid.hidden.len(), grid.lr.len());
        for (p, &scale) in grid.init_scale.iter().enumerate() {
            // Cell (x, y) is the square [x, x + 1] × [y, y + 1]; the axes' labels are drawn
            // at the cells' middles by hand (a one-value axis included).
            let mut chart = ChartBuilder::on(&areas[p])
                .caption(format!("success rate, init scale {}", short(scale as f64)), ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d(0.0..cols as f64, 0.0..rows as f64)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(0)
                .y_labels(0)
                .x_desc("learning rate")
                .y_desc("hidden units")
                .draw()
                .map_err(|e| e.to_string())?;
            let font = ("sans-serif", 14).into_font();
            for (x, lr) in grid.lr.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(x as f64 + 0.5, 0.0));
                root.draw(&Text::new(short(*lr as f64), (px - 10, py + 6), font.color(&BLACK)))
                    .map_err(|e| e.to_string())?;
            }
            for (y, h) in grid.hidden.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(0.0, y as f64 + 0.5));
                root.draw(&Text::new(h.to_string(), (px - 22, py - 7), font.color(&BLACK)))
                    .map_err(|e| e.to_string())?;
            }
            for c in summaries.iter().filter(|c| c.cell.init_scale == scale) {
                let x = grid.lr.iter().position(|&v| v == c.cell.lr).expect("a cell's rate is on the axis") as f64;
                let y =
                    grid.hidden.iter().position(|&v| v == c.cell.hidden).expect("a cell's width is on the axis") as f64;
                chart
                    .draw_series([Rectangle::new([(x, y), (x + 1.0, y + 1.0)], shade(c.rate()).filled())])
                    .map_err(|e| e.to_string())?;
                let ink = if c.rate() > 0.55 { WHITE } else { BLACK };
                let (px, py) = chart.backend_coord(&(x + 0.5, y + 0.5));
                // backend_coord is in the whole picture's pixels.
                root.draw(&Text::new(format!("{:.1}%", 100.0 * c.rate()), (px - 20, py - 7), font.color(&ink)))
                    .map_err(|e| e.to_string())?;
            }
        }
        // Final losses (networks that did not diverge), log10, in 40 bins.
        let logs: Vec<f64> = pop
            .members()
            .filter(|(_, _, st)| st.diverged == NONE && st.loss > 0.0)
            .map(|(_, _, st)| (st.loss as f64).log10())
            .collect();
        let (lo, hi) = logs.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let (lo, hi) = if logs.is_empty() { (-3.0, 0.0) } else { (lo.floor(), hi.ceil().max(lo.floor() + 1.0)) };
        let bins = 40usize;
        let mut counts = vec![0usize; bins];
        for v in &logs {
            counts[(((v - lo) / (hi - lo) * bins as f64) as usize).min(bins - 1)] += 1;
        }
        let top = counts.iter().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&areas[panels as usize])
            .caption(format!("final loss of {} networks", logs.len()), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0..top + top / 10 + 1)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("log10 final loss").y_desc("networks").draw().map_err(|e| e.to_string())?;
        let step = (hi - lo) / bins as f64;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &n)| {
                let x0 = lo + i as f64 * step;
                Rectangle::new([(x0, 0), (x0 + step, n)], RGBColor(70, 110, 180).filled())
            }))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })
}
