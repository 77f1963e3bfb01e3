//! The commands around training: `predict`, `plot`, `info` and `check`.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::Backend;
use crate::cpu;
use crate::data::playground::DataSet;
use crate::data::{read_points, Dataset, XOR_INPUTS};
use crate::experiments::pictures::{
    boundary_chart, loss_chart, units_chart, BOUNDARY_CHART, BOUNDARY_POINTS, LOSS_CHART, UNITS_CHART,
};
use crate::files::{check_distinct, writable_folder};
use crate::gpu::{self, Gpu};
use crate::net::file::Model;
use crate::net::optim::{Optimizer, OptimizerKind};
use crate::selfcheck::{self, TOL};
use crate::Error;

/// A point `x1,..,xd`: one or more finite numbers, comma-separated.
pub(crate) fn point(s: &str) -> Result<Vec<f32>, String> {
    s.split(',')
        .map(|part| part.trim().parse::<f32>().ok().filter(|x| x.is_finite()))
        .collect::<Option<Vec<f32>>>()
        .ok_or_else(|| format!("expected finite numbers x1,x2 (x1,..,xd for a model on d columns), got {s:?}"))
}

#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct PredictArgs {
    /// A weights file written by --save (or any file in the weight-file format).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// A point to answer for, as x1,x2 (x1,..,xd for a model on d input columns); repeat
    /// for more.
    #[arg(long = "x", value_name = "X1,..,Xd", value_parser = point, allow_hyphen_values = true)]
    pub points: Vec<Vec<f32>>,
    /// Points from a CSV file with the header x1,x2 (or x1,..,xd for a model on d columns);
    /// with a y column too, the accuracy is reported.
    #[arg(long, value_name = "FILE.csv")]
    pub input: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Use the adapter whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn predict_command(args: &PredictArgs) -> Result<(), Error> {
    let model = Model::load(&args.model)?;
    // Raw points: --x pairs, then the file's rows; the XOR table when none are given.
    let mut rows: Vec<Vec<f32>> = args.points.clone();
    if let Some(p) = rows.iter().find(|p| p.len() != rows[0].len()) {
        return Err(Error::Input(format!("--x gives points of {} and of {} numbers", rows[0].len(), p.len())));
    }
    let mut labels: Option<Vec<f32>> = None;
    if let Some(path) = &args.input {
        let (file, labelled) = read_points(path)?;
        if let Some(p) = rows.first().filter(|p| p.len() != file.inputs()) {
            return Err(Error::Input(format!(
                "--x gives points of {} numbers but {} has {} input columns",
                p.len(),
                path.display(),
                file.inputs()
            )));
        }
        let n = file.len();
        rows.extend((0..n).map(|i| (0..file.inputs()).map(|k| file.xt[k * n + i]).collect()));
        if labelled && args.points.is_empty() {
            labels = Some(file.t.clone());
        }
    }
    if rows.is_empty() {
        if model.features.is_none() && model.mlp.net.inputs() != 2 {
            return Err(Error::Input(format!(
                "this model reads {} input columns: give points with --input FILE.csv (header x1,..,x{})",
                model.mlp.net.inputs(),
                model.mlp.net.inputs()
            )));
        }
        rows.extend(XOR_INPUTS.iter().map(|p| p.to_vec()));
    }
    let (d, n) = (rows[0].len(), rows.len());
    let raw = Dataset { xt: (0..d).flat_map(|k| rows.iter().map(move |r| r[k])).collect(), t: vec![0.0; n] };
    let inputs = model.inputs_of(&raw)?;
    let gpu = super::open_gpu(args.backend, args.adapter.as_deref())?;
    let (backend, adapter, predictions) = match &gpu {
        Some(g) => {
            let p = match model.mlp.to_params() {
                Some(params) => gpu::trainer::predict(g, &params, &inputs.xt)?,
                None => gpu::step::predict(g, &model.mlp, &inputs.xt)?,
            };
            ("gpu", Some(g.adapter_name.clone()), p)
        }
        None => ("cpu", None, cpu::mlp::predict(&model.mlp, &inputs.xt)),
    };
    let shown = |r: &[f32]| r.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
    // Weights within the bound can still make ∞ − ∞ for large inputs: say so, never a class.
    if let Some((x, p)) = rows.iter().zip(&predictions).find(|(_, p)| !p.is_finite()) {
        return Err(Error::Input(format!(
            "the model's output for ({}) is {p}: its weights overflow f32 at that input, so there is no class",
            shown(x)
        )));
    }
    let accuracy = labels
        .as_ref()
        .map(|t| predictions.iter().zip(t).filter(|(p, t)| (**p >= 0.5) == (**t >= 0.5)).count() as f64 / n as f64);
    if args.json {
        let out: Vec<_> = rows
            .iter()
            .zip(&predictions)
            .map(|(x, p)| if d == 2 { json!({"x1": x[0], "x2": x[1], "p": p}) } else { json!({"x": x, "p": p}) })
            .collect();
        let report = json!({"backend": backend, "adapter": adapter, "predictions": out, "accuracy": accuracy});
        // println!, so a write that fails ends the run as any output does (see main).
        println!("{report}");
    } else {
        for (x, p) in rows.iter().zip(&predictions) {
            println!("({}) -> {p:.6}  class {}", shown(x), u8::from(*p >= 0.5));
        }
        if let Some(a) = accuracy {
            println!("accuracy {:.2}% over {n} labelled rows", 100.0 * a);
        }
    }
    Ok(())
}

