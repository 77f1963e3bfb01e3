// sum_rows: the sum along the batch axis, out[r] = scale · Σₙ input[r, n], as a tree of
// passes. One pass: workgroup (chunk, row) adds the WG·4 elements of its chunk of row r in
// workgroup memory and writes one partial, out[out_offset + r·out_row_stride + chunk].
// The host repeats passes over the partials until one value per row is left (the last pass
// applies `scale`; the others use 1). A fixed tree, so the same input gives the same bits.

struct ReduceDims {
    rows: u32,
    n: u32,
    in_offset: u32,
    out_offset: u32,
    out_row_stride: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> dims: ReduceDims;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Chunks are spread over x and y, rows over z.
@compute @workgroup_size(WG)
fn sum_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let chunk = workgroup_index(wid, nwg);
    let row = wid.z;
    let base = dims.in_offset + row * dims.n;
    var acc = 0.0;
    for (var r = 0u; r < 4u; r++) {
        let i = chunk * WG * 4u + r * WG + lid;
        if i < dims.n {
            acc += input[base + i];
        }
    }
    let total = workgroup_sum(lid, acc);
    if lid == 0u && chunk * WG * 4u < dims.n {
        out[dims.out_offset + row * dims.out_row_stride + chunk] = dims.scale * total;
    }
}
