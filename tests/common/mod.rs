//! Helpers the integration tests share.
#![allow(dead_code)]

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use xorgpu::data::Dataset;
use xorgpu::gpu::Gpu;
use xorgpu::model::Params;
pub use xorgpu::selfcheck::rel_error;

/// Batch sizes chosen to land on and around every boundary the kernels have: a single
/// sample, the XOR table, one workgroup (64 is a quarter of one, 256·4 one reduction
/// chunk), and a batch that needs several reduction passes.
pub const SIZES_N: [usize; 8] = [1, 3, 4, 63, 64, 65, 1000, 100_003];
pub const SIZES_H: [usize; 4] = [1, 2, 3, 16];

/// The GPU, or a failure that says how to get one: a GPU test never passes by skipping.
/// One device per test executable, shared: drivers run out of devices (NVIDIA's Vulkan
/// driver found no adapter after some dozens opened in one process), and opening one per
/// case would test the driver's set-up more than the kernels.
pub fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
        }
        match Gpu::new(None) {
            Ok(g) => g,
            Err(e) => panic!("GPU tests need an adapter and found none ({e}). On Linux `apt-get install mesa-vulkan-drivers` gives a software one."),
        }
    })
    .clone()
}

/// A fresh generator per test, seeded from the clock, so every run draws new inputs;
/// the seed is printed so a failure can be replayed with TEST_SEED.
pub fn rng() -> ChaCha8Rng {
    let seed = std::env::var("TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("TEST_SEED={seed}");
    ChaCha8Rng::seed_from_u64(seed)
}

/// Fails with the first few pairs and the largest difference when `a` is not within
/// `tol` relative error of the reference `b`. A NaN anywhere fails (NaN ≤ tol is false).
pub fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f64) {
    let err = rel_error(a, b);
    if err.is_nan() || err > tol || a.iter().any(|x| !x.is_finite()) {
        let (worst, at) = a
            .iter()
            .zip(b)
            .enumerate()
            .map(|(i, (x, y))| ((x - y).abs(), i))
            .fold((0.0f32, 0), |m, (d, i)| if d > m.0 || d.is_nan() { (d, i) } else { m });
        let pairs: Vec<String> = a.iter().zip(b).take(4).map(|(x, y)| format!("{x} vs {y}")).collect();
        panic!(
            "{what}: relative error {err:e} over {tol:e}; first pairs [{}]; largest difference {worst} at {at}",
            pairs.join(", ")
        );
    }
}

/// The loss and gradient of `params` on `data` in f64 (the reference's forward and
/// backward passes run in f64 on the f32 inputs), and beside each gradient element the scale
/// of the error f32 arithmetic must make in it, whatever the order of adding: the sum of
/// its per-sample terms' magnitudes (a sum whose terms cancel is known to about ε·Σ|terms|),
/// each term weighted by how much its factors `1 − s` amplify a rounding (relative error
/// ε·s/(1 − s): κ(s) = 1/(1 − s), large where a unit saturates near 1, as the math note's
/// σ' = s(1 − s) and dG2 = S2 − T both compute).
pub struct Reference {
    pub loss: f64,
    pub grads: Vec<f64>,
    pub magnitudes: Vec<f64>,
}

