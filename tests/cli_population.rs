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
    assert!(text.contains("600 networks × 1500 epochs"), "{text}");
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
    fails(&p(&["--optimizer", "adam"]), 2, "sgd or momentum");
    fails(&p(&["--epochs", "4294967295"]), 2, "--epochs");
    fails(&p(&["--plot", "rates.jpg"]), 2, "PNG");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    std::fs::write(&data, "x1,x2,y\n0,0,0\n").unwrap();
    fails(&p(&["--data", data.to_str().unwrap(), "--csv", data.to_str().unwrap()]), 2, "--csv");
}
