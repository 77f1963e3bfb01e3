// Prepended to every kernel file (see src/gpu/kernels.rs): the workgroup size, the
// linear workgroup index of a dispatch spread over x and y, and the workgroup sum.

const WG: u32 = 256u;

// A dispatch of more than 65,535 workgroups is spread over y (see `grid` in
// src/gpu/kernels.rs); this rebuilds the linear index. Threads past the end of the data
// must check it themselves.
fn workgroup_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

var<workgroup> scratch: array<f32, WG>;

// Tree sum of one value per thread, in a fixed order, so the result is the same run after
// run. Every thread of the workgroup must call it (it holds barriers).
fn workgroup_sum(lid: u32, v: f32) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            scratch[lid] += scratch[lid + stride];
        }
        workgroupBarrier();
    }
    let total = scratch[0];
    // Keeps a later call in the same kernel from overwriting scratch[0] before all read it.
    workgroupBarrier();
    return total;
}
