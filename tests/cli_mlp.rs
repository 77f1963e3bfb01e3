//! The command line for any MLP: the options of issue-sized models, what the files hold,
//! resuming, the README's four data-set commands and their accuracies, and every bad input
//! as one line and exit status 2.

mod common;

use common::{fails, xorgpu};
use serde_json::Value;

fn json_run(args: &[&str]) -> Value {
    let out = xorgpu().args(args).arg("--json").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: one JSON object on stdout: {e}"))
}

/// The README's command for each data set (its own layers, activation and optimizer, seed 2)
/// reaches the accuracy the README states on its test set, on the CPU.
#[test]
fn the_readme_commands_learn_each_data_set() {
    let runs: [(&[&str], f64); 4] = [
        (
            &[
                "--dataset",
                "quadrants",
                "--layers",
                "2,8,1",
                "--activation",
                "tanh",
                "--epochs",
                "1000",
                "--batch",
                "500",
            ],
            0.97,
        ),
        (
            &[
                "--dataset",
                "circle",
                "--layers",
                "2,8,1",
                "--activation",
                "relu",
                "--epochs",
                "1500",
                "--batch",
                "1000",
            ],
            0.97,
        ),
        (&["--dataset", "gauss", "--layers", "2,1", "--epochs", "300", "--batch", "500"], 0.97),
        (
            &[
                "--dataset",
                "spiral",
                "--layers",
                "2,16,16,1",
                "--activation",
                "tanh",
                "--epochs",
                "2000",
                "--batch",
                "500",
            ],
            0.95,
        ),
    ];
    for (args, at_least) in runs {
        let common = ["--optimizer", "adam", "--test-batch", "1000", "--seed", "2", "--backend", "cpu"];
        let v = json_run(&[args, &common[..]].concat());
        let accuracy = v["test_accuracy"].as_f64().unwrap();
        assert!(accuracy >= at_least, "{args:?}: test accuracy {accuracy}, expected at least {at_least}");
        for field in ["test_loss", "train_accuracy", "final_loss"] {
            assert!(v[field].as_f64().is_some_and(f64::is_finite), "{args:?}: {field} in {v}");
        }
        assert_eq!(v["optimizer"], "adam");
    }
}

