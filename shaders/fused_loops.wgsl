
// ---- epoch_partials' helpers as loops, for wide hidden layers (see sample_code in
// src/gpu/fused.rs, which unrolls them for narrow ones). ----

fn load_weights() {
    for (var p = 0u; p < P; p++) {
        wp[p] = params[p];
    }
}

fn add_sample(x1: f32, x2: f32, tn: f32, inv_n: f32) {
    var s1: array<f32, H>;
    var g2 = wp[B2];
    for (var j = 0u; j < H; j++) {
        s1[j] = sigmoid_scalar(wp[W1 + 2u * j] * x1 + wp[W1 + 2u * j + 1u] * x2 + wp[B1 + j]);
        g2 += wp[W2 + j] * s1[j];
    }
    let s2 = sigmoid_scalar(g2);
    acc[P] += clamped_log(select(1.0 - s2, s2, tn > 0.5));
    let dg2 = (s2 - tn) * inv_n;
    acc[B2] += dg2;
    for (var j = 0u; j < H; j++) {
        acc[W2 + j] += dg2 * s1[j];
        let dg1 = wp[W2 + j] * dg2 * s1[j] * (1.0 - s1[j]);
        acc[W1 + 2u * j] += dg1 * x1;
        acc[W1 + 2u * j + 1u] += dg1 * x2;
        acc[B1 + j] += dg1;
    }
}

fn stash_sums(base: u32, lid: u32) {
    for (var k = 0u; k < SUM_BATCH; k++) {
        let v = base + k;
        sums[k * WG + lid] = select(0.0, acc[min(v, P)], v <= P);
    }
}
