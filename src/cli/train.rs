//! The `train` command: options, set-up, the training loop's progress, and the report.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{
    check_writable, hidden_width, noise_sigma, open_gpu, positive_f32, positive_u64, positive_usize, say, Backend,
    KernelChoice,
};
use crate::cpu::{self, fast::FastCpuTrainer};
use crate::data::{Dataset, XOR_INPUTS};
use crate::experiments::pictures::{boundary_chart, loss_chart, BOUNDARY_CHART, BOUNDARY_POINTS, LOSS_CHART};
use crate::files::{check_distinct, writable_folder};
use crate::gpu::bandwidth::copy_bandwidth;
use crate::gpu::trainer::{check_fits, Path};
use crate::gpu::{Gpu, GpuTrainer};
use crate::memory::{self, Runner};
use crate::model::Params;
use crate::train::{self, Trainer};
use crate::Error;

#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// Where to train.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Epochs of full-batch gradient descent.
    #[arg(long, default_value_t = 5000, value_parser = positive_u64)]
    pub epochs: u64,
    /// Learning rate.
    #[arg(long, default_value_t = 2.0, value_parser = positive_f32)]
    pub lr: f32,
    /// Hidden width H (default 2, or the width of the --init file).
    #[arg(long, value_parser = hidden_width)]
    pub hidden: Option<usize>,
    /// Seed of the ChaCha8 generator for the initial weights and the noisy samples.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start from the weights in this JSON file instead of random ones.
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Write the trained weights to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Print the loss every K epochs (default: ten lines per run).
    #[arg(long, value_name = "K", value_parser = positive_u64)]
    pub log_every: Option<u64>,
    /// Samples per batch: 4 is the XOR table, any other size noisy samples around its corners.
    #[arg(long, default_value_t = 4, value_parser = positive_usize)]
    pub batch: usize,
    /// Standard deviation σ of the noise on the generated samples.
    #[arg(long, default_value_t = 0.1, value_parser = noise_sigma)]
    pub noise: f32,
    /// Train on the rows of this CSV file (header x1,x2,y; y 0 or 1) instead of generated ones.
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["batch", "noise"])]
    pub data: Option<PathBuf>,
    /// Print exactly one JSON object on stdout; everything else goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no loss lines; the summary only.
    #[arg(long)]
    pub quiet: bool,
    /// Write loss.png (loss against epoch) and boundary.png (the decision boundary) here.
    #[arg(long, value_name = "DIR")]
    pub plot_dir: Option<PathBuf>,
    /// Which GPU kernels train [default: fused].
    #[arg(long, value_enum)]
    pub kernels: Option<KernelChoice>,
    /// After training, time each kernel with timestamp queries and print where an epoch's
    /// device time goes, with dispatches and submissions per epoch and bytes per second.
    #[arg(long)]
    pub profile: bool,
    /// Most epochs one dispatch of the tiny-batch kernel runs, so that no single GPU job
    /// runs long enough for an OS watchdog to reset the device.
    /// [default: 20000]
    #[arg(long, value_parser = positive_usize)]
    pub epochs_per_dispatch: Option<usize>,
    /// Use the adapter whose name contains NAME (like WGPU_ADAPTER_NAME).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
}

/// The starting weights: `--init`'s file (whose width `--hidden`, if given, must match) or
/// fresh ones for the seed.
fn initial_params(args: &TrainArgs) -> Result<Params, Error> {
    match &args.init {
        Some(path) => {
            let p = Params::load(path)?;
            if let Some(h) = args.hidden.filter(|&h| h != p.hidden) {
                return Err(Error::Input(format!(
                    "--hidden {h} does not match the {} hidden units of {}",
                    p.hidden,
                    path.display()
                )));
            }
            Ok(p)
        }
        None => Ok(Params::init(args.hidden.unwrap_or(2), args.seed)),
    }
}

