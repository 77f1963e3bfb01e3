//! The tiled path for nets too wide for the fused pair (`shaders/tiled.wgsl`): per layer
//! three GEMM-style kernels over tiles of samples, each product's operands staged in
//! workgroup memory and each thread keeping a block of outputs in registers, with the
//! element-wise step that follows a product fused into its store:
//!
//! - `layer_forward`: `A_l = f(W_l·A_{l−1} + B_l)` (the step path's matmul, add_bias and
//!   activation in one pass);
//! - `layer_backward`: `dZ_{l−1} = (W_lᵀ·dZ_l) ⊙ f′(A_{l−1})` (matmul and the activation's
//!   backward);
//! - `layer_grad`: `dW_l = dZ_l·A_{l−1}ᵀ`, the batch cut into slices whose partial sums
//!   `sum_cols` adds in a fixed order.
//!
//! Their CPU twins are [`crate::cpu::layer_forward`], [`crate::cpu::layer_backward`] and
//! [`crate::cpu::layer_grad`]. The loss, its gradient and the bias sums are the step
//! path's kernels; the activations are kept once per layer (no `Z`), and `dZ` alternates
//! between two buffers.

use std::fmt::Write;

use bytemuck::{Pod, Zeroable};

use super::kernels::{grid, Binding, Dispatch, Family, Kernels, Operand, Scratch, WG};
use super::Gpu;
use crate::net::{Activation, Net};
use crate::Error;

/// The slice of the batch one workgroup of `layer_grad` sums alone: long enough that the
/// partials are few (a 64 × 64 layer at 2^20 samples leaves 4 M of them), short enough
/// that a large batch still fills the device with slices.
pub const GRAD_K_SPLIT: usize = 1024;

/// A tile's shape: `ty × tx` threads (`WG` in all), each with `rm × 4` outputs (a vec4 a
/// row), and the depth `tk` of the slices staged in workgroup memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileShape {
    pub ty: u32,
    pub tx: u32,
    pub rm: u32,
    pub tk: u32,
}

/// 64 × 64 outputs a workgroup, 4 × 4 a thread: each staged value is used 4 times from a
/// register and each thread does 16 multiply-adds per 8 reads of workgroup memory. Its
/// slices take 8 KB of workgroup memory (WebGPU guarantees 16).
pub const SQUARE: TileShape = TileShape { ty: 16, tx: 16, rm: 4, tk: 16 };
/// 4 × 256 outputs a workgroup, for products with at most 4 rows (the output layer's
/// forward pass, the first layer's weight gradient turned over): a square tile there
/// would compute 64 rows to keep one.
pub const THIN: TileShape = TileShape { ty: 4, tx: 64, rm: 1, tk: 8 };

impl TileShape {
    fn rows(self) -> usize {
        (self.ty * self.rm) as usize
    }

    fn cols(self) -> usize {
        (self.tx * 4) as usize
    }

    /// The shape for a product of `m` rows.
    pub fn for_rows(m: usize) -> TileShape {
        if m <= THIN.rows() {
            THIN
        } else {
            SQUARE
        }
    }
}

/// The WGSL of the tiled kernels for `shape`: the common prelude, the shape's constants,
/// then `shaders/tiled.wgsl`.
pub fn source(shape: TileShape) -> String {
    assert_eq!(shape.ty * shape.tx, WG, "a tile's threads are one workgroup");
    let mut s = String::from(include_str!("../../shaders/common.wgsl"));
    let TileShape { ty, tx, rm, tk } = shape;
    let _ = writeln!(s, "\n// The tile: {ty} × {tx} threads, {rm} × 4 outputs each, slices {tk} deep.");
    for (name, v) in [("TY", ty), ("TX", tx), ("RM", rm), ("TK", tk)] {
        let _ = writeln!(s, "const {name}: u32 = {v}u;");
    }
    s.push_str(include_str!("../../shaders/tiled.wgsl"));
    s
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TiledDims {
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
    c_row: u32,
    c_col: u32,
    e_offset: u32,
    act: u32,
}

fn act_code(f: Activation) -> u32 {
    match f {
        Activation::Sigmoid => 0,
        Activation::Tanh => 1,
        Activation::Relu => 2,
    }
}

/// The tiled kernels, both tile shapes, compiled once per run.
pub struct TiledKernels {
    square: Family,
    thin: Family,
}

/// A product `C = op(A)·op(B)` for the tiled kernels: `op(A): m × k`, `op(B): k × p`,
/// element `(i, j)` of C at `c_offset + i·c_row + j·c_col`.
struct Product<'a> {
    a: Operand<'a>,
    b: Operand<'a>,
    m: usize,
    k: usize,
    p: usize,
    c_offset: usize,
    c_row: usize,
    c_col: usize,
}

