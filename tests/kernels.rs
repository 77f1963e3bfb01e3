//! Every WGSL kernel against its CPU twin of the same name (`src/selfcheck.rs`), on fresh
//! random inputs at awkward sizes, outputs poisoned with NaN before each run.

mod common;

use common::{gpu, SIZES_H, SIZES_N};
use rand::Rng;
use xorgpu::gpu::fused::fused_source;
use xorgpu::gpu::kernels::SHADERS;
use xorgpu::net::optim::OptimizerKind;
use xorgpu::net::Activation;
use xorgpu::selfcheck::{check_kernels, kernel_names, TOL};

#[test]
fn every_kernel_matches_its_cpu_twin() {
    let gpu = gpu();
    let seed = common::rng().random();
    let results = check_kernels(&gpu, &SIZES_H, &SIZES_N, seed).expect("kernels run");
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{}: {}: relative error {:e} over {TOL:e}", r.kernel, r.case, r.rel_error))
        .collect();
    assert!(failed.is_empty(), "seed {seed}:\n{}", failed.join("\n"));
    // Every kernel ran at every size (train_tiny only where the batch fits a workgroup).
    for name in kernel_names() {
        assert!(results.iter().filter(|r| r.kernel == name).count() >= SIZES_H.len() * 3, "{name} barely ran");
    }
}

/// The check table covers every `@compute` entry point in `shaders/`, so a new kernel
/// cannot arrive without a check.
#[test]
fn every_kernel_has_a_check() {
    let fused = fused_source(2, 8);
    let net = xorgpu::net::Net::new(vec![2, 3, 1], Activation::Tanh).unwrap();
    // Both forms of mlp_partials, and mlp_reduce.
    use xorgpu::gpu::fused_mlp::PartialSums;
    let fused_mlp =
        [PartialSums::Direct, PartialSums::Subgroups].map(|sums| xorgpu::gpu::fused_mlp::source(&net, sums)).concat();
    let population = xorgpu::gpu::population::source(&population_setup(Activation::Relu, OptimizerKind::Sgd), 3);
    let tiled = xorgpu::gpu::tiled::source(xorgpu::gpu::tiled::SQUARE);
    let mlp_tiny = xorgpu::gpu::mlp_tiny::source(&net, OptimizerKind::Adam, 8);
    let mut entry_points: Vec<String> = SHADERS
        .iter()
        .map(|(_, src)| *src)
        .chain([fused.as_str(), fused_mlp.as_str(), population.as_str(), tiled.as_str(), mlp_tiny.as_str()])
        .flat_map(|src| {
            src.split("@compute").skip(1).map(|rest| {
                let after = &rest[rest.find("fn ").expect("entry point") + 3..];
                after[..after.find('(').expect("parameters")].trim().to_string()
            })
        })
        .collect();
    entry_points.sort();
    entry_points.dedup();
    let mut checked: Vec<String> = kernel_names().iter().map(|n| n.to_string()).collect();
    checked.sort();
    assert_eq!(entry_points, checked);
}

fn population_setup(activation: Activation, optimizer: OptimizerKind) -> xorgpu::population::Setup {
    xorgpu::population::Setup {
        inputs: 2,
        activation,
        optimizer: xorgpu::net::optim::Optimizer::defaults(optimizer),
        epochs: 10,
        target_loss: 0.05,
        stop_at_success: false,
    }
}