/// Fails now, before any training, where an output could not be written later.
fn check_outputs(args: &TrainArgs) -> Result<(), Error> {
    let charts: Vec<(String, PathBuf)> = args
        .plot_dir
        .iter()
        .flat_map(|dir| CHARTS.map(|name| (format!("--plot-dir's {name}"), dir.join(name))))
        .collect();
    let mut outputs: Vec<(String, &std::path::Path)> = charts.iter().map(|(n, p)| (n.clone(), p.as_path())).collect();
    outputs.extend(args.save.as_deref().map(|p| ("--save".to_string(), p)));
    // Resuming in place (--init m.json --save m.json) is allowed: the file is read first.
    let inputs: Vec<(String, &std::path::Path)> =
        args.data.as_deref().map(|p| ("--data".to_string(), p)).into_iter().collect();
    check_distinct(&outputs, &inputs)?;
    if let Some(path) = &args.save {
        check_writable(path)?;
    }
    if let Some(dir) = &args.plot_dir {
        writable_folder(dir)?;
        for (_, chart) in &charts {
            check_writable(chart)?;
        }
    }
    Ok(())
}

/// The charts --plot-dir holds.
const CHARTS: [&str; 2] = [LOSS_CHART, BOUNDARY_CHART];

/// What the run was, for the saved model and the report.
struct RunInfo {
    backend: &'static str,
    adapter: Option<String>,
    batch: usize,
    /// What the run was predicted to need (see [`memory`]).
    need: memory::Need,
}

