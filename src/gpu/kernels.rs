//! One compute pipeline per WGSL kernel, and [`Dispatch`]es: a kernel bound to its
//! buffers and its dimensions, built once per run and replayed every epoch.
//!
//! Every function that builds dispatches is named after its kernel and its CPU twin in
//! [`crate::cpu`], and takes its operands in the same order and meaning.

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::Gpu;
use crate::net::Activation;
use crate::Error;

/// Threads per workgroup in every kernel (`WG` in `shaders/common.wgsl`).
pub const WG: u32 = 256;
/// Elements one workgroup of a reduction adds (each thread takes four).
pub const REDUCE_CHUNK: u32 = WG * 4;
/// The slice of the inner dimension one matmul thread sums alone before sum_rows takes
/// over (see `shaders/matmul.wgsl`).
pub const K_SPLIT: u32 = 256;
/// Rows one thread of a sum_cols pass adds (`COLS_GROUP` in `shaders/reduce.wgsl`).
pub const COLS_GROUP: u32 = 32;
/// WebGPU's limit on workgroups along one dimension of a dispatch.
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// Each WGSL file, with the common prelude it is compiled with, by name: what the shader
/// validation test walks.
pub const SHADERS: [(&str, &str); 7] = [
    ("matmul.wgsl", concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/matmul.wgsl"))),
    (
        "elementwise.wgsl",
        concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/elementwise.wgsl")),
    ),
    ("loss.wgsl", concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/loss.wgsl"))),
    ("reduce.wgsl", concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/reduce.wgsl"))),
    ("sgd.wgsl", concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/sgd.wgsl"))),
    ("optim.wgsl", concat!(include_str!("../../shaders/common.wgsl"), include_str!("../../shaders/optim.wgsl"))),
    ("points.wgsl", super::points::SOURCE),
];

/// A dispatch of `workgroups` workgroups as (x, y): x up to the per-dimension limit, the
/// rest over y. The shaders rebuild the linear index and check it against their size.
pub fn grid(workgroups: u32) -> [u32; 2] {
    let workgroups = workgroups.max(1);
    if workgroups <= MAX_GROUPS_PER_DIM {
        [workgroups, 1]
    } else {
        [MAX_GROUPS_PER_DIM, workgroups.div_ceil(MAX_GROUPS_PER_DIM)]
    }
}

/// A kernel bound to its buffers and dimensions: recording it is three calls.
#[derive(Clone)]
pub struct Dispatch {
    pub kernel: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

impl Dispatch {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// Records a list of dispatches in order.
pub fn record_all(pass: &mut wgpu::ComputePass<'_>, dispatches: &[Dispatch]) {
    for d in dispatches {
        d.record(pass);
    }
}

/// Scratch space for multi-pass reductions: matmul and bce_loss write their partial sums
/// to `partials`; sum_rows passes alternate between `ping` and `pong`, so no pass ever
/// reads the buffer it writes.
pub struct Scratch {
    pub partials: wgpu::Buffer,
    pub ping: wgpu::Buffer,
    pub pong: wgpu::Buffer,
}

impl Scratch {
    /// Enough for reductions of up to `rows` rows of `n` elements, and matmul's slices.
    pub fn new(gpu: &Gpu, rows: usize, n: usize) -> Self {
        let chunks = n.div_ceil(REDUCE_CHUNK as usize);
        Self::with_lens(gpu, rows * n.div_ceil(K_SPLIT as usize).max(chunks), rows * chunks)
    }

    /// `partials` floats of partial sums and `pass` floats for each of `ping` and `pong`.
    pub fn with_lens(gpu: &Gpu, partials: usize, pass: usize) -> Self {
        Scratch {
            partials: gpu.storage("scratch partials", partials),
            ping: gpu.storage("scratch ping", pass),
            pong: gpu.storage("scratch pong", pass),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.partials.size() + self.ping.size() + self.pong.size()
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulDims {
    m: u32,
    k: u32,
    p: u32,
    k_split: u32,
    a_offset: u32,
    a_row: u32,
    a_col: u32,
    splits: u32,
    b_offset: u32,
    b_row: u32,
    b_col: u32,
    c_offset: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ElementwiseDims {
    rows: u32,
    n: u32,
    x_offset: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LossDims {
    n: u32,
    _pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceDims {
    rows: u32,
    n: u32,
    in_offset: u32,
    out_offset: u32,
    out_row_stride: u32,
    scale: f32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct OptimDims {
    count: u32,
    offset: u32,
    lr: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    lambda: f32,
    _pad: [u32; 2],
}

/// The buffers the update rules work on: the packed parameters and gradient, and the
/// optimizer's state (`m`, `v`: P floats where the rule keeps them, else one; `adam`: the
/// block's step table, see [`adam_table`]).
pub struct OptimBuffers<'a> {
    pub params: &'a wgpu::Buffer,
    pub grads: &'a wgpu::Buffer,
    pub m: &'a wgpu::Buffer,
    pub v: &'a wgpu::Buffer,
    pub adam: &'a wgpu::Buffer,
}

/// Words of the Adam table for a block of `epochs` steps: the count, then two per step.
pub fn adam_table_len(epochs: usize) -> usize {
    1 + 2 * epochs
}

/// The Adam table for steps `first..first + epochs` (counted from 1): `[0, (step_size,
/// √(1 − β₂ᵗ)) as f32 bits per step]`, the scalars computed in f64 (see `shaders/optim.wgsl`).
pub fn adam_table(opt: &crate::net::optim::Optimizer, first: u64, epochs: usize) -> Vec<u32> {
    let mut table = vec![0u32];
    for t in first..first + epochs as u64 {
        let s = opt.adam_step(t);
        table.extend([(s.step_size as f32).to_bits(), (s.correction2_sqrt as f32).to_bits()]);
    }
    table
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SgdDims {
    count: u32,
    lr: f32,
    _pad: [u32; 2],
}

/// An operand of a matrix product: a buffer, where the matrix starts in it (in floats),
/// and whether it is stored transposed.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u32,
    pub transposed: bool,
}

impl<'a> Operand<'a> {
    pub fn new(buffer: &'a wgpu::Buffer, offset: usize, transposed: bool) -> Self {
        Operand { buffer, offset: offset as u32, transposed }
    }

    /// (row stride, column stride) of the `rows × cols` matrix this operand is used as:
    /// stored as it is, or stored `cols × rows` and used transposed.
    pub fn strides(&self, rows: u32, cols: u32) -> (u32, u32) {
        if self.transposed {
            (1, rows)
        } else {
            (cols, 1)
        }
    }
}

/// What sits at one binding of a kernel family's bind group.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Binding {
    Uniform,
    Read,
    ReadWrite,
}

use Binding::{Read, ReadWrite, Uniform};

/// A kernel family (one WGSL file): the bind group layout its kernels share, and their
/// pipelines.
pub(super) struct Family {
    layout: wgpu::BindGroupLayout,
    pipelines: Vec<(&'static str, wgpu::ComputePipeline)>,
}

impl Family {
    pub(super) fn new(
        gpu: &Gpu,
        file: &'static str,
        source: &str,
        bindings: &[Binding],
        kernels: &[&'static str],
    ) -> Result<Self, Error> {
        gpu.scoped(&format!("compiling {file}"), || {
            let device = &gpu.device;
            let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                    binding: i as u32,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: match b {
                            Uniform => wgpu::BufferBindingType::Uniform,
                            Read => wgpu::BufferBindingType::Storage { read_only: true },
                            ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                })
                .collect();
            let layout = device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(file), entries: &entries });
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(file),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(file),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            let pipelines = kernels
                .iter()
                .map(|&kernel| {
                    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(kernel),
                        layout: Some(&pipeline_layout),
                        module: &module,
                        entry_point: Some(kernel),
                        compilation_options: Default::default(),
                        cache: None,
                    });
                    (kernel, pipeline)
                })
                .collect();
            Family { layout, pipelines }
        })
    }

    fn pipeline(&self, kernel: &str) -> &wgpu::ComputePipeline {
        &self.pipelines.iter().find(|(k, _)| *k == kernel).expect("kernel in its family").1
    }

    /// A dispatch of `kernel` with `dims` and the storage buffers in binding order.
    pub(super) fn dispatch<D: Pod>(
        &self,
        gpu: &Gpu,
        kernel: &'static str,
        dims: &D,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Dispatch {
        let uniform = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(kernel),
            contents: bytemuck::bytes_of(dims),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        entries.extend(
            buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() }),
        );
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel),
            layout: &self.layout,
            entries: &entries,
        });
        Dispatch { kernel, pipeline: self.pipeline(kernel).clone(), bind_group, workgroups }
    }
}

/// Every pipeline, compiled once per run.
pub struct Kernels {
    matmul: Family,
    elementwise: Family,
    loss: Family,
    reduce: Family,
    sgd: Family,
    optim: Family,
}

/// `[x, y, 1]` workgroups for one thread per element of `count`.
fn per_element(count: u32) -> [u32; 3] {
    let [x, y] = grid(count.div_ceil(WG));
    [x, y, 1]
}

/// The source of a step kernel file, prelude included.
fn step_source(file: &str) -> &'static str {
    SHADERS.iter().find(|(name, _)| *name == file).expect("shader listed").1
}

impl Kernels {
    pub fn new(gpu: &Gpu) -> Result<Self, Error> {
        let family = |file, bindings: &[Binding], kernels: &[&'static str]| {
            Family::new(gpu, file, step_source(file), bindings, kernels)
        };
        Ok(Kernels {
            matmul: family("matmul.wgsl", &[Uniform, Read, Read, ReadWrite], &["matmul"])?,
            elementwise: family(
                "elementwise.wgsl",
                &[Uniform, Read, Read, ReadWrite],
                &["add_bias", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "relu", "relu_backward"],
            )?,
            loss: family("loss.wgsl", &[Uniform, Read, Read, ReadWrite], &["bce_loss", "bce_grad"])?,
            reduce: family("reduce.wgsl", &[Uniform, Read, ReadWrite], &["sum_rows", "sum_cols"])?,
            sgd: family("sgd.wgsl", &[Uniform, Read, ReadWrite], &["sgd_update"])?,
            optim: family(
                "optim.wgsl",
                &[Uniform, ReadWrite, ReadWrite, ReadWrite, ReadWrite, ReadWrite],
                &["l2_grad", "momentum_update", "adam_step", "adam_update"],
            )?,
        })
    }

    /// `c = op(a) · op(b)` into `c` at float `c_offset` (written), `op(a): m × k`,
    /// `op(b): k × p`. A long inner dimension is split and its partial sums reduced.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &self,
        gpu: &Gpu,
        a: Operand,
        b: Operand,
        c: &wgpu::Buffer,
        c_offset: usize,
        (m, k, p): (usize, usize, usize),
        scratch: &Scratch,
    ) -> Vec<Dispatch> {
        let (m, k, p) = (m as u32, k as u32, p as u32);
        let (a_row, a_col) = a.strides(m, k);
        let (b_row, b_col) = b.strides(k, p);
        let splits = k.div_ceil(K_SPLIT).max(1);
        let direct = splits == 1;
        let dims = MatmulDims {
            m,
            k,
            p,
            k_split: K_SPLIT,
            a_offset: a.offset,
            a_row,
            a_col,
            splits,
            b_offset: b.offset,
            b_row,
            b_col,
            c_offset: if direct { c_offset as u32 } else { 0 },
        };
        let target = if direct { c } else { &scratch.partials };
        let mut dispatches = vec![self.matmul.dispatch(
            gpu,
            "matmul",
            &dims,
            &[a.buffer, b.buffer, target],
            per_element(m * p * splits),
        )];
        if !direct {
            dispatches.extend(self.sum_rows(
                gpu,
                &scratch.partials,
                0,
                (m * p) as usize,
                splits as usize,
                c,
                c_offset,
                1.0,
                scratch,
            ));
        }
        dispatches
    }

    /// `z[r, n] += bias[bias_offset + r]` for `z: rows × n` (accumulated).
    pub fn add_bias(
        &self,
        gpu: &Gpu,
        z: &wgpu::Buffer,
        bias: &wgpu::Buffer,
        bias_offset: usize,
        (rows, n): (usize, usize),
    ) -> Dispatch {
        let dims = ElementwiseDims { rows: rows as u32, n: n as u32, x_offset: bias_offset as u32, _pad: 0 };
        // y is unused by add_bias; the layout still wants a buffer there.
        self.elementwise.dispatch(gpu, "add_bias", &dims, &[bias, bias, z], per_element((rows * n) as u32))
    }

    /// `s = σ(g)` over `rows × n` (written).
    pub fn sigmoid(&self, gpu: &Gpu, g: &wgpu::Buffer, s: &wgpu::Buffer, (rows, n): (usize, usize)) -> Dispatch {
        let dims = ElementwiseDims { rows: rows as u32, n: n as u32, x_offset: 0, _pad: 0 };
        self.elementwise.dispatch(gpu, "sigmoid", &dims, &[g, g, s], per_element((rows * n) as u32))
    }

    /// `dg = ds ⊙ s ⊙ (1 − s)` over `rows × n` (written).
    pub fn sigmoid_backward(
        &self,
        gpu: &Gpu,
        ds: &wgpu::Buffer,
        s: &wgpu::Buffer,
        dg: &wgpu::Buffer,
        (rows, n): (usize, usize),
    ) -> Dispatch {
        let dims = ElementwiseDims { rows: rows as u32, n: n as u32, x_offset: 0, _pad: 0 };
        self.elementwise.dispatch(gpu, "sigmoid_backward", &dims, &[ds, s, dg], per_element((rows * n) as u32))
    }

    /// An element-wise kernel of the family over `rows × n`: `out = kernel(x, y)` (written).
    fn elementwise(
        &self,
        gpu: &Gpu,
        kernel: &'static str,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        out: &wgpu::Buffer,
        (rows, n): (usize, usize),
    ) -> Dispatch {
        let dims = ElementwiseDims { rows: rows as u32, n: n as u32, x_offset: 0, _pad: 0 };
        self.elementwise.dispatch(gpu, kernel, &dims, &[x, y, out], per_element((rows * n) as u32))
    }

    /// `s = tanh(g)` over `rows × n` (written).
    pub fn tanh(&self, gpu: &Gpu, g: &wgpu::Buffer, s: &wgpu::Buffer, shape: (usize, usize)) -> Dispatch {
        self.elementwise(gpu, "tanh", g, g, s, shape)
    }

    /// `dg = ds ⊙ (1 − s²)` over `rows × n` (written).
    pub fn tanh_backward(
        &self,
        gpu: &Gpu,
        ds: &wgpu::Buffer,
        s: &wgpu::Buffer,
        dg: &wgpu::Buffer,
        shape: (usize, usize),
    ) -> Dispatch {
        self.elementwise(gpu, "tanh_backward", ds, s, dg, shape)
    }

    /// `s = max(g, 0)` over `rows × n` (written).
    pub fn relu(&self, gpu: &Gpu, g: &wgpu::Buffer, s: &wgpu::Buffer, shape: (usize, usize)) -> Dispatch {
        self.elementwise(gpu, "relu", g, g, s, shape)
    }

    /// `dg = ds ⊙ [s > 0]` over `rows × n` (written).
    pub fn relu_backward(
        &self,
        gpu: &Gpu,
        ds: &wgpu::Buffer,
        s: &wgpu::Buffer,
        dg: &wgpu::Buffer,
        shape: (usize, usize),
    ) -> Dispatch {
        self.elementwise(gpu, "relu_backward", ds, s, dg, shape)
    }

    /// `a = f(z)` for the hidden activation `f`: [`crate::cpu::activate`]'s twin.
    pub fn activate(
        &self,
        gpu: &Gpu,
        f: Activation,
        z: &wgpu::Buffer,
        a: &wgpu::Buffer,
        shape: (usize, usize),
    ) -> Dispatch {
        match f {
            Activation::Sigmoid => self.sigmoid(gpu, z, a, shape),
            Activation::Tanh => self.tanh(gpu, z, a, shape),
            Activation::Relu => self.relu(gpu, z, a, shape),
        }
    }

    /// `dz = da ⊙ f′` from the stored output `a`: [`crate::cpu::activate_backward`]'s twin.
    pub fn activate_backward(
        &self,
        gpu: &Gpu,
        f: Activation,
        da: &wgpu::Buffer,
        a: &wgpu::Buffer,
        dz: &wgpu::Buffer,
        shape: (usize, usize),
    ) -> Dispatch {
        match f {
            Activation::Sigmoid => self.sigmoid_backward(gpu, da, a, dz, shape),
            Activation::Tanh => self.tanh_backward(gpu, da, a, dz, shape),
            Activation::Relu => self.relu_backward(gpu, da, a, dz, shape),
        }
    }

    /// The mean binary cross-entropy of `s2: 1 × n` against `t: 1 × n`, into `out` at
    /// float `out_offset` (written): per-workgroup sums, then sum_rows with scale −1/n.
    #[allow(clippy::too_many_arguments)]
    pub fn bce_loss(
        &self,
        gpu: &Gpu,
        s2: &wgpu::Buffer,
        t: &wgpu::Buffer,
        n: usize,
        out: &wgpu::Buffer,
        out_offset: usize,
        scratch: &Scratch,
    ) -> Vec<Dispatch> {
        let chunks = (n as u32).div_ceil(REDUCE_CHUNK);
        let [x, y] = grid(chunks);
        let dims = LossDims { n: n as u32, _pad: [0; 3] };
        let mut dispatches = vec![self.loss.dispatch(gpu, "bce_loss", &dims, &[s2, t, &scratch.partials], [x, y, 1])];
        dispatches.extend(self.sum_rows(
            gpu,
            &scratch.partials,
            0,
            1,
            chunks as usize,
            out,
            out_offset,
            -1.0 / n as f32,
            scratch,
        ));
        dispatches
    }

    /// `d_s2 = ∂loss/∂S2` for `s2, t: 1 × n` (written).
    pub fn bce_grad(&self, gpu: &Gpu, s2: &wgpu::Buffer, t: &wgpu::Buffer, d_s2: &wgpu::Buffer, n: usize) -> Dispatch {
        let dims = LossDims { n: n as u32, _pad: [0; 3] };
        self.loss.dispatch(gpu, "bce_grad", &dims, &[s2, t, d_s2], per_element(n as u32))
    }

    /// `out[out_offset + r] = scale · Σₙ input[in_offset + r·n + n']` for a `rows × n`
    /// input (written): passes of one partial per REDUCE_CHUNK elements until one is left.
    /// Rows go along z, so more than 65,535 of them (a 256 × 256 layer's dW has 65,536)
    /// are reduced in blocks, one after another.
    #[allow(clippy::too_many_arguments)]
    pub fn sum_rows(
        &self,
        gpu: &Gpu,
        input: &wgpu::Buffer,
        in_offset: usize,
        rows: usize,
        n: usize,
        out: &wgpu::Buffer,
        out_offset: usize,
        scale: f32,
        scratch: &Scratch,
    ) -> Vec<Dispatch> {
        let block = MAX_GROUPS_PER_DIM as usize;
        (0..rows)
            .step_by(block)
            .flat_map(|r0| {
                let count = block.min(rows - r0);
                self.sum_rows_block(gpu, input, in_offset + r0 * n, count, n, out, out_offset + r0, scale, scratch)
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn sum_rows_block(
        &self,
        gpu: &Gpu,
        input: &wgpu::Buffer,
        in_offset: usize,
        rows: usize,
        n: usize,
        out: &wgpu::Buffer,
        out_offset: usize,
        scale: f32,
        scratch: &Scratch,
    ) -> Vec<Dispatch> {
        let mut dispatches = Vec::new();
        let (mut src, mut src_offset, mut cols) = (input, in_offset as u32, n as u32);
        let targets = [&scratch.ping, &scratch.pong];
        for pass in 0.. {
            let chunks = cols.div_ceil(REDUCE_CHUNK).max(1);
            let last = chunks == 1;
            let dst = if last { out } else { targets[pass % 2] };
            let dims = ReduceDims {
                rows: rows as u32,
                n: cols,
                in_offset: src_offset,
                out_offset: if last { out_offset as u32 } else { 0 },
                out_row_stride: chunks,
                scale: if last { scale } else { 1.0 },
                _pad: [0; 2],
            };
            let [x, y] = grid(chunks);
            dispatches.push(self.reduce.dispatch(gpu, "sum_rows", &dims, &[src, dst], [x, y, rows as u32]));
            if last {
                break;
            }
            (src, src_offset, cols) = (dst, 0, chunks);
        }
        dispatches
    }

    /// `out[out_offset + j] = scale · Σ_r input[in_offset + r·n + j]` for a `rows × n`
    /// input (written): passes over groups of [`COLS_GROUP`] rows until one row is left.
    #[allow(clippy::too_many_arguments)]
    pub fn sum_cols(
        &self,
        gpu: &Gpu,
        input: &wgpu::Buffer,
        in_offset: usize,
        rows: usize,
        n: usize,
        out: &wgpu::Buffer,
        out_offset: usize,
        scale: f32,
        scratch: &Scratch,
    ) -> Vec<Dispatch> {
        let mut dispatches = Vec::new();
        let (mut src, mut src_offset, mut rows) = (input, in_offset as u32, rows.max(1) as u32);
        let targets = [&scratch.ping, &scratch.pong];
        for pass in 0.. {
            let groups = rows.div_ceil(COLS_GROUP);
            let last = groups == 1;
            let dst = if last { out } else { targets[pass % 2] };
            assert!(last || dst.size() >= 4 * groups as u64 * n as u64, "sum_cols: the scratch is too small");
            let dims = ReduceDims {
                rows,
                n: n as u32,
                in_offset: src_offset,
                out_offset: if last { out_offset as u32 } else { 0 },
                out_row_stride: n as u32,
                scale: if last { scale } else { 1.0 },
                _pad: [0; 2],
            };
            dispatches.push(self.reduce.dispatch(gpu, "sum_cols", &dims, &[src, dst], per_element(groups * n as u32)));
            if last {
                break;
            }
            (src, src_offset, rows) = (dst, 0, groups);
        }
        dispatches
    }

    /// `params ← params − lr · grads` over `count` floats (updated in place).
    pub fn sgd_update(
        &self,
        gpu: &Gpu,
        params: &wgpu::Buffer,
        grads: &wgpu::Buffer,
        count: usize,
        lr: f32,
    ) -> Dispatch {
        let dims = SgdDims { count: count as u32, lr, _pad: [0; 2] };
        self.sgd.dispatch(gpu, "sgd_update", &dims, &[grads, params], per_element(count as u32))
    }
}

impl Kernels {
    fn optim(&self, gpu: &Gpu, kernel: &'static str, dims: OptimDims, b: &OptimBuffers, groups: [u32; 3]) -> Dispatch {
        self.optim.dispatch(gpu, kernel, &dims, &[b.grads, b.params, b.m, b.v, b.adam], groups)
    }

    /// `grads[offset..offset + count] += λ · params[…]`: L2 on one layer's weights.
    pub fn l2_grad(&self, gpu: &Gpu, b: &OptimBuffers, offset: usize, count: usize, lambda: f32) -> Dispatch {
        let dims = OptimDims { count: count as u32, offset: offset as u32, lambda, ..OptimDims::zeroed() };
        self.optim(gpu, "l2_grad", dims, b, per_element(count as u32))
    }

    /// `v ← μ·v + g`, `p ← p − lr·v` over `count` floats.
    pub fn momentum_update(&self, gpu: &Gpu, b: &OptimBuffers, count: usize, lr: f32, mu: f32) -> Dispatch {
        let dims = OptimDims { count: count as u32, lr, momentum: mu, ..OptimDims::zeroed() };
        self.optim(gpu, "momentum_update", dims, b, per_element(count as u32))
    }

    /// One Adam step over `count` floats with `opt`'s β and ε: `adam_update` with the
    /// table's current step, then `adam_step` to move to the next.
    pub fn adam_update(
        &self,
        gpu: &Gpu,
        b: &OptimBuffers,
        count: usize,
        opt: &crate::net::optim::Optimizer,
    ) -> [Dispatch; 2] {
        let s = opt.adam_step(1);
        let dims = OptimDims {
            count: count as u32,
            beta1: s.beta1 as f32,
            beta2: s.beta2 as f32,
            one_minus_beta1: s.one_minus_beta1 as f32,
            one_minus_beta2: s.one_minus_beta2 as f32,
            eps: s.eps as f32,
            ..OptimDims::zeroed()
        };
        [
            self.optim(gpu, "adam_update", dims, b, per_element(count as u32)),
            self.optim(gpu, "adam_step", dims, b, [1, 1, 1]),
        ]
    }
}

/// A pass of a block of epochs, timed where `timestamps` is given: the block's first pass
/// writes query 0 at its start and its last pass query 1 at its end. A pass in the middle
/// writes none: wgpu refuses timestamp writes with neither index (the step path's third
/// epoch of a timed block failed so).
pub fn epoch_pass(
    timestamps: Option<&wgpu::QuerySet>,
    is_first: bool,
    is_last: bool,
) -> wgpu::ComputePassDescriptor<'_> {
    wgpu::ComputePassDescriptor {
        label: Some("epochs"),
        timestamp_writes: timestamps.filter(|_| is_first || is_last).map(|query_set| {
            wgpu::ComputePassTimestampWrites {
                query_set,
                beginning_of_pass_write_index: is_first.then_some(0),
                end_of_pass_write_index: is_last.then_some(1),
            }
        }),
    }
}

/// Each of `dispatches` (the kernels of `epochs` epochs, in order) in a pass of its own
/// between two timestamps, in one submission; the device seconds per epoch of each kernel,
/// summed over its dispatches, in the order first dispatched. At most 2,048 dispatches (a
/// query set holds 4,096 timestamps). Separate passes add a little time; the per-kernel
/// split is what this is for.
pub fn time_dispatches(gpu: &Gpu, dispatches: &[&Dispatch], epochs: usize) -> Result<Vec<(&'static str, f64)>, Error> {
    let count = 2 * dispatches.len() as u32;
    let stamps = gpu.timestamps("profiling kernels", count, |encoder, query_set| {
        for (i, d) in dispatches.iter().enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(d.kernel),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            d.record(&mut pass);
        }
    })?;
    let mut kernels: Vec<(&'static str, f64)> = Vec::new();
    for (i, d) in dispatches.iter().enumerate() {
        let seconds = (stamps[2 * i + 1] - stamps[2 * i]).max(0.0) / epochs.max(1) as f64;
        match kernels.iter_mut().find(|(k, _)| *k == d.kernel) {
            Some(entry) => entry.1 += seconds,
            None => kernels.push((d.kernel, seconds)),
        }
    }
    Ok(kernels)
}

/// Records `dispatches` in one compute pass and submits them: for tests and one-off work,
/// not the training loop, which batches many epochs per submission.
pub fn submit(gpu: &Gpu, dispatches: &[Dispatch]) -> Result<(), Error> {
    gpu.scoped("running kernels", || {
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("kernels") });
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("kernels"), timestamp_writes: None });
            record_all(&mut pass, dispatches);
        }
        gpu.queue.submit([encoder.finish()]);
    })
}
