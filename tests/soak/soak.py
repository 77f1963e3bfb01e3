#!/usr/bin/env python3
"""Soaks the binary in random option combinations and signals, as a careless or hostile
user would, and reports anything that breaks the project's promises. Not part of CI.

For each trial, a fresh folder holds files a user already had (training data, a model, a
symbolic link to it, a second hard link to it, a private 0600 file, a folder); the binary
runs with a random command and random good and bad options, some runs get SIGINT, SIGTERM
or SIGKILL part way. Reported:

- a panic or an abort (exit status 101 or 134, "panicked" in stderr);
- a failure that is not one line starting "error:" (warnings and --json progress aside);
- a temporary file left behind (after SIGKILL: left, but removed by the next write);
- a file the user had that changed in content, type, links or mode, other than the output
  of a run that succeeded.

    python3 tests/soak/soak.py [--trials 300] [--seed 1] [--binary target/release/xorgpu]

The last run is recorded in tests/soak/RESULTS.md.
"""

import argparse
import hashlib
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DATA = "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"
MODEL = '{"w1": [[5, 5], [-5, -5]], "b1": [[-2], [8]], "w2": [[9, 9]], "b2": [[-14]]}'

NUMBERS = ["1", "2", "3", "0", "-1", "-5", "1e-46", "1e39", "3e38", "nan", "inf", "abc", "", "1.5", "4", "7",
           "65", "1000", "99999999999999999999", "2147483649", "4611686018427387904", "0.1", "1e38"]
OUTPUTS = ["new.json", "model.json", "link.json", "hard.json", "private.json", "data.csv", "sub", "sub/x.png",
           "out.png", "out.jpg", "n" * 300 + ".json", "missing/dir/x.json", "/proc/x.json", "."]
DIRS = ["pics", "sub", "model.json", "new-dir", "/proc/nope", "data.csv"]
INPUTS = ["data.csv", "model.json", "link.json", "/dev/zero", "/dev/null", "missing.csv", "sub", "bad.csv"]


def pick(rng, pool):
    return rng.choice(pool)


def random_args(rng):
    cmd = pick(rng, ["train", "train", "train", "scale", "predict", "plot", "check", "info", "bogus"])
    args = [] if cmd == "train" and rng.random() < 0.5 else [cmd]
    opts = {
        "train": ["--backend", "--epochs", "--lr", "--hidden", "--seed", "--init", "--save", "--batch", "--noise",
                  "--data", "--plot-dir", "--kernels", "--epochs-per-dispatch", "--json", "--quiet", "--log-every"],
        "scale": ["--backend", "--min-batch", "--max-batch", "--epochs", "--seconds", "--repeats", "--csv",
                  "--plot", "--data", "--kernels", "--json"],
        "predict": ["--model", "--x", "--input", "--backend", "--json"],
        "plot": ["--model", "--out-dir", "--data"],
        "check": ["--seed"],
        "info": [],
        "bogus": ["--x"],
    }[cmd]
    for _ in range(rng.randint(0, 6)):
        if not opts:
            break
        opt = pick(rng, opts)
        if opt in ("--json", "--quiet"):
            args.append(opt)
        elif opt == "--backend":
            args += [opt, pick(rng, ["cpu", "cpu", "gpu", "auto", "tpu", "gpu,cpu"])]
        elif opt == "--kernels":
            args += [opt, pick(rng, ["step", "fused", "x"])]
        elif opt in ("--save", "--csv", "--plot"):
            args += [opt, pick(rng, OUTPUTS)]
        elif opt in ("--plot-dir", "--out-dir"):
            args += [opt, pick(rng, DIRS)]
        elif opt in ("--init", "--model", "--data", "--input"):
            args += [opt, pick(rng, INPUTS)]
        elif opt == "--x":
            args += [opt, pick(rng, ["0,1", "1e20,1e20", "a,b", "1", "nan,0", "-1,2"])]
        elif opt in ("--epochs", "--batch", "--min-batch", "--max-batch"):
            # Mostly small, so that most runs finish quickly.
            args += [opt, pick(rng, ["1", "3", "20", "4", "65"] + NUMBERS)]
        else:
            args += [opt, pick(rng, NUMBERS)]
    if cmd == "scale" and "--seconds" not in args:
        args += ["--seconds", "0.05", "--repeats", "1"]
    if cmd == "scale" and "--max-batch" not in args:
        args += ["--max-batch", "64"]
    return args


def snapshot(folder):
    """Each file the user had: type, mode, links and a hash of its content."""
    out = {}
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        st = os.lstat(path)
        digest = None
        if stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            digest = os.readlink(path)
        out[name] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_nlink, st.st_ino, digest)
    return out


