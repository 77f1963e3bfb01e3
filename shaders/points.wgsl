// The forward pass of any MLP over a set of points, one thread a point: what the live
// page draws (the output over the boundary's grid, and chosen hidden units' outputs over
// a smaller one). Not part of training: the weights come from the trainer once a frame.
// Its CPU twin is cpu::mlp::forward_points.

// The widest layer (net::MAX_WIDTH): each thread keeps one layer's activations.
const MAX_WIDTH: u32 = 256u;

struct PointDims {
    points: u32,
    // L, the layers with weights; widths d_0 … d_L below.
    layers: u32,
    // The hidden activation: 0 sigmoid, 1 tanh, 2 relu (the output is always a sigmoid).
    activation: u32,
    // Hidden units reported per point, listed in `units`.
    shown: u32,
    // Where this set's outputs start in `out` (sets share one buffer, read back at once).
    base: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    widths: array<vec4<u32>, 3>,
}

@group(0) @binding(0) var<uniform> dims: PointDims;
// [W_1 | B_1 | W_2 | …], each W row-major: the packed parameters.
@group(0) @binding(1) var<storage, read> params: array<f32>;
// xt: d_0 × points, feature-major as every batch.
@group(0) @binding(2) var<storage, read> xt: array<f32>;
// Each shown unit as layer · 65536 + unit (layer 1-based).
@group(0) @binding(3) var<storage, read> units: array<u32>;
// From `base`: the output at each point, then each shown unit's value at each point
// (shown × points).
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn width(l: u32) -> u32 {
    return dims.widths[l / 4u][l % 4u];
}

@compute @workgroup_size(WG)
fn forward_points(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let p = workgroup_index(wid, nwg) * WG + lid;
    if p >= dims.points {
        return;
    }
    var a: array<f32, MAX_WIDTH>;
    var z: array<f32, MAX_WIDTH>;
    for (var i = 0u; i < width(0u); i++) {
        a[i] = xt[i * dims.points + p];
    }
    var offset = 0u;
    for (var l = 1u; l <= dims.layers; l++) {
        let rows = width(l);
        let cols = width(l - 1u);
        let bias = offset + rows * cols;
        // Z_l = W_l · A_{l−1} + B_l, the sum first and the bias after, as the CPU's matmul
        // and add_bias do.
        for (var j = 0u; j < rows; j++) {
            var s = 0.0;
            for (var k = 0u; k < cols; k++) {
                s += params[offset + j * cols + k] * a[k];
            }
            z[j] = s + params[bias + j];
        }
        let last = l == dims.layers;
        for (var j = 0u; j < rows; j++) {
            let v = z[j];
            if last || dims.activation == 0u {
                a[j] = sigmoid_scalar(v);
            } else if dims.activation == 1u {
                a[j] = tanh_scalar(v);
            } else {
                a[j] = select(v, 0.0, v < 0.0);
            }
        }
        for (var k = 0u; k < dims.shown; k++) {
            if units[k] / 65536u == l {
                out[dims.base + dims.points * (1u + k) + p] = a[units[k] % 65536u];
            }
        }
        offset = bias + rows;
    }
    out[dims.base + p] = a[0];
}
