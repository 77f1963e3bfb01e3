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
