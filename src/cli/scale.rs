//! The `scale` command: the batch-scaling sweep, as a table, a CSV, JSON and a chart.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::{check_writable, hidden_width, noise_sigma, positive_f32, positive_usize, KernelChoice};
use crate::backend::Plan;
use crate::data::Dataset;
use crate::experiments::chart::scaling_chart;
use crate::experiments::cpu_name;
use crate::experiments::scale::{batches, crossover, default_max_batch, point, PointSpec, Record};
use crate::files::write_atomically;
use crate::files::{check_distinct, check_png_name};
use crate::gpu::bandwidth::copy_bandwidth;
use crate::gpu::Gpu;
use crate::memory::{self, Runner};
use crate::net::optim::Optimizer;
use crate::net::Net;
use crate::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SweepBackend {
    Gpu,
    Cpu,
}

#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct ScaleArgs {
    /// Backends to sweep, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["gpu", "cpu"])]
    pub backend: Vec<SweepBackend>,
    /// Smallest batch.
    #[arg(long, default_value_t = 4, value_parser = positive_usize)]
    pub min_batch: usize,
    /// Largest batch (default: the largest power of two up to 2^26 that the device and the
    /// host memory allow).
    #[arg(long, value_parser = positive_usize)]
    pub max_batch: Option<usize>,
    /// Factor between successive batches.
    #[arg(long, default_value_t = 4, value_parser = factor)]
    pub factor: usize,
    /// Epochs per timed repeat (default: chosen so each point takes about --seconds).
    #[arg(long, value_parser = super::positive_u64)]
    pub epochs: Option<u64>,
    /// Seconds of timed epochs to aim each point at, all repeats together.
    #[arg(long, default_value_t = 1.0, value_parser = positive_f32)]
    pub seconds: f32,
    /// Timed repeats per point; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = positive_usize)]
    pub repeats: usize,
    /// Hidden width H of the 2-H-1 sigmoid net.
    #[arg(long, default_value_t = 2, value_parser = hidden_width, conflicts_with = "layers")]
    pub hidden: usize,
    /// Any net instead: its widths, from the 2 inputs (or the --data file's columns) to the
    /// output 1 (2,16,16,1), trained by plain SGD on the general paths.
    #[arg(long, value_name = "D0,..,1", value_parser = crate::net::parse_widths)]
    pub layers: Option<::std::vec::Vec<usize>>,
    /// The hidden layers' activation with --layers.
    #[arg(long, value_enum, default_value_t = crate::net::Activation::Sigmoid, requires = "layers")]
    pub activation: crate::net::Activation,
    /// Learning rate.
    #[arg(long, default_value_t = 0.5, value_parser = positive_f32)]
    pub lr: f32,
    /// Seed of the weights and the data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Standard deviation of the noise on generated samples.
    #[arg(long, default_value_t = 0.1, value_parser = noise_sigma)]
    pub noise: f32,
    /// Which GPU kernels train, refused where they cannot (default: at each batch what
    /// training would choose: for --layers the fused kernels where the net fits them, else
    /// the tiled ones).
    #[arg(long, value_enum)]
    pub kernels: Option<KernelChoice>,
    /// Sweep over the first rows of this CSV file (header x1,x2,y) instead of generated data.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "noise")]
    pub data: Option<PathBuf>,
    /// Write the records as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Draw samples per second against batch size (log-log) to this PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Print the records as one JSON array on stdout; everything else goes to stderr.
    #[arg(long)]
    pub json: bool,
    /// Use the adapter whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
}

fn factor(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 2 => Ok(v),
        _ => Err(format!("expected a whole number ≥ 2, got {s:?}")),
    }
}

const HEADER: &str = "backend      batch      epochs   s/epoch  gpu s/epoch      samples/s   final loss   device bytes  read GB/s  % copy   % fma";

/// What the GPU rows are read against: the device's copy bandwidth (bytes read + written
/// per second) and multiply-add rate, and what a sample of the net reads and computes.
struct Yardsticks {
    copy: Option<f64>,
    fma: Option<f64>,
    bytes_per_sample: f64,
    macs_per_sample: f64,
}