impl Product<'_> {
    /// Strides of the stored operands (a transposed one is stored `k × m`, as in matmul).
    fn strides(&self) -> [u32; 4] {
        let (m, k, p) = (self.m as u32, self.k as u32, self.p as u32);
        let (a_row, a_col) = self.a.strides(m, k);
        let (b_row, b_col) = self.b.strides(k, p);
        [a_row, a_col, b_row, b_col]
    }
}

impl TiledKernels {
    pub fn new(gpu: &Gpu) -> Result<Self, Error> {
        use Binding::{Read, ReadWrite, Uniform};
        let family = |shape| {
            Family::new(
                gpu,
                "tiled.wgsl",
                &source(shape),
                &[Uniform, Read, Read, Read, ReadWrite],
                &["layer_forward", "layer_backward", "layer_grad"],
            )
        };
        Ok(TiledKernels { square: family(SQUARE)?, thin: family(THIN)? })
    }

    fn family(&self, shape: TileShape) -> &Family {
        if shape == THIN {
            &self.thin
        } else {
            &self.square
        }
    }

    /// One dispatch of `kernel` over `x`'s tiles (and `splits` slices of k of `k_split`),
    /// with `e` the epilogue's operand.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        gpu: &Gpu,
        kernel: &'static str,
        x: &Product,
        k_split: usize,
        c: &wgpu::Buffer,
        e: &wgpu::Buffer,
        e_offset: usize,
        act: u32,
    ) -> Dispatch {
        let shape = TileShape::for_rows(x.m);
        let splits = x.k.div_ceil(k_split).max(1);
        let tiles = x.m.div_ceil(shape.rows()) * x.p.div_ceil(shape.cols()) * splits;
        let [a_row, a_col, b_row, b_col] = x.strides();
        let dims = TiledDims {
            m: x.m as u32,
            k: x.k as u32,
            p: x.p as u32,
            k_split: k_split as u32,
            a_offset: x.a.offset,
            a_row,
            a_col,
            splits: splits as u32,
            b_offset: x.b.offset,
            b_row,
            b_col,
            c_offset: x.c_offset as u32,
            c_row: x.c_row as u32,
            c_col: x.c_col as u32,
            e_offset: e_offset as u32,
            act,
        };
        let [gx, gy] = grid(tiles as u32);
        self.family(shape).dispatch(gpu, kernel, &dims, &[x.a.buffer, x.b.buffer, e, c], [gx, gy, 1])
    }

    /// `A_l = f(W·A_{l−1} + B)` with `W: rows × cols` at `params[w]`, `B` at `params[b]`,
    /// `A_{l−1}: cols × n` (written): [`crate::cpu::layer_forward`]'s twin.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_forward(
        &self,
        gpu: &Gpu,
        f: Activation,
        params: &wgpu::Buffer,
        (w, b): (usize, usize),
        input: &wgpu::Buffer,
        out: &wgpu::Buffer,
        (rows, cols, n): (usize, usize, usize),
    ) -> Dispatch {
        let x = Product {
            a: Operand::new(params, w, false),
            b: Operand::new(input, 0, false),
            m: rows,
            k: cols,
            p: n,
            c_offset: 0,
            c_row: n,
            c_col: 1,
        };
        self.dispatch(gpu, "layer_forward", &x, cols.max(1), out, params, b, act_code(f))
    }

    /// `dZ_{l−1} = (Wᵀ·dZ_l) ⊙ f′(A_{l−1})` with `W: rows × cols` at `params[w]`,
    /// `dZ_l: rows × n`, `A_{l−1}: cols × n` (written): [`crate::cpu::layer_backward`]'s twin.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_backward(
        &self,
        gpu: &Gpu,
        f: Activation,
        params: &wgpu::Buffer,
        w: usize,
        d_z: &wgpu::Buffer,
        a_prev: &wgpu::Buffer,
        d_z_prev: &wgpu::Buffer,
        (rows, cols, n): (usize, usize, usize),
    ) -> Dispatch {
        let x = Product {
            a: Operand::new(params, w, true),
            b: Operand::new(d_z, 0, false),
            m: cols,
            k: rows,
            p: n,
            c_offset: 0,
            c_row: n,
            c_col: 1,
        };
        self.dispatch(gpu, "layer_backward", &x, rows.max(1), d_z_prev, a_prev, 0, act_code(f))
    }

    /// `dW = dZ·A_{l−1}ᵀ` with `dZ: rows × n`, `A_{l−1}: cols × n`, into `out` at float
    /// `out_offset`, row-major `rows × cols` (written): slices of [`GRAD_K_SPLIT`] samples,
    /// one `rows × cols` block of partial sums each, then `sum_cols` down the blocks. A product of at most 4 columns and more rows (the first
    /// layer's) is computed turned over, `(A_{l−1}·dZᵀ)ᵀ`, so it takes the thin tile.
    /// [`crate::cpu::layer_grad`]'s twin.
    #[allow(clippy::too_many_arguments)]
    pub fn layer_grad(
        &self,
        gpu: &Gpu,
        k: &Kernels,
        d_z: &wgpu::Buffer,
        input: &wgpu::Buffer,
        out: &wgpu::Buffer,
        out_offset: usize,
        (rows, cols, n): (usize, usize, usize),
        scratch: &Scratch,
    ) -> Vec<Dispatch> {
        let splits = n.div_ceil(GRAD_K_SPLIT).max(1);
        let direct = splits == 1;
        let (target, c_offset) = if direct { (out, out_offset) } else { (&scratch.partials, 0) };
        let turned = cols <= THIN.rows() && rows > cols;
        let x = if turned {
            Product {
                a: Operand::new(input, 0, false),
                b: Operand::new(d_z, 0, true),
                m: cols,
                k: n,
                p: rows,
                c_offset,
                c_row: 1,
                c_col: cols,
            }
        } else {
            Product {
                a: Operand::new(d_z, 0, false),
                b: Operand::new(input, 0, true),
                m: rows,
                k: n,
                p: cols,
                c_offset,
                c_row: cols,
                c_col: 1,
            }
        };
        let mut d = vec![self.dispatch(gpu, "layer_grad", &x, GRAD_K_SPLIT, target, d_z, 0, 0)];
        if !direct {
            d.extend(k.sum_cols(gpu, &scratch.partials, 0, splits, rows * cols, out, out_offset, 1.0, scratch));
        }
        d
    }
}