/// Every WGSL file parses and validates with the naga wgpu uses, without a device.
#[test]
fn shaders_validate() {
    use wgpu::naga;
    let fused: Vec<(String, String)> = [(1, 8), (2, 8), (16, 64), (256, 8)]
        .iter()
        .map(|&(h, wg)| (format!("fused.wgsl H={h}"), fused_source(h, wg)))
        .collect();
    // The fused pair for any net: written out and as loops, each reduction, each activation.
    use xorgpu::net::Net;
    let nets = [
        Net::new(vec![2, 1], Activation::Sigmoid).unwrap(),
        Net::new(vec![2, 16, 16, 1], Activation::Tanh).unwrap(),
        Net::new(vec![7, 4, 2, 1], Activation::Sigmoid).unwrap(),
        Net::new(vec![3, 12, 12, 12, 1], Activation::Relu).unwrap(),
    ];
    let fused_mlp: Vec<(String, String)> = nets
        .iter()
        .flat_map(|net| {
            use xorgpu::gpu::fused_mlp::PartialSums::{Direct, Subgroups, Tree};
            [Direct, Tree, Subgroups].map(|sums| {
                (format!("fused_mlp.wgsl {} {sums:?}", net.describe()), xorgpu::gpu::fused_mlp::source(net, sums))
            })
        })
        .collect();
    // The population kernel: each activation, each rule, widths 1 to 32, 2 and 7 inputs.
    let population = [
        (Activation::Sigmoid, OptimizerKind::Sgd, 1, 2),
        (Activation::Tanh, OptimizerKind::Momentum, 32, 2),
        (Activation::Relu, OptimizerKind::Sgd, 3, 7),
        (Activation::Sigmoid, OptimizerKind::Adam, 8, 2),
    ]
    .map(|(act, opt, h, d)| {
        let setup = xorgpu::population::Setup { inputs: d, ..population_setup(act, opt) };
        (format!("population.wgsl {d}-{h}-1 {act:?} {opt:?}"), xorgpu::gpu::population::source(&setup, h))
    });
    // The many-epochs kernel: each rule, workgroups of 8 to 64.
    let mlp_tiny: Vec<(String, String)> =
        [(OptimizerKind::Sgd, 8), (OptimizerKind::Momentum, 32), (OptimizerKind::Adam, 64)]
            .iter()
            .zip(&nets)
            .map(|(&(rule, tw), net)| {
                (
                    format!("mlp_tiny.wgsl {} {rule:?} TW={tw}", net.describe()),
                    xorgpu::gpu::mlp_tiny::source(net, rule, tw),
                )
            })
            .collect();
    // The tiled kernels, each tile shape.
    use xorgpu::gpu::tiled::{source, SQUARE, THIN};
    let tiled = [SQUARE, THIN].map(|shape| (format!("tiled.wgsl {shape:?}"), source(shape)));
    let all = SHADERS
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .chain(fused)
        .chain(fused_mlp)
        .chain(population)
        .chain(mlp_tiny)
        .chain(tiled);
    for (name, source) in all {
        let module =
            naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

/// A NaN left by the GPU fails a check: the comparison the tests rely on can fail.
#[test]
fn an_unwritten_output_fails() {
    let r = xorgpu::selfcheck::CheckResult {
        kernel: "x",
        case: String::new(),
        rel_error: xorgpu::selfcheck::rel_error(&[1.0, f32::NAN], &[1.0, 2.0]),
    };
    assert!(!r.passed());
}

/// epoch_partials' per-sample code is generated for each width up to UNROLLED_MAX_H (and
/// its sums stashed in batches of 16, more than one batch from H = 4 on), and written as
/// loops past it: every generated width and the first looped one against the CPU.
#[test]
fn every_generated_width_matches_its_cpu_twin() {
    use xorgpu::gpu::fused::UNROLLED_MAX_H;
    let gpu = gpu();
    let seed = common::rng().random();
    let widths: Vec<usize> = (1..=UNROLLED_MAX_H + 1).collect();
    let results = check_kernels(&gpu, &widths, &[1, 65, 4099], seed).expect("kernels run");
    let fused: Vec<_> = results.iter().filter(|r| r.kernel == "epoch_partials").collect();
    // Weights and loss, at every width and size.
    assert_eq!(fused.len(), widths.len() * 3 * 2, "epoch_partials ran at every width and size");
    let failed: Vec<String> =
        fused.iter().filter(|r| !r.passed()).map(|r| format!("{}: relative error {:e}", r.case, r.rel_error)).collect();
    assert!(failed.is_empty(), "seed {seed}:\n{}", failed.join("\n"));
}