#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct PlotArgs {
    /// A weights file written by --save.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Folder for boundary.png and units.png (every unit's output over the plane), and
    /// loss.png when the model file holds its loss curve.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Points to show on the boundary (header x1,x2,y); default the XOR table for a model
    /// on the corners, none otherwise.
    #[arg(long, value_name = "FILE.csv")]
    pub data: Option<PathBuf>,
}

pub fn plot_command(args: &PlotArgs) -> Result<(), Error> {
    let model = Model::load(&args.model)?;
    let data = match &args.data {
        Some(p) => Dataset::from_csv(p)?.head(BOUNDARY_POINTS),
        // The XOR table where the model lives on the corners; no points elsewhere.
        None if model.domain == DataSet::Corners.domain() => Dataset::xor(),
        None => Dataset { xt: Vec::new(), t: Vec::new() },
    };
    if args.data.is_some() && data.inputs() != 2 {
        return Err(Error::Input(format!(
            "--data has {} input columns; the boundary's points are x1, x2",
            data.inputs()
        )));
    }
    let curve = model.curve.clone();
    let boundary = args.out_dir.join(BOUNDARY_CHART);
    let loss = args.out_dir.join(LOSS_CHART);
    let mut inputs = vec![("--model".to_string(), args.model.as_path())];
    inputs.extend(args.data.as_deref().map(|p| ("--data".to_string(), p)));
    let units = args.out_dir.join(UNITS_CHART);
    check_distinct(
        &[(BOUNDARY_CHART.into(), &boundary), (LOSS_CHART.into(), &loss), (UNITS_CHART.into(), &units)],
        &inputs,
    )?;
    writable_folder(&args.out_dir)?;
    if !curve.is_empty() {
        crate::experiments::pictures::drawable_losses(&curve)
            .map_err(|e| Error::Input(format!("{}: {e}", args.model.display())))?;
    }
    boundary_chart(&boundary, &model, &data)?;
    println!("wrote {}", boundary.display());
    units_chart(&units, &model)?;
    println!("wrote {}", units.display());
    // The curve is optional: a hand-written weights file has none.
    if !curve.is_empty() {
        loss_chart(&loss, &curve)?;
        println!("wrote {}", loss.display());
    }
    Ok(())
}

#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct InfoArgs {
    /// The adapter `gpu` would take: the one whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Also say which GPU kernels would train this net (widths from the inputs to the
    /// output 1), and why.
    #[arg(long, value_name = "D0,..,1", value_parser = crate::net::parse_widths)]
    pub layers: Option<::std::vec::Vec<usize>>,
    /// The hidden activation of --layers.
    #[arg(long, value_enum, default_value_t = crate::net::Activation::Sigmoid, requires = "layers")]
    pub activation: crate::net::Activation,
    /// The batch --layers would train on.
    #[arg(long, default_value_t = 1000, value_parser = super::positive_usize, requires = "layers")]
    pub batch: usize,
}

pub fn info_command(args: &InfoArgs) -> Result<(), Error> {
    gpu::check_backend_env()?;
    // Checked before anything is printed: a bad net is one line, not a listing and a line.
    let net = match &args.layers {
        Some(w) => {
            Some(crate::net::Net::new(w.clone(), args.activation).map_err(|e| Error::Input(format!("--layers: {e}")))?)
        }
        None => None,
    };
    let instance = gpu::instance();
    let adapters = gpu::adapters(&instance);
    if adapters.is_empty() {
        println!("no adapters: {}", gpu::NO_ADAPTER_HINT);
    }
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        let l = a.limits();
        let timestamps = a.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        println!("adapter {i}: {}", gpu::describe(&info));
        println!("  driver: {} {}", info.driver, info.driver_info);
        println!(
            "  largest buffer: {} bytes; largest storage binding: {} bytes",
            l.max_buffer_size, l.max_storage_buffer_binding_size
        );
        println!(
            "  workgroups: {} invocations, {} × {} × {} threads, {} bytes of workgroup memory, {} per dimension",
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_size_x,
            l.max_compute_workgroup_size_y,
            l.max_compute_workgroup_size_z,
            l.max_compute_workgroup_storage_size,
            l.max_compute_workgroups_per_dimension
        );
        println!("  timestamp queries: {}", if timestamps { "yes" } else { "no" });
        if a.features().contains(wgpu::Features::SUBGROUP) {
            println!("  subgroups: yes, {} to {} lanes", info.subgroup_min_size, info.subgroup_max_size);
        } else {
            println!("  subgroups: no");
        }
    }
    match gpu::select_adapter(&instance, args.adapter.as_deref()) {
        Ok(a) => {
            println!("--backend gpu takes: {}", gpu::describe(&a.get_info()));
            if let Some(net) = &net {
                // What a plain SGD run of the net would take, as training decides it.
                let g = Gpu::open(a)?;
                let n = args.batch;
                match crate::backend::Plan::choose(Some(&g), net, &Optimizer::sgd(2.0), n, None) {
                    Ok(plan) => match (&plan.reason, plan.kernels()) {
                        (Some(why), _) => println!("{} on {n} samples: {why}", net.describe()),
                        (None, kernels) => println!(
                            "{} on {n} samples (by plain SGD): the 2-H-1 {} kernels",
                            net.describe(),
                            kernels.unwrap_or_default()
                        ),
                    },
                    Err(e) => println!("{} on {n} samples: does not fit: {e}", net.describe()),
                }
            }
        }
        // An adapter asked for by name and not found is an error, as in every other
        // command; without a name, finding none is what `info` reports.
        Err(e) if args.adapter.is_some() => return Err(e),
        Err(e) => println!("--backend gpu: {e}"),
    }
    println!("(WGPU_BACKEND, WGPU_ADAPTER_NAME and WGPU_POWER_PREF steer the choice.)");
    Ok(())
}

