//! The pictures of a training run: the loss curve, and the decision boundary over the plane.

use std::path::Path;

use plotters::prelude::*;

use crate::cpu;
use crate::data::Dataset;
use crate::files::draw_png;
use crate::net::file::Model;
use crate::Error;

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 600;

/// The file names the charts are written under in a folder (`--plot-dir`, `plot`).
pub const LOSS_CHART: &str = "loss.png";
pub const BOUNDARY_CHART: &str = "boundary.png";

/// Loss against epoch, log scale.
pub fn loss_chart(path: &Path, curve: &[(u64, f32)]) -> Result<(), Error> {
    draw_png(path, |file| {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let root = BitMapBackend::new(file, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let finite: Vec<(f64, f64)> =
            curve.iter().filter(|(_, l)| l.is_finite() && *l > 0.0).map(|&(ep, l)| (ep as f64, l as f64)).collect();
        if finite.is_empty() {
            return Err("no finite loss to draw".into());
        }
        let (lo, hi) = finite.iter().fold((f64::MAX, 0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
        let last = finite.last().map(|p| p.0).unwrap_or(1.0).max(2.0);
        let mut chart = ChartBuilder::on(&root)
            .caption("training loss (binary cross-entropy)", ("sans-serif", 22))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(1f64..last, (lo / 1.5..hi * 1.5).log_scale())
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            // Whole epochs only: a short run's axis would otherwise repeat "1 1 1 2 2".
            .x_labels(((last - 1.0) as usize + 1).clamp(2, 10))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(|x| e(&x))?;
        // A handful of epochs get a mark each: a line through one point draws nothing.
        if finite.len() <= 50 {
            let marks = finite.iter().map(|&p| Circle::new(p, 4, BLUE.filled()));
            chart.draw_series(marks).map_err(|x| e(&x))?;
        }
        chart.draw_series(LineSeries::new(finite, BLUE.stroke_width(2))).map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))
    })
}

/// An axis label with one decimal, and no "-0.0" for a tick a rounding error below zero.
fn tick(v: &f32) -> String {
    let v = if v.abs() < 1e-4 { 0.0 } else { *v };
    format!("{v:.1}")
}

/// Blue (0) through white (0.5) to red (1).
fn colour(p: f32) -> RGBColor {
    let p = p.clamp(0.0, 1.0);
    let mix = |a: f32, b: f32, u: f32| (a + (b - a) * u) as u8;
    if p < 0.5 {
        let u = p / 0.5;
        RGBColor(mix(40.0, 255.0, u), mix(90.0, 255.0, u), 255)
    } else {
        let u = (p - 0.5) / 0.5;
        RGBColor(255, mix(255.0, 60.0, u), mix(255.0, 40.0, u))
    }
}

/// The most training points [`boundary_chart`] draws: more only hide the map.
pub const BOUNDARY_POINTS: usize = 2000;

/// The model's predicted probability over its domain (the data set's square) as a colour
/// map, the 0.5 contour in black, and the raw points on top (at most [`BOUNDARY_POINTS`],
/// evenly spread), coloured by label. Only a model whose inputs come from two raw inputs has
/// a plane to draw.
pub fn boundary_chart(path: &Path, model: &Model, data: &Dataset) -> Result<(), Error> {
    const GRID: usize = 200;
    if model.features.is_none() && model.mlp.net.inputs() != 2 {
        return Err(Error::Input(format!(
            "a boundary is drawn over the plane of x1, x2; this model reads {} input columns",
            model.mlp.net.inputs()
        )));
    }
    let [lo, hi] = model.domain;
    let step = (hi - lo) / GRID as f32;
    // Cell centres, feature-major: x1 along each row of the grid, x2 down the rows.
    let mut xt = vec![0.0f32; 2 * GRID * GRID];
    for r in 0..GRID {
        for c in 0..GRID {
            xt[r * GRID + c] = lo + (c as f32 + 0.5) * step;
            xt[GRID * GRID + r * GRID + c] = lo + (r as f32 + 0.5) * step;
        }
    }
    let grid = model.inputs_of(&Dataset { xt, t: vec![0.0; GRID * GRID] })?;
    let p = cpu::mlp::predict(&model.mlp, &grid.xt);
    let title = match model.mlp.net.classic_hidden() {
        Some(h) => format!("2-{h}-1"),
        None => model.mlp.net.describe(),
    };
    draw_png(path, |file| {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let root = BitMapBackend::new(file, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("P(y = 1) of the {title} network; black: 0.5"), ("sans-serif", 22))
            .margin(20)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("x1")
            .y_desc("x2")
            .disable_mesh()
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()
            .map_err(|x| e(&x))?;
        let cell = |r: usize, c: usize| {
            let (x, y) = (lo + c as f32 * step, lo + r as f32 * step);
            [(x, y), (x + step, y + step)]
        };
        chart
            .draw_series((0..GRID * GRID).map(|i| {
                let (r, c) = (i / GRID, i % GRID);
                Rectangle::new(cell(r, c), colour(p[i]).filled())
            }))
            .map_err(|x| e(&x))?;
        // The 0.5 contour: cells whose right or upper neighbour lies on the other side.
        let side = |i: usize| p[i] >= 0.5;
        let edge = (0..GRID * GRID).filter(|&i| {
            let (r, c) = (i / GRID, i % GRID);
            (c + 1 < GRID && side(i) != side(i + 1)) || (r + 1 < GRID && side(i) != side(i + GRID))
        });
        chart.draw_series(edge.map(|i| Rectangle::new(cell(i / GRID, i % GRID), BLACK.filled()))).map_err(|x| e(&x))?;
        let n = data.len();
        let every = n.div_ceil(BOUNDARY_POINTS).max(1);
        let points: Vec<(f32, f32, bool)> =
            (0..n).step_by(every).map(|i| (data.xt[i], data.xt[n + i], data.t[i] >= 0.5)).collect();
        // A white ring first, so a point stands out on the region of its own colour.
        chart
            .draw_series(points.iter().map(|&(x1, x2, _)| Circle::new((x1, x2), 6, WHITE.filled())))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(points.iter().map(|&(x1, x2, label)| {
                let fill = if label { RGBColor(150, 0, 0) } else { RGBColor(0, 30, 150) };
                Circle::new((x1, x2), 4, ShapeStyle::from(&fill).filled())
            }))
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))
    })
}
