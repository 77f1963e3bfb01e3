// The many-epochs path for any narrow net on a batch of up to a few hundred samples: one
// workgroup, and one dispatch runs many epochs, each the forward and backward pass of every
// sample, the sums of the gradient in a fixed order, and the optimizer's update. A small
// batch's epoch on the fused pair is three dispatches, and their cost, not the work, sets
// its pace.
//
// The host prepends (src/gpu/mlp_tiny.rs) the net as for fused_mlp.wgsl (`P`, `D0`,
// `hidden_act`, `hidden_back`, and `load_weights`, `add_sample`, `clear_sums` and
// `write_partials` written out with every index a literal), `const TW` (the workgroup
// size), `const RULE` (0 SGD, 1 momentum, 2 Adam) and `fn is_weight(v)` (whether packed
// parameter v is a weight, which L2 applies to, not a bias).
//
// Each epoch: thread i takes samples i, i + TW, … into its private sums; each writes its
// P + 1 sums to `partials` (row v, column i); then thread v adds row v over the threads in
// order and updates parameter v as the rule's kernel in optim.wgsl or sgd.wgsl would (v = P:
// the loss). The same sums in the same order on every run.

struct TinyMlpDims {
    n: u32,
    // The most epochs one dispatch runs (llvmpipe's loop guard, and watchdogs on GPUs).
    epochs_per_dispatch: u32,
    // MODE_LOSS, MODE_UPDATE or MODE_GRADIENT.
    mode: u32,
    _pad: u32,
    lr: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    lambda: f32,
}

// The loss of the current weights into the history slot; nothing else changes.
const MODE_LOSS: u32 = 0u;
// Epochs of training: the losses, the updates.
const MODE_UPDATE: u32 = 1u;
// The loss, and the gradient left at the start of `partials` instead of the update: how
// the tests read each gradient as this path computes it.
const MODE_GRADIENT: u32 = 2u;

@group(0) @binding(0) var<uniform> dims: TinyMlpDims;
@group(0) @binding(1) var<storage, read> xt: array<f32>;              // D0 × N
@group(0) @binding(2) var<storage, read> t: array<f32>;               // 1 × N
@group(0) @binding(3) var<storage, read_write> params: array<f32>;    // P
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;  // (P + 1) × TW
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;    // the block's loss history
// [the next slot of `losses`, epochs left in the block, then Adam's table as optim.wgsl
// reads it: k, then (step_size, √(1 − β₂ᵗ)) per step]: set by the host at each block,
// advanced here, so epochs need no write from the host.
@group(0) @binding(6) var<storage, read_write> state: array<u32>;
@group(0) @binding(7) var<storage, read_write> m: array<f32>;         // P where the rule keeps it
@group(0) @binding(8) var<storage, read_write> v: array<f32>;         // P where the rule keeps it

const GRAD_EPS: f32 = 1e-12;
const ADAM: u32 = 2u;

var<private> wp: array<f32, P>;
var<private> acc: array<f32, P + 1u>;
var<workgroup> run_sh: u32;
// MODE_GRADIENT: the sums, until every thread has read `partials`.
var<workgroup> grads_sh: array<f32, P>;

// Parameter i by the rule, from its gradient g (L2's λ·w added to a weight's) at Adam's
// table entry k.
fn update(i: u32, g_raw: f32, k: u32) {
    var g = g_raw;
    if is_weight(i) {
        g += dims.lambda * params[i];
    }
    switch RULE {
        case 0u: {
            params[i] -= dims.lr * g;
        }
        case 1u: {
            let vi = dims.momentum * v[i] + g;
            v[i] = vi;
            params[i] -= dims.lr * vi;
        }
        default: {
            let step_size = bitcast<f32>(state[3u + 2u * k]);
            let correction2_sqrt = bitcast<f32>(state[4u + 2u * k]);
            let mi = dims.beta1 * m[i] + dims.one_minus_beta1 * g;
            let vi = dims.beta2 * v[i] + dims.one_minus_beta2 * g * g;
            m[i] = mi;
            v[i] = vi;
            params[i] -= step_size * mi / (sqrt(vi) / correction2_sqrt + dims.eps);
        }
    }
}

@compute @workgroup_size(TW)
fn train_mlp_tiny(@builtin(local_invocation_index) lid: u32) {
    let n = dims.n;
    let inv_n = 1.0 / f32(n);
    let training = dims.mode == MODE_UPDATE;
    if lid == 0u {
        run_sh = select(1u, min(state[1], dims.epochs_per_dispatch), training);
    }
    let run = workgroupUniformLoad(&run_sh);
    let slot = state[0];
    // Adam's steps taken before this dispatch: the table's entry for its first epoch.
    let k0 = state[2];
    for (var e = 0u; e < run; e++) {
        load_weights();
        clear_sums();
        for (var i = lid; i < n; i += TW) {
            add_sample(i, n, inv_n);
        }
        write_partials(lid, TW);
        storageBarrier();
        for (var p = lid; p <= P; p += TW) {
            var sum = 0.0;
            for (var i = 0u; i < TW; i++) {
                sum += partials[p * TW + i];
            }
            if p == P {
                losses[slot + e] = -sum / f32(n);
            } else if training {
                update(p, sum, k0 + e);
            } else {
                grads_sh[p] = sum;
            }
        }
        // The updated parameters before the next epoch reads them, and every row of
        // `partials` read before it is written again.
        storageBarrier();
    }
    if dims.mode == MODE_GRADIENT {
        workgroupBarrier();
        for (var p = lid; p < P; p += TW) {
            partials[p] = grads_sh[p];
        }
    }
    // (An empty dispatch, the block's epochs already run, leaves the state alone.)
    if training && lid == 0u && run > 0u {
        state[0] = slot + run;
        state[1] -= run;
        state[2] = k0 + run;
    }
}
