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

// sum_cols: the sum down the rows, out[out_offset + j] = scale · Σ_r input[r, j] for a
// rows × n input, as a tree of passes over groups of COLS_GROUP rows. One pass: thread
// (group g, column j) adds rows g·COLS_GROUP … in order and writes out[out_offset +
// g·out_row_stride + j]. For the partial sums of a product whose slices lie one after
// another (the tiled weight gradient's): one thread per output and no barriers, where
// sum_rows would take a workgroup and its tree per output. A fixed order, so the same
// input gives the same bits.
const COLS_GROUP: u32 = 32u;

@compute @workgroup_size(WG)
fn sum_cols(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = workgroup_index(wid, nwg) * WG + lid;
    let groups = (dims.rows + COLS_GROUP - 1u) / COLS_GROUP;
    if idx >= dims.n * groups {
        return;
    }
    let j = idx % dims.n;
    let g = idx / dims.n;
    let r1 = min(dims.rows, (g + 1u) * COLS_GROUP);
    var acc = 0.0;
    for (var r = g * COLS_GROUP; r < r1; r++) {
        acc += input[dims.in_offset + r * dims.n + j];
    }
    out[dims.out_offset + g * dims.out_row_stride + j] = dims.scale * acc;
}
