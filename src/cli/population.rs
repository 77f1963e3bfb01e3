//! The `population` command: many networks at once over a grid of widths, rates and
//! initial scales, and how often each cell's networks learn.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::train::rule_settings;
use super::{check_writable, noise_sigma, open_gpu, positive_f32, positive_u64, positive_usize, say, Backend};
use crate::data::features::{self, Feature};
use crate::data::playground::DataSet;
use crate::data::Dataset;
use crate::files::{check_distinct, check_png_name};
use crate::net::file::{into_inputs, Model};
use crate::net::optim::{decimal, Optimizer, OptimizerKind};
use crate::net::Activation;
use crate::population::report::{criterion, summarize, table, write_csv};
use crate::population::{self, Grid, Setup, MAX_EPOCHS, MAX_HIDDEN};
use crate::Error;

#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct PopulationArgs {
    /// Seeds per grid cell (networks in all: this × the cells).
    #[arg(long, default_value_t = 1000, value_parser = positive_usize)]
    pub models: usize,
    /// The first seed; a cell's networks take seeds seed, seed + 1, ….
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Learning rates, a grid axis [default: the single trainer's for the rule: 2 for sgd,
    /// 0.5 for momentum, 0.03 for adam].
    #[arg(long, value_name = "LIST", value_parser = rate_list)]
    pub lr: Option<RateList>,
    /// Hidden widths, a grid axis (1 to 32: each network lives in one thread's registers).
    #[arg(long, value_name = "LIST", default_value = "2", value_parser = width_list)]
    pub hidden: WidthList,
    /// Multipliers of the initial weights and biases, a grid axis (as the single trainer's --init-scale).
    #[arg(long, value_name = "LIST", default_value = "1", value_parser = rate_list)]
    pub init_scale: RateList,
    /// Epochs of full-batch training, for every network.
    #[arg(long, default_value_t = 5000, value_parser = positive_u64)]
    pub epochs: u64,
    /// A network succeeds when every training sample is on the right side of 0.5 and its loss is under this.
    #[arg(long, default_value_t = 0.05, value_parser = positive_f32)]
    pub target_loss: f32,
    /// A network stops at the first epoch it succeeds (its weights are then those of a
    /// single run of that many epochs).
    #[arg(long)]
    pub stop_at_success: bool,
    /// The hidden layer's activation.
    #[arg(long, value_enum, default_value_t = Activation::Sigmoid)]
    pub activation: Activation,
    /// The update rule, as the single trainer's.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    pub optimizer: OptimizerKind,
    /// Momentum μ (--optimizer momentum) [default: 0.9].
    #[arg(long, value_parser = super::train::unit_interval)]
    pub momentum: Option<f32>,
    /// Adam's β₁ [default: 0.9].
    #[arg(long, value_parser = super::train::unit_interval)]
    pub beta1: Option<f32>,
    /// Adam's β₂ [default: 0.999].
    #[arg(long, value_parser = super::train::unit_interval)]
    pub beta2: Option<f32>,
    /// Adam's ε [default: 1e-8].
    #[arg(long, value_parser = positive_f32)]
    pub eps: Option<f32>,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Use the adapter whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// The shared training set.
    #[arg(long, value_enum, default_value_t = DataSet::Corners)]
    pub dataset: DataSet,
    /// Training samples (for corners, 4 is the XOR table).
    #[arg(long, default_value_t = 4, value_parser = positive_usize)]
    pub batch: usize,
    /// Noise, as the single trainer's --noise.
    #[arg(long, default_value_t = 0.1, value_parser = noise_sigma)]
    pub noise: f32,
    /// Seed of the generated data [default: 1, whatever --seed is, so every network sees the same set].
    #[arg(long, default_value_t = 1)]
    pub data_seed: u64,
    /// The networks' inputs from x1, x2 (as the single trainer's --features) [default: x1,x2].
    #[arg(long, value_name = "LIST", value_parser = crate::data::features::parse_list)]
    pub features: Option<::std::vec::Vec<Feature>>,
    /// Train on the rows of this CSV file (x1,..,xd,y) instead.
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["batch", "noise", "dataset", "data_seed"])]
    pub data: Option<PathBuf>,
    /// Write one row per network here.
    #[arg(long, value_name = "FILE.csv")]
    pub csv: Option<PathBuf>,
    /// Draw the success rate over the grid and the final losses' histogram to this PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Write the network with the lowest final loss as a model file (for predict and plot).
    #[arg(long, value_name = "FILE")]
    pub export_best: Option<PathBuf>,
    /// Write one member as a model file: SEED=FILE in a one-cell grid, else
    /// SEED,HIDDEN,LR,SCALE=FILE naming its cell (may be repeated).
    #[arg(long, value_name = "SEED[,H,LR,SCALE]=FILE", value_parser = export_spec)]
    pub export: Vec<ExportSpec>,
    /// Write every network's starting weights (seed, cell, packed parameters) to this JSON
    /// file, for checking the population elsewhere.
    #[arg(long, value_name = "FILE")]
    pub export_init: Option<PathBuf>,
    /// On the GPU, after training: this device's rate of exponentials and divisions
    /// (`shaders/special.wgsl`) and the share of it the run reached (sigmoid nets).
    #[arg(long)]
    pub profile: bool,
    /// Print one JSON object on stdout; everything else goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// One `--export`: a seed, its cell where the grid has several, and the file.
