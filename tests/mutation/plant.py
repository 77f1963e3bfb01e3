#!/usr/bin/env python3
"""Plants realistic one-line bugs in the WGSL kernels and the GPU host, one at a time, runs
the tests that should catch each, and prints caught / missed. Not part of CI.

Each mutation is an exact text substitution that must apply exactly once: when the code it
targets changes, the script stops and says which one no longer applies, instead of
quietly testing nothing. The work happens in a copy of the tree (its own target folder),
so the checkout is never touched.

    python3 tests/mutation/plant.py                 # every mutation
    python3 tests/mutation/plant.py stride apply    # those whose name contains a word
    python3 tests/mutation/plant.py --list

The last full run is recorded in tests/mutation/RESULTS.md.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Test binaries that hold the GPU to the CPU, the quick ones first.
GPU_TESTS = ["extremes", "kernels", "gradients", "shapes", "golden", "training"]
CPU_TESTS = ["fast_cpu", "gradcheck", "gradients", "golden", "training"]

# (name, file, old, new, tests): `old` must occur exactly once in `file`.
MUTATIONS = [
    # --- The fused epoch (shaders/fused.wgsl) ---
    ("fused grid stride forgets the other workgroups", "shaders/fused.wgsl",
     "let stride = dims.groups * WG;", "let stride = WG;", GPU_TESTS),
    ("apply_update adds only the first 256 partials", "shaders/fused.wgsl",
     "for (var g = lid; g < dims.groups_total; g += WG) {",
     "for (var g = lid; g < min(dims.groups_total, WG); g += WG) {", GPU_TESTS),
    ("a chunk's partials written over the first chunk's", "shaders/fused.wgsl",
     "partials[(base + lid) * dims.groups_total + dims.group_offset + group]",
     "partials[(base + lid) * dims.groups_total + group]", GPU_TESTS),
    ("four-ahead loop runs one round too far", "shaders/fused.wgsl",
     "while i + (LOADS_AHEAD - 1u) * stride < n {", "while i + (LOADS_AHEAD - 2u) * stride < n {", GPU_TESTS),
    ("tail loop drops the last sample of a thread", "shaders/fused.wgsl",
     "for (; i < n; i += stride) {", "for (; i + stride < n; i += stride) {", GPU_TESTS),
    ("fused loss divided by the chunk, not the batch", "shaders/fused.wgsl",
     "let inv_n = 1.0 / f32(dims.total_n);", "let inv_n = 1.0 / f32(dims.n);", GPU_TESTS),
    ("workgroup tree skips its first level", "shaders/fused.wgsl",
     "for (var stride = WG / 2u; stride > 0u; stride /= 2u) {",
     "for (var stride = WG / 4u; stride > 0u; stride /= 2u) {", GPU_TESTS),
    ("stashed sums miss the last value", "shaders/fused.wgsl",
     "if lid < SUM_BATCH && base + lid <= P {", "if lid < SUM_BATCH && base + lid < P {", GPU_TESTS),
    ("train_tiny: dB2 skips the first sample", "shaders/fused.wgsl",
     """            } else {
                for (var i = 0u; i < n; i++) {
                    grad += dg2_sh[i];""",
     """            } else {
                for (var i = 1u; i < n; i++) {
                    grad += dg2_sh[i];""", GPU_TESTS),
    ("train_tiny: no barrier between epochs (a race)", "shaders/fused.wgsl",
     """            losses[slot + e] = -total * inv_n;
        }
        workgroupBarrier();""",
     """            losses[slot + e] = -total * inv_n;
        }""", GPU_TESTS),
    ("train_tiny: every epoch's loss in one slot", "shaders/fused.wgsl",
     "losses[slot + e] = -total * inv_n;", "losses[slot] = -total * inv_n;", GPU_TESTS),
    ("train_tiny: dW1 uses x1 for both inputs", "shaders/fused.wgsl",
     "grad += dg1_sh[j * TINY_WG + i] * x_sh[c * TINY_WG + i];",
     "grad += dg1_sh[j * TINY_WG + i] * x_sh[i];", GPU_TESTS),
    ("wide fused layers: dW1 x2 term uses x1", "shaders/fused_loops.wgsl",
     "acc[W1 + 2u * j + 1u] += dg1 * x2;", "acc[W1 + 2u * j + 1u] += dg1 * x1;", GPU_TESTS),
    # --- Shared WGSL (shaders/common.wgsl) ---
    ("workgroup index ignores y", "shaders/common.wgsl",
     "return wid.y * nwg.x + wid.x;", "return wid.x;", GPU_TESTS),
    ("sigmoid of a negative z as 1 - sigma(-z)", "shaders/common.wgsl",
     "return select(e * r, r, z >= 0.0);", "return select(1.0 - r, r, z >= 0.0);", GPU_TESTS),
    ("clamped log clamps only at 0", "shaders/common.wgsl",
     "return select(log(p), LOG_CLAMP, p < MIN_NORMAL);", "return select(log(p), LOG_CLAMP, p <= 0.0);", GPU_TESTS),
    ("workgroup_sum skips its first level", "shaders/common.wgsl",
     "for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {",
     "for (var stride = WG / 4u; stride > 0u; stride = stride / 2u) {", GPU_TESTS),
    # --- Step kernels ---
    ("sigmoid_backward drops the (1 - s)", "shaders/elementwise.wgsl",
     "out[idx] = x[idx] * s * (1.0 - s);", "out[idx] = x[idx] * s;", GPU_TESTS),
    ("add_bias indexes the bias by column", "shaders/elementwise.wgsl",
     "out[idx] += x[dims.x_offset + idx / dims.n];", "out[idx] += x[dims.x_offset + idx % dims.n];", GPU_TESTS),
    ("bce_loss counts only three of four per thread", "shaders/loss.wgsl",
     "for (var r = 0u; r < 4u; r++) {", "for (var r = 0u; r < 3u; r++) {", GPU_TESTS),
    ("bce_grad without the 1/N", "shaders/loss.wgsl",
     "out[idx] = (p - t[idx]) / max(p * (1.0 - p), GRAD_EPS) / f32(dims.n);",
     "out[idx] = (p - t[idx]) / max(p * (1.0 - p), GRAD_EPS);", GPU_TESTS),
    # --- GPU host ---
    ("chunk size twice what a binding holds", "src/gpu/trainer.rs",
     "((max_bytes / 8) as usize / WG as usize * WG as usize).max(WG as usize)",
     "((max_bytes / 4) as usize / WG as usize * WG as usize).max(WG as usize)", GPU_TESTS),
    ("grid: rows over y rounded down", "src/gpu/kernels.rs",
     "[MAX_GROUPS_PER_DIM, workgroups.div_ceil(MAX_GROUPS_PER_DIM)]",
     "[MAX_GROUPS_PER_DIM, workgroups / MAX_GROUPS_PER_DIM]", GPU_TESTS),
    ("group offset not advanced between chunks", "src/gpu/fused.rs",
     "            group_offset += groups;\n", "", GPU_TESTS),
    ("generated dW1 x2 term uses x1", "src/gpu/fused.rs",
     'writeln!(c, "    acc[{}] += dg1_{j} * x2;", 2 * j + 1).unwrap();',
     'writeln!(c, "    acc[{}] += dg1_{j} * x1;", 2 * j + 1).unwrap();', GPU_TESTS),
    ("epochs per block one short", "src/gpu/trainer.rs",
     "self.gpu.queue.write_buffer(&self.state, 0, bytemuck::cast_slice(&[0u32, epochs as u32]));",
     "self.gpu.queue.write_buffer(&self.state, 0, bytemuck::cast_slice(&[0u32, epochs as u32 - 1]));", GPU_TESTS),
    ("last submission of a block runs a whole one", "src/gpu/trainer.rs",
     "let count = per_submit.min(epochs - first);", "let count = per_submit;", GPU_TESTS),
    ("llvmpipe's loop cap on train_tiny ten times higher", "src/gpu/trainer.rs",
     "(8192 / (n + 4 * hidden + 4)).max(1)", "(81920 / (n + 4 * hidden + 4)).max(1)", GPU_TESTS),
    # --- CPU fast backend and the loop ---
    ("fast cpu: last chunk cut short", "src/cpu/fast.rs",
     "let r = c * CHUNK..((c + 1) * CHUNK).min(n);", "let r = c * CHUNK..((c + 1) * CHUNK).min(n - 1);", CPU_TESTS),
    # --- Checks on what the user gave ---
    ("no bound on the weights, only on NaN", "src/train.rs",
     "w.is_nan() || w.abs() > WEIGHT_BOUND", "w.is_nan()", ["hostile", "training"]),
    ("a software adapter's device bytes not counted on the host", "src/memory.rs",
     "let host = 2 * DATA_BYTES + if software { device } else { 0 };", "let host = 2 * DATA_BYTES;",
     ["memory", "hostile"]),
    ("tiny workgroup size wraps past 2^31", "src/gpu/fused.rs",
     "let wg = u32::try_from(n.checked_next_power_of_two()?.max(8)).ok()?;",
     "let wg = (n.next_power_of_two().max(8)) as u32;", ["hostile"]),
    ("outputs compared by the names given, not the files", "src/files.rs",
     "    place(&a) == place(&b)\n}", "    a == b\n}", ["hostile"]),
]


def copy_tree(dest):
    """The tracked and untracked files of the checkout (no target/), into `dest`."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for f in filter(None, files):
        src = os.path.join(ROOT, f)
        if not os.path.isfile(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, f))


