//! The `population` command: a member is the single trainer's network, the table, the
//! files it writes, and every bad input as one line and exit status 2.

mod common;

use common::{fails, xorgpu};
use serde_json::Value;
use xorgpu::net::file::Model;

fn run(args: &[&str]) -> std::process::Output {
    let out = xorgpu().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// `population --seed S --models 1` with one cell trains the network that `xorgpu --seed S`
/// trains with the same width, rate and scale: the same start, and after 300 epochs the
/// same weights within the single CPU trainer's own distance from the reference (its exp
/// and sums differ in the last bits; tests/fast_cpu.rs allows 1e-4), on both backends.
#[test]
fn a_member_is_the_single_trainers_network() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, h, lr, scale, extra) in [
        ("cpu", "3", "0.5", "2", &[][..]),
        ("gpu", "2", "2", "1", &[][..]),
        ("cpu", "4", "0.2", "0.5", &["--activation", "tanh", "--optimizer", "momentum"][..]),
    ] {
        let single = dir.path().join(format!("single-{backend}-{h}.json"));
        let member = dir.path().join(format!("member-{backend}-{h}.json"));
        let common = ["--seed", "5", "--hidden", h, "--lr", lr, "--init-scale", scale, "--epochs", "300"];
        let mut args = vec!["--backend", backend, "--quiet", "--save", single.to_str().unwrap()];
        args.extend(common);
        args.extend(extra);
        run(&args);
        let mut args =
            vec!["population", "--backend", backend, "--models", "1", "--export-best", member.to_str().unwrap()];
        args.extend(common);
        args.extend(extra);
        run(&args);
        let (a, b) = (Model::load(&single).unwrap(), Model::load(&member).unwrap());
        assert_eq!(a.mlp.net, b.mlp.net);
        let scale = a.mlp.params.iter().fold(1.0f32, |m, w| m.max(w.abs()));
        for (i, (x, y)) in a.mlp.params.iter().zip(&b.mlp.params).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "{backend} H={h}: parameter {i}: single {x}, member {y}");
        }
    }
}

/// The table names the criterion and every cell; --csv has a row per network; --json is one
/// object with a summary per cell whose counts add up; --plot draws a PNG.
#[test]
fn the_reports_agree() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("runs.csv");
    let png = dir.path().join("rates.png");
    let grid = ["--models", "50", "--hidden", "1,2,3", "--lr", "1,4", "--init-scale", "1,2", "--epochs", "1500"];
    let mut args = vec!["population", "--backend", "cpu"];
    args.extend(grid);
    args.extend(["--csv", csv.to_str().unwrap(), "--plot", png.to_str().unwrap()]);
    let out = run(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("every training sample on the right side of 0.5 and loss < 0.05"), "{text}");
    assert!(text.contains("900000 network-epochs (600 networks)"), "{text}");
    let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&csv).unwrap().records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 600);
    let succeeded_in_csv = rows.iter().filter(|r| &r[5] == "1").count();
    assert!(rows.iter().all(|r| (&r[5] == "1") != r[6].is_empty()), "a success has its epoch");
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);

    let mut args = vec!["population", "--backend", "cpu", "--json"];
    args.extend(grid);
    let out = run(&args);
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 12);
    let successes: u64 = cells.iter().map(|c| c["successes"].as_u64().unwrap()).sum();
    assert_eq!(successes as usize, succeeded_in_csv, "the same runs, the same successes");
    for c in cells {
        assert_eq!(c["models"], 50);
        let (lo, hi) = (c["interval_95"][0].as_f64().unwrap(), c["interval_95"][1].as_f64().unwrap());
        let rate = c["success_rate"].as_f64().unwrap();
        assert!(lo <= rate && rate <= hi);
        if c["hidden"] == 1 {
            assert_eq!(c["successes"], 0, "one hidden unit cannot learn XOR");
        }
    }
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    fn p<'a>(rest: &[&'a str]) -> Vec<&'a str> {
        [&["population", "--backend", "cpu"][..], rest].concat()
    }
    fails(&p(&["--models", "0"]), 2, "--models");
    fails(&p(&["--models", "100000000000000"]), 2, "host memory");
    fails(&p(&["--lr", ""]), 2, "nothing");
    fails(&p(&["--lr", "1,,2"]), 2, "--lr");
    fails(&p(&["--lr", "1,1"]), 2, "twice");
    fails(&p(&["--lr", "nan"]), 2, "--lr");
    fails(&p(&["--hidden", "0"]), 2, "1 to 32");
    fails(&p(&["--hidden", "33"]), 2, "1 to 32");
    fails(&p(&["--init-scale", "-1"]), 2, "--init-scale");
    fails(&p(&["--target-loss", "0"]), 2, "--target-loss");
    fails(&p(&["--target-loss", "inf"]), 2, "--target-loss");
    fails(&p(&["--batch", "2000"]), 2, "at most 1365 samples");
    fails(&p(&["--optimizer", "adam", "--beta1", "1"]), 2, "--beta1");
    fails(&p(&["--epochs", "4294967295"]), 2, "--epochs");
    fails(&p(&["--plot", "rates.jpg"]), 2, "PNG");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    std::fs::write(&data, "x1,x2,y\n0,0,0\n").unwrap();
    fails(&p(&["--data", data.to_str().unwrap(), "--csv", data.to_str().unwrap()]), 2, "--csv");
}

