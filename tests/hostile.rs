//! What a hostile or careless user does to the binary: outputs that collide with each other
//! or with the input, outputs that cannot be written, rates that run away. Each ends in one
//! line and a non-zero status before any work, and nothing the user had is changed.

mod common;

use std::fs;

use common::{fails, xorgpu};

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn outputs_that_are_each_other_or_the_input_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("x.csv");
    fs::write(&data, "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n").unwrap();
    let before = fs::read(&data).unwrap();
    let (data_s, dir_s) = (path_str(&data), path_str(d));
    let in_plot_dir = d.join("pics/loss.png");
    fails(
        &["--backend", "cpu", "--save", path_str(&in_plot_dir), "--plot-dir", &format!("{dir_s}/pics")],
        2,
        "same file",
    );
    fails(&["--backend", "cpu", "--data", data_s, "--save", data_s], 2, "same file");
    // The same file by another spelling, and through a symbolic link.
    fails(&["--backend", "cpu", "--data", data_s, "--save", &format!("{dir_s}/./sub/../x.csv")], 2, "same file");
    let link = d.join("link.json");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    fails(&["--backend", "cpu", "--data", data_s, "--save", path_str(&link)], 2, "same file");
    let out = d.join("f.png");
    fails(&["scale", "--max-batch", "64", "--csv", path_str(&out), "--plot", path_str(&out)], 2, "same file");
    fails(&["scale", "--max-batch", "64", "--data", data_s, "--csv", data_s], 2, "same file");
    let model = d.join("m.json");
    fails(&["plot", "--model", path_str(&model), "--out-dir", dir_s], 2, "m.json");
    assert_eq!(fs::read(&data).unwrap(), before, "the data is untouched");

    // Resuming in place is allowed: the file is read before it is written.
    let saved = xorgpu().args(["--backend", "cpu", "--epochs", "10", "--save", path_str(&model)]).output().unwrap();
    assert!(saved.status.success());
    let resumed = xorgpu()
        .args(["--backend", "cpu", "--epochs", "10", "--init", path_str(&model), "--save", path_str(&model)])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    // A model file as plot's output: boundary.png is not the model, so this one is fine.
    let plotted = xorgpu().args(["plot", "--model", path_str(&model), "--out-dir", dir_s]).output().unwrap();
    assert!(plotted.status.success(), "{}", String::from_utf8_lossy(&plotted.stderr));
    // The model to start from, named as one of --plot-dir's charts, would be drawn over.
    let pics = d.join("pics2");
    fs::create_dir(&pics).unwrap();
    let init = pics.join("units.png");
    fs::copy(&model, &init).unwrap();
    let kept = fs::read(&init).unwrap();
    fails(&["--backend", "cpu", "--init", path_str(&init), "--plot-dir", path_str(&pics)], 2, "same file");
    assert_eq!(fs::read(&init).unwrap(), kept, "the model is untouched");
}

/// Data a picture cannot show is refused before training, and data far out (past the
/// ±1e6 a model file's domain may reach, or near f32's largest) still trains, draws and
/// saves a model that reads back.
#[test]
fn data_the_pictures_cannot_show() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let three = d.join("three.csv");
    fs::write(&three, "x1,x2,x3,y\n1,2,3,1\n-1,-2,-3,0\n").unwrap();
    let (pics, save) = (d.join("pics"), d.join("m.json"));
    let run = ["--backend", "cpu", "--epochs", "3", "--data", path_str(&three), "--save", path_str(&save)];
    fails(&[&run[..], &["--plot-dir", path_str(&pics)]].concat(), 2, "3 input columns");
    assert!(!save.exists() && fs::read_dir(&pics).map_or(0, |r| r.count()) == 0, "nothing written");
    for far in ["2e6", "2e38"] {
        let data = d.join(format!("far{far}.csv"));
        fs::write(&data, format!("x1,x2,y\n0,{far},0\n0,-{far},1\n0,1,1\n")).unwrap();
        let out = xorgpu()
            .args(["--backend", "cpu", "--epochs", "3", "--data", path_str(&data), "--save", path_str(&save)])
            .args(["--plot-dir", path_str(&pics)])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(out.status.success(), "{far}: {}", String::from_utf8_lossy(&out.stderr));
        let predicted = xorgpu().args(["predict", "--model", path_str(&save), "--backend", "cpu"]).output().unwrap();
        assert!(predicted.status.success(), "{far}: {}", String::from_utf8_lossy(&predicted.stderr));
    }
}

