//! The scaling chart: samples per second against batch size, log-log, one line per backend.

use std::path::Path;

use plotters::prelude::*;

use super::scale::Record;
use crate::files::draw_png;
use crate::Error;

pub const WIDTH: u32 = 1024;
pub const HEIGHT: u32 = 640;

/// Draws the chart to a PNG at `path` (through a temporary file and a rename).
pub fn scaling_chart(path: &Path, records: &[Record], crossover: Option<usize>, title: &str) -> Result<(), Error> {
    if records.is_empty() {
        return Err(Error::Input(format!("cannot draw {}: no points", path.display())));
    }
    draw_png(path, |file| {
        let root = BitMapBackend::new(file, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (b_min, b_max) =
            records.iter().fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(r.batch as f64), hi.max(r.batch as f64)));
        let (r_min, r_max) =
            records.iter().fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(r.samples_per_s), hi.max(r.samples_per_s)));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d((b_min / 1.5..b_max * 1.5).log_scale(), (r_min / 2.0..r_max * 2.0).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("batch size (samples)")
            .y_desc("samples per second")
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (backend, color) in [("gpu", RED), ("cpu", BLUE)] {
            let points: Vec<(f64, f64)> =
                records.iter().filter(|r| r.backend == backend).map(|r| (r.batch as f64, r.samples_per_s)).collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(backend)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        if let Some(b) = crossover {
            let b = b as f64;
            chart
                .draw_series(LineSeries::new(vec![(b, r_min / 2.0), (b, r_max * 2.0)], BLACK.stroke_width(1)))
                .map_err(|e| e.to_string())?
                .label(format!("crossover: batch {b}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })
}