/// --stop-at-success ends the run once every network has stopped, on both backends, even
/// with four billion epochs asked for; the rate counts the epochs run.
#[test]
fn stopped_populations_end_early() {
    for backend in ["cpu", "gpu"] {
        let args = ["population", "--backend", backend, "--models", "10", "--hidden", "4", "--epochs", "4000000000"];
        let out = xorgpu()
            .args(args)
            .args(["--stop-at-success", "--json"])
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["cells"][0]["successes"], 10, "{backend}");
        let ran = v["network_epochs"].as_u64().unwrap();
        assert!(ran < 10 * 2000, "{backend}: {ran} network-epochs");
    }
}

/// --export writes the member named (by seed alone in a one-cell grid, with its cell in a
/// larger one) as the single trainer would save it; --export-init writes every network's
/// starting weights, the single trainer's draw times the scale.
#[test]
fn members_and_starting_weights_are_exported() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.json");
    let named = dir.path().join("named.json");
    let init = dir.path().join("init.json");
    let spec = format!("12={}", one.display());
    run(&["population", "--backend", "cpu", "--models", "20", "--seed", "3", "--epochs", "200", "--export", &spec]);
    let spec = format!("7,3,0.5,2={}", named.display());
    let grid = ["--models", "10", "--hidden", "2,3", "--lr", "0.5,2", "--init-scale", "1,2", "--epochs", "200"];
    let mut args = vec!["population", "--backend", "cpu", "--export", &spec];
    args.extend(grid);
    args.extend(["--export-init", init.to_str().unwrap()]);
    run(&args);
    // The single trainer's networks, trained the same way.
    let single = dir.path().join("single.json");
    for (file, seed, h, lr, scale) in [(&one, "12", "2", "2", "1"), (&named, "7", "3", "0.5", "2")] {
        let s = single.to_str().unwrap();
        run(&[
            "--backend",
            "cpu",
            "--quiet",
            "--seed",
            seed,
            "--hidden",
            h,
            "--lr",
            lr,
            "--init-scale",
            scale,
            "--epochs",
            "200",
            "--save",
            s,
        ]);
        let (a, b) = (Model::load(file).unwrap(), Model::load(&single).unwrap());
        for (x, y) in a.mlp.params.iter().zip(&b.mlp.params) {
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "seed {seed}: {x} vs {y}");
        }
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&init).unwrap()).unwrap();
    let nets = doc["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 80);
    for n in nets {
        let h = n["hidden"].as_u64().unwrap() as usize;
        let scale = n["init_scale"].as_f64().unwrap() as f32;
        let want = xorgpu::net::Net::classic(h).init_scaled(n["seed"].as_u64().unwrap(), scale).params;
        let got: Vec<f32> = n["params"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(got, want);
    }
    let p = |rest: &[&str]| {
        let mut a = vec!["population", "--backend", "cpu", "--models", "10"];
        a.extend_from_slice(rest);
        a.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let to = format!("{}", dir.path().join("x.json").display());
    let csv = format!("{}", dir.path().join("members.csv").display());
    for (args, says) in [
        (p(&["--lr", "1,2", "--export", &format!("3={to}")]), "name one"),
        (p(&["--export", &format!("30={to}")]), "seeds run from 1 to 10"),
        (p(&["--export", &format!("3,2,9,1={to}")]), "no grid cell"),
        (p(&["--export", "3"]), "SEED=FILE"),
        // A member that diverged has no model (its outputs are past f32): not written.
        (
            p(&[
                "--lr",
                "1e30",
                "--activation",
                "relu",
                "--hidden",
                "16",
                "--export",
                &format!("3={to}"),
                "--csv",
                &csv,
            ]),
            "diverged",
        ),
        (p(&["--csv", &format!("{to}/")]), "path separator"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&args, 2, says);
    }
    // Refused before any output: the diverged export's run wrote no CSV.
    assert!(!std::path::Path::new(&csv).exists());
}

/// On a software adapter an epoch must fit the shader loop guard: 1,365 samples at width 8
/// do not and are refused before any work (on a GPU they train, and learn).
#[test]
fn the_software_adapters_loop_guard_is_respected() {
    let gpu = common::gpu();
    let args =
        ["population", "--backend", "gpu", "--batch", "1365", "--hidden", "8", "--models", "3", "--epochs", "20"];
    if gpu.is_software() {
        fails(&args, 2, "loop iterations");
        run(&["population", "--backend", "gpu", "--batch", "400", "--hidden", "8", "--models", "3", "--epochs", "20"]);
    } else {
        run(&args);
    }
}

/// --profile on the GPU measures the device's exponentials and divisions a second and says
/// what share of it the run reached; on the CPU it says it needs the GPU.
#[test]
fn profile_reads_the_run_against_the_special_function_ceiling() {
    let args = ["population", "--models", "2000", "--epochs", "100", "--profile", "--json"];
    let out = xorgpu().args(args).args(["--backend", "gpu"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (ceiling, share) = (v["special_ops_per_s"].as_f64().unwrap(), v["share_of_special_ops"].as_f64().unwrap());
    assert!(ceiling > 1e6 && share > 0.0 && share < 1.5, "{ceiling} {share}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("% of it"));
    let out = xorgpu().args(args).args(["--backend", "cpu"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("GPU only"));
}

/// A data file longer than any population's set is refused once it passes the limit,
/// without being read whole.
#[test]
fn long_data_files_stop_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("long.csv");
    let rows: String = (0..5000).map(|i| format!("{},{},{}\n", i % 2, i % 3, i % 2)).collect();
    std::fs::write(&data, format!("x1,x2,y\n{rows}")).unwrap();
    fails(&["population", "--backend", "cpu", "--data", data.to_str().unwrap()], 2, "more than 2048 rows");
    let short = dir.path().join("short.csv");
    std::fs::write(&short, "\u{feff}x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n").unwrap();
    run(&["population", "--backend", "cpu", "--models", "5", "--epochs", "10", "--data", short.to_str().unwrap()]);
}
