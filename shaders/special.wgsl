// The special-function yardstick (see src/gpu/ceiling.rs): how many exponentials and
// divisions a second this device runs, the work a population's network-epoch is made of.
// Not part of training. Four independent sigmoid chains a thread, so each step waits on
// its own previous value only and the units stay busy; a chain σ(x) converges, so nothing
// overflows however long it runs.

struct SpecialDims {
    threads: u32,
    rounds: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: SpecialDims;
@group(0) @binding(1) var<storage, read> seeds: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn special_ops(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = workgroup_index(wid, nwg) * WG + lid;
    if i >= dims.threads {
        return;
    }
    var a = seeds[i];
    var b = a + 0.25;
    var c = a - 0.25;
    var d = 0.5 * a;
    // Each round: four exponentials and four divisions.
    for (var r = 0u; r < dims.rounds; r++) {
        a = 1.0 / (1.0 + exp(-a));
        b = 1.0 / (1.0 + exp(-b));
        c = 1.0 / (1.0 + exp(-c));
        d = 1.0 / (1.0 + exp(-d));
    }
    out[i] = a + b + c + d;
}

// The multiply-add yardstick: how many f32 multiply-adds a second this device runs, against
// which a wide net's epoch is read. Eight independent chains a thread, four steps each a
// round; x ← x·m + c with m and c from the seed (so no compiler can fold the chain), |m| < 1
// so it converges and nothing overflows. Named values and x·m + c rather than an array and
// fma(): llvmpipe ran that form at half the rate, below what the fused kernels reach.
@compute @workgroup_size(WG)
fn fma_ops(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = workgroup_index(wid, nwg) * WG + lid;
    if i >= dims.threads {
        return;
    }
    let s = seeds[i];
    let m = 0.5 + 0.25 * sin(s);
    let c = 0.125 * s;
    var x0 = s;
    var x1 = s + 0.5;
    var x2 = s - 0.5;
    var x3 = s * 0.5;
    var x4 = s + 1.0;
    var x5 = s - 1.0;
    var x6 = s * 0.25;
    var x7 = s + 0.25;
    for (var r = 0u; r < dims.rounds; r++) {
        x0 = x0 * m + c;
        x1 = x1 * m + c;
        x2 = x2 * m + c;
        x3 = x3 * m + c;
        x4 = x4 * m + c;
        x5 = x5 * m + c;
        x6 = x6 * m + c;
        x7 = x7 * m + c;
        x0 = x0 * m + c;
        x1 = x1 * m + c;
        x2 = x2 * m + c;
        x3 = x3 * m + c;
        x4 = x4 * m + c;
        x5 = x5 * m + c;
        x6 = x6 * m + c;
        x7 = x7 * m + c;
        x0 = x0 * m + c;
        x1 = x1 * m + c;
        x2 = x2 * m + c;
        x3 = x3 * m + c;
        x4 = x4 * m + c;
        x5 = x5 * m + c;
        x6 = x6 * m + c;
        x7 = x7 * m + c;
        x0 = x0 * m + c;
        x1 = x1 * m + c;
        x2 = x2 * m + c;
        x3 = x3 * m + c;
        x4 = x4 * m + c;
        x5 = x5 * m + c;
        x6 = x6 * m + c;
        x7 = x7 * m + c;
    }
    out[i] = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
}
