// Population training: one thread per network, every epoch of a block in one dispatch.
//
// Prepended by src/gpu/population.rs: the common prelude, then the net's constants (H
// hidden units, D inputs, P parameters, MAX_DATA floats of shared data, the rule), the
// Rust side's NONE, WEIGHT_BOUND and GRAD_EPS, and its hidden_act/hidden_back. Each network is the reference's D-H-1 net (src/cpu/mlp.rs);
// its weights, gradient and hidden activations stay in the thread's registers for the
// whole block, and the training set, shared by all, sits in workgroup memory. No thread
// reads another's network, so a network's result does not depend on how the networks are
// grouped. The CPU twin is `train_population` in src/cpu/population.rs.

struct PopulationDims {
    // Networks in the group.
    networks: u32,
    // Samples in the training set.
    n: u32,
    // Updates done before this dispatch, and the update this dispatch stops at.
    start: u32,
    end: u32,
    // Epochs of the run: at `total` the final weights are evaluated, not updated.
    total: u32,
    stop_at_success: u32,
    target_loss: f32,
    momentum: f32,
    // Adam's shared scalars (the reference's, in f32).
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    // Adam: the distinct rates at the head of adam_table.
    rates: u32,
    _pad1: u32,
    _pad2: u32,
}

// Per network: the first epoch at which the success test held (or NONE), the epoch that
// diverged (or NONE), the loss of the last weights evaluated, and whether the test held on them.
struct Status {
    success: u32,
    diverged: u32,
    loss: f32,
    held: u32,
}

const SGD: u32 = 0u;
const MOMENTUM: u32 = 1u;
const ADAM: u32 = 2u;
// Offsets in the packed [W1 | B1 | W2 | B2].
const B1: u32 = H * D;
const W2: u32 = H * D + H;
const B2: u32 = H * D + 2u * H;

@group(0) @binding(0) var<uniform> dims: PopulationDims;
// Sample by sample: its D inputs, then its target.
@group(0) @binding(1) var<storage, read> samples: array<f32>;
@group(0) @binding(2) var<storage, read> rates: array<f32>;
// networks × P, network by network.
@group(0) @binding(3) var<storage, read_write> params: array<f32>;
// networks × P: momentum's velocity or Adam's second moment; unused under SGD.
@group(0) @binding(4) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(5) var<storage, read_write> status: array<Status>;
// How many networks still have epochs to run after this dispatch, so the host stops
// dispatching once every network has stopped (an integer count: the same whatever order
// the threads add in).
@group(0) @binding(6) var<storage, read_write> running: atomic<u32>;
// networks × P: Adam's first moment; unused under the other rules.
@group(0) @binding(7) var<storage, read_write> moment: array<f32>;
// Adam: the group's distinct rates (dims.rates of them), then per epoch of this dispatch
// (step t = start + 1 + i) √(1 − β₂ᵗ) and each rate's step size lr/(1 − β₁ᵗ), computed in
// f64 on the host and rounded once, as the reference rounds them (WGSL's pow(β, t) near 1
// is off by parts in 1e4, and lr/(1 − β₁ᵗ) in f32 errs the same way at every step).
@group(0) @binding(8) var<storage, read> adam_table: array<f32>;

var<workgroup> shared_samples: array<f32, MAX_DATA>;

