//! What a run needs in memory, worked out before anything is allocated, with checked
//! arithmetic, and held against what the host has free and what the device allows.
//!
//! Per sample, measured as the peak resident memory of `xorgpu train` at 1,000 and 2^24
//! samples (the slope; `tests/memory.rs` measures it again on every run):
//!
//! | run | host bytes a sample | device bytes a sample |
//! | --- | --- | --- |
//! | `--backend cpu` | 12 (the data: x1, x2, t as f32) | – |
//! | GPU, fused or tiny kernels | 24: the data and wgpu's staging copy of it on upload | 12 |
//! | GPU, step kernels | 24 | 12 + 4·(4H + 4): every intermediate, `g1 … d_g1` |
//!
//! A software adapter (llvmpipe) keeps its "device" memory in the host's: there the two
//! columns add up (measured: 36 bytes a sample fused, 84 step at H = 2). wgpu cannot say how
//! much memory a real GPU has free, so on one the device column is held only to its
//! buffer limits, which the kernels' planning checks ([`crate::gpu::trainer::check_fits`]).

use crate::experiments::host_available_bytes;
use crate::gpu::trainer::Path;
use crate::Error;

/// The data: x1, x2 and t, one f32 each.
pub const DATA_BYTES: u64 = 12;

/// Where a run trains, as far as its memory is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    Cpu,
    /// A GPU path; `software` when the adapter runs on the CPU and shares its memory.
    Gpu {
        path: Path,
        software: bool,
    },
}

impl Runner {
    /// A GPU run on `path` on this device.
    pub fn gpu(gpu: &crate::gpu::Gpu, path: Path) -> Self {
        Runner::Gpu { path, software: gpu.is_software() }
    }
}

/// Bytes a run needs, on the host and on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    pub host: u64,
    pub device: u64,
}

/// Host and device bytes a sample, from the table above.
pub fn per_sample(runner: Runner, hidden: usize) -> Need {
    match runner {
        Runner::Cpu => Need { host: DATA_BYTES, device: 0 },
        Runner::Gpu { path, software } => {
            let device = match path {
                Path::Step => DATA_BYTES + 4 * (4 * hidden as u64 + 4),
                Path::Fused | Path::Tiny => DATA_BYTES,
            };
            let host = 2 * DATA_BYTES + if software { device } else { 0 };
            Need { host, device }
        }
    }
}

/// What a run of `batch` samples needs, or None where the count overflows 64 bits.
pub fn need(runner: Runner, hidden: usize, batch: usize) -> Option<Need> {
    let each = per_sample(runner, hidden);
    let batch = batch as u64;
    Some(Need { host: each.host.checked_mul(batch)?, device: each.device.checked_mul(batch)? })
}

/// Host and device bytes a sample for any net on the general paths: the data (d₀ inputs and
/// the label) on the host for the fast CPU trainer (which works through the batch in chunks
/// and keeps nothing per sample), or the data and wgpu's staging copy of it when a GPU
/// (`Some((path, software))`) trains: on the step path the device holds every activation and
/// three working matrices besides the data, on the tiled path every activation and two,
/// on the fused path the data alone.
pub fn mlp_per_sample(net: &crate::net::Net, gpu: Option<(crate::gpu::mlp::MlpPath, bool)>) -> Need {
    let data = 4 * (net.inputs() as u64 + 1);
    let units: u64 = net.widths[1..].iter().map(|&d| d as u64).sum();
    match gpu {
        None => Need { host: data, device: 0 },
        Some((path, software)) => {
            let device = match path {
                crate::gpu::mlp::MlpPath::Step => data + 4 * (units + 3 * net.widest() as u64),
                crate::gpu::mlp::MlpPath::Fused | crate::gpu::mlp::MlpPath::Tiny => data,
                // The data, every activation, two dZ and the weight gradient's slices.
                crate::gpu::mlp::MlpPath::Tiled => crate::gpu::tiled::tiled_bytes(net, 1 << 20).1.div_ceil(1 << 20),
            };
            Need { host: 2 * data + if software { device } else { 0 }, device }
        }
    }
}

/// Refuses, before anything is allocated, a batch whose run would not fit the host's free
/// memory (or whose size overflows), saying what it needs, what is free and the largest
/// batch that fits.
pub fn check(runner: Runner, hidden: usize, batch: usize) -> Result<Need, Error> {
    let software = matches!(runner, Runner::Gpu { software: true, .. });
    check_per_sample(per_sample(runner, hidden), batch, software)
}

/// [`check`] for a run that needs `each` bytes a sample.
pub fn check_per_sample(each: Need, batch: usize, software: bool) -> Result<Need, Error> {
    let b = batch as u64;
    let need = each.host.checked_mul(b).zip(each.device.checked_mul(b)).map(|(host, device)| Need { host, device });
    let Some(need) = need else {
        return Err(Error::Input(format!(
            "batch {batch} needs more than 2^64 bytes ({} a sample); no machine holds it",
            each.host
        )));
    };
    if let Some(free) = host_available_bytes() {
        if need.host > free {
            return Err(Error::Input(format!(
                "batch {batch} needs {:.1} GB of host memory ({} bytes a sample{}) and {:.1} GB is free; the largest batch that fits is {}",
                need.host as f64 / 1e9,
                each.host,
                if software { ", the software adapter's device memory included" } else { "" },
                free as f64 / 1e9,
                free / each.host
            )));
        }
    }
    Ok(need)
}

/// The process's peak resident memory so far, in bytes (Linux; None elsewhere).
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Caps glibc's heaps ("arenas") at `n`: by default a process may grow one per thread up
/// to eight per core, and a server whose runs start threads of their own would keep each
/// thread's free pages in an arena of its own. Elsewhere it does nothing.
pub fn limit_heap_arenas(n: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_ARENA_MAX: i32 = -8;
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt sets one of glibc's allocator parameters; called before the
        // server's threads start.
        unsafe {
            mallopt(M_ARENA_MAX, n);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = n;
}

/// Hands the heap's free pages back to the system. glibc's allocator keeps what a thread
/// freed in that thread's arena; a server whose runs come and go on threads of their own
/// would otherwise stay at the size of its busiest moment. Elsewhere it does nothing.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only releases free memory of glibc's own heaps; any thread
        // may call it at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_its_overflow() {
        let fused = Runner::Gpu { path: Path::Fused, software: true };
        assert_eq!(per_sample(fused, 2), Need { host: 36, device: 12 });
        let step = Runner::Gpu { path: Path::Step, software: false };
        assert_eq!(per_sample(step, 2), Need { host: 24, device: 60 });
        assert_eq!(per_sample(Runner::Cpu, 256), Need { host: 12, device: 0 });
        assert_eq!(need(Runner::Cpu, 2, usize::MAX), None);
        assert!(check(Runner::Cpu, 2, 4_611_686_018_427_387_904).unwrap_err().to_string().contains("2^64"));
        assert!(check(fused, 2, 1 << 50).unwrap_err().to_string().contains("largest batch that fits"));
    }
}
