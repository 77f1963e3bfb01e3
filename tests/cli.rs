//! The built binary, driven as a user drives it.

mod common;

use common::{fails, xorgpu};
use serde_json::Value;

/// Runs with `--json` and returns the one JSON object stdout must hold.
fn json_run(args: &[&str]) -> Value {
    let out = xorgpu().args(args).arg("--json").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "stdout is exactly one JSON object: {stdout}");
    serde_json::from_str(stdout.trim()).expect("stdout parses as JSON")
}

#[test]
fn defaults_learn_xor_on_both_backends() {
    for backend in ["gpu", "cpu"] {
        let v = json_run(&["--backend", backend]);
        assert_eq!(v["backend"], backend);
        let loss = v["final_loss"].as_f64().unwrap();
        assert!(loss < 0.05, "{backend}: final loss {loss}");
        let rounded: Vec<f64> =
            v["predictions"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap().round()).collect();
        assert_eq!(rounded, [0.0, 1.0, 1.0, 0.0], "{backend}");
        for field in ["adapter", "batch", "hidden", "epochs", "lr", "seed", "seconds", "epochs_per_s", "samples_per_s"]
        {
            assert!(v.get(field).is_some(), "{backend}: field {field} missing");
        }
        assert_eq!(v["adapter"].is_null(), backend == "cpu");
        let expected_rate = v["epochs"].as_f64().unwrap() / v["seconds"].as_f64().unwrap();
        assert!((v["epochs_per_s"].as_f64().unwrap() / expected_rate - 1.0).abs() < 1e-9);
    }
}

#[test]
fn both_backends_give_the_same_run() {
    let args = ["--batch", "100", "--hidden", "3", "--epochs", "300", "--seed", "9", "--lr", "1"];
    let gpu = json_run(&[&args[..], &["--backend", "gpu"]].concat());
    let cpu = json_run(&[&args[..], &["--backend", "cpu"]].concat());
    let (a, b) = (gpu["final_loss"].as_f64().unwrap(), cpu["final_loss"].as_f64().unwrap());
    assert!((a - b).abs() <= 1e-5 * b, "final loss {a} on the gpu, {b} on the cpu");
}