#[derive(Clone, Debug)]
pub struct ExportSpec {
    pub seed: u64,
    /// (hidden, lr, init scale)
    pub cell: Option<(usize, f32, f32)>,
    pub path: PathBuf,
}

fn export_spec(s: &str) -> Result<ExportSpec, String> {
    let (member, path) = s
        .split_once('=')
        .filter(|(_, p)| !p.is_empty())
        .ok_or_else(|| format!("expected SEED=FILE or SEED,HIDDEN,LR,SCALE=FILE, got {s:?}"))?;
    let parts: Vec<&str> = member.split(',').map(str::trim).collect();
    let seed =
        parts[0].parse::<u64>().map_err(|_| format!("{:?} in {s:?} is not a seed (a whole number)", parts[0]))?;
    let cell = match parts[..] {
        [_] => None,
        [_, h, lr, scale] => Some((
            h.parse::<usize>().map_err(|_| format!("{h:?} in {s:?} is not a width"))?,
            positive_f32(lr).map_err(|e| format!("the rate in {s:?}: {e}"))?,
            positive_f32(scale).map_err(|e| format!("the scale in {s:?}: {e}"))?,
        )),
        _ => return Err(format!("expected SEED=FILE or SEED,HIDDEN,LR,SCALE=FILE, got {s:?}")),
    };
    Ok(ExportSpec { seed, cell, path: PathBuf::from(path) })
}

/// A parsed list of rates or scales.
#[derive(Clone, Debug)]
pub struct RateList(pub Vec<f32>);
/// A parsed list of widths.
#[derive(Clone, Debug)]
pub struct WidthList(pub Vec<usize>);

/// `0.1,0.5,2`: each a finite number > 0, no repeats.
fn rate_list(s: &str) -> Result<RateList, String> {
    list(s, positive_f32).map(RateList)
}

/// `1,2,3,8`: widths 1 to [`MAX_HIDDEN`], no repeats.
fn width_list(s: &str) -> Result<WidthList, String> {
    list(s, |v| match v.parse::<usize>() {
        Ok(w) if (1..=MAX_HIDDEN).contains(&w) => Ok(w),
        _ => Err(format!("expected a width from 1 to {MAX_HIDDEN}, got {v:?}")),
    })
    .map(WidthList)
}

fn list<T: PartialEq + Copy>(s: &str, one: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    if s.trim().is_empty() {
        return Err("expected a comma-separated list, got nothing".into());
    }
    let mut out = Vec::new();
    for item in s.split(',') {
        let v = one(item.trim()).map_err(|e| format!("{e} (in {s:?})"))?;
        if out.contains(&v) {
            return Err(format!("{:?} appears twice in {s:?}", item.trim()));
        }
        out.push(v);
    }
    Ok(out)
}