#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct CheckArgs {
    /// Seed of the random inputs (default: from the clock, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Check the adapter whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Check this net instead of the kernel table (widths from the inputs to the output 1):
    /// every GPU path that takes it, gradient and three epochs against the CPU reference.
    #[arg(long, value_name = "D0,..,1", value_parser = crate::net::parse_widths)]
    pub layers: Option<::std::vec::Vec<usize>>,
    /// The hidden activation of --layers.
    #[arg(long, value_enum, default_value_t = crate::net::Activation::Sigmoid, requires = "layers")]
    pub activation: crate::net::Activation,
    /// The update rule --layers is checked with (at lr 0.1, and ε 0.1 for Adam).
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd, requires = "layers")]
    pub optimizer: OptimizerKind,
    /// L2 strength λ --layers is checked with.
    #[arg(long, default_value_t = 0.0, value_parser = super::train::non_negative_f32, requires = "layers")]
    pub l2: f32,
    /// A batch to check --layers on; repeat for more [default: 1, 63, 65 and 1000, where
    /// the kernels' workgroups change shape].
    #[arg(long = "batch", value_name = "N", value_parser = super::positive_usize, requires = "layers")]
    pub batches: Vec<usize>,
}

/// The largest batch `check --layers` takes: its reference works sample by sample.
const MAX_CHECK_BATCH: usize = 1 << 20;

/// Every kernel and whole epochs on this machine's GPU against the CPU reference: a line
/// per kernel, and failure unless every comparison passes.
pub fn check_command(args: &CheckArgs) -> Result<(), Error> {
    let gpu = Gpu::new(args.adapter.as_deref())?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
    });
    let results = match &args.layers {
        Some(widths) => {
            let net = crate::net::Net::new(widths.clone(), args.activation)
                .map_err(|e| Error::Input(format!("--layers: {e}")))?;
            let batches = if args.batches.is_empty() { vec![1, 63, 65, 1000] } else { args.batches.clone() };
            if let Some(n) = batches.iter().find(|&&n| n > MAX_CHECK_BATCH) {
                return Err(Error::Input(format!(
                    "--batch {n}: check takes batches up to {MAX_CHECK_BATCH} (its reference works sample by sample)"
                )));
            }
            println!(
                "checking {} on {} (seed {seed}; relative error must be ≤ {TOL:e})",
                net.describe(),
                gpu.adapter_name
            );
            let results = selfcheck::check_model(&gpu, &net, args.optimizer, args.l2, &batches, seed)?;
            if results.is_empty() {
                return Err(Error::Input(format!("no GPU path takes {} at these batches", net.describe())));
            }
            results
        }
        None => {
            println!("checking {} (seed {seed}; relative error must be ≤ {TOL:e})", gpu.adapter_name);
            let (hidden, batches) = ([1, 2, 3, 16], [1, 3, 4, 63, 65, 1000, 100_003]);
            let mut results = selfcheck::check_kernels(&gpu, &hidden, &batches, seed)?;
            results.extend(selfcheck::check_step_epochs(&gpu, &hidden, &batches, seed)?);
            results
        }
    };
    let mut names: Vec<&str> = results.iter().map(|r| r.kernel).collect();
    names.dedup();
    let mut all_pass = true;
    for name in names {
        let mine: Vec<_> = results.iter().filter(|r| r.kernel == name).collect();
        let worst =
            mine.iter().map(|r| r.rel_error).fold(0.0, |w: f64, e| if e.is_nan() { f64::NAN } else { w.max(e) });
        let pass = mine.iter().all(|r| r.passed());
        all_pass &= pass;
        println!(
            "{name:<18} {:>4} cases  worst relative error {worst:.2e}  {}",
            mine.len(),
            if pass { "PASS" } else { "FAIL" }
        );
        for r in mine.iter().filter(|r| !r.passed()) {
            println!("    failed: {} ({:e})", r.case, r.rel_error);
        }
    }
    if all_pass {
        println!("all kernels agree with the CPU reference");
        Ok(())
    } else {
        Err(Error::CheckFailed)
    }
}
