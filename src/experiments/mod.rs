//! Experiments built on the trainers: the batch-scaling sweep and its chart.

pub mod chart;
pub mod pictures;
pub mod population;
pub mod scale;

/// The CPU's model name, for reports (Linux; "unknown CPU" elsewhere).
pub fn cpu_name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_string())
    });
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{} ({cores} threads)", model.unwrap_or_else(|| "unknown CPU".into()))
}

/// Bytes of memory the host can still give, from /proc/meminfo (None where unknown).
pub fn host_available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