/// [`Reference`] for `params` on `data`, a million samples at a time so that batches at the
/// device's binding limit fit in memory.
pub fn reference_gradients(params: &Params, data: &Dataset) -> Reference {
    use xorgpu::cpu;
    const PIECE: usize = 1 << 20;
    let p = params.to_f64();
    let (h, n) = (params.hidden, data.len());
    let len = xorgpu::model::Layout::new(h).len;
    let mut out = Reference { loss: 0.0, grads: vec![0.0; len], magnitudes: vec![0.0; len] };
    for start in (0..n).step_by(PIECE) {
        let piece = data.slice(start, (start + PIECE).min(n));
        let m = piece.len();
        // The reference divides by the piece's size; each piece counts m/N of the whole.
        let weight = m as f64 / n as f64;
        let xt: Vec<f64> = piece.xt.iter().map(|&v| v as f64).collect();
        let t: Vec<f64> = piece.t.iter().map(|&v| v as f64).collect();
        let f = cpu::forward(&p, &xt);
        out.loss += weight * cpu::bce_loss(&f.s2, &t);
        let abs = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| x.abs()).collect() };
        let kappa = |s: f64| 1.0 / (1.0 - s);
        let d_g2 = cpu::sigmoid_backward(&cpu::bce_grad(&f.s2, &t), &f.s2);
        let d_s1 = cpu::matmul(&p.w2, true, &d_g2, false, h, 1, m);
        let d_g1 = cpu::sigmoid_backward(&d_s1, &f.s1);
        let grads = cpu::backward(&p, &xt, &t, &f);
        let (mut d_g1, mut d_g2, s1, x) = (abs(&d_g1), abs(&d_g2), abs(&f.s1), abs(&xt));
        // κ of the output's 1 − s2 enters every term; the hidden unit's own 1 − s1 its layer's.
        for (i, d) in d_g1.iter_mut().enumerate() {
            *d *= kappa(f.s2[i % m]) + kappa(f.s1[i]);
        }
        for (d, &s2) in d_g2.iter_mut().zip(&f.s2) {
            *d *= kappa(s2);
        }
        let magnitudes = Params {
            hidden: h,
            w1: cpu::matmul(&d_g1, false, &x, true, h, m, 2),
            b1: cpu::sum_rows(&d_g1, m),
            w2: cpu::matmul(&d_g2, false, &s1, true, 1, m, h),
            b2: cpu::sum_rows(&d_g2, m),
        };
        for (o, g) in out.grads.iter_mut().zip(grads.iter()) {
            *o += weight * g;
        }
        for (o, g) in out.magnitudes.iter_mut().zip(magnitudes.iter()) {
            *o += weight * g;
        }
    }
    out
}

/// Relative error allowed per gradient element.
pub const GRAD_RTOL: f64 = 2e-5;
/// The floor, as a fraction of the element's weighted `Σₙ |termₙ|` (see [`Reference`]):
/// f32 sums of up to a few thousand terms per thread then trees, of terms each within a few
/// ulps (the GPU's `exp` may be off by 3 + 2|x| ulps), stayed within 1.7e-7 of it on every
/// path and size of `tests/gradients.rs` (llvmpipe, two runs); the floor leaves a margin of 30×.
pub const GRAD_FLOOR: f64 = 5e-6;

/// Every element of `got` within `GRAD_RTOL·|want| + GRAD_FLOOR·magnitude` of the f64
/// reference, NaN failing; the message names the worst parameter.
pub fn assert_gradients(what: &str, hidden: usize, got: &[f32], want: &[f64], magnitudes: &[f64]) {
    if let Some(problem) = gradient_mismatch(hidden, got, want, magnitudes) {
        panic!("{what}: {problem}");
    }
}

/// What [`assert_gradients`] would fail with, if anything.
pub fn gradient_mismatch(hidden: usize, got: &[f32], want: &[f64], magnitudes: &[f64]) -> Option<String> {
    let layout = xorgpu::model::Layout::new(hidden);
    mismatch_named(|i| layout.name(i), got, want, magnitudes)
}

/// The worst element past `GRAD_RTOL·|want| + GRAD_FLOOR·magnitude`, if any, named by
/// `name`; NaN counts as infinitely wrong.
fn mismatch_named(name: impl Fn(usize) -> String, got: &[f32], want: &[f64], magnitudes: &[f64]) -> Option<String> {
    assert_eq!(got.len(), want.len(), "gradient length");
    let mut worst: Option<(f64, usize)> = None;
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(magnitudes).enumerate() {
        let allowed = GRAD_RTOL * w.abs() + GRAD_FLOOR * m;
        let ratio = (g as f64 - w).abs() / allowed.max(f64::MIN_POSITIVE);
        let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
        if ratio > 1.0 && worst.is_none_or(|(r, _)| ratio > r) {
            worst = Some((ratio, i));
        }
    }
    worst.map(|(ratio, i)| {
        format!(
            "gradient {} = {} where the f64 reference has {} (error scale {:e}): {ratio:.1}× the tolerance",
            name(i),
            got[i],
            want[i],
            magnitudes[i]
        )
    })
}

/// The largest `|got − want| / (|want|, magnitude)` pair over the elements, for reports.
pub fn gradient_errors(got: &[f32], want: &[f64], magnitudes: &[f64]) -> (f64, f64) {
    got.iter().zip(want).zip(magnitudes).fold((0.0, 0.0), |(r, f), ((&g, &w), &m)| {
        let d = (g as f64 - w).abs();
        (r.max(d / w.abs()), f.max(d / m))
    })
}