pub fn population_command(args: &PopulationArgs) -> Result<(), Error> {
    // Everything the user gave is checked before a device is opened or a network drawn.
    if args.epochs > MAX_EPOCHS {
        return Err(Error::Input(format!("--epochs {}: a population runs at most {MAX_EPOCHS}", args.epochs)));
    }
    if args.backend == Backend::Cpu {
        super::warn_gpu_only(&[("--adapter", args.adapter.is_some())]);
    }
    let mut outputs: Vec<(String, &std::path::Path)> = [
        ("--csv", &args.csv),
        ("--plot", &args.plot),
        ("--export-best", &args.export_best),
        ("--export-init", &args.export_init),
    ]
    .into_iter()
    .filter_map(|(n, p)| p.as_deref().map(|p| (n.to_string(), p)))
    .collect();
    outputs.extend(args.export.iter().map(|e| (format!("--export {}", e.seed), e.path.as_path())));
    let inputs: Vec<(String, &std::path::Path)> =
        args.data.iter().map(|p| ("--data".to_string(), p.as_path())).collect();
    check_distinct(&outputs, &inputs)?;
    for (_, p) in &outputs {
        check_writable(p)?;
    }
    if let Some(p) = &args.plot {
        check_png_name("--plot", p)?;
    }
    args.dataset.check_noise(args.noise)?;
    let raw = match &args.data {
        // Read no further than the most rows any set may have (two floats a row at the least).
        Some(p) => Dataset::from_csv_at_most(
            p,
            Some((population::MAX_DATA_FLOATS / 2, "a population's training set sits in each GPU workgroup's 16 KiB")),
        )?,
        None => {
            args.dataset.generate(args.batch.min(population::MAX_DATA_FLOATS + 1), args.noise, args.data_seed, 1)?
        }
    };
    let features = match (&args.features, raw.inputs()) {
        (Some(f), 2) => Some(f.clone()),
        (Some(_), d) => {
            return Err(Error::Input(format!("--features needs data of 2 columns x1, x2; the data has {d}")))
        }
        (None, 2) => Some(features::RAW.to_vec()),
        (None, _) => None,
    };
    let inputs = features.as_ref().map_or(raw.inputs(), Vec::len);
    let setup = Setup {
        inputs,
        activation: args.activation,
        optimizer: rule_settings(
            Optimizer::defaults(args.optimizer),
            [args.momentum, args.beta1, args.beta2, args.eps],
        ),
        epochs: args.epochs,
        target_loss: args.target_loss,
        stop_at_success: args.stop_at_success,
    };
    let grid = Grid {
        hidden: args.hidden.0.clone(),
        lr: args.lr.as_ref().map_or_else(|| vec![args.optimizer.default_lr()], |l| l.0.clone()),
        init_scale: args.init_scale.0.clone(),
        models: args.models,
        seed: args.seed,
    };
    let samples = if args.data.is_some() { raw.len() } else { args.batch };
    let need = population::check(&grid, &setup, samples)?;
    let export_cells = args.export.iter().map(|e| export_cell(e, &grid)).collect::<Result<Vec<usize>, Error>>()?;
    let networks = grid.networks().expect("checked: the count fits");
    let domain = if args.data.is_some() { None } else { Some(args.dataset.domain()) };
    let data = into_inputs(&setup.net(grid.hidden[0]), features.as_deref(), raw)?;
    let gpu = open_gpu(args.backend, args.adapter.as_deref())?;
    let backend = if gpu.is_some() { "gpu" } else { "cpu" };
    if let Some(g) = &gpu {
        say(args.json, &format!("adapter: {}", g.adapter_name));
    }
    let source = match &args.data {
        Some(p) => format!("rows of {}", p.display()),
        None if args.dataset == DataSet::Corners && args.batch == 4 => "the XOR table".into(),
        None => format!("{} samples of {} (data seed {})", args.batch, args.dataset.name(), args.data_seed),
    };
    let cells = grid.cells().len();
    say(
        args.json,
        &format!(
            "training {} networks ({} cells × {} seeds from {}) of {}-H-1 {} by {} on {source} for {} epochs, on the {backend}; {} bytes a network on the host",
            networks,
            cells,
            grid.models,
            grid.seed,
            inputs,
            args.activation.name(),
            args.optimizer.name(),
            args.epochs,
            need.host / networks as u64,
        ),
    );
    say(args.json, &criterion(&setup));
    if let Some(path) = &args.export_init {
        write_init(path, &grid, &setup)?;
        say(args.json, &format!("wrote the starting weights to {}", path.display()));
    }
    let total = (networks as u64).saturating_mul(args.epochs);
    let bar = progress_bar(total, args.quiet || args.json);
    let mut done = 0u64;
    let pop = population::train(&grid, &setup, &data, gpu.as_ref(), |n| {
        done += n;
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let seconds = pop.seconds;
    // The epochs the networks ran: with --stop-at-success, fewer than networks × epochs.
    let network_epochs = pop.network_epochs(&setup);
    let summaries = summarize(&pop);
    // The members asked for: the best, and each --export, found (or refused) before any
    // output is written.
    let mut wanted: Vec<(&std::path::Path, usize, u64)> = Vec::new();
    if let Some(path) = &args.export_best {
        let best = pop
            .members()
            .filter(|(_, _, st)| st.diverged == population::NONE)
            .min_by(|a, b| a.2.loss.total_cmp(&b.2.loss));
        let Some((c, seed, _)) = best else {
            return Err(Error::Input("--export-best: every network diverged; nothing to write".into()));
        };
        wanted.push((path, c, seed));
    }
    for (e, cell) in args.export.iter().zip(&export_cells) {
        // A diverged member has no model to write (its weights or its outputs are past f32);
        // said before any file is written.
        let (group, k) = pop.find(*cell, e.seed).expect("a member of the population");
        let diverged = group.status[k].diverged;
        if diverged != population::NONE {
            return Err(Error::Input(format!(
                "--export {}: that network diverged at epoch {diverged}; there is no model to write",
                e.seed
            )));
        }
        wanted.push((&e.path, *cell, e.seed));
    }
    if let Some(path) = &args.csv {
        write_csv(path, &pop)?;
        say(args.json, &format!("wrote {}", path.display()));
    }
    if let Some(path) = &args.plot {
        crate::experiments::population::population_chart(path, &grid, &summaries, &pop)?;
        say(args.json, &format!("wrote {}", path.display()));
    }
    for (path, c, seed) in wanted {
        let (group, k) = pop.find(c, seed).expect("a member of the population");
        let st = group.status[k];
        let cell = pop.cells[c];
        let epochs = st.epochs_run(args.epochs, args.stop_at_success);
        let model = Model {
            mlp: group.mlp(&setup, k),
            features: features.clone(),
            domain: domain.unwrap_or([-0.5, 1.5]),
            optimizer: Some(setup.optimizer_for(&cell)),
            state: group.state(k, epochs),
            curve: Vec::new(),
        };
        let mut extra = serde_json::Map::new();
        for (k, v) in [
            ("seed", json!(seed)),
            ("init_scale", json!(cell.init_scale)),
            ("epochs", json!(epochs)),
            ("lr", json!(cell.lr)),
            ("dataset", json!(args.data.as_ref().map_or(args.dataset.name().to_string(), |p| p.display().to_string()))),
            ("batch", json!(data.len())),
            ("final_loss", json!(st.loss)),
            ("success", json!(st.succeeded())),
            ("backend", json!(backend)),
        ] {
            extra.insert(k.into(), v);
        }
        model.save(path, extra)?;
        say(
            args.json,
            &format!(
                "wrote {} (seed {seed}, hidden {}, lr {}, init scale {}: final loss {:.3e}{})",
                path.display(),
                cell.hidden,
                cell.lr,
                cell.init_scale,
                st.loss,
                if st.diverged != population::NONE { ", diverged" } else { "" }
            ),
        );
    }
    let rate = network_epochs as f64 / seconds;
    // The run against the device's special-function rate: its exponentials and divisions
    // a second (counted for sigmoid hidden layers, whose epoch is those and little else).
    let mut ceiling = None;
    if args.profile {
        match &gpu {
            None => say(args.json, "profile: the special-function ceiling is measured on the GPU only"),
            Some(g) => {
                let ops_per_s = crate::gpu::ceiling::special_ops_rate(g)?;
                let ops: u64 = pop
                    .groups
                    .iter()
                    .map(|(group, _)| {
                        group.epochs_run(&setup) * crate::gpu::ceiling::special_ops_per_epoch(group.hidden, data.len())
                    })
                    .sum();
                let reached = ops as f64 / seconds;
                let share = (args.activation == Activation::Sigmoid).then_some(reached / ops_per_s);
                say(
                    args.json,
                    &format!(
                        "profile: this device runs {ops_per_s:.3e} exponentials and divisions a second (shaders/special.wgsl); the run reached {reached:.3e}{}",
                        share.map_or(" (counted for sigmoid nets only)".into(), |f| format!(", {:.1}% of it", 100.0 * f))
                    ),
                );
                ceiling = Some((ops_per_s, share));
            }
        }
    }
    if args.json {
        let report = json!({
            "backend": backend,
            "adapter": gpu.as_ref().map(|g| g.adapter_name.clone()),
            "networks": networks,
            "models": args.models,
            "seed": args.seed,
            "epochs": args.epochs,
            "network_epochs": network_epochs,
            "data": args.data.as_ref().map_or(json!({"dataset": args.dataset.name(), "batch": args.batch, "noise": args.noise, "data_seed": args.data_seed}), |p| json!({"file": p.display().to_string(), "rows": data.len()})),
            "features": features.as_ref().map(|f| features::describe(f)),
            "momentum": (args.optimizer == OptimizerKind::Momentum).then_some(decimal(setup.optimizer.momentum)),
            "target_loss": decimal(args.target_loss),
            "stop_at_success": args.stop_at_success,
            "activation": args.activation.name(),
            "optimizer": args.optimizer.name(),
            "seconds": seconds,
            "network_epochs_per_s": rate,
            "host_bytes_per_network": need.host / networks as u64,
            "special_ops_per_s": ceiling.map(|c| c.0),
            "share_of_special_ops": ceiling.and_then(|c| c.1),
            "cells": crate::population::report::json(&summaries),
        });
        // println!, so a write that fails ends the run as any output does (see main).
        println!("{report}");
    } else {
        print!("{}", table(&summaries));
        println!(
            "{network_epochs} network-epochs ({networks} networks) in {seconds:.2} s: {rate:.3e} network-epochs/s"
        );
    }
    Ok(())
}

/// The cell an `--export` names: the grid's only cell, or the one it gives; its seed must
/// be one of the cell's.
fn export_cell(e: &ExportSpec, grid: &Grid) -> Result<usize, Error> {
    let cells = grid.cells();
    let c = match e.cell {
        None if cells.len() == 1 => 0,
        None => {
            return Err(Error::Input(format!(
                "--export {}={}: the grid has {} cells; name one as SEED,HIDDEN,LR,SCALE=FILE",
                e.seed,
                e.path.display(),
                cells.len()
            )))
        }
        Some((h, lr, scale)) => {
            cells.iter().position(|c| c.hidden == h && c.lr == lr && c.init_scale == scale).ok_or_else(|| {
                Error::Input(format!(
                    "--export {},{h},{lr},{scale}: no grid cell has hidden {h}, lr {lr} and init scale {scale}",
                    e.seed
                ))
            })?
        }
    };
    let last = grid.seed_of(grid.models - 1);
    if !(grid.seed..=last).contains(&e.seed) {
        return Err(Error::Input(format!(
            "--export {}: the population's seeds run from {} to {last}",
            e.seed, grid.seed
        )));
    }
    Ok(c)
}

/// Every network's starting weights as JSON: the net, then per network its seed, cell and
/// packed parameters `[W1 (row-major) | B1 | W2 | B2]`.
fn write_init(path: &std::path::Path, grid: &Grid, setup: &Setup) -> Result<(), Error> {
    let networks: Vec<serde_json::Value> = grid
        .cells()
        .iter()
        .flat_map(|cell| {
            (0..grid.models).map(move |k| {
                let seed = grid.seed_of(k);
                json!({
                    "seed": seed,
                    "hidden": cell.hidden,
                    "lr": cell.lr,
                    "init_scale": cell.init_scale,
                    "params": setup.init(cell, seed).params,
                })
            })
        })
        .collect();
    let doc = json!({
        "format": "xorgpu-population-init",
        "inputs": setup.inputs,
        "activation": setup.activation.name(),
        "packing": "W1 (hidden × inputs, row-major), B1, W2, B2",
        "networks": networks,
    });
    crate::files::write_atomically(path, doc.to_string().as_bytes())
}

/// A bar of network-epochs on stderr, for runs that take a while on a terminal.
fn progress_bar(total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {percent}% of network-epochs  {per_sec}  eta {eta}")
            .expect("template"),
    );
    bar
}
