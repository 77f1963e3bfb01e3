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
            let mut chart = ChartBuilder::on(&areas[p])
                .caption(format!("success rate, init scale {scale}"), ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(50)
                // (n − 1).into_segmented() has n segments.
                .build_cartesian_2d((0..cols - 1).into_segmented(), (0..rows - 1).into_segmented())
                .map_err(|e| e.to_string())?;
            // Labels at the middle of each cell.
            let label = |i: &SegmentValue<usize>, axis: &dyn Fn(usize) -> Option<String>| match i {
                SegmentValue::CenterOf(i) => axis(*i).unwrap_or_default(),
                _ => String::new(),
            };
            let lr_label = |i: &SegmentValue<usize>| label(i, &|i| grid.lr.get(i).map(|v| v.to_string()));
            let h_label = |i: &SegmentValue<usize>| label(i, &|i| grid.hidden.get(i).map(|v| v.to_string()));
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("learning rate")
                .y_desc("hidden units")
                .x_labels(cols)
                .y_labels(rows)
                .x_label_formatter(&lr_label)
                .y_label_formatter(&h_label)
                .draw()
                .map_err(|e| e.to_string())?;
            for c in summaries.iter().filter(|c| c.cell.init_scale == scale) {
                let x = grid.lr.iter().position(|&v| v == c.cell.lr).expect("a cell's rate is on the axis");
                let y = grid.hidden.iter().position(|&v| v == c.cell.hidden).expect("a cell's width is on the axis");
                let corner = |x: usize, y: usize| (SegmentValue::Exact(x), SegmentValue::Exact(y));
                chart
                    .draw_series([Rectangle::new([corner(x, y), corner(x + 1, y + 1)], shade(c.rate()).filled())])
                    .map_err(|e| e.to_string())?;
                let ink = if c.rate() > 0.55 { WHITE } else { BLACK };
                let text = format!("{:.1}%", 100.0 * c.rate());
                let centre = chart.backend_coord(&corner(x, y + 1));
                let next = chart.backend_coord(&corner(x + 1, y));
                let at = ((centre.0 + next.0) / 2 - 20, (centre.1 + next.1) / 2 - 7);
                // backend_coord is in the whole picture's pixels.
                root.draw(&Text::new(text, at, ("sans-serif", 14).into_font().color(&ink)))
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