#[test]
fn outputs_that_cannot_be_written_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = d.join("n".repeat(300));
    // A large batch: if the check came after training, this would take minutes, not fail at once.
    let big = ["--backend", "cpu", "--batch", "20000000", "--epochs", "100000"];
    let start = std::time::Instant::now();
    fails(&[&big[..], &["--save", path_str(d)]].concat(), 2, "folder");
    fails(&[&big[..], &["--save", path_str(&long)]].concat(), 2, "cannot write");
    fails(&["scale", "--max-batch", "64", "--csv", path_str(d)], 2, "folder");
    fails(&["scale", "--max-batch", "64", "--plot", path_str(&d.join("s.jpg"))], 2, ".png");
    assert!(start.elapsed().as_secs() < 30, "refused before any work");
}

/// Every output and the input checked: nothing left behind by the checks themselves.
#[test]
fn checks_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("w.json");
    let out = xorgpu().args(["--backend", "cpu", "--epochs", "5", "--save", path_str(&save)]).output().unwrap();
    assert!(out.status.success());
    let names: Vec<String> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["w.json"]);
}

/// A rate that sends the weights past ±1e30 stops the run with a clear message, on both
/// backends at the same epoch (the end of the block where the weights are checked), and the
/// old model stays as it was.
#[test]
fn a_runaway_rate_is_divergence_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("m.json");
    fs::write(&save, "{\"keep\": true}").unwrap();
    let mut epochs = Vec::new();
    for backend in ["cpu", "gpu"] {
        let out = xorgpu().args(["--backend", backend, "--lr", "1e38", "--save", path_str(&save)]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{backend}: {stderr}");
        assert!(stderr.contains("diverged") && stderr.contains("past the bound"), "{backend}: {stderr}");
        let epoch = stderr.split("at epoch ").nth(1).and_then(|r| r.split(':').next()).unwrap().to_string();
        epochs.push(epoch);
        assert_eq!(fs::read_to_string(&save).unwrap(), "{\"keep\": true}", "{backend}: the old model is kept");
    }
    assert_eq!(epochs[0], epochs[1], "both backends stop at the same epoch");
    // Weights within the bound whose forward pass overflows f32 (ReLU units multiply; the
    // CPU's loss clamp had passed its NaN predictions off as confident mistakes, and the
    // model was saved): divergence too, on both backends, and nothing is saved.
    for backend in ["cpu", "gpu"] {
        let out = xorgpu()
            .args(["--backend", backend, "--lr", "1e30", "--activation", "relu", "--layers", "2,16,1"])
            .args(["--epochs", "20", "--save", path_str(&save)])
            .args(["--plot-dir", path_str(&dir.path().join("new/pics"))])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{backend}: {stderr}");
        assert!(stderr.contains("diverged"), "{backend}: {stderr}");
        assert_eq!(fs::read_to_string(&save).unwrap(), "{\"keep\": true}", "{backend}: the old model is kept");
        assert!(!dir.path().join("new").exists(), "{backend}: the folders the run made are gone");
    }
    // Only those: a folder the user had, named through one the run makes, stays.
    fs::create_dir(dir.path().join("old")).unwrap();
    let out = xorgpu()
        .args(["--backend", "cpu", "--lr", "1e38", "--plot-dir", path_str(&dir.path().join("new/../old"))])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(dir.path().join("old").is_dir() && !dir.path().join("new").exists());
    // A saturated but sane run is not divergence.
    let sane =
        xorgpu().args(["--backend", "cpu", "--hidden", "256", "--epochs", "20", "--batch", "1000"]).output().unwrap();
    assert!(sane.status.success(), "{}", String::from_utf8_lossy(&sane.stderr));
}

#[test]
fn weights_past_the_divergence_bound_are_refused_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("huge.json");
    fs::write(&model, r#"{"w1": [[1e31, 0], [0, 0]], "b1": [[0], [0]], "w2": [[1, 1]], "b2": [[0]]}"#).unwrap();
    fails(&["predict", "--model", path_str(&model), "--x", "0,1"], 2, "1e30");
}