/// The buffers of a tiled epoch, allocated once per run.
pub struct TiledBuffers {
    /// `A_l: d_l × N` for l = 1..L.
    pub a: Vec<wgpu::Buffer>,
    /// `dZ` of a layer and of the one below it, `widest × N` each, taking turns.
    pub d_z: [wgpu::Buffer; 2],
    pub scratch: Scratch,
    /// The loss of the epoch's forward pass.
    pub loss_now: wgpu::Buffer,
}

impl TiledBuffers {
    pub fn new(g: &Gpu, net: &Net, n: usize) -> Self {
        let widest = net.widest();
        let product = net.shapes().map(|s| s.rows * s.cols).max().unwrap_or(1);
        TiledBuffers {
            a: net.widths[1..]
                .iter()
                .enumerate()
                .map(|(i, &d)| g.storage(&format!("a{}: d × N", i + 1), d * n))
                .collect(),
            d_z: [g.storage("d_z: widest × N", widest * n), g.storage("d_z': widest × N", widest * n)],
            scratch: {
                let (partials, pass) = scratch_lens(product, widest, n);
                Scratch::with_lens(g, partials, pass)
            },
            loss_now: g.storage("loss_now", 1),
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.a.iter().chain(&self.d_z).chain([&self.loss_now]).map(|b| b.size()).sum::<u64>() + self.scratch.bytes()
    }
}

/// Floats of the scratch's partial sums and of each of its two pass buffers for a net
/// whose largest layer has `product` weights and widest `widest` units, on `n` samples:
/// `layer_grad`'s slices (and the loss's partials), then `sum_cols`' first pass (a row per
/// 32 slices) or the bias sums' `sum_rows` (a row of partials per unit), whichever is more.
pub fn scratch_lens(product: usize, widest: usize, n: usize) -> (usize, usize) {
    let splits = n.div_ceil(GRAD_K_SPLIT).max(1);
    let chunks = n.div_ceil(super::kernels::REDUCE_CHUNK as usize);
    let first_pass = product * splits.div_ceil(super::kernels::COLS_GROUP as usize);
    ((product * splits).max(chunks), first_pass.max(widest * chunks))
}

/// The largest single buffer and the total device bytes the tiled path needs for `net` on
/// `n` samples besides the parameters and the optimizer's state: the data, every
/// activation, the two `dZ`, the reductions' scratch.
pub fn tiled_bytes(net: &Net, n: usize) -> (u64, u64) {
    let n = n as u64;
    let widest = net.widest() as u64;
    let product = net.shapes().map(|s| (s.rows * s.cols) as u64).max().unwrap_or(1);
    let (partials, pass) = scratch_lens(product as usize, widest as usize, n as usize);
    let buffers = [net.inputs() as u64 * n, n, widest * n, widest * n, partials as u64, pass as u64, pass as u64];
    let activations: u64 = net.widths[1..].iter().map(|&d| d as u64 * n).sum();
    (4 * buffers.iter().copied().max().unwrap_or(0), 4 * (buffers.iter().sum::<u64>() + activations))
}

/// The largest batch the tiled path takes for `net` on this device: every buffer within
/// one binding, every index within u32.
pub fn max_batch(gpu: &Gpu, net: &Net) -> usize {
    let limits = gpu.device.limits();
    let max_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    let per_sample = tiled_bytes(net, 1 << 20).0.div_ceil(1 << 20);
    (max_bytes / per_sample.max(1)).min(u32::MAX as u64 / net.widest().max(net.inputs()).max(2) as u64) as usize
}

/// The tiled epoch up to the update, and the forward pass with the loss alone: per layer
/// `layer_forward`; the loss, its gradient and back through the output sigmoid (the step
/// path's kernels); then from the last layer down `layer_grad`, the bias sums and
/// `layer_backward`. The gradient goes into `grads` (packed as the parameters), the loss
/// into `b.loss_now`. Returns (gradient, evaluate).
#[allow(clippy::too_many_arguments)]
pub fn tiled_gradient(
    g: &Gpu,
    k: &Kernels,
    tk: &TiledKernels,
    net: &Net,
    xt: &wgpu::Buffer,
    t: &wgpu::Buffer,
    params: &wgpu::Buffer,
    grads: &wgpu::Buffer,
    n: usize,
    b: &TiledBuffers,
) -> (Vec<Dispatch>, Vec<Dispatch>) {
    let layers = net.layers();
    let mut evaluate = Vec::new();
    for (i, s) in net.shapes().enumerate() {
        let input = if i == 0 { xt } else { &b.a[i - 1] };
        let f = if i + 1 == layers { Activation::Sigmoid } else { net.activation };
        evaluate.push(tk.layer_forward(g, f, params, (s.w, s.b), input, &b.a[i], (s.rows, s.cols, n)));
    }
    let last = &b.a[layers - 1];
    evaluate.extend(k.bce_loss(g, last, t, n, &b.loss_now, 0, &b.scratch));
    let mut gradient = evaluate.clone();
    // dZ_L = ∂loss/∂A_L ⊙ A_L ⊙ (1 − A_L), by way of the second dZ buffer.
    let top = (layers - 1) % 2;
    gradient.push(k.bce_grad(g, last, t, &b.d_z[1 - top], n));
    gradient.push(k.sigmoid_backward(g, &b.d_z[1 - top], last, &b.d_z[top], (1, n)));
    for l in (1..=layers).rev() {
        let s = net.layer(l);
        let input = if l == 1 { xt } else { &b.a[l - 2] };
        // dZ_l sits in d_z[(l − 1) % 2]; dZ_{l−1} goes to the other.
        let d_z = &b.d_z[(l - 1) % 2];
        gradient.extend(tk.layer_grad(g, k, d_z, input, grads, s.w, (s.rows, s.cols, n), &b.scratch));
        gradient.extend(k.sum_rows(g, d_z, 0, s.rows, n, grads, s.b, 1.0, &b.scratch));
        if l > 1 {
            let d_z_prev = &b.d_z[l % 2];
            gradient.push(tk.layer_backward(
                g,
                net.activation,
                params,
                s.w,
                d_z,
                &b.a[l - 2],
                d_z_prev,
                (s.rows, s.cols, n),
            ));
        }
    }
    (gradient, evaluate)
}