#[test]
fn saved_weights_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.json");
    let p = path.to_str().unwrap();
    let first = json_run(&["--backend", "cpu", "--epochs", "200", "--save", p]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for field in ["w1", "b1", "w2", "b2", "hidden", "epochs", "lr", "seed", "final_loss", "backend", "adapter"] {
        assert!(saved.get(field).is_some(), "saved file lacks {field}");
    }
    // One epoch from the saved weights starts from the loss the first run ended with.
    let out = xorgpu().args(["--backend", "cpu", "--epochs", "1", "--log-every", "1", "--init", p]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let want = format!("loss {:.6}", first["final_loss"].as_f64().unwrap());
    assert!(text.contains(&want), "expected {want} in {text}");
}

#[test]
fn bad_numbers_are_refused() {
    fails(&["--backend", "tpu"], 2, "tpu");
    fails(&["--epochs", "0"], 2, "--epochs");
    fails(&["--epochs", "-1"], 2, "--epochs");
    fails(&["--epochs", "abc"], 2, "--epochs");
    for lr in ["0", "-1", "nan", "inf"] {
        fails(&["--lr", lr], 2, "--lr");
    }
    fails(&["--hidden", "0"], 2, "--hidden");
    fails(&["--hidden", "100000"], 2, "256");
    fails(&["--batch", "0"], 2, "--batch");
    fails(&["--noise", "-1"], 2, "--noise");
}

#[test]
fn bad_weight_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    fails(&["--init", "/no/such/file.json"], 2, "cannot read");
    fails(&["--init", &file("empty.json", "")], 2, "empty");
    fails(&["--init", &file("text.json", "weights")], 2, "not valid JSON");
    fails(&["--init", &file("no_b2.json", r#"{"w1": [[1, 2]], "b1": [[0]], "w2": [[1]]}"#)], 2, "\"b2\"");
    fails(
        &["--init", &file("shape.json", r#"{"w1": [[1, 2, 3]], "b1": [[0]], "w2": [[1]], "b2": [[0]]}"#)],
        2,
        "expected 1 × 2",
    );
    fails(
        &["--init", &file("w2.json", r#"{"w1": [[1, 2], [3, 4]], "b1": [[0], [0]], "w2": [[1]], "b2": [[0]]}"#)],
        2,
        "expected 1 × 2",
    );
    fails(&["--init", &file("big.json", r#"{"w1": [[1e39, 2]], "b1": [[0]], "w2": [[1]], "b2": [[0]]}"#)], 2, "finite");
    // predict and plot read models with the same checks.
    fails(&["predict", "--model", &file("no_w1.json", r#"{"b1": [[0]]}"#)], 2, "\"w1\"");
    fails(&["plot", "--model", "/no/such/model.json", "--out-dir", "/tmp"], 2, "cannot read");
}

#[test]
fn an_unwritable_save_path_fails_before_training_and_keeps_the_old_file() {
    fails(&["--backend", "cpu", "--save", "/no/such/dir/w.json"], 2, "cannot write");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.json");
    std::fs::write(&path, "precious").unwrap();
    // A failing run (bad --init) leaves the existing file as it was.
    fails(&["--backend", "cpu", "--init", "/no/such/file.json", "--save", path.to_str().unwrap()], 2, "cannot read");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn bad_data_files_give_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    fails(&["--data", &file("empty.csv", "")], 2, "empty");
    fails(&["--data", &file("headerless.csv", "0,0,0\n1,1,0\n")], 2, "line 1: expected the header x1,x2,y");
    fails(&["--data", &file("text.csv", "x1,x2,y\n0,0,0\n0,abc,1\n")], 2, "line 3, column 2 (x2)");
    fails(&["--data", &file("label.csv", "x1,x2,y\n0,0,2\n")], 2, "line 2, column 3 (y)");
    fails(&["--data", &file("short.csv", "x1,x2,y\n0,0,0\n1,1\n")], 2, "line 3: expected 3 columns");
    fails(&["--data", &file("only_header.csv", "x1,x2,y\n")], 2, "no data rows");
    fails(&["--data", "/no/such.csv"], 2, "cannot read");
}

#[test]
fn user_data_trains_the_same_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xor.csv");
    std::fs::write(&path, "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n0.1,0.9,1\n").unwrap();
    let p = path.to_str().unwrap();
    let gpu = json_run(&["--backend", "gpu", "--data", p, "--epochs", "500"]);
    let cpu = json_run(&["--backend", "cpu", "--data", p, "--epochs", "500"]);
    assert_eq!(gpu["batch"], 5);
    let (a, b) = (gpu["final_loss"].as_f64().unwrap(), cpu["final_loss"].as_f64().unwrap());
    assert!((a - b).abs() <= 1e-4 * b, "final loss {a} on the gpu, {b} on the cpu");
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

#[test]
fn scale_writes_one_record_per_point_as_csv_json_and_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, png) = (dir.path().join("s.csv"), dir.path().join("s.png"));
    let out = xorgpu()
        .args(["scale", "--max-batch", "256", "--factor", "8", "--seconds", "0.05", "--repeats", "1", "--json"])
        .args(["--csv", csv.to_str().unwrap(), "--plot", png.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("stdout is one JSON array");
    // Batches 4, 32, 256 on two backends.
    assert_eq!(records.len(), 6);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "backend,adapter,batch,epochs,seconds_per_epoch,gpu_seconds_per_epoch,samples_per_s,final_loss,device_bytes"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 6);
    for (row, record) in rows.iter().zip(&records) {
        let batch = record["batch"].as_u64().unwrap().to_string();
        assert!(row.starts_with(record["backend"].as_str().unwrap()) && row.contains(&format!(",{batch},")), "{row}");
        assert!(record["samples_per_s"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(png_size(&std::fs::read(&png).unwrap()), (1024, 640));
}

#[test]
fn generated_data_is_the_same_for_a_seed() {
    use xorgpu::data::Dataset;
    let a = Dataset::noisy_xor(1000, 0.05, 42).unwrap();
    assert_eq!(a, Dataset::noisy_xor(1000, 0.05, 42).unwrap());
    assert_ne!(a, Dataset::noisy_xor(1000, 0.05, 43).unwrap());
    // Labels follow the corners: the XOR of the rounded inputs, for small noise.
    let n = a.len();
    for i in 0..n {
        let (x1, x2) = (a.xt[i].round(), a.xt[n + i].round());
        assert_eq!(a.t[i], ((x1 != x2) as u8) as f32);
    }
}

#[test]
fn check_passes_on_this_gpu() {
    let out = xorgpu().args(["check", "--seed", "7"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for kernel in ["matmul", "sum_rows", "bce_loss", "train_tiny", "epoch_partials", "step epoch"] {
        let line =
            text.lines().find(|l| l.starts_with(kernel)).unwrap_or_else(|| panic!("no line for {kernel}: {text}"));
        assert!(line.ends_with("PASS"), "{line}");
    }
}

#[test]
fn info_names_the_adapter_gpu_would_take() {
    let out = xorgpu().arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("largest storage binding") && text.contains("--backend gpu takes:"), "{text}");
    // An adapter asked for by a name nothing has fails, as it does in training: the listing
    // is still printed, and the error names what was asked for.
    let out = xorgpu().args(["info", "--adapter", "no such card"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("largest storage binding"));
    assert!(stderr.contains("no adapter named like \"no such card\""), "{stderr}");
    // A net that cannot be is one line and nothing else, before any listing.
    let out = xorgpu().args(["info", "--layers", "2,2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn predict_gives_the_same_numbers_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    let points = dir.path().join("p.csv");
    std::fs::write(&points, "x1,x2\n0.2,0.9\n-1,3\n").unwrap();
    json_run(&["--backend", "cpu", "--save", model.to_str().unwrap()]);
    let run = |backend: &str| {
        let out = xorgpu()
            .args(["predict", "--model", model.to_str().unwrap(), "--backend", backend, "--json"])
            .args(["--x", "0,1", "--x", "1,1", "--input", points.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["predictions"].as_array().unwrap().iter().map(|p| p["p"].as_f64().unwrap()).collect::<Vec<f64>>()
    };
    let (gpu, cpu) = (run("gpu"), run("cpu"));
    assert_eq!(gpu.len(), 4);
    for (g, c) in gpu.iter().zip(&cpu) {
        assert!((g - c).abs() <= 1e-6, "gpu {g}, cpu {c}");
    }
    assert!(cpu[0] > 0.5 && cpu[1] < 0.5, "XOR: {cpu:?}");
    fails(&["predict", "--model", model.to_str().unwrap(), "--x", "1,abc"], 2, "--x");
}

#[test]
fn pictures_are_pngs_of_their_stated_size() {
    let dir = tempfile::tempdir().unwrap();
    let pics = dir.path().join("pics");
    let model = dir.path().join("m.json");
    json_run(&["--backend", "cpu", "--plot-dir", pics.to_str().unwrap(), "--save", model.to_str().unwrap()]);
    for name in ["loss.png", "boundary.png"] {
        assert_eq!(png_size(&std::fs::read(pics.join(name)).unwrap()), (800, 600), "{name}");
    }
    let again = dir.path().join("again");
    let out = xorgpu()
        .args(["plot", "--model", model.to_str().unwrap(), "--out-dir", again.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["loss.png", "boundary.png"] {
        assert_eq!(png_size(&std::fs::read(again.join(name)).unwrap()), (800, 600), "{name}");
    }
}

#[test]
fn no_adapter_says_how_to_get_one() {
    // No adapter of this backend exists on Linux, so wgpu finds none.
    let out = xorgpu().env("WGPU_BACKEND", "dx12").args(["--backend", "gpu"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("mesa-vulkan-drivers") && stderr.contains("--backend cpu"), "{stderr}");
    // auto falls back to the CPU and says so.
    let out = xorgpu().env("WGPU_BACKEND", "dx12").args(["--epochs", "10"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("training on the CPU"));
}

#[test]
fn oversized_batches_and_bad_output_paths_are_refused() {
    fails(&["--backend", "gpu", "--batch", "5000000000"], 2, "too large");
    fails(&["--backend", "cpu", "--batch", "5000000000000"], 2, "largest batch that fits");
    fails(&["scale", "--max-batch", "64", "--csv", "/no/such/dir/s.csv"], 2, "cannot write");
    fails(&["scale", "--max-batch", "64", "--plot", "/no/such/dir/s.png"], 2, "cannot write");
    fails(&["--plot-dir", "/proc/no/such"], 2, "cannot create");
}

#[test]
fn a_diverging_rate_stops_at_its_epoch_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("big.json");
    std::fs::write(&init, r#"{"w1": [[0.1, -0.1], [0.1, 0.1]], "b1": [[0], [0]], "w2": [[1000, -1000]], "b2": [[0]]}"#)
        .unwrap();
    let save = dir.path().join("out.json");
    for backend in ["gpu", "cpu"] {
        let out = xorgpu()
            .args(["--backend", backend, "--init", init.to_str().unwrap(), "--lr", "1e38", "--batch", "64"])
            .args(["--noise", "2", "--seed", "3", "--epochs", "100", "--save", save.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{backend}: {stderr}");
        assert!(stderr.contains("diverged") && stderr.contains("at epoch"), "{backend}: {stderr}");
        assert!(!save.exists(), "{backend}: no weights are saved from a diverged run");
    }
}

#[test]
fn an_unwritable_folder_is_refused() {
    // Even root cannot create files in /proc.
    fails(&["--backend", "cpu", "--save", "/proc/w.json"], 2, "cannot write");
}