/// Line numbers as an editor shows them: CRLF line ends count once, blank lines count.
#[test]
fn csv_errors_name_the_line_an_editor_shows() {
    let dir = tempfile::tempdir().unwrap();
    let crlf = dir.path().join("crlf.csv");
    fs::write(&crlf, "x1,x2,y\r\n0,0,0\r\n\r\n0,1,x\r\n").unwrap();
    fails(&["--backend", "cpu", "--data", path_str(&crlf)], 2, "line 4, column 3 (y)");
    let blank = dir.path().join("blank.csv");
    fs::write(&blank, "\nx1,x2,y\n\n0,0,0\n   \n0,1,2\n").unwrap();
    fails(&["--backend", "cpu", "--data", path_str(&blank)], 2, "line 6, column 3 (y): labels must be 0 or 1");
    let header = dir.path().join("header.csv");
    fs::write(&header, "\n\nx,y,z\n").unwrap();
    fails(&["--backend", "cpu", "--data", path_str(&header)], 2, "line 3: expected the header x1,x2,y");
    // A line of exactly the limit is taken whatever its line end; one byte more is not.
    let longest = dir.path().join("longest.csv");
    let limit = xorgpu::data::MAX_LINE_BYTES;
    fs::write(&longest, format!("x1,x2,y\r\n{}\r\n", "1".repeat(limit))).unwrap();
    fails(&["--backend", "cpu", "--data", path_str(&longest)], 2, "line 2: expected 3 columns");
    fs::write(&longest, format!("x1,x2,y\r\n{}\r\n", "1".repeat(limit + 1))).unwrap();
    fails(&["--backend", "cpu", "--data", path_str(&longest)], 2, &format!("line 2 is longer than {limit} bytes"));
    let ragged = dir.path().join("ragged.csv");
    fs::write(&ragged, "x1,x2\r\n1,2\r\n3\r\n").unwrap();
    let model = dir.path().join("m.json");
    fs::write(&model, r#"{"w1": [[1, 1]], "b1": [[0]], "w2": [[1]], "b2": [[0]]}"#).unwrap();
    let args = ["predict", "--backend", "cpu", "--model", path_str(&model), "--input", path_str(&ragged)];
    fails(&args, 2, "line 3: expected 2 columns (x1,x2), found 1");
}

/// A file that never ends is refused with one line, not read until memory runs out; a
/// pipe that does end still works.
#[test]
fn endless_inputs_end_in_an_error() {
    fails(
        &["--backend", "cpu", "--data", "/dev/zero"],
        2,
        &format!("longer than {} bytes", xorgpu::data::MAX_LINE_BYTES),
    );
    fails(&["--backend", "cpu", "--init", "/dev/zero"], 2, "larger than 128 MiB");
    fails(&["predict", "--model", "/dev/zero"], 2, "larger than 128 MiB");
    fails(&["predict", "--model", "/dev/urandom"], 2, "weights file");
    let out = xorgpu()
        .args(["--backend", "cpu", "--epochs", "10", "--data", "/dev/stdin"])
        .write_stdin("x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "a pipe: {}", String::from_utf8_lossy(&out.stderr));
}

/// Weights inside the bound can still overflow to ∞ − ∞ at a large input: predict says so
/// instead of printing a class for NaN.
#[test]
fn predict_refuses_an_output_that_is_not_a_number() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.json");
    fs::write(&model, r#"{"w1": [[1e30, -1e30]], "b1": [[0]], "w2": [[1]], "b2": [[0]]}"#).unwrap();
    for backend in ["cpu", "gpu"] {
        fails(&["predict", "--backend", backend, "--model", path_str(&model), "--x", "1e20,1e20"], 2, "NaN");
    }
}

/// Each message says what is wrong with what the user gave, in one line.
#[test]
fn messages_name_the_real_problem() {
    fails(&["predict", "--x", "0,1"], 2, "--model");
    fails(&["train", "--epochs", "-5"], 2, "expected a whole number ≥ 1, got \"-5\"");
    fails(&["scale", "--epochs", "-5"], 2, "expected a whole number ≥ 1, got \"-5\"");
    fails(&["--lr", "1e-46"], 2, "too small for f32");
    fails(&["--lr", "1e39"], 2, "too large for f32");
    fails(&["--noise", "3e38"], 2, "more noise than the data can carry");
    let out = xorgpu().env("WGPU_BACKEND", "bogus").args(["--backend", "gpu"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("WGPU_BACKEND=\"bogus\"") && !stderr.contains("install"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A batch past 2^31 is never taken for one that fits a workgroup (a u32 wrap once sent it
/// to the tiny kernels).
#[test]
fn a_huge_batch_is_not_mistaken_for_a_tiny_one() {
    use xorgpu::gpu::fused::tiny_workgroup;
    let gpu = common::gpu();
    for n in [(1usize << 31) + 1, 1 << 32, usize::MAX] {
        assert_eq!(tiny_workgroup(&gpu, 2, n), None, "N={n}");
    }
}

/// GPU-only options given with the CPU backend are said to be ignored, once.
#[test]
fn gpu_options_on_the_cpu_are_said_to_be_ignored() {
    let out = xorgpu()
        .args(["--backend", "cpu", "--epochs", "3", "--kernels", "step", "--epochs-per-dispatch", "5", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--kernels, --epochs-per-dispatch apply only to the GPU"), "{stderr}");
    assert_eq!(stderr.matches("warning").count(), 1, "{stderr}");
    let quiet = xorgpu().args(["--backend", "cpu", "--epochs", "3", "--quiet"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("warning"));
    // So does a sweep of the CPU alone.
    let out = xorgpu()
        .args(["scale", "--backend", "cpu", "--max-batch", "16", "--epochs", "2", "--repeats", "1"])
        .args(["--kernels", "tiled", "--adapter", "llvmpipe"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("--kernels, --adapter apply only to the GPU"), "{stderr}");
}

/// Sizes no machine holds, or this one does not, are refused before anything is allocated,
/// on every command: never a panic or an abort.
#[test]
fn memory_is_checked_before_anything_is_allocated() {
    fails(&["--backend", "cpu", "--batch", "4611686018427387904"], 2, "2^64");
    fails(&["--backend", "cpu", "--batch", "100000000000"], 2, "largest batch that fits");
    fails(&["--backend", "gpu", "--batch", "1500000000"], 2, "largest batch that fits");
    let huge = ["--min-batch", "100000000000", "--max-batch", "100000000000"];
    fails(&[&["scale", "--backend", "cpu"][..], &huge].concat(), 2, "largest batch that fits");
    fails(&[&["scale", "--backend", "gpu"][..], &huge].concat(), 2, "100000000000");
}

/// Ctrl-C (SIGINT) or SIGTERM in the middle of a run stops it cleanly: one line, status 130,
/// the old model as it was, no temporary file left.
#[test]
fn a_signal_mid_run_leaves_everything_as_it_was() {
    for signal in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let save = dir.path().join("m.json");
        fs::write(&save, "old").unwrap();
        let child = std::process::Command::new(common::xorgpu_path())
            .args(["--backend", "cpu", "--batch", "100000", "--epochs", "100000000", "--quiet"])
            .args(["--save", path_str(&save), "--plot-dir", path_str(&dir.path().join("pics"))])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        let killed = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{signal}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{signal}: {stderr}");
        assert_eq!(fs::read_to_string(&save).unwrap(), "old", "{signal}");
        // This signal most likely comes mid-training, with no temporary file open; the
        // handler's removal itself is tested in src/files.rs. Here: nothing left anywhere,
        // not even the --plot-dir folder the run made (still empty).
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["m.json"], "{signal}");
    }
}

/// Output that cannot be written ends in one line, never a panic: a reader that stops
/// reading (`| head -1`) stops the run as SIGPIPE would (status 141), a full disk is an error
/// (status 1), and neither leaves the `--save` file half-written.
#[test]
fn output_that_cannot_be_written_ends_in_one_line() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("m.json");
    let run = ["--backend", "cpu", "--batch", "1", "--epochs", "10000000", "--log-every", "1"];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xorgpu"))
        .args(run)
        .args(["--save", path_str(&save)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("training 2-2-1"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert_eq!(stderr.trim(), "error: the output was closed; stopped");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "nothing saved, nothing left behind");

    let full = fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xorgpu"))
        .args(["--backend", "cpu", "--epochs", "10"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.trim().starts_with("error: cannot write the output: No space left"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    // --json's one object too (it was written with the error ignored: exit 0, nothing out).
    for args in [
        &["--backend", "cpu", "--epochs", "10", "--json"][..],
        &["scale", "--backend", "cpu", "--max-batch", "16", "--epochs", "2", "--json"][..],
    ] {
        let full = fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xorgpu")).args(args).stdout(full).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error: cannot write the output: No space left"), "{args:?}: {stderr}");
    }
}