@compute @workgroup_size(POP_WG)
fn train_population(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let floats = dims.n * (D + 1u);
    for (var i = lid; i < floats; i += POP_WG) {
        shared_samples[i] = samples[i];
    }
    workgroupBarrier();
    let net = workgroup_index(wid, nwg) * POP_WG + lid;
    if net >= dims.networks {
        return;
    }
    var st = status[net];
    if st.diverged != NONE || (dims.stop_at_success != 0u && st.success != NONE) {
        return;
    }
    var w: array<f32, P>;
    var v: array<f32, P>;
    var m: array<f32, P>;
    for (var i = 0u; i < P; i++) {
        w[i] = params[net * P + i];
    }
    if RULE != SGD {
        for (var i = 0u; i < P; i++) {
            v[i] = velocity[net * P + i];
        }
    }
    if RULE == ADAM {
        for (var i = 0u; i < P; i++) {
            m[i] = moment[net * P + i];
        }
    }
    let lr = rates[net];
    // This network's column of Adam's step sizes: the slot of its rate.
    var slot = 0u;
    if RULE == ADAM {
        for (var j = 0u; j < dims.rates; j++) {
            if adam_table[j] == lr {
                slot = j;
            }
        }
    }
    let n_f = f32(dims.n);
    var e = dims.start;
    loop {
        let backward = e < dims.total;
        var g: array<f32, P>;
        var log_sum = 0.0;
        var right = true;
        for (var s = 0u; s < dims.n; s++) {
            let base = s * (D + 1u);
            let tn = shared_samples[base + D];
            var a: array<f32, H>;
            var g2 = 0.0;
            for (var j = 0u; j < H; j++) {
                var z = 0.0;
                for (var c = 0u; c < D; c++) {
                    z += w[j * D + c] * shared_samples[base + c];
                }
                a[j] = hidden_act(z + w[B1 + j]);
                g2 += w[W2 + j] * a[j];
            }
            let s2 = sigmoid_scalar(g2 + w[B2]);
            right = right && ((s2 >= 0.5) == (tn >= 0.5));
            log_sum += clamped_log(select(1.0 - s2, s2, tn > 0.5));
            if backward {
                // bce_grad (PyTorch's guarded divisor), then back through the sigmoid.
                let d_a = (s2 - tn) / max(s2 * (1.0 - s2), GRAD_EPS) / n_f;
                let dz2 = d_a * s2 * (1.0 - s2);
                g[B2] += dz2;
                for (var j = 0u; j < H; j++) {
                    g[W2 + j] += dz2 * a[j];
                    let dz1 = hidden_back(w[W2 + j] * dz2, a[j]);
                    g[B1 + j] += dz1;
                    for (var c = 0u; c < D; c++) {
                        g[j * D + c] += dz1 * shared_samples[base + c];
                    }
                }
            }
        }
        st.loss = -log_sum / n_f;
        // A loss that is not finite (NaN or ±∞; WGSL has no isNan) has diverged.
        if !(abs(st.loss) <= 3.4028235e38) {
            st.diverged = e;
            st.held = 0u;
            break;
        }
        st.held = select(0u, 1u, right && st.loss < dims.target_loss);
        if st.held == 1u && st.success == NONE {
            st.success = e;
        }
        if (st.held == 1u && dims.stop_at_success != 0u) || e == dims.total {
            break;
        }
        var ok = true;
        // Adam's step size lr/(1 − β₁ᵗ) and √(1 − β₂ᵗ) for this step.
        var step_size = 0.0;
        var correction2_sqrt = 1.0;
        if RULE == ADAM {
            let row = dims.rates + (e - dims.start) * (dims.rates + 1u);
            correction2_sqrt = adam_table[row];
            step_size = adam_table[row + 1u + slot];
        }
        for (var i = 0u; i < P; i++) {
            // The reference's rules: SGD; PyTorch's momentum, v ← μ·v + g, p ← p − lr·v;
            // Adam in PyTorch's order of operations.
            if RULE == MOMENTUM {
                v[i] = dims.momentum * v[i] + g[i];
                w[i] = w[i] - lr * v[i];
            } else if RULE == ADAM {
                m[i] = dims.beta1 * m[i] + dims.one_minus_beta1 * g[i];
                v[i] = dims.beta2 * v[i] + dims.one_minus_beta2 * g[i] * g[i];
                w[i] = w[i] - step_size * m[i] / (sqrt(v[i]) / correction2_sqrt + dims.eps);
            } else {
                w[i] = w[i] - lr * g[i];
            }
            ok = ok && abs(w[i]) <= WEIGHT_BOUND;
        }
        e += 1u;
        if !ok {
            st.diverged = e;
            st.held = 0u;
            break;
        }
        if e == dims.end && e < dims.total {
            break;
        }
    }
    for (var i = 0u; i < P; i++) {
        params[net * P + i] = w[i];
    }
    if RULE != SGD {
        for (var i = 0u; i < P; i++) {
            velocity[net * P + i] = v[i];
        }
    }
    if RULE == ADAM {
        for (var i = 0u; i < P; i++) {
            moment[net * P + i] = m[i];
        }
    }
    status[net] = st;
    if st.diverged == NONE && !(dims.stop_at_success != 0u && st.success != NONE) && e < dims.total {
        atomicAdd(&running, 1u);
    }
}
