//! `--check-quota`: whether a CPU quota really slows a CPU-bound process as much as it should,
//! before the curve is trusted. The harness runs itself as a busy loop of fixed work (`--spin`)
//! alternately at full CPU and in a cgroup with the quota of 256 MB (1769 / 256 = 6.9 times less
//! CPU), five times each, and prints both medians, their ratio, and the loop's CPU time, which
//! should not change.

use std::io::Write as _;
use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cpu_share::{self, CpuShares};

/// The hidden argument that makes the harness a busy loop.
pub const SPIN: &str = "--spin";

const MEMORY_MB: u32 = 256;
const RUNS: usize = 5;
/// About 0.3 s on one core of the development machine.
const ITERATIONS: u64 = 300_000_000;

/// The busy loop: fixed work, then its CPU time (µs) on stdout.
pub fn spin() {
    let mut x: u64 = 1;
    for _ in 0..ITERATIONS {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407));
    }
    let cpu = cpu_time();
    let _ = writeln!(std::io::stdout(), "{} {x}", cpu.as_micros());
}

fn cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes only the value it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    Duration::new(u64::try_from(now.tv_sec).unwrap_or_default(), u32::try_from(now.tv_nsec).unwrap_or_default())
}

/// One run of the loop, in `procs`' cgroup if given: (wall time, CPU time).
fn run_once(procs: Option<&std::path::Path>) -> (Duration, Duration) {
    let exe = std::env::current_exe().expect("own path");
    let mut command = Command::new(exe);
    command.arg(SPIN).stdout(Stdio::piped());
    // Opened here, written by the child before it runs the harness's code: the whole run is
    // under the quota.
    let file = procs.map(|path| std::fs::OpenOptions::new().write(true).open(path).expect("cgroup.procs"));
    if let Some(file) = &file {
        let fd = file.as_raw_fd();
        // SAFETY: only write(2) between fork and exec, on a descriptor open in the parent.
        unsafe {
            command.pre_exec(move || {
                if libc::write(fd, b"0".as_ptr().cast(), 1) == 1 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let started = Instant::now();
    let output = command.output().expect("the busy loop");
    let wall = started.elapsed();
    let text = String::from_utf8_lossy(&output.stdout);
    let cpu = text.split_whitespace().next().and_then(|us| us.parse().ok()).map(Duration::from_micros);
    (wall, cpu.unwrap_or_default())
}

pub fn run(period_us: u64) {
    let shares = CpuShares::create(&[MEMORY_MB], period_us).unwrap_or_else(|e| panic!("CPU shares: {e}"));
    let procs = shares.procs(MEMORY_MB).expect("the cgroup");
    let (quota, period) = shares.quota(MEMORY_MB).unwrap_or_default();
    let mut full = Vec::new();
    let mut quoted = Vec::new();
    for _ in 0..RUNS {
        full.push(run_once(None));
        quoted.push(run_once(Some(&procs)));
    }
    let median = |runs: &[(Duration, Duration)], pick: fn(&(Duration, Duration)) -> Duration| {
        let mut values: Vec<Duration> = runs.iter().map(pick).collect();
        values.sort();
        values[values.len() / 2]
    };
    let (full_wall, quoted_wall) = (median(&full, |r| r.0), median(&quoted, |r| r.0));
    let (full_cpu, quoted_cpu) = (median(&full, |r| r.1), median(&quoted, |r| r.1));
    let expected = f64::from(cpu_share::FULL_VCPU_MB) / f64::from(MEMORY_MB);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "cgroup {:?}, quota {quota} µs per {period} µs ({:.1} %), {RUNS} runs each of a CPU-bound loop:",
        shares.version(),
        100.0 * quota as f64 / period as f64
    );
    println!(
        "full CPU: {:.0} ms (CPU {:.0} ms); under the quota: {:.0} ms (CPU {:.0} ms); slowed {:.2}x, expected {expected:.2}x",
        ms(full_wall),
        ms(full_cpu),
        ms(quoted_wall),
        ms(quoted_cpu),
        quoted_wall.as_secs_f64() / full_wall.as_secs_f64(),
    );
    // On a busy machine the loop gets less than a whole core even without a quota; its wall
    // time over its CPU time under the quota is the slowdown an idle machine would show.
    println!(
        "wall time over CPU time: {:.2}x under the quota (expected {expected:.2}x), {:.2}x at full CPU (1.00x on an idle \
         machine)",
        quoted_wall.as_secs_f64() / quoted_cpu.as_secs_f64().max(f64::MIN_POSITIVE),
        full_wall.as_secs_f64() / full_cpu.as_secs_f64().max(f64::MIN_POSITIVE),
    );
    if let Some(throttled) = shares.throttled_periods(MEMORY_MB) {
        println!("periods throttled: {throttled}");
    }
}
