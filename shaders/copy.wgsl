// The bandwidth yardstick's shader copy: what a kernel reading and writing 16-byte words
// in coalesced order moves per second (see src/gpu/bandwidth.rs). Not part of training.

struct CopyDims {
    // vec4 words to copy.
    n4: u32,
    // Workgroups of the dispatch (all along x).
    groups: u32,
}

@group(0) @binding(0) var<uniform> dims: CopyDims;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn copy_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < dims.n4; i += dims.groups * WG) {
        dst[i] = src[i];
    }
}