/// The binary cargo built for these tests, or, where the test executable was copied to
/// another machine without it, the staged copy one folder up from the test executable.
pub fn xorgpu_path() -> std::path::PathBuf {
    let built = std::path::PathBuf::from(env!("CARGO_BIN_EXE_xorgpu"));
    if built.exists() {
        built
    } else {
        let exe = std::env::current_exe().unwrap();
        exe.parent().and_then(|p| p.parent()).unwrap().join("xorgpu")
    }
}

/// [`xorgpu_path`] as a command, with backtraces on (a panic would show where).
pub fn xorgpu() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(xorgpu_path());
    cmd.env("RUST_BACKTRACE", "1");
    cmd
}

/// Runs a command that must fail: one line on stderr starting with `error:`, the given
/// exit status, no panic, and `mentions` in the line.
pub fn fails(args: &[&str], status: i32, mentions: &str) {
    let out = xorgpu().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{args:?}: status; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line on stderr, got {stderr}");
    assert!(lines[0].starts_with("error:"), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(stderr.contains(mentions), "{args:?}: expected {mentions:?} in {stderr}");
}

/// [`Reference`] for any net: the loss and gradient of `mlp` on `data` in f64, and beside
/// each element the scale of the error f32 must make in it, in the units of
/// [`reference_gradients`] (a sum of absolute terms, which the tolerance multiplies by a few
/// dozen ε). The scale follows the arithmetic both ways:
/// - forward, the error an activation can carry: `e(Z_l) = |W_l|·(|A_{l−1}| + e(A_{l−1})) +
///   |B_l|` (a dot product is known to about ε times its terms' magnitudes, and carries its
///   inputs' errors), `e(A_l) = |f′|·e(Z_l) + |A_l|`;
/// - backward, `mag(dZ_L) = (|dZ_L| + e(A_L)/N)·κ`, κ = 1/(1 − A_L) for the digits `1 − A`
///   loses near 1; each step back `|W_l|ᵀ·mag(dZ_l)`, times `|f′|·(1 + κ_f)` (κ_f = 1/(1 − A)
///   for a sigmoid, 1/(1 − |A|) for tanh) plus `|f″|·e(A)` (f′ is taken from an A that is
///   itself off); a ReLU unit whose Z is within 1e-5 of its error scale of 0 may land on
///   either side of the kink, so its whole term is allowed;
/// - `mag(dW_l) = mag(dZ_l)·|A_{l−1}|ᵀ + |dZ_l|·e(A_{l−1})ᵀ`, `mag(dB_l) = Σₙ mag(dZ_l)`.
pub fn mlp_reference(mlp: &xorgpu::net::Mlp, data: &Dataset) -> Reference {
    use xorgpu::cpu::{self, mlp as reference};
    use xorgpu::net::Activation;
    const PIECE: usize = 1 << 18;
    let m64 = mlp.to_f64();
    let net = &mlp.net;
    let (n, len) = (data.len(), net.param_count());
    let mut out = Reference { loss: 0.0, grads: vec![0.0; len], magnitudes: vec![0.0; len] };
    let abs = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| x.abs()).collect() };
    let add = |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x + y).collect() };
    // f′ and f″ as functions of the output A (for the output sigmoid too).
    let derivatives = |f: Activation, y: f64| -> (f64, f64) {
        match f {
            Activation::Sigmoid => (y * (1.0 - y), (1.0 - 2.0 * y).abs()),
            Activation::Tanh => (1.0 - y * y, 2.0 * y.abs()),
            Activation::Relu => (f64::from(u8::from(y > 0.0)), 0.0),
        }
    };
    let kappa = |f: Activation, y: f64| -> f64 {
        match f {
            Activation::Sigmoid => 1.0 / (1.0 - y),
            Activation::Tanh => 1.0 / (1.0 - y.abs()),
            Activation::Relu => 0.0,
        }
    };
    for start in (0..n).step_by(PIECE) {
        let piece = data.slice(start, (start + PIECE).min(n));
        let m = piece.len();
        let weight = m as f64 / n as f64;
        let xt: Vec<f64> = piece.xt.iter().map(|&v| v as f64).collect();
        let t: Vec<f64> = piece.t.iter().map(|&v| v as f64).collect();
        let a = reference::forward(&m64, &xt);
        let last = &a[a.len() - 1];
        out.loss += weight * cpu::bce_loss(last, &t);
        for (o, g) in out.grads.iter_mut().zip(reference::backward(&m64, &xt, &t, &a)) {
            *o += weight * g;
        }
        // Forward: each layer's Z, its error scale, and the error scale of its A.
        let mut z: Vec<Vec<f64>> = Vec::new();
        let mut z_err: Vec<Vec<f64>> = Vec::new();
        let mut a_err: Vec<Vec<f64>> = Vec::new();
        for l in 1..=net.layers() {
            let s = net.layer(l);
            let f = if l == net.layers() { Activation::Sigmoid } else { net.activation };
            let (input, input_err) =
                if l == 1 { (abs(&xt), vec![0.0; xt.len()]) } else { (abs(&a[l - 2]), a_err[l - 2].clone()) };
            let mut zl = cpu::matmul(
                m64.w(l),
                false,
                &(if l == 1 { xt.clone() } else { a[l - 2].clone() }),
                false,
                s.rows,
                s.cols,
                m,
            );
            cpu::add_bias(&mut zl, m64.b(l), m);
            let mut e = cpu::matmul(&abs(m64.w(l)), false, &add(&input, &input_err), false, s.rows, s.cols, m);
            cpu::add_bias(&mut e, &abs(m64.b(l)), m);
            let ea: Vec<f64> = e.iter().zip(&a[l - 1]).map(|(&e, &y)| derivatives(f, y).0 * e + y.abs()).collect();
            z.push(zl);
            z_err.push(e);
            a_err.push(ea);
        }
        let mut mag: Vec<f64> = cpu::sigmoid_backward(&cpu::bce_grad(last, &t), last)
            .iter()
            .zip(last)
            .zip(&a_err[net.layers() - 1])
            .map(|((d, s), e)| (d.abs() + e / n as f64) / (1.0 - s))
            .collect();
        let mut d_z = cpu::sigmoid_backward(&cpu::bce_grad(last, &t), last);
        for l in (1..=net.layers()).rev() {
            let s = net.layer(l);
            let (input, input_err) =
                if l == 1 { (abs(&xt), vec![0.0; xt.len()]) } else { (abs(&a[l - 2]), a_err[l - 2].clone()) };
            let d_w = add(
                &cpu::matmul(&mag, false, &input, true, s.rows, m, s.cols),
                &cpu::matmul(&abs(&d_z), false, &input_err, true, s.rows, m, s.cols),
            );
            for (o, v) in out.magnitudes[s.w..s.b].iter_mut().zip(d_w) {
                *o += weight * v;
            }
            for (o, v) in out.magnitudes[s.b..s.b + s.rows].iter_mut().zip(cpu::sum_rows(&mag, m)) {
                *o += weight * v;
            }
            if l > 1 {
                let f = net.activation;
                let d_a = cpu::matmul(&abs(m64.w(l)), true, &mag, false, s.cols, s.rows, m);
                let below = &a[l - 2];
                mag = (0..d_a.len())
                    .map(|i| {
                        let (d1, d2) = derivatives(f, below[i]);
                        let near_kink = f == Activation::Relu && z[l - 2][i].abs() <= 1e-5 * z_err[l - 2][i];
                        if near_kink {
                            d_a[i] / GRAD_FLOOR
                        } else {
                            d_a[i] * (d1 * (1.0 + kappa(f, below[i])) + d2 * a_err[l - 2][i])
                        }
                    })
                    .collect();
                let exact_d_a = cpu::matmul(m64.w(l), true, &d_z, false, s.cols, s.rows, m);
                d_z = cpu::activate_backward(f, &exact_d_a, below);
            }
        }
    }
    out
}

/// The largest error over its allowance, `|got − want| / (GRAD_RTOL·|want| + GRAD_FLOOR·scale)`,
/// over the elements (1 is the limit): what the margin is.
pub fn mlp_gradient_ratio(got: &[f32], r: &Reference) -> f64 {
    got.iter().zip(&r.grads).zip(&r.magnitudes).fold(0.0, |worst, ((&g, &w), &m)| {
        let ratio = (g as f64 - w).abs() / (GRAD_RTOL * w.abs() + GRAD_FLOOR * m).max(f64::MIN_POSITIVE);
        if ratio.is_nan() {
            f64::INFINITY
        } else {
            worst.max(ratio)
        }
    })
}

/// [`gradient_mismatch`] for any net, naming the parameter by its layer.
pub fn mlp_gradient_mismatch(net: &xorgpu::net::Net, got: &[f32], r: &Reference) -> Option<String> {
    mismatch_named(|i| net.param_name(i), got, &r.grads, &r.magnitudes)
}