/// A deeper model saves in the layered form (no "w1" an old reader could mistake), with its
/// optimizer's state; `--init` continues that optimizer (its step count goes on), and the
/// same run on the GPU's step path lands where the CPU's does.
#[test]
fn layered_files_resume_their_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    let base = ["--dataset", "circle", "--batch", "200", "--layers", "2,6,3,1", "--activation", "tanh"];
    let a = json_run(
        &[&base[..], &["--optimizer", "adam", "--epochs", "30", "--backend", "cpu", "--save", first.to_str().unwrap()]]
            .concat(),
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    assert_eq!(saved["format"], "xorgpu-mlp");
    assert_eq!(saved["version"], 1);
    assert!(saved.get("w1").is_none(), "a layered file has no w1");
    assert_eq!(saved["layers"].as_array().unwrap().len(), 3);
    assert_eq!(saved["optimizer"]["kind"], "adam");
    assert_eq!(saved["optimizer_state"]["step"], 30);
    assert_eq!(saved["optimizer_state"]["m"].as_array().unwrap().len(), 2 * 6 + 6 + 6 * 3 + 3 + 3 + 1);
    assert_eq!(saved["features"], serde_json::json!(["x1", "x2"]));
    assert_eq!(saved["domain"], serde_json::json!([-6.0, 6.0]));
    // No --optimizer: the file's, continued.
    let b = json_run(
        &[
            &base[..],
            &[
                "--epochs",
                "20",
                "--backend",
                "cpu",
                "--init",
                first.to_str().unwrap(),
                "--save",
                second.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert_eq!(b["optimizer"], "adam");
    let resumed: Value = serde_json::from_str(&std::fs::read_to_string(&second).unwrap()).unwrap();
    assert_eq!(resumed["optimizer_state"]["step"], 50);
    assert!(b["final_loss"].as_f64().unwrap() < a["final_loss"].as_f64().unwrap());
    // The GPU from the same file, on each path (for a net this narrow on a batch this small,
    // the many-epochs kernel by default and as `--kernels fused`), to the same loss.
    for (kernels, want) in [(None, "tiny"), (Some("step"), "step"), (Some("fused"), "tiny"), (Some("tiled"), "tiled")] {
        let mut args = [&base[..], &["--epochs", "20", "--backend", "gpu", "--init", first.to_str().unwrap()]].concat();
        args.extend(kernels.map(|k| ["--kernels", k]).iter().flatten());
        let g = json_run(&args);
        assert_eq!(g["kernels"], want);
        let (x, y) = (g["final_loss"].as_f64().unwrap(), b["final_loss"].as_f64().unwrap());
        assert!((x - y).abs() <= 1e-4 * y, "{want}: gpu {x} vs cpu {y}");
    }
    // A net too wide for the fused kernels is refused on them, in one line, and says why.
    fails(
        &["--layers", "2,64,1", "--activation", "tanh", "--backend", "gpu", "--kernels", "fused", "--epochs", "2"],
        2,
        "64 units",
    );
}

/// The 2-2-1 sigmoid net trained by plain SGD keeps the old file form; the same net by
/// momentum is written layered, so its state is not lost.
#[test]
fn the_classic_form_is_kept_for_the_classic_net() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, moving) = (dir.path().join("plain.json"), dir.path().join("moving.json"));
    json_run(&["--backend", "cpu", "--epochs", "50", "--save", plain.to_str().unwrap()]);
    json_run(&["--backend", "cpu", "--epochs", "50", "--optimizer", "momentum", "--save", moving.to_str().unwrap()]);
    let plain: Value = serde_json::from_str(&std::fs::read_to_string(&plain).unwrap()).unwrap();
    let moving: Value = serde_json::from_str(&std::fs::read_to_string(&moving).unwrap()).unwrap();
    assert!(plain.get("w1").is_some() && plain.get("layers").is_none());
    assert!(moving.get("w1").is_none() && moving.get("layers").is_some());
}

/// Features are computed from raw points wherever data enters: training, predict (with an
/// accuracy where the file has labels) and plot; a model on d columns takes d columns.
#[test]
fn features_and_columns_follow_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let m = model.to_str().unwrap();
    let v = json_run(&[
        "--backend",
        "cpu",
        "--dataset",
        "circle",
        "--batch",
        "300",
        "--features",
        "x1sq,x2sq",
        "--layers",
        "2,1",
        "--optimizer",
        "adam",
        "--lr",
        "0.1",
        "--epochs",
        "300",
        "--save",
        m,
    ]);
    assert!(v["train_accuracy"].as_f64().unwrap() > 0.9);
    let points = dir.path().join("p.csv");
    std::fs::write(&points, "x1,x2,y\n0,0.5,1\n4.5,0,0\n-3.8,-3,0\n").unwrap();
    let p = json_run(&["predict", "--model", m, "--input", points.to_str().unwrap(), "--backend", "cpu"]);
    assert_eq!(p["accuracy"], 1.0, "{p}");
    let on_gpu = json_run(&["predict", "--model", m, "--input", points.to_str().unwrap(), "--backend", "gpu"]);
    for (a, b) in p["predictions"].as_array().unwrap().iter().zip(on_gpu["predictions"].as_array().unwrap()) {
        assert!((a["p"].as_f64().unwrap() - b["p"].as_f64().unwrap()).abs() < 1e-5);
    }
    let out = dir.path().join("pics");
    std::fs::create_dir(&out).unwrap();
    let run = xorgpu().args(["plot", "--model", m, "--out-dir", out.to_str().unwrap()]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for chart in ["boundary.png", "units.png", "loss.png"] {
        assert!(out.join(chart).metadata().unwrap().len() > 1000, "{chart}");
    }
    // Every unit has its map: 20 units of a layer wrap onto a second row of 16 (the picture
    // is 16 maps wide, two rows for the first layer, one for the second and the output's).
    let deep = dir.path().join("deep.json");
    json_run(&["--layers", "2,20,3,1", "--epochs", "5", "--backend", "cpu", "--save", deep.to_str().unwrap()]);
    let run = xorgpu().args(["plot", "--model", deep.to_str().unwrap(), "--out-dir", out.to_str().unwrap()]).output();
    assert!(run.unwrap().status.success());
    let png = std::fs::read(out.join("units.png")).unwrap();
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (16 * 96, 4 * 100), "units.png width and height");
    // Three columns in, a 3-4-1 net; predict takes three columns, plot has no plane to draw.
    let three = dir.path().join("three.csv");
    std::fs::write(&three, "x1,x2,x3,y\n1,2,3,1\n-1,-2,-3,0\n2,1,0,1\n").unwrap();
    let wide = dir.path().join("wide.json");
    json_run(&[
        "--data",
        three.to_str().unwrap(),
        "--layers",
        "3,4,1",
        "--epochs",
        "50",
        "--backend",
        "cpu",
        "--save",
        wide.to_str().unwrap(),
    ]);
    let p = json_run(&[
        "predict",
        "--model",
        wide.to_str().unwrap(),
        "--input",
        three.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(p["predictions"].as_array().unwrap().len(), 3);
    // A point on the command line takes as many numbers as the model reads, and answers as
    // the file's same row does.
    let w = wide.to_str().unwrap();
    let q = json_run(&["predict", "--model", w, "--x", "2,1,0", "--backend", "cpu"]);
    assert_eq!(q["predictions"][0]["p"], p["predictions"][2]["p"], "{q} {p}");
    fails(&["predict", "--model", w, "--x", "2,1"], 2, "3 inputs but the data has 2");
    fails(&["predict", "--model", w, "--x", "2,1,0", "--x", "2,1"], 2, "points of 3 and of 2 numbers");
    fails(&["predict", "--model", w, "--x", "2,1", "--input", three.to_str().unwrap()], 2, "has 3 input columns");
    fails(&["plot", "--model", wide.to_str().unwrap(), "--out-dir", out.to_str().unwrap()], 2, "3 input columns");
    fails(&["predict", "--model", wide.to_str().unwrap()], 2, "--input");
}

#[test]
fn bad_models_and_settings_are_one_line() {
    for (args, mentions) in [
        (&["--layers", ""][..], "--layers"),
        (&["--layers", "2,0,1"], "width 0"),
        (&["--layers", "2,257,1"], "width 257"),
        (&["--layers", "2,4,2"], "output width must be 1"),
        (&["--layers", "2,1,1,1,1,1,1,1,1,1,1,1"], "hidden layers"),
        (&["--layers", "2,x,1"], "\"x\""),
        (&["--layers", "3,4,1"], "3 inputs but 2 features"),
        (&["--features", "x1,x2,x1x2", "--layers", "2,4,1"], "3 features"),
        (&["--activation", "swish"], "swish"),
        (&["--optimizer", "lbfgs"], "lbfgs"),
        (&["--dataset", "moons"], "moons"),
        (&["--features", "x1,x9"], "x9"),
        (&["--features", "x1,x1"], "twice"),
        (&["--lr", "nan"], "--lr"),
        (&["--l2", "-1"], "--l2"),
        (&["--l2", "inf"], "--l2"),
        (&["--momentum", "1"], "--momentum"),
        (&["--beta1", "-0.1"], "--beta1"),
        (&["--beta2", "nan"], "--beta2"),
        (&["--eps", "0"], "--eps"),
        (&["--dataset", "spiral", "--noise", "0.6"], "0.5"),
        (&["--test-batch", "0"], "--test-batch"),
        (&["--hidden", "3", "--layers", "2,3,1"], "--layers"),
    ] {
        fails(&[args, &["--backend", "cpu", "--epochs", "5"][..]].concat(), 2, mentions);
    }
}

#[test]
fn bad_layered_files_and_data_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let layered = |body: &str| format!(r#"{{"format": "xorgpu-mlp", "version": 1, {body}}}"#);
    for (name, text, mentions) in [
        (
            "chain.json",
            layered(
                r#""activation": "tanh", "layers": [{"w": [[1, 2], [3, 4], [5, 6]], "b": [[0], [0], [0]]}, {"w": [[1, 2]], "b": [[0]]}]"#,
            ),
            "layer 2's \"w\" is 1 × 2, but layer 1 has 3 outputs",
        ),
        (
            "ragged.json",
            layered(
                r#""activation": "tanh", "layers": [{"w": [[1, 2], [3]], "b": [[0], [0]]}, {"w": [[1, 2]], "b": [[0]]}]"#,
            ),
            "row 1",
        ),
        (
            "bias.json",
            layered(r#""activation": "tanh", "layers": [{"w": [[1, 2]], "b": [[0], [1]]}]"#),
            "\"layers[0].b\" has 2 rows",
        ),
        ("act.json", layered(r#""activation": "swish", "layers": [{"w": [[1, 2]], "b": [[0]]}]"#), "swish"),
        // What --save writes beside the weights must agree with them.
        (
            "widths.json",
            layered(r#""activation": "tanh", "layers_widths": [2, 4, 1], "layers": [{"w": [[1, 2]], "b": [[0]]}]"#),
            "\"layers_widths\" is [2,4,1], but the layers are 2, 1",
        ),
        (
            "hidden.json",
            r#"{"hidden": 5, "w1": [[1, 2], [3, 4]], "b1": [[0], [0]], "w2": [[1, 1]], "b2": [[0]]}"#.to_string(),
            "\"hidden\" is 5, but \"w1\" has 2 rows",
        ),
        (
            "out.json",
            layered(r#""activation": "relu", "layers": [{"w": [[1, 2], [3, 4]], "b": [[0], [0]]}]"#),
            "output width must be 1",
        ),
        ("nan.json", layered(r#""activation": "relu", "layers": [{"w": [[1e39, 2]], "b": [[0]]}]"#), "finite"),
        (
            "feat.json",
            layered(
                r#""activation": "tanh", "features": ["x1", "x2", "x1*x2"], "layers": [{"w": [[1, 2]], "b": [[0]]}]"#,
            ),
            "3 features",
        ),
        (
            "state.json",
            layered(
                r#""activation": "tanh", "layers": [{"w": [[1, 2]], "b": [[0]]}], "optimizer": {"kind": "adam", "lr": 0.1, "momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "l2": 0}, "optimizer_state": {"step": 3, "m": [0, 0], "v": [0, 0, 0]}"#,
            ),
            "needs 3 and 3",
        ),
        (
            "v2.json",
            r#"{"format": "xorgpu-mlp", "version": 2, "activation": "tanh", "layers": []}"#.to_string(),
            "version 2",
        ),
    ] {
        fails(&["--init", &file(name, &text), "--backend", "cpu", "--epochs", "5"], 2, mentions);
    }
    fails(
        &["--data", &file("cols.csv", "x1,x2,x3,y\n1,2,3,1\n4,5,6\n"), "--layers", "3,2,1", "--backend", "cpu"],
        2,
        "line 3",
    );
    fails(
        &["--data", &file("three.csv", "x1,x2,x3,y\n1,2,3,1\n"), "--layers", "2,2,1", "--backend", "cpu"],
        2,
        "3 input columns",
    );
    fails(
        &["--data", &file("three2.csv", "x1,x2,x3,y\n1,2,3,1\n"), "--features", "x1,x2", "--backend", "cpu"],
        2,
        "computed from x1, x2",
    );
    fails(
        &[
            "--data",
            &file("two.csv", "x1,x2,y\n1,2,1\n"),
            "--test-data",
            &file("t3.csv", "x1,x2,x3,y\n1,2,3,1\n"),
            "--backend",
            "cpu",
        ],
        2,
        "--test-data has 3",
    );
}

/// `scale` sweeps any net on the general paths, and names a width that does not match.
#[test]
fn scale_takes_any_net() {
    let out = xorgpu()
        .args(["scale", "--layers", "2,4,3,1", "--activation", "tanh", "--min-batch", "64", "--max-batch", "256"])
        .args(["--epochs", "3", "--repeats", "1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records.len(), 4, "two batches on each backend");
    for r in &records {
        assert!(r["samples_per_s"].as_f64().unwrap() > 0.0 && r["final_loss"].as_f64().unwrap().is_finite(), "{r}");
        // The GPU's own time per epoch, where the adapter has timestamp queries (llvmpipe does).
        if r["backend"] == "gpu" {
            assert!(r["gpu_seconds_per_epoch"].as_f64().is_some_and(|s| s > 0.0), "{r}");
        }
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("net: 2-4-3-1 tanh"));
    fails(&["scale", "--layers", "3,4,1", "--max-batch", "64"], 2, "3 inputs but the data has 2");
}

/// `info --layers` says which kernels would train a net, and why.
#[test]
fn info_says_which_kernels_and_why() {
    for (layers, batch, says) in [
        ("2,64,64,1", "4", "tiled: not fused because its widest layer has 64 units"),
        ("2,16,1", "4", "tiny: many epochs per dispatch"),
        ("2,16,1", "100000", "fused: one pass over the data per epoch (not tiny: batch 100000 is past"),
    ] {
        let out =
            xorgpu().args(["info", "--layers", layers, "--activation", "tanh", "--batch", batch]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(says), "{layers}: {text}");
    }
}

/// What a hostile-input run found, each now refused in one line: settings in a weight file
/// that the command line would refuse, a step count past what is counted, a test set larger
/// than memory, --test-batch beside --data, --features unlike the file's, a feature name with
/// a space, a picture's domain past any use, a plot's points of other than two columns, more
/// input columns than a net takes, an unreadable loss curve.
#[test]
fn hostile_findings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let m = path("m.json");
    json_run(&[
        "--layers",
        "2,4,1",
        "--activation",
        "tanh",
        "--optimizer",
        "adam",
        "--epochs",
        "5",
        "--backend",
        "cpu",
        "--save",
        &m,
    ]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    for (field, value, mentions) in [
        ("lr", serde_json::json!(-1.0), "lr is -1"),
        ("beta1", serde_json::json!(1.5), "beta1 is 1.5"),
        ("eps", serde_json::json!(0.0), "eps is 0"),
        ("momentum", serde_json::json!(1.0), "momentum is 1"),
        ("l2", serde_json::json!(-1.0), "l2 is -1"),
    ] {
        let mut doc = saved.clone();
        doc["optimizer"][field] = value;
        let bad = path(&format!("{field}.json"));
        std::fs::write(&bad, doc.to_string()).unwrap();
        fails(&["--init", &bad, "--backend", "cpu", "--epochs", "3"], 2, mentions);
    }
    let mut doc = saved.clone();
    doc["optimizer_state"]["step"] = serde_json::json!(u64::MAX);
    std::fs::write(path("step.json"), doc.to_string()).unwrap();
    fails(&["--init", &path("step.json"), "--backend", "cpu", "--epochs", "3"], 2, "steps");
    let mut doc = saved.clone();
    doc["domain"] = serde_json::json!([-3e38, 3e38]);
    std::fs::write(path("domain.json"), doc.to_string()).unwrap();
    fails(&["plot", "--model", &path("domain.json"), "--out-dir", dir.path().to_str().unwrap()], 2, "domain");
    // A loss curve is only for drawing, but one that is there and unreadable is said.
    let mut doc = saved.clone();
    doc["loss_curve"] = serde_json::json!("not a curve");
    std::fs::write(path("curve.json"), doc.to_string()).unwrap();
    fails(&["plot", "--model", &path("curve.json"), "--out-dir", dir.path().to_str().unwrap()], 2, "loss_curve");
    // A curve with nothing a log scale can draw is refused before any picture is written:
    // a folder's earlier pictures stay as they were.
    let pictures = dir.path().join("pictures");
    let out = pictures.to_str().unwrap();
    xorgpu().args(["plot", "--model", &m, "--out-dir", out]).assert().success();
    let before: Vec<Vec<u8>> =
        ["boundary.png", "units.png"].iter().map(|f| std::fs::read(pictures.join(f)).unwrap()).collect();
    let mut doc = saved.clone();
    doc["loss_curve"] = serde_json::json!([[1, 0.0], [2, 0.0]]);
    // Another domain: were the pictures drawn again, they would differ.
    doc["domain"] = serde_json::json!([-3.0, 3.0]);
    std::fs::write(path("flat.json"), doc.to_string()).unwrap();
    fails(&["plot", "--model", &path("flat.json"), "--out-dir", out], 2, "log scale");
    for (f, b) in ["boundary.png", "units.png"].iter().zip(&before) {
        assert_eq!(&std::fs::read(pictures.join(f)).unwrap(), b, "{f} was rewritten by a refused plot");
    }
    // --kernels fused on a net the fused kernels cannot take is refused by scale as by training.
    fails(
        &[
            "scale",
            "--layers",
            "2,32,32,1",
            "--kernels",
            "fused",
            "--backend",
            "gpu",
            "--max-batch",
            "4",
            "--epochs",
            "1",
        ],
        2,
        "fused kernels cannot",
    );
    fails(&["--test-batch", "99999999999999", "--backend", "cpu", "--epochs", "3"], 2, "--test-batch");
    fails(&["--test-batch", "18446744073709551615", "--backend", "cpu", "--epochs", "3"], 2, "--test-batch");
    std::fs::write(path("d2.csv"), "x1,x2,y\n0,0,0\n1,1,1\n").unwrap();
    fails(&["--data", &path("d2.csv"), "--test-batch", "5", "--backend", "cpu"], 2, "--test-batch");
    fails(
        &["--init", &m, "--features", "x1sq,x2", "--backend", "cpu", "--epochs", "3"],
        2,
        "does not match the features",
    );
    fails(&["--features", "x1 x2", "--backend", "cpu", "--epochs", "3"], 2, "\"x1 x2\"");
    std::fs::write(path("d3.csv"), "x1,x2,x3,y\n0,0,0,0\n1,1,1,1\n").unwrap();
    fails(
        &["plot", "--model", &m, "--out-dir", dir.path().to_str().unwrap(), "--data", &path("d3.csv")],
        2,
        "3 input columns",
    );
    let header: Vec<String> = (1..=300).map(|k| format!("x{k}")).chain(["y".to_string()]).collect();
    std::fs::write(path("wide.csv"), format!("{}\n", header.join(","))).unwrap();
    fails(&["--data", &path("wide.csv"), "--backend", "cpu"], 2, "300 input columns; at most 256");
    // A full-precision row of 256 inputs is a data row, not an endless line.
    let header: Vec<String> = (1..=256).map(|k| format!("x{k}")).chain(["y".to_string()]).collect();
    let row: Vec<String> =
        (0..256).map(|k| format!("{:.17}", 0.123456789 + k as f64 * 1e-3)).chain(["1".into()]).collect();
    std::fs::write(path("full.csv"), format!("{}\n{}\n", header.join(","), row.join(","))).unwrap();
    json_run(&["--data", &path("full.csv"), "--layers", "256,1", "--epochs", "2", "--backend", "cpu"]);
}

/// `scale --kernels step` times its epochs on the GPU (a timed block of three or more step
/// epochs once failed on a pass with neither timestamp).
#[test]
fn scale_times_the_step_kernels() {
    let out = xorgpu()
        .args(["scale", "--backend", "gpu", "--kernels", "step", "--min-batch", "4", "--max-batch", "4"])
        .args(["--epochs", "3", "--repeats", "1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `--profile` on any net says which kernels run and why, and times each of them: the
/// many-epochs kernel on a small batch, the fused pair and its update kernels on a larger one,
/// the tiled kernels on a wide net.
#[test]
fn profile_times_any_nets_kernels() {
    let cases: [(&str, &str, &str, &[&str]); 3] = [
        ("2,8,1", "500", "kernels: tiny: many epochs", &["train_mlp_tiny"]),
        ("2,8,1", "40000", "kernels: fused: one pass", &["mlp_partials", "mlp_reduce", "adam_update", "adam_step"]),
        ("2,40,1", "3000", "kernels: tiled: not fused", &["layer_forward", "layer_grad", "sum_cols", "adam_update"]),
    ];
    for (layers, batch, says, kernels) in cases {
        let out = xorgpu()
            .args(["--layers", layers, "--activation", "tanh", "--optimizer", "adam", "--backend", "gpu"])
            .args(["--batch", batch, "--epochs", "5", "--profile", "--quiet"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(says), "{layers} at {batch}: {text}");
        assert!(text.contains("multiply-adds: "), "{layers} at {batch}: {text}");
        for kernel in kernels {
            assert!(text.contains(kernel), "{layers} at {batch}: {kernel} timed: {text}");
        }
    }
}

/// What a review found: a 2-H-1 file resumes at the rate it was saved with; a run on the
/// user's CSV reports no XOR-corner predictions; `--features` is refused for a model trained
/// on a data file's columns.
#[test]
fn review_findings_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    json_run(&["--backend", "cpu", "--lr", "0.5", "--epochs", "20", "--save", &path("m.json")]);
    let resumed = json_run(&["--backend", "cpu", "--epochs", "5", "--init", &path("m.json")]);
    assert_eq!(resumed["lr"], 0.5);
    std::fs::write(path("d.csv"), "x1,x2,y\n3,4,1\n-3,-4,0\n").unwrap();
    let v = json_run(&["--backend", "cpu", "--epochs", "5", "--data", &path("d.csv")]);
    assert!(v["predictions"].is_null(), "{v}");
    std::fs::write(path("d3.csv"), "x1,x2,x3,y\n1,2,3,1\n-1,-2,-3,0\n").unwrap();
    json_run(&[
        "--backend",
        "cpu",
        "--epochs",
        "5",
        "--data",
        &path("d3.csv"),
        "--layers",
        "3,2,1",
        "--save",
        &path("c.json"),
    ]);
    fails(&["--backend", "cpu", "--init", &path("c.json"), "--features", "x1,x2,x1x2"], 2, "columns of a data file");
}

/// `--kernels` is a GPU setting: on the CPU, `--kernels tiled` trains exactly the run without
/// it (the 2-H-1 net keeps its own CPU trainer), which says it ignored the option.
#[test]
fn kernels_change_nothing_on_the_cpu() {
    let base = ["--backend", "cpu", "--epochs", "300", "--batch", "64"];
    let plain = json_run(&base);
    let tiled = json_run(&[&base[..], &["--kernels", "tiled"]].concat());
    assert_eq!(plain["final_loss"], tiled["final_loss"]);
    assert_eq!(plain["layers"], tiled["layers"]);
}

/// The largest net the command line takes (eight hidden layers of 256 units), saved with
/// Adam's moments (some 42 MB of JSON), reads back: a file `--save` writes is one `predict`
/// and `--init` take.
#[test]
fn the_largest_nets_file_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("big.json");
    let m = m.to_str().unwrap();
    let layers = "2,256,256,256,256,256,256,256,256,1";
    let args = ["--backend", "cpu", "--layers", layers, "--optimizer", "adam", "--epochs", "1", "--batch", "4"];
    xorgpu().args(args).args(["--save", m]).assert().success();
    assert!(std::fs::metadata(m).unwrap().len() > 16 << 20, "the file is past the old 16 MiB limit");
    xorgpu().args(["predict", "--model", m, "--x", "0,1", "--backend", "cpu"]).assert().success();
    xorgpu().args(["--init", m, "--backend", "cpu", "--epochs", "1", "--batch", "4"]).assert().success();
}

/// `check --layers` checks the user's own model on every GPU path that takes it: a line per
/// path, each PASS, and the paths that cannot take the net left out (a 3-5-1 ReLU net by
/// Adam with L2: all of them on llvmpipe; 2-40-1 is too wide for the fused pair and, past 64
/// samples on a GPU or 16,384 on a CPU adapter, for the many-epochs kernel).
#[test]
fn check_takes_any_model() {
    let run = |args: &[&str]| {
        let out = xorgpu().arg("check").args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
        text
    };
    let text = run(&["--layers", "3,5,1", "--activation", "relu", "--optimizer", "adam", "--l2", "0.01"]);
    assert!(text.starts_with("checking 3-5-1 relu on "), "{text}");
    for path in ["step", "tiled", "fused, direct", "fused, trees", "fused, subgroups", "many epochs"] {
        let line = text.lines().find(|l| l.starts_with(path)).unwrap_or_else(|| panic!("no {path} line: {text}"));
        // Four batches, each the gradient, the weights, Adam's m and v and the losses.
        assert!(line.contains(" 20 cases") && line.ends_with("PASS"), "{line}");
    }
    let text = run(&["--layers", "2,40,1", "--batch", "20000", "--optimizer", "momentum"]);
    let paths: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split("  ").next()).collect();
    assert_eq!(paths, ["step", "tiled", "all kernels agree with the CPU reference"], "{text}");

    fails(&["check", "--layers", "2,4,1", "--batch", "0"], 2, "--batch");
    fails(&["check", "--layers", "2,4,1", "--batch", "2000000"], 2, "up to 1048576");
    fails(&["check", "--layers", "2,0,1"], 2, "width 0");
    fails(&["check", "--activation", "tanh"], 2, "--layers");
}
