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
pub const UNITS_CHART: &str = "units.png";

/// The points of `curve` a log scale can draw (finite, positive losses), or why there are
/// none: checked before any picture is written, so a curve that cannot be drawn leaves a
/// folder's earlier pictures as they were.
pub fn drawable_losses(curve: &[(u64, f32)]) -> Result<Vec<(f64, f64)>, String> {
    let points: Vec<(f64, f64)> =
        curve.iter().filter(|(_, l)| l.is_finite() && *l > 0.0).map(|&(ep, l)| (ep as f64, l as f64)).collect();
    if points.is_empty() {
        return Err("the loss curve has no finite loss above 0 to draw on a log scale".into());
    }
    Ok(points)
}

/// Loss against epoch, log scale.
pub fn loss_chart(path: &Path, curve: &[(u64, f32)]) -> Result<(), Error> {
    draw_png(path, |file| {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let root = BitMapBackend::new(file, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let finite = drawable_losses(curve)?;
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
    let title = format!("P(y = 1) of the {} network; black: 0.5", net_words(model));
    let p = plane_outputs(model)?.pop().expect("the output layer");
    draw_png(path, |file| {
        let root = BitMapBackend::new(file, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| x.to_string())?;
        draw_map(&root, &title, model.domain, &p, Some(data), 22)?;
        root.present().map_err(|x| x.to_string())
    })
}

/// Several models' boundaries side by side in one picture, each with its title and points:
/// the README's gallery of the four data sets.
pub fn boundary_gallery(path: &Path, panels: &[(String, &Model, &Dataset)]) -> Result<(), Error> {
    let maps = panels
        .iter()
        .map(|(_, m, _)| plane_outputs(m).map(|mut o| o.pop().expect("output")))
        .collect::<Result<Vec<_>, _>>()?;
    draw_png(path, |file| {
        let side = 420u32;
        let root = BitMapBackend::new(file, (side * panels.len() as u32, side)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| x.to_string())?;
        for (area, ((title, model, data), p)) in
            root.split_evenly((1, panels.len())).iter().zip(panels.iter().zip(&maps))
        {
            draw_map(area, title, model.domain, p, Some(data), 16)?;
        }
        root.present().map_err(|x| x.to_string())
    })
}

/// What every hidden unit computes over the plane, as the playground shows it: one small
/// map per unit, each hidden layer starting a row of its own (wrapped after 16 units), tanh's
/// −1…1 and ReLU's 0…max scaled to the colours, the output's map last.
pub fn units_chart(path: &Path, model: &Model) -> Result<(), Error> {
    let outputs = plane_outputs(model)?;
    let net = &model.mlp.net;
    let columns = net.widths[1..].iter().copied().max().unwrap_or(1).min(UNITS_PER_ROW);
    let layers = net.layers();
    // The first row of cells of each layer.
    let first_rows: Vec<usize> = net.widths[1..]
        .iter()
        .scan(0, |row, &units| {
            let first = *row;
            *row += units.div_ceil(columns);
            Some(first)
        })
        .collect();
    let rows = first_rows[layers - 1] + 1;
    let cell = 96u32;
    draw_png(path, |file| {
        let root = BitMapBackend::new(file, (cell * columns as u32, (cell + 4) * rows as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| x.to_string())?;
        let cells = root.split_evenly((rows, columns));
        for (l, a) in outputs.iter().enumerate() {
            for j in 0..net.widths[l + 1] {
                let area = &cells[(first_rows[l] + j / columns) * columns + j % columns];
                let values = &a[j * GRID * GRID..(j + 1) * GRID * GRID];
                // Each unit's own range onto the colours: sigmoid's and the output's are
                // 0…1 already; tanh's −1…1 and ReLU's 0…max are scaled.
                let (lo, hi) = values.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                let scaled: Vec<f32> = match (l + 1 == layers, net.activation) {
                    (true, _) | (false, crate::net::Activation::Sigmoid) => values.to_vec(),
                    (false, crate::net::Activation::Tanh) => values.iter().map(|v| 0.5 * (v + 1.0)).collect(),
                    (false, crate::net::Activation::Relu) => {
                        values.iter().map(|v| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }).collect()
                    }
                };
                let title =
                    if l + 1 == layers { "output".to_string() } else { format!("layer {} unit {}", l + 1, j + 1) };
                draw_map(area, &title, model.domain, &scaled, None, 11)?;
            }
        }
        root.present().map_err(|x| x.to_string())
    })
}

/// Maps in a row of [`units_chart`] before it wraps.
const UNITS_PER_ROW: usize = 16;

/// Refuses a model whose inputs are not computed from x1, x2 alone (`features`, else raw
/// columns, which must then be two): its maps have no plane to be drawn over.
pub fn check_plane(net: &crate::net::Net, features: Option<&[crate::data::features::Feature]>) -> Result<(), Error> {
    if features.is_none() && net.inputs() != 2 {
        return Err(Error::Input(format!(
            "a boundary is drawn over the plane of x1, x2; this model reads {} input columns",
            net.inputs()
        )));
    }
    Ok(())
}

/// Cells along each side of a map.
const GRID: usize = 200;

/// Every layer's activations `A_l` (`d_l × GRID²`) at the centres of the cells of the
/// model's domain, x1 along each row of the grid and x2 down the rows.
fn plane_outputs(model: &Model) -> Result<Vec<Vec<f32>>, Error> {
    check_plane(&model.mlp.net, model.features.as_deref())?;
    let [lo, hi] = model.domain;
    let step = (hi - lo) / GRID as f32;
    let mut xt = vec![0.0f32; 2 * GRID * GRID];
    for r in 0..GRID {
        for c in 0..GRID {
            xt[r * GRID + c] = lo + (c as f32 + 0.5) * step;
            xt[GRID * GRID + r * GRID + c] = lo + (r as f32 + 0.5) * step;
        }
    }
    let grid = model.inputs_of(&Dataset { xt, t: vec![0.0; GRID * GRID] })?;
    Ok(cpu::mlp::forward(&model.mlp, &grid.xt))
}

fn net_words(model: &Model) -> String {
    match model.mlp.net.classic_hidden() {
        Some(h) => format!("2-{h}-1"),
        None => model.mlp.net.describe(),
    }
}

/// One map: `p` (GRID² values in 0…1) over `[lo, hi]²` as colours, its 0.5 contour in
/// black, and the points (if any) on top.
fn draw_map<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    [lo, hi]: [f32; 2],
    p: &[f32],
    data: Option<&Dataset>,
    font: u32,
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let step = (hi - lo) / GRID as f32;
    let small = font < 14;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", font))
        .margin(if small { 2 } else { 12 })
        .x_label_area_size(if small { 0 } else { 30 })
        .y_label_area_size(if small { 0 } else { 40 })
        .build_cartesian_2d(lo..hi, lo..hi)
        .map_err(|x| e(&x))?;
    if !small {
        chart
            .configure_mesh()
            .x_desc("x1")
            .y_desc("x2")
            .disable_mesh()
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()
            .map_err(|x| e(&x))?;
    }
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
    if let Some(data) = data {
        let n = data.len();
        let every = n.div_ceil(BOUNDARY_POINTS).max(1);
        let points: Vec<(f32, f32, bool)> =
            (0..n).step_by(every).map(|i| (data.xt[i], data.xt[n + i], data.t[i] >= 0.5)).collect();
        let (ring, dot) = if font < 20 { (4, 3) } else { (6, 4) };
        // A white ring first, so a point stands out on the region of its own colour.
        chart
            .draw_series(points.iter().map(|&(x1, x2, _)| Circle::new((x1, x2), ring, WHITE.filled())))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(points.iter().map(|&(x1, x2, label)| {
                let fill = if label { RGBColor(150, 0, 0) } else { RGBColor(0, 30, 150) };
                Circle::new((x1, x2), dot, ShapeStyle::from(&fill).filled())
            }))
            .map_err(|x| e(&x))?;
    }
    Ok(())
}