pub fn train_command(args: &TrainArgs) -> Result<(), Error> {
    // Everything a user gave is checked before any device is opened.
    let params = initial_params(args)?;
    check_outputs(args)?;
    let user_data = args.data.as_deref().map(Dataset::from_csv).transpose()?;
    let batch = user_data.as_ref().map_or(args.batch, Dataset::len);
    let gpu = open_gpu(args.backend, args.adapter.as_deref())?;
    if gpu.is_none() {
        let ignored: Vec<&str> = [
            ("--kernels", args.kernels.is_some()),
            ("--epochs-per-dispatch", args.epochs_per_dispatch.is_some()),
            ("--adapter", args.adapter.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect();
        if !ignored.is_empty() {
            let verb = if ignored.len() == 1 { "applies" } else { "apply" };
            eprintln!("warning: {} {verb} only to the GPU; ignored on the CPU", ignored.join(", "));
        }
    }
    let path = gpu.as_ref().map(|g| match args.kernels.unwrap_or(KernelChoice::Fused) {
        KernelChoice::Step => Path::Step,
        KernelChoice::Fused => Path::fastest(g, params.hidden, batch),
    });
    if let (Some(g), Some(path)) = (&gpu, path) {
        // Before the data is made: a batch the device cannot take costs nothing.
        check_fits(g, path, params.hidden, batch)?;
    }
    let runner = match (&gpu, path) {
        (Some(g), Some(path)) => Runner::gpu(g, path),
        _ => Runner::Cpu,
    };
    let need = memory::check(runner, params.hidden, batch)?;
    let data = match user_data {
        Some(d) => d,
        None => Dataset::for_batch(args.batch, args.noise, args.seed)?,
    };
    // The points the boundary picture shows (the data moves into the trainer).
    let shown = args.plot_dir.as_ref().map(|_| data.head(BOUNDARY_POINTS));
    let (backend, adapter) = match &gpu {
        Some(g) => ("gpu", Some(g.adapter_name.clone())),
        None => ("cpu", None),
    };
    let log_every = args.log_every.unwrap_or((args.epochs / 10).max(1));
    let source = match &args.data {
        Some(p) => format!("rows of {}", p.display()),
        None if batch == 4 => "the XOR table".to_string(),
        None => format!("noisy XOR samples, σ = {}", args.noise),
    };

    if let Some(a) = &adapter {
        say(args.json, &format!("adapter: {a}"));
    }
    say(
        args.json,
        &format!(
            "training 2-{}-1 on {} samples ({source}) for {} epochs, lr {}, seed {}, on the {backend}",
            params.hidden,
            batch,
            args.epochs,
            number(args.lr),
            args.seed
        ),
    );
    // The profile measures the device's copy bandwidth after training, as the epoch's yardstick.
    let profile_gpu = if args.profile { gpu.clone() } else { None };
    let mut trainer: Box<dyn Trainer> = match gpu {
        Some(gpu) => {
            let path = path.expect("a path for the GPU");
            log::info!("kernels: {path:?}");
            let per_dispatch = args.epochs_per_dispatch.unwrap_or(crate::gpu::trainer::DEFAULT_EPOCHS_PER_DISPATCH);
            Box::new(GpuTrainer::with_path(gpu, &params, &data, args.lr, path, per_dispatch)?)
        }
        None => Box::new(FastCpuTrainer::new(params, data, args.lr)),
    };
    let width = args.epochs.to_string().len();
    let progress = Progress::new(args.epochs, args.quiet || args.json);
    let mut curve = LossCurve::new(args.epochs);
    let outcome = train::train_observed(
        trainer.as_mut(),
        args.epochs,
        log_every,
        |epoch, loss| {
            if !args.quiet {
                progress.println(args.json, &format!("epoch {epoch:>width$}  loss {loss:.6}"));
            }
        },
        |first, losses| {
            curve.add(first, losses);
            progress.update(first + losses.len() as u64 - 1, losses[losses.len() - 1]);
        },
    );
    progress.finish();
    let outcome = outcome?;

    if args.profile {
        print_profile(trainer.as_mut(), args.json, batch, profile_gpu.as_ref())?;
    }

    let run = RunInfo { backend, adapter, batch, need };
    if let Some(path) = &args.save {
        save_model(path, args, &outcome, &run, &curve)?;
        say(args.json, &format!("saved weights to {}", path.display()));
    }
    if let (Some(dir), Some(shown)) = (&args.plot_dir, &shown) {
        loss_chart(&dir.join(LOSS_CHART), &curve.points)?;
        boundary_chart(&dir.join(BOUNDARY_CHART), &outcome.params, shown)?;
        say(args.json, &format!("wrote {0}/loss.png and {0}/boundary.png", dir.display()));
    }
    report(args, &outcome, &run);
    Ok(())
}

/// The weights with what produced them and the loss curve.
fn save_model(
    path: &std::path::Path,
    args: &TrainArgs,
    outcome: &train::Outcome,
    run: &RunInfo,
    curve: &LossCurve,
) -> Result<(), Error> {
    let mut extra = serde_json::Map::new();
    for (k, v) in [
        ("hidden", json!(outcome.params.hidden)),
        ("epochs", json!(args.epochs)),
        ("lr", json!(args.lr)),
        ("seed", json!(args.seed)),
        ("batch", json!(run.batch)),
        ("final_loss", json!(outcome.final_loss)),
        ("backend", json!(run.backend)),
        ("adapter", json!(run.adapter)),
        ("loss_curve", json!(curve.points)),
    ] {
        extra.insert(k.into(), v);
    }
    outcome.params.save(path, extra)
}

/// The final loss, the four corners' predictions and the rates: lines, or one JSON object.
fn report(args: &TrainArgs, outcome: &train::Outcome, run: &RunInfo) {
    // The four corners, in XOR_INPUTS' order, whatever the training data.
    let predictions: Vec<f32> = cpu::forward(&outcome.params, &Dataset::xor().xt).s2;
    let epochs_per_s = args.epochs as f64 / outcome.seconds;
    let samples_per_s = epochs_per_s * run.batch as f64;
    if args.json {
        let report = json!({
            "backend": run.backend,
            "adapter": run.adapter,
            "batch": run.batch,
            "hidden": outcome.params.hidden,
            "epochs": args.epochs,
            "lr": args.lr,
            "seed": args.seed,
            "final_loss": outcome.final_loss,
            "seconds": outcome.seconds,
            "epochs_per_s": epochs_per_s,
            "samples_per_s": samples_per_s,
            "predictions": predictions,
            "memory": {
                "host_bytes_needed": run.need.host,
                "device_bytes_needed": run.need.device,
                "host_peak_bytes": memory::peak_resident_bytes(),
            },
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{report}").ok();
    } else {
        // + 0.0 turns a −0 into 0: no "-0.000000".
        println!("final loss {:.6}", outcome.final_loss + 0.0);
        println!("predictions:");
        for (x, p) in XOR_INPUTS.iter().zip(&predictions) {
            println!("  ({}, {}) -> {p:.4}  rounded {}", x[0], x[1], p.round());
        }
        println!(
            "training loop: {:.3} s, {} epochs/s, {} samples/s",
            outcome.seconds,
            rate(epochs_per_s),
            rate(samples_per_s)
        );
    }
}

/// A progress bar on stderr for a run that lasts over a second: hidden until then, and
/// always when stderr is not a terminal or the user asked for quiet or JSON.
struct Progress {
    bar: indicatif::ProgressBar,
    start: std::time::Instant,
    enabled: bool,
}

impl Progress {
    fn new(epochs: u64, quiet: bool) -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_length(epochs);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len}  {msg}  {per_sec}  eta {eta}")
                .expect("template"),
        );
        let enabled = !quiet && std::io::stderr().is_terminal();
        Progress { bar, start: std::time::Instant::now(), enabled }
    }

    fn update(&self, epoch: u64, loss: f32) {
        if self.enabled && self.bar.is_hidden() && self.start.elapsed().as_secs_f64() > 1.0 {
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_position(epoch);
        self.bar.set_message(format!("loss {loss:.6}"));
    }

    /// A line that does not tear the bar.
    fn println(&self, json: bool, line: &str) {
        self.bar.suspend(|| say(json, line));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The loss of up to 1,000 evenly spread epochs, for loss.png and the saved model.
struct LossCurve {
    every: u64,
    points: Vec<(u64, f32)>,
}

impl LossCurve {
    fn new(epochs: u64) -> Self {
        LossCurve { every: epochs.div_ceil(1000).max(1), points: Vec::new() }
    }

    fn add(&mut self, first: u64, losses: &[f32]) {
        for (i, &l) in losses.iter().enumerate() {
            let epoch = first + i as u64;
            if (epoch - 1).is_multiple_of(self.every) {
                self.points.push((epoch, l));
            }
        }
    }
}

/// `--profile`: the device time of each kernel over a few more epochs, and the bytes the
/// epoch reads per second against what the device copies per second.
fn print_profile(trainer: &mut dyn Trainer, json: bool, batch: usize, gpu: Option<&Gpu>) -> Result<(), Error> {
    // Enough epochs to time well, few enough to stay short at any batch.
    let epochs = (1usize << 24).div_ceil(batch).clamp(3, 1000);
    match trainer.profile(epochs)? {
        None => say(json, "profile: not available (CPU backend, or an adapter without timestamp queries)"),
        Some(p) => {
            let total: f64 = p.kernels.iter().map(|k| k.1).sum();
            say(
                json,
                &format!("profile over {epochs} more epochs (timestamp queries, each dispatch in its own pass):"),
            );
            for (kernel, s) in &p.kernels {
                say(json, &format!("  {kernel:<18} {:>10.3} µs/epoch  {:>5.1}%", s * 1e6, 100.0 * s / total));
            }
            say(
                json,
                &format!(
                    "  dispatches per epoch {:.4}, submissions per epoch {:.4}; the epoch must read {} bytes: {:.2} GB/s achieved",
                    p.dispatches_per_epoch,
                    p.submissions_per_epoch,
                    p.bytes_per_epoch,
                    p.bytes_per_epoch as f64 / total / 1e9
                ),
            );
            if let Some(g) = gpu {
                let copy = copy_bandwidth(g)?;
                say(
                    json,
                    &format!(
                        "  copy bandwidth {copy}; the epoch reads at {:.1}% of the faster",
                        100.0 * p.bytes_per_epoch as f64 / total / copy.bytes_per_s()
                    ),
                );
            }
        }
    }
    Ok(())
}

/// A number as a person writes it: plain in the usual range, with an exponent past it
/// (`1e38`, not thirty-nine digits).
fn number(x: f32) -> String {
    if x != 0.0 && !(1e-4..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A rate with the digits that matter: whole numbers from 100 up, three decimals below.
fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}