def setup(folder):
    for name, text in [("data.csv", DATA), ("model.json", MODEL), ("bad.csv", "x1,x2,y\n1,2\n"),
                       ("private.json", MODEL)]:
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    os.chmod(os.path.join(folder, "private.json"), 0o600)
    os.symlink("model.json", os.path.join(folder, "link.json"))
    os.link(os.path.join(folder, "model.json"), os.path.join(folder, "hard.json"))
    os.mkdir(os.path.join(folder, "sub"))


def outputs_of(args):
    """The files a successful run may change (names as given, relative to its folder)."""
    out = set()
    for opt in ("--save", "--csv", "--plot"):
        if opt in args:
            out.add(args[args.index(opt) + 1])
    for opt in ("--plot-dir", "--out-dir"):
        if opt in args:
            out.add(args[args.index(opt) + 1])
    # Links lead to the model: a write through them changes it (and its hard link).
    if out & {"link.json", "hard.json", "model.json"}:
        out |= {"link.json", "hard.json", "model.json"}
    return out


def run_trial(binary, rng, folder):
    args = random_args(rng)
    setup(folder)
    before = snapshot(folder)
    sig = None
    if rng.random() < 0.3:
        sig = pick(rng, [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
        # Long enough to be training, and to be writing now and then.
        if "--epochs" not in args:
            args = args + ["--epochs", pick(rng, ["200000", "2000000"])]
    env = dict(os.environ, RUST_BACKTRACE="1")
    p = subprocess.Popen([binary] + args, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if sig is not None:
        time.sleep(rng.uniform(0.05, 1.5))
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return args, sig, ["ran past 120 s (killed)"]
    err = err.decode(errors="replace")
    code = p.returncode
    problems = []
    if "panicked" in err or code in (101, 134) or code == -signal.SIGABRT:
        problems.append(f"panic or abort (status {code}): {err.strip()[-300:]}")
    if code not in (0, None) and code > 0 and code != 130:
        lines = [l for l in err.splitlines() if l.strip()]
        errors = [l for l in lines if l.startswith("error:")]
        if len(errors) != 1 or not lines[-1].startswith("error:"):
            problems.append(f"status {code} without one error line: {err.strip()[-300:]!r}")
    if code == 130 and not err.strip().endswith("no output was left half-written"):
        problems.append(f"interrupted without saying so: {err.strip()[-200:]!r}")
    leftovers = [n for n in os.listdir(folder) if "xorgpu-tmp" in n]
    for sub in ("sub", "pics", "new-dir"):
        if os.path.isdir(os.path.join(folder, sub)):
            leftovers += [f"{sub}/{n}" for n in os.listdir(os.path.join(folder, sub)) if "xorgpu-tmp" in n]
    if leftovers and sig != signal.SIGKILL:
        problems.append(f"temporary files left: {leftovers}")
    if leftovers and sig == signal.SIGKILL:
        # The next write to the same name removes them once their writer is gone:
        # ".<name>.<pid>.<n>.xorgpu-tmp[.png]" names its target.
        for left in leftovers:
            folder_part, temp = os.path.split(left)
            name = temp[1:].split(".xorgpu-tmp")[0].rsplit(".", 2)[0]
            target = os.path.join(folder_part, name)
            subprocess.run([binary, "--backend", "cpu", "--epochs", "1", "--quiet", "--save", target],
                           cwd=folder, capture_output=True)
            if os.path.exists(os.path.join(folder, left)):
                problems.append(f"stale temporary file {left} not removed by the next write to {target}")
    after = snapshot(folder)
    allowed = outputs_of(args) if code == 0 else set()
    for name, (kind, mode, links, ino, digest) in before.items():
        now = after.get(name)
        if now is None:
            problems.append(f"{name} was removed")
            continue
        if now[0] != kind or now[1] != mode:
            problems.append(f"{name} changed type or mode: {oct(kind | mode)} -> {oct(now[0] | now[1])}")
        elif now[2] != links:
            problems.append(f"{name} has {now[2]} links, had {links}")
        elif now[4] != digest and name not in allowed:
            problems.append(f"{name} changed by a run that {'failed' if code else 'did not name it'}")
    return args, sig, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "xorgpu"))
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    if not os.path.exists(binary):
        sys.exit(f"no binary at {binary}; cargo build --release first")
    rng = random.Random(args.seed)
    failures = 0
    signals = 0
    start = time.time()
    for i in range(args.trials):
        with tempfile.TemporaryDirectory(prefix="xorgpu-soak-") as folder:
            run_args, sig, problems = run_trial(binary, rng, folder)
        signals += sig is not None
        if problems:
            failures += 1
            name = signal.Signals(sig).name if sig else "no signal"
            print(f"trial {i}: xorgpu {' '.join(run_args)} ({name})")
            for p in problems:
                print(f"    {p}")
    print(f"{args.trials} trials ({signals} with a signal) in {time.time() - start:.0f} s, seed {args.seed}: "
          f"{failures} with problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
