//! The built binary, driven as a user drives it.

use assert_cmd::Command;
use serde_json::Value;

fn xorgpu() -> Command {
    let mut cmd = Command::cargo_bin("xorgpu").unwrap();
    cmd.env("RUST_BACKTRACE", "1");
    cmd
}

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

/// Runs a command that must fail: one line on stderr starting with `error:`, the given
/// exit status, no panic.
fn fails(args: &[&str], status: i32, mentions: &str) {
    let out = xorgpu().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{args:?}: status; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line on stderr, got {stderr}");
    assert!(lines[0].starts_with("error:"), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(stderr.contains(mentions), "{args:?}: expected {mentions:?} in {stderr}");
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