def run_tests(work, tests, timeout):
    """(passed, seconds, first failure): the named test binaries one at a time, in order,
    stopping at the first that fails (the lists put the quick ones first)."""
    start = time.time()
    for t in tests:
        left = timeout - (time.time() - start)
        try:
            r = subprocess.run(["cargo", "test", "--release", "-q", "--test", t], cwd=work,
                               capture_output=True, text=True, timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            return False, time.time() - start, "timed out (counted as caught: the suite did not pass)"
        if r.returncode != 0:
            out = (r.stdout + r.stderr).strip().splitlines()
            panics = [l for l in out if "panicked" in l or l.startswith("error")]
            return False, time.time() - start, f"[{t}] " + (panics[:1] or out[-1:] or [""])[0]
    return True, time.time() - start, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("words", nargs="*", help="run only mutations whose name contains one of these")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per mutation's tests")
    ap.add_argument("--work", help="the copy to work in (default: a new temporary folder)")
    args = ap.parse_args()

    chosen = [m for m in MUTATIONS if not args.words or any(w in m[0] for w in args.words)]
    if args.list:
        for m in chosen:
            print(f"{m[0]}  ({m[1]})")
        return 0
    # Every substitution must still apply before any time is spent.
    for name, path, old, _, _ in chosen:
        count = open(os.path.join(ROOT, path)).read().count(old)
        if count != 1:
            sys.exit(f"mutation {name!r}: its text occurs {count} times in {path}; update it")

    work = args.work or tempfile.mkdtemp(prefix="xorgpu-mutants-")
    copy_tree(work)
    env_note = f"working copy: {work}"
    print(env_note, file=sys.stderr)
    ok, secs, last = run_tests(work, sorted({t for m in chosen for t in m[4]}), args.timeout * 2)
    if not ok:
        sys.exit(f"the unmutated tree fails its tests ({last}); fix that first")
    print(f"baseline: all chosen tests pass ({secs:.0f} s)", file=sys.stderr)

    caught = missed = 0
    rows = []
    for name, path, old, new, tests in chosen:
        target = os.path.join(work, path)
        original = open(target).read()
        open(target, "w").write(original.replace(old, new, 1))
        try:
            passed, secs, last = run_tests(work, tests, args.timeout)
        finally:
            open(target, "w").write(original)
        verdict = "MISSED" if passed else "caught"
        caught += not passed
        missed += passed
        rows.append((verdict, name, path, secs, "" if passed else last))
        print(f"{verdict:7} {secs:5.0f} s  {name}  ({path})" + ("" if passed else f"\n          {last[:160]}"), flush=True)
    print(f"\n{caught} caught, {missed} missed, of {len(chosen)}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