/// A table row: the GPU rows' read rate (the sample's inputs and label, over the GPU time,
/// else the wall time) against the copy bandwidth, and their multiply-adds against the rate.
fn row(r: &Record, y: &Yardsticks) -> String {
    let gpu = r.gpu_seconds_per_epoch.map_or("-".to_string(), |s| format!("{s:.3e}"));
    let seconds = r.gpu_seconds_per_epoch.unwrap_or(r.seconds_per_epoch);
    let read = y.bytes_per_sample * r.batch as f64 / seconds;
    let share = |rate: Option<f64>, done: f64| match (r.backend.as_str(), rate) {
        ("gpu", Some(c)) => format!("{:.1}", 100.0 * done / c),
        _ => "-".to_string(),
    };
    format!(
        "{:<7} {:>10} {:>11} {:>9.3e} {:>12} {:>14.4e} {:>12.6} {:>14} {:>10.2} {:>7} {:>7}",
        r.backend,
        r.batch,
        r.epochs,
        r.seconds_per_epoch,
        gpu,
        r.samples_per_s,
        r.final_loss,
        r.device_bytes,
        read / 1e9,
        share(y.copy, read),
        share(y.fma, y.macs_per_sample * r.batch as f64 / seconds)
    )
}

pub fn scale_command(args: &ScaleArgs) -> Result<(), Error> {
    let outputs: Vec<(String, &std::path::Path)> = [("--csv", &args.csv), ("--plot", &args.plot)]
        .into_iter()
        .filter_map(|(name, p)| p.as_deref().map(|p| (name.to_string(), p)))
        .collect();
    let inputs: Vec<(String, &std::path::Path)> =
        args.data.as_deref().map(|p| ("--data".to_string(), p)).into_iter().collect();
    check_distinct(&outputs, &inputs)?;
    if let Some(plot) = &args.plot {
        check_png_name("--plot", plot)?;
    }
    for (_, path) in &outputs {
        check_writable(path)?;
    }
    let user_data = args.data.as_deref().map(Dataset::from_csv).transpose()?;
    let inputs = user_data.as_ref().map_or(2, Dataset::inputs);
    let net = match &args.layers {
        Some(w) => Net::new(w.clone(), args.activation).map_err(|e| Error::Input(format!("--layers: {e}")))?,
        None => Net::classic(args.hidden),
    };
    crate::net::file::check_inputs(&net, None, inputs)?;
    let spec = PointSpec {
        net: net.clone(),
        lr: args.lr,
        seed: args.seed,
        noise: args.noise,
        epochs: args.epochs,
        seconds: args.seconds as f64,
        repeats: args.repeats,
        // None: each point takes the plan's choice for its batch.
        kernels: args.kernels,
    };
    let backends: Vec<SweepBackend> =
        [SweepBackend::Gpu, SweepBackend::Cpu].into_iter().filter(|b| args.backend.contains(b)).collect();
    let gpu = if backends.contains(&SweepBackend::Gpu) { Some(Gpu::new(args.adapter.as_deref())?) } else { None };
    if gpu.is_none() {
        super::warn_gpu_only(&[("--kernels", args.kernels.is_some()), ("--adapter", args.adapter.is_some())]);
    }
    let device = |b: SweepBackend| if b == SweepBackend::Gpu { gpu.as_ref() } else { None };
    let max = match (args.max_batch, &user_data) {
        (Some(m), Some(d)) if m > d.len() => {
            return Err(Error::Input(format!("--max-batch {m} is over the {} rows of the --data file", d.len())))
        }
        (Some(m), _) => m,
        (None, Some(d)) => d.len(),
        (None, None) => backends.iter().map(|&b| default_max_batch(device(b), &spec)).min().unwrap_or(4),
    };
    if max < args.min_batch {
        return Err(Error::Input(format!("--max-batch {max} is below --min-batch {}", args.min_batch)));
    }
    // The largest point of each backend, before any point runs (the points run one at a
    // time, so the largest is what must fit).
    let opt = Optimizer::sgd(args.lr);
    let plans: Vec<(SweepBackend, Plan)> = backends
        .iter()
        .map(|&b| Plan::choose(device(b), &net, &opt, max, spec.kernels).map(|plan| (b, plan)))
        .collect::<Result<_, _>>()?;
    let say = |line: &str| super::say(args.json, line);
    let cpu = cpu_name();
    if let Some(g) = &gpu {
        say(&format!("gpu: {}", g.adapter_name));
        if g.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            say("GPU time per epoch: from timestamp queries, one submission of the timed epochs");
        } else {
            say("GPU time per epoch: not measured (this adapter has no timestamp queries); wall time only");
        }
    }
    // The yardsticks for the large batches: an epoch reads each sample's inputs and label
    // (a copy reads and writes each byte), and does the net's multiply-adds.
    let (copy, fma) = match &gpu {
        Some(g) => {
            let c = copy_bandwidth(g)?;
            say(&format!("gpu copy bandwidth: {c}; % copy is of the faster"));
            let f = crate::gpu::ceiling::fma_rate(g)?;
            say(&format!("gpu multiply-adds: {f:.3e}/s (fma_ops, f32, median of 5); % fma is of it"));
            (Some(c.bytes_per_s()), Some(f))
        }
        None => (None, None),
    };
    let yardsticks = Yardsticks {
        copy,
        fma,
        bytes_per_sample: 4.0 * (net.inputs() + 1) as f64,
        macs_per_sample: net.macs_per_sample() as f64,
    };
    say(&format!("cpu: {cpu}"));
    say(&format!("net: {}", net.describe()));
    // The 2-H-1 paths' memory per sample (the general paths' depends on the net and path).
    for (backend, plan) in &plans {
        match (backend, plan.classic, plan.path, &gpu) {
            (SweepBackend::Gpu, Some(h), Some(path), Some(g)) => {
                let each = memory::per_sample(Runner::gpu(g, path), h);
                say(&format!(
                    "memory per sample on the GPU: {} bytes on the device, {} on the host{}",
                    each.device,
                    each.host,
                    if each.host > 2 * memory::DATA_BYTES {
                        " (a software adapter's device memory is the host's)"
                    } else {
                        ""
                    }
                ));
            }
            (SweepBackend::Cpu, Some(_), _, _) => {
                say(&format!("memory per sample on the CPU: {} bytes (x1, x2, t as f32)", memory::DATA_BYTES))
            }
            _ => {}
        }
    }

    let sizes = batches(args.min_batch, max, args.factor);
    let bar = if args.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new((sizes.len() * backends.len()) as u64);
        b.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} points {msg}").expect("template"));
        b
    };
    let mut records = Vec::new();
    bar.suspend(|| say(HEADER));
    // Backend by backend: the CPU's thread pool spins a while after its work, which would
    // steal cores from a software adapter's GPU points in between.
    for &backend in &backends {
        for &batch in &sizes {
            let data = match &user_data {
                Some(d) => d.head(batch),
                None => Dataset::for_batch(batch, args.noise, args.seed)?,
            };
            bar.set_message(format!("{backend:?} at batch {batch}"));
            let record = match backend {
                SweepBackend::Gpu => point("gpu", gpu.as_ref(), data, &spec)?,
                SweepBackend::Cpu => point("cpu", None, data, &spec)?,
            };
            bar.suspend(|| say(&row(&record, &yardsticks)));
            records.push(record);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let cross = crossover(&records);
    if backends.len() == 2 {
        say(&match cross {
            Some(b) => format!("crossover: the GPU first beats the CPU at batch {b}"),
            None => format!("crossover: none; the GPU did not beat the CPU at any batch up to {max}"),
        });
    }
    if let Some(path) = &args.csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in &records {
            w.serialize(r).map_err(|e| Error::Input(format!("cannot write CSV: {e}")))?;
        }
        let bytes = w.into_inner().map_err(|e| Error::Input(format!("cannot write CSV: {e}")))?;
        write_atomically(path, &bytes)?;
        say(&format!("wrote {}", path.display()));
    }
    if let Some(path) = &args.plot {
        let title = match &gpu {
            Some(g) => format!("samples/s vs batch: GPU {} vs CPU", g.adapter_name),
            None => format!("samples/s vs batch: CPU {cpu}"),
        };
        scaling_chart(path, &records, cross, &title)?;
        say(&format!("wrote {}", path.display()));
    }
    if args.json {
        // println!, so a write that fails ends the run as any output does (see main).
        println!("{}", serde_json::to_string(&records).expect("records serialise"));
    }
    Ok(())
}
