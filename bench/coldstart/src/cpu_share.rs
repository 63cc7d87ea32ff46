//! Lambda's CPU share per memory size, applied to a function process with a cgroup's CPU quota.
//!
//! Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, and up to two
//! at 3,008 MB (the environment has two vCPUs below 3,538 MB). Here a function's process is
//! put in a cgroup whose CPU quota is `memory / 1769` of one CPU per period (at most the cores
//! of this machine), with the kernel's CFS bandwidth control: cgroup v1's `cpu` controller
//! (`cpu.cfs_quota_us` over `cpu.cfs_period_us`) or cgroup v2's `cpu.max` ("QUOTA PERIOD").
//! Everything else of the run (the Runtime API emulator, the AWS timer, the TLS endpoint,
//! moto) stays outside, in the harness's own cgroup.
//!
//! Writing to the cgroup file system needs root (or a delegated cgroup). The harness makes one
//! cgroup per setting under its own (`stamps-bench-PID/MB`) and removes them when it ends.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The memory size at which a Lambda function has one full vCPU.
pub const FULL_VCPU_MB: u32 = 1769;

/// The CFS period, the kernel's default: a function may use its quota of CPU time in each.
pub const DEFAULT_PERIOD_US: u64 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The CPU quota of a memory size, in CPUs: `memory / 1769`, at most `cores`.
pub fn cpus_for(memory_mb: u32, cores: usize) -> f64 {
    (f64::from(memory_mb) / f64::from(FULL_VCPU_MB)).min(cores as f64)
}

/// One cgroup per memory size, each with its CPU quota.
pub struct CpuShares {
    version: Version,
    /// `stamps-bench-PID`, the parent of the settings' cgroups.
    parent: PathBuf,
    groups: Vec<(u32, PathBuf)>,
}

impl CpuShares {
    /// Makes a cgroup for each memory size with its quota (`period_us` each period).
    pub fn create(memories: &[u32], period_us: u64) -> Result<CpuShares, String> {
        let (version, own) = own_cpu_cgroup()?;
        let parent = own.join(format!("stamps-bench-{}", std::process::id()));
        std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e} (the harness needs root)", parent.display()))?;
        if version == Version::V2 {
            // The cpu controller must be enabled for the children, in the parent and in ours.
            for dir in [&own, &parent] {
                write(&dir.join("cgroup.subtree_control"), "+cpu").map_err(|e| {
                    format!(
                        "cgroup v2: cannot enable the cpu controller in {} ({e}); a cgroup that holds processes \
                         cannot (run the harness from a cgroup of its own, e.g. `systemd-run --scope -p Delegate=yes`)",
                        dir.display()
                    )
                })?;
            }
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let mut shares = CpuShares { version, parent, groups: Vec::new() };
        for &memory in memories {
            let dir = shares.parent.join(memory.to_string());
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            // Rounded to the microsecond the kernel counts in; at least its minimum, 1 ms.
            let quota = ((cpus_for(memory, cores) * period_us as f64).round() as u64).max(1_000);
            let result = match version {
                Version::V1 => write(&dir.join("cpu.cfs_period_us"), &period_us.to_string())
                    .and_then(|()| write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())),
                Version::V2 => write(&dir.join("cpu.max"), &format!("{quota} {period_us}")),
            };
            result.map_err(|e| format!("{}: the quota of {memory} MB: {e}", dir.display()))?;
            shares.groups.push((memory, dir));
        }
        Ok(shares)
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The quota written for `memory`, as the kernel reads it back: (quota µs, period µs).
    pub fn quota(&self, memory: u32) -> Option<(u64, u64)> {
        let dir = self.dir(memory)?;
        match self.version {
            Version::V1 => {
                let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok()?.trim().parse().ok();
                Some((read("cpu.cfs_quota_us")?, read("cpu.cfs_period_us")?))
            }
            Version::V2 => {
                let text = std::fs::read_to_string(dir.join("cpu.max")).ok()?;
                let mut fields = text.split_whitespace();
                Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
            }
        }
    }

    /// The `cgroup.procs` file of `memory`'s cgroup: writing a process ID to it moves the whole
    /// process (every thread); "0" moves the writer.
    pub fn procs(&self, memory: u32) -> Option<PathBuf> {
        self.dir(memory).map(|dir| dir.join("cgroup.procs"))
    }

    /// Moves process `pid` (all its threads) under `memory`'s quota.
    pub fn enter(&self, memory: u32, pid: u32) -> Result<(), String> {
        let procs = self.procs(memory).ok_or_else(|| format!("no cgroup for {memory} MB"))?;
        write(&procs, &pid.to_string()).map_err(|e| format!("{}: {e}", procs.display()))
    }

    /// How many periods the processes of `memory`'s cgroup were throttled in, so far.
    pub fn throttled_periods(&self, memory: u32) -> Option<u64> {
        // `nr_throttled N` in both versions' `cpu.stat`.
        let stat = std::fs::read_to_string(self.dir(memory)?.join("cpu.stat")).ok()?;
        stat.lines().find_map(|line| line.strip_prefix("nr_throttled")?.trim().parse().ok())
    }

    fn dir(&self, memory: u32) -> Option<&Path> {
        self.groups.iter().find(|(m, _)| *m == memory).map(|(_, dir)| dir.as_path())
    }
}

impl Drop for CpuShares {
    /// Removes the cgroups; the function processes are gone by then (a cgroup with processes
    /// cannot be removed, and is left behind with a message).
    fn drop(&mut self) {
        for (_, dir) in self.groups.iter().chain(std::iter::once(&(0, self.parent.clone()))) {
            if let Err(error) = std::fs::remove_dir(dir) {
                eprintln!("could not remove the cgroup {}: {error}", dir.display());
            }
        }
    }
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    // One write call: the cgroup files take one value per write.
    OpenOptions::new().write(true).open(path)?.write_all(value.as_bytes())
}

/// Where this process's CPU controller is: cgroup v2's unified hierarchy when it offers the
/// `cpu` controller, else cgroup v1's `cpu` hierarchy; with this process's cgroup in it.
fn own_cpu_cgroup() -> Result<(Version, PathBuf), String> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    let mut v1 = None;
    let mut v2 = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(separator) = fields.iter().position(|field| *field == "-") else { continue };
        let (Some(mount_point), Some(fs_type), Some(options)) =
            (fields.get(4), fields.get(separator + 1), fields.get(separator + 3))
        else {
            continue;
        };
        match *fs_type {
            "cgroup2" => v2 = Some(PathBuf::from(mount_point)),
            "cgroup" if options.split(',').any(|option| option == "cpu") => v1 = Some(PathBuf::from(mount_point)),
            _ => {}
        }
    }
    // `/proc/self/cgroup`: "0::/path" (v2), "N:cpu,cpuacct:/path" (v1).
    let path_in = |matches: &dyn Fn(&str) -> bool| {
        own.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            matches(controllers).then(|| path.trim_start_matches('/').to_string())
        })
    };
    if let Some(mount) = v2 {
        let controllers = std::fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "cpu")
            && let Some(path) = path_in(&|controllers| controllers.is_empty())
        {
            return Ok((Version::V2, mount.join(path)));
        }
    }
    if let Some(mount) = v1
        && let Some(path) = path_in(&|controllers| controllers.split(',').any(|c| c == "cpu"))
    {
        return Ok((Version::V1, mount.join(path)));
    }
    Err("no cgroup CPU controller: neither cgroup v2 with `cpu` nor cgroup v1's `cpu` is mounted".into())
}
