//! Cold start, warm latency, peak memory and size of every function binary, each beside the
//! baseline it should be compared with (`baseline-hello` for the storage-free functions,
//! `baseline-dynamo-get` for the rest; `baseline-sns-publish` prices an SNS call and
//! `baseline-dynamo-hash`, the GetItem after one argon2id hash, what a hash does to the code after
//! it; the same run with 4 GetItems before its hash, `baseline-dynamo-hash-5-calls`, is the
//! baseline of the same shape for the routes making 5 DynamoDB calls around one hash; and
//! `EXACT_SHAPES`, the same binary making one route's very calls), all measured in one run
//! against the same moto, each process driven through the Lambda Runtime API emulator of
//! `integration_tests::runtime_api`. The functions reach moto through a timing proxy
//! (`aws_timer`) and log their hashes and handler times, so that three tables can
//! split where the time goes: the figures against the baselines, a warm invocation's parts (AWS,
//! argon2, the function's own, inside and outside its handler) and a first invocation's.
//!
//! Run through `bench/coldstart.sh` (starts moto, builds and runs this). Options:
//! `--cold N` cold starts per binary (default 10), `--warm N` warm invocations (default 1000),
//! `--only a,b` these functions (and the baselines), `--no-build` measure the binaries
//! already in `target/coldstart-bins/`, `--compare DIR` also measure each selected function's
//! binary in DIR (say a copy of `target/coldstart-bins/` made before a change), in the same run,
//! as a row `NAME (compared)`.
//!
//! As Lambda runs them (BENCHMARKS.md): `--memory all` (or a list such as `full,256,1769`)
//! measures every binary under the CPU share of each memory size (`cpu_share`, `power`), prints
//! the memory/latency curve, each function's chosen size and the cost per million calls at it
//! (`cost`, the prices in `bench/prices.toml`, the DynamoDB request units counted over
//! `--count N` untimed invocations per function); `--period-us N` the CFS period of the quota,
//! `--init-at-quota` the init phase under the quota too. `--tls` puts a TLS endpoint in front
//! of the timer for every function and baseline, as DynamoDB is reached on AWS.
//! `--out DIR` writes the tables and the SVG charts
//! (`charts`) to DIR. `--check-quota` only checks that a quota slows a busy loop as it should.
//!
//! The build is what a deployment does: each function package alone (`cargo build --release
//! -p NAME`), so a binary gets only its own features of `shared`, never the union the whole
//! workspace would give it; packages with identical dependencies share one cargo run, which
//! builds them exactly as alone. The binaries are copied to `target/coldstart-bins/` so a
//! later workspace build cannot change them during the run.

mod aws_timer;
mod capacity;
mod charts;
mod cost;
mod cpu_share;
mod power;
mod quota_check;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_timer::{AwsTimer, Reading};
use cpu_share::CpuShares;
use integration_tests::runtime_api::{Outcome, RuntimeApi, http_answer};
use integration_tests::tls_proxy::TlsProxy;
use serde_json::Value;
use workload::Workload;

const HELLO: &str = "baseline-hello";
const DYNAMO_GET: &str = "baseline-dynamo-get";
const DYNAMO_HASH: &str = "baseline-dynamo-hash";
/// `baseline-dynamo-hash` run with 4 GetItems before its hash and its GetItem after: the shape
/// of a route making 5 DynamoDB calls around one hash (`pin-validate`, `v2-login`...).
const DYNAMO_HASH_5: &str = "baseline-dynamo-hash-5-calls";
const GETS_BEFORE_HASH_5: &str = "4";
/// `baseline-dynamo-sns`: an OTP-requesting route's DynamoDB calls and SNS publish.
const DYNAMO_SNS: &str = "baseline-dynamo-sns";
/// Baselines making a route's very calls, as the store makes them (`baseline-dynamo-hash` with
/// `BENCH_SHAPE` around its hash, `baseline-dynamo-sns`): the route, the baseline's row, its
/// binary. Each is measured when its route is.
const EXACT_SHAPES: [(&str, &str, &str); 5] = [
    ("pin-validate", "baseline-dynamo-hash-pin-validate-calls", DYNAMO_HASH),
    ("v2-register", "baseline-dynamo-hash-v2-register-calls", DYNAMO_HASH),
    ("v2-reset-password", "baseline-dynamo-hash-v2-reset-password-calls", DYNAMO_HASH),
    ("request-otp-for-password-reset", "baseline-dynamo-sns-request-otp-calls", DYNAMO_SNS),
    ("v2-forgot-password", "baseline-dynamo-sns-v2-forgot-password-calls", DYNAMO_SNS),
];
const SNS_PUBLISH: &str = "baseline-sns-publish";
// validate-mobile-number reads the API key's record since the cut-over (revoked, rotated and
// imported keys): a GetItem function, compared with the GetItem baseline.
const STORAGE_FREE: [&str; 1] = ["token-verify"];

struct Options {
    cold: usize,
    warm: usize,
    only: Option<Vec<String>>,
    build: bool,
    compare: Option<PathBuf>,
    /// The memory sizes of the curve (`None`: the whole machine); empty: no curve.
    memory: Vec<Option<u32>>,
    period_us: u64,
    /// Whether the init phase also runs under the quota (by default at full CPU, as reported of
    /// Lambda: see `cpu_share`).
    init_at_quota: bool,
    tls: bool,
    /// Invocations per function whose DynamoDB request units are counted (untimed).
    count: usize,
    out: Option<PathBuf>,
    prices: PathBuf,
    check_quota: bool,
}

/// The label of a row measuring the `--compare` binary of a function.
const COMPARED: &str = " (compared)";
/// The label of a row measuring a function that opens its DynamoDB connection during init.
/// The one function with no HTTP route: it consumes the OTP queue.
const DISPATCH: &str = "otp-dispatch";
/// The settings of `--memory all`: Lambda Power Tuning's usual ones, and the whole machine.
const ALL_MEMORY: [Option<u32>; 7] = [None, Some(128), Some(256), Some(512), Some(1024), Some(1769), Some(3008)];

const USAGE: &str = "options: --cold N, --warm N, --only a,b, --no-build, --compare DIR, --memory all|full,128,256,..., \
                     --period-us N, --init-at-quota, --tls, --count N, --out DIR, --prices FILE, --check-quota";

fn options() -> Options {
    let mut options = Options {
        cold: 10,
        warm: 1000,
        only: None,
        build: true,
        compare: None,
        memory: Vec::new(),
        period_us: cpu_share::DEFAULT_PERIOD_US,
        init_at_quota: false,
        tls: false,
        count: 3,
        out: None,
        prices: bench_root().join("prices.toml"),
        check_quota: false,
    };
    let mut warm_given = false;
    let mut args = std::env::args().skip(1);
    let fail = |message: String| -> ! {
        eprintln!("{message}; {USAGE}");
        std::process::exit(2);
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cold" => options.cold = args.next().and_then(|v| v.parse().ok()).unwrap_or(options.cold).max(1),
            "--warm" => {
                options.warm = args.next().and_then(|v| v.parse().ok()).unwrap_or(options.warm).max(1);
                warm_given = true;
            }
            "--only" => options.only = args.next().map(|v| v.split(',').map(str::to_string).collect()),
            "--no-build" => options.build = false,
            "--compare" => options.compare = args.next().map(PathBuf::from),
            "--memory" => {
                let list = args.next().unwrap_or_default();
                options.memory = if list == "all" {
                    ALL_MEMORY.to_vec()
                } else {
                    list.split(',')
                        .map(|mb| match mb {
                            "full" => Ok(None),
                            mb => mb.parse().map(Some).map_err(|_| format!("--memory: {mb} is not a size in MB")),
                        })
                        .collect::<Result<_, _>>()
                        .unwrap_or_else(|message| fail(message))
                };
            }
            "--period-us" => {
                options.period_us = args.next().and_then(|v| v.parse().ok()).unwrap_or(options.period_us);
            }
            "--init-at-quota" => options.init_at_quota = true,
            "--tls" => options.tls = true,
            "--count" => options.count = args.next().and_then(|v| v.parse().ok()).unwrap_or(options.count),
            "--out" => options.out = args.next().map(PathBuf::from),
            "--prices" => options.prices = args.next().map(PathBuf::from).unwrap_or(options.prices),
            "--check-quota" => options.check_quota = true,
            other => fail(format!("unknown option {other}")),
        }
    }
    // A curve has 6 or 7 settings of every binary: fewer warm invocations by default.
    if !options.memory.is_empty() && !warm_given {
        options.warm = 100;
    }
    let copies = binary_copies(&options);
    if copies > 1 && options.cold + options.warm + options.count + 2 >= workload::COPY_NUMBERS {
        fail(format!("--cold, --warm and --count must add up to less than {}", workload::COPY_NUMBERS - 2));
    }
    if copies > workload::MAX_COPIES {
        fail(format!("at most {} binaries of a function (memory sizes × --compare)", workload::MAX_COPIES));
    }
    options
}

/// How many processes of one function differ in what they run (each gets customers of its own):
/// one per memory size, times the `--compare` variant.
fn binary_copies(options: &Options) -> usize {
    let variants = 1 + usize::from(options.compare.is_some());
    options.memory.len().max(1) * variants
}

/// The product's workspace (the repository's root).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The benchmarks' workspace (`bench/`), where the baselines are built.
fn bench_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/`: this program runs from `target/release/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent().and_then(Path::parent).map(Path::to_path_buf).expect("target dir")
}

/// The packages to measure (each builds one binary of its own name), by folder.
fn packages(folder: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join(folder))
        .unwrap_or_else(|e| panic!("{folder}: {e}"))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Builds every function and the baselines as deployed (see the module comment) and copies
/// them to `target/coldstart-bins/`.
fn build(names: &[String]) -> PathBuf {
    let bins = target_dir().join("coldstart-bins");
    std::fs::create_dir_all(&bins).expect("bins dir");
    // By workspace (is it a baseline?) and dependencies.
    let mut groups: BTreeMap<(bool, String), Vec<&String>> = BTreeMap::new();
    for name in names {
        let baseline = name.starts_with("baseline-");
        let folder = if baseline { "bench/baselines" } else { "functions" };
        let dir = name.strip_prefix("baseline-").unwrap_or(name);
        let manifest = std::fs::read_to_string(root().join(folder).join(dir).join("Cargo.toml")).expect("manifest");
        let dependencies = manifest.split("[dependencies]").nth(1).unwrap_or_default().to_string();
        groups.entry((baseline, dependencies)).or_default().push(name);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for ((baseline, _), group) in &groups {
        // The functions in the product's workspace, the baselines in the benchmarks' one; both
        // into this program's target directory, where the binaries are copied from.
        let workspace = if *baseline { bench_root() } else { root() };
        let mut command = Command::new(&cargo);
        command.current_dir(workspace).env("CARGO_TARGET_DIR", target_dir()).args(["build", "--release", "--locked"]);
        for name in group {
            command.args(["-p", name]);
        }
        eprintln!("== {command:?}");
        let status = command.status().expect("cargo");
        assert!(status.success(), "the build failed");
        // At once: another build waiting for the target dir (say of the whole workspace, with
        // every feature of `shared`) may replace these binaries next.
        for name in group {
            let built = target_dir().join("release").join(name);
            std::fs::copy(&built, bins.join(name)).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
        }
    }
    bins
}

#[derive(Default)]
struct Figures {
    /// The row's label: the function's name, with `COMPARED` for a `--compare` binary.
    name: String,
    /// The function whose workload drives it, and which of its binaries this is (each memory
    /// size's and the `--compare` one get customers of their own).
    function: String,
    copy: usize,
    /// The memory size whose CPU share the processes run under; `None`: the whole machine.
    memory: Option<u32>,
    binary: PathBuf,
    /// Variables set for this row's processes beyond the workload's.
    env: Vec<(String, String)>,
    size: u64,
    /// Process start to first answer posted, per cold start.
    cold: Vec<Duration>,
    /// Process start to first poll of `invocation/next` (the init phase), per cold start.
    init: Vec<Duration>,
    /// Per cold start: the AWS calls of the first invocation, its first argon2id hash (as the
    /// function timed it), and the process's minor page faults when it had answered.
    cold_aws: Vec<Reading>,
    cold_hash: Vec<Duration>,
    cold_faults: Vec<u64>,
    warm: Vec<Duration>,
    /// Per warm invocation: the AWS calls it made and the time it waited for them.
    warm_aws: Vec<Reading>,
    /// CPU time of the process (all threads) over the timed warm invocations.
    warm_cpu: Duration,
    /// Over the same invocations, the time its threads were ready to run but waited for a CPU.
    warm_run_delay: Duration,
    /// Per warm invocation: the process's CPU time and its wait for a CPU, from just before the
    /// event was handed over to just after the answer arrived.
    warm_sched: Vec<SchedTime>,
    /// The warm hashes' thread CPU time, as the function timed them (`cpu_micros`).
    warm_hash_cpu: Vec<Duration>,
    /// argon2id hashes of one invocation (the workload's successful path).
    hashes: u32,
    /// Median time of one argon2id hash in this process, measured just before the warm run.
    hash_time: Duration,
    /// The warm hashes as the function itself timed them (from its log, which keeps them all).
    warm_hash: Vec<Duration>,
    /// The handler's time of the last warm invocations, as the function logged it.
    warm_handler: Vec<Duration>,
    /// The handler's time of each cold start's first invocation.
    cold_handler: Vec<Duration>,
    rss_kib: u64,
    answers: BTreeMap<String, u32>,
    /// The AWS use of each counted invocation (`--count`): request units, publishes, emails.
    counted: Vec<Reading>,
}

fn median(values: &[Duration]) -> Duration {
    percentile(values, 0.5)
}

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// `200`, `4xx-invalid_pin`, `batch-ok`...: what an invocation answered, to show that every
/// figure measures the path it should.
fn answer_kind(outcome: Outcome) -> String {
    match outcome {
        Outcome::Error(error) => format!("error {error}"),
        Outcome::Response(response) if response.get("statusCode").is_some() => {
            let (status, body) = http_answer(&response);
            match body.get("error_code").or_else(|| body.get("error")).and_then(Value::as_str) {
                Some(code) if status >= 400 => format!("{status} {code}"),
                _ => status.to_string(),
            }
        }
        Outcome::Response(response) => match response["batchItemFailures"].as_array() {
            Some(failures) if failures.is_empty() => "batch ok".into(),
            _ => format!("batch failures {response}"),
        },
    }
}

/// Scheduler time of every thread of `pid` so far: on a CPU (its CPU-time clock), and waiting
/// for one (`/proc/PID/task/*/schedstat`).
#[derive(Clone, Copy, Debug, Default)]
struct SchedTime {
    on_cpu: Duration,
    /// Ready to run, waiting on a run queue for a CPU.
    run_delay: Duration,
}

fn sched_time(pid: Option<u32>) -> SchedTime {
    let Some(pid) = pid else { return SchedTime::default() };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return SchedTime::default() };
    let run_delay: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()))
        .sum();
    SchedTime { on_cpu: process_cpu_time(pid).unwrap_or_default(), run_delay: Duration::from_nanos(run_delay) }
}

/// The CPU time of all of `pid`'s threads so far, from its CPU-time clock. Exact also while a
/// thread runs, where schedstat's figure lags until the thread's next tick or switch: read as
/// the answer arrives, that would miss the work since the function's last AWS call.
fn process_cpu_time(pid: u32) -> Option<Duration> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: both calls only write the value they are given.
    let now = unsafe {
        if libc::clock_getcpuclockid(pid, &mut clock) != 0 {
            return None;
        }
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        if libc::clock_gettime(clock, &mut now) != 0 {
            return None;
        }
        now
    };
    Some(Duration::new(u64::try_from(now.tv_sec).ok()?, u32::try_from(now.tv_nsec).ok()?))
}

impl std::ops::Sub for SchedTime {
    type Output = SchedTime;

    fn sub(self, earlier: SchedTime) -> SchedTime {
        SchedTime {
            on_cpu: self.on_cpu.saturating_sub(earlier.on_cpu),
            run_delay: self.run_delay.saturating_sub(earlier.run_delay),
        }
    }
}

/// The median of 5 hashes and 5 verifications with the project's hasher at the configured
/// parameters, in this process: what one argon2id hash costs on the machine right now.
async fn argon2_time() -> Duration {
    tokio::task::spawn_blocking(|| {
        let hasher = shared::hashing::SecretHasher::new(None).expect("hasher");
        let mut times = Vec::new();
        let mut stored = hasher.hash(workload::PIN).expect("hash");
        for i in 0..10 {
            let started = Instant::now();
            if i % 2 == 0 {
                stored = hasher.hash(workload::PIN).expect("hash");
            } else {
                assert!(hasher.verify(workload::PIN, &stored).matched());
            }
            times.push(started.elapsed());
        }
        median(&times)
    })
    .await
    .expect("argon2 timing")
}

/// What every process of the run shares: the workload, the AWS timer, and the CPU shares.
struct Run<'a> {
    workload: &'a Workload,
    timer: &'a AwsTimer,
    shares: Option<&'a CpuShares>,
    init_at_quota: bool,
    /// Whether a cold start is timed as its init plus its first invocation, the event being
    /// handed over after the first poll (so that the process is under its quota by then), rather
    /// than from the process start to the answer of an event waiting for it.
    split: bool,
}

/// Starts the row's binary with the workload's variables, its memory size and its own
/// variables; under its quota at once with `--init-at-quota`.
async fn start(figures: &Figures, run: &Run<'_>) -> RuntimeApi {
    let mut api = RuntimeApi::start().await.expect("runtime API");
    let mut env = [&run.workload.env[..], &figures.env[..]].concat();
    if let Some(memory) = figures.memory {
        env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), memory.to_string()));
    }
    api.spawn(&figures.binary, &env).unwrap_or_else(|e| panic!("{}: {e}", figures.binary.display()));
    if run.init_at_quota {
        enter_quota(figures, run, &api);
    }
    api
}

/// Moves the row's process under its memory size's CPU quota (if it has one). Lambda runs the
/// init phase at full CPU, so by default this is done at the first poll (`after_init`).
fn enter_quota(figures: &Figures, run: &Run<'_>, api: &RuntimeApi) {
    if let (Some(shares), Some(memory), Some(pid)) = (run.shares, figures.memory, api.pid()) {
        shares.enter(memory, pid).unwrap_or_else(|e| panic!("{}: {e}", figures.name));
    }
}

/// In a split run, waits for the process's first poll of `invocation/next` (its init done),
/// then moves it under its quota.
async fn after_init(figures: &Figures, run: &Run<'_>, api: &RuntimeApi) {
    if !run.split {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.time_to_first_poll().is_none() {
        if let Some(error) = api.init_error() {
            panic!("{}: start-up failed: {error}", figures.name);
        }
        assert!(
            Instant::now() < deadline,
            "{}: no poll within 60 s; its output:\n{}",
            figures.name,
            api.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if !run.init_at_quota {
        enter_quota(figures, run, api);
    }
}

async fn invoke(api: &mut RuntimeApi, name: &str, event: Value) -> Outcome {
    api.invoke(event).await.unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Minor page faults of `pid` so far (`/proc/PID/stat`, field 10).
fn minor_faults(pid: Option<u32>) -> u64 {
    let stat = pid.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rfind(')').map_or("", |end| &stat[end + 1..]);
    after.split_whitespace().nth(7).and_then(|n| n.parse().ok()).unwrap_or_default()
}

/// The `micros` of the function's log events named `message`, oldest first: `argon2id` (one
/// hash, `shared::hashing::TIMING_TARGET` at debug level), `request` (the handler's
/// time, from `shared::http::respond`, AWS calls and hashes included, the Runtime API round
/// trip and event decoding not).
fn logged_micros(api: &RuntimeApi, message: &str) -> Vec<Duration> {
    micros_field(&logged_fields(api, message), "micros")
}

/// The fields of the function's log events named `message`, oldest first.
fn logged_fields(api: &RuntimeApi, message: &str) -> Vec<Value> {
    api.logs()
        .iter()
        .filter(|line| line.contains(message))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|mut entry| entry["fields"].take())
        .filter(|fields| fields["message"] == message)
        .collect()
}

/// The field `field` (in microseconds) of each event; events without it are skipped.
fn micros_field(events: &[Value], field: &str) -> Vec<Duration> {
    events.iter().filter_map(|fields| fields[field].as_u64()).map(Duration::from_micros).collect()
}

/// `logged_micros`, once the function's output has been read up to `count` such lines (or
/// after 200 ms).
async fn wait_for_logged(api: &RuntimeApi, message: &str, count: usize) -> Vec<Duration> {
    for _ in 0..100 {
        let logged = logged_micros(api, message);
        if logged.len() >= count {
            return logged;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    logged_micros(api, message)
}

/// One cold start: a fresh process, one invocation.
async fn cold_start(figures: &mut Figures, run: &Run<'_>, i: usize) {
    let event = run.workload.event(&figures.function, figures.copy, i).await;
    let aws_before = run.timer.reading();
    let mut api = start(figures, run).await;
    after_init(figures, run, &api).await;
    let sent = Instant::now();
    let outcome = invoke(&mut api, &figures.function, event).await;
    let first_invocation = sent.elapsed();
    figures.cold_aws.push(run.timer.reading() - aws_before);
    figures.cold_faults.push(minor_faults(api.pid()));
    let init = api.time_to_first_poll().expect("polled");
    figures.cold.push(if run.split { init + first_invocation } else { api.time_to_first_answer().expect("answered") });
    figures.init.push(init);
    let hashes = workload::argon2_hashes(&figures.function) as usize;
    if hashes > 0 {
        figures.cold_hash.extend(wait_for_logged(&api, "argon2id", hashes).await.first());
    }
    if !figures.name.starts_with("baseline-") {
        figures.cold_handler.extend(wait_for_logged(&api, "request", 1).await.first());
    }
    *figures.answers.entry(answer_kind(outcome)).or_default() += 1;
    api.kill().await;
}

/// `n` untimed invocations of a fresh process (after one not counted) with the timer counting
/// (`aws_timer`, counting mode): the AWS use of each, which the cost table prices. At full CPU:
/// the counts do not depend on the CPU share.
async fn count_usage(figures: &mut Figures, run: &Run<'_>, first: usize, n: usize) {
    let unquoted = Run { shares: None, split: false, init_at_quota: false, ..*run };
    let mut api = start(figures, &unquoted).await;
    let event = run.workload.event(&figures.function, figures.copy, first).await;
    invoke(&mut api, &figures.function, event).await;
    for i in first + 1..=first + n {
        let event = run.workload.event(&figures.function, figures.copy, i).await;
        run.timer.set_counting(true);
        let before = run.timer.reading();
        let outcome = invoke(&mut api, &figures.function, event).await;
        figures.counted.push(run.timer.reading() - before);
        run.timer.set_counting(false);
        *figures.answers.entry(format!("{} (counted)", answer_kind(outcome))).or_default() += 1;
    }
    api.kill().await;
}

/// Warm invocations are timed in rounds of this many per binary, round-robin over binaries
/// whose processes stay up, so that any drift of the machine (a busy neighbour, moto slowing
/// down) falls on every binary and baseline alike.
const WARM_ROUND: usize = 50;
const _: () = assert!(WARM_ROUND <= workload::FRESH_CUSTOMERS, "a round's OTPs would replace each other");

/// A warm process: its Runtime API, the events made for it ahead, the index of its next
/// event, and its CPU time before its first timed invocation.
struct WarmProcess {
    api: RuntimeApi,
    ahead: std::collections::VecDeque<Value>,
    next: usize,
    sched_before: SchedTime,
}

/// Starts one process and answers a first invocation, not counted; makes the events of the
/// `n` timed ones unless they are made round by round (`workload::made_per_round`).
async fn start_warm(figures: &mut Figures, run: &Run<'_>, first: usize, n: usize) -> WarmProcess {
    let workload = run.workload;
    figures.hashes = workload::argon2_hashes(&figures.function);
    if figures.hashes > 0 {
        figures.hash_time = argon2_time().await;
    }
    let mut api = start(figures, run).await;
    after_init(figures, run, &api).await;
    let event = workload.event(&figures.function, figures.copy, first).await;
    let outcome = invoke(&mut api, &figures.function, event).await;
    *figures.answers.entry(answer_kind(outcome)).or_default() += 1;
    let mut ahead = std::collections::VecDeque::new();
    if !workload::made_per_round(&figures.function) {
        for i in first + 1..=first + n {
            ahead.push_back(workload.event(&figures.function, figures.copy, i).await);
        }
    }
    let sched_before = sched_time(api.pid());
    WarmProcess { api, ahead, next: first + 1, sched_before }
}

/// `count` timed invocations of a warm process, each with the AWS calls it made.
async fn warm_round(
    figures: &mut Figures,
    process: &mut WarmProcess,
    workload: &Workload,
    timer: &AwsTimer,
    count: usize,
) {
    // Events not made at the start (`workload::made_per_round`) are made now, before the round.
    while process.ahead.len() < count {
        let i = process.next + process.ahead.len();
        process.ahead.push_back(workload.event(&figures.function, figures.copy, i).await);
    }
    for event in process.ahead.drain(..count).collect::<Vec<_>>() {
        process.next += 1;
        let sched_before = sched_time(process.api.pid());
        let aws_before = timer.reading();
        let started = Instant::now();
        let outcome = invoke(&mut process.api, &figures.function, event).await;
        figures.warm.push(started.elapsed());
        figures.warm_aws.push(timer.reading() - aws_before);
        figures.warm_sched.push(sched_time(process.api.pid()) - sched_before);
        *figures.answers.entry(answer_kind(outcome)).or_default() += 1;
    }
}

/// The warm process's CPU time over its timed invocations, the hashes and handler times it
/// logged, and its peak RSS; then it is stopped.
async fn finish_warm(figures: &mut Figures, mut process: WarmProcess) {
    let sched = sched_time(process.api.pid());
    figures.warm_cpu = sched.on_cpu.saturating_sub(process.sched_before.on_cpu);
    figures.warm_run_delay = sched.run_delay.saturating_sub(process.sched_before.run_delay);
    let handler_logged = !figures.name.starts_with("baseline-");
    if figures.hashes > 0 || handler_logged {
        // Let the output of the last invocation be read before the log is: the hashes and
        // handler times are matched to invocations from the end. The log keeps the last lines.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if figures.hashes > 0 {
        let hashes = logged_fields(&process.api, "argon2id");
        figures.warm_hash = micros_field(&hashes, "micros");
        figures.warm_hash_cpu = micros_field(&hashes, "cpu_micros");
    }
    if handler_logged {
        figures.warm_handler = logged_micros(&process.api, "request");
    }
    figures.rss_kib = process.api.peak_rss_kib().unwrap_or_default();
    process.api.kill().await;
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

fn ratio(value: f64, base: f64) -> String {
    if base > 0.0 { format!("{:.2}x", value / base) } else { "-".into() }
}

fn print_table(rows: &[Figures]) {
    let find = |name: &str| rows.iter().find(|row| row.name == name);
    let hashing_base = find(DYNAMO_HASH);
    let five_calls_base = find(DYNAMO_HASH_5);
    println!(
        "| function | baseline | size KiB | size ratio | cold start ms (median) | cold ratio | init ms | \
         init ratio | cold − warm ms | cold − warm ratio | cold ratio to GetItem + hash | cold − warm ratio to \
         GetItem + hash | cold ratio to 5 GetItems + hash | warm p50 ms | warm p50 ratio | warm p99 ms | \
         peak RSS MiB | RSS ratio | answers |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in rows {
        let base_name = if row.name.starts_with("baseline-") {
            None
        } else if STORAGE_FREE.contains(&row.function.as_str()) {
            Some(HELLO)
        } else {
            Some(DYNAMO_GET)
        };
        let base = base_name.and_then(find);
        let ratio_to = |base: Option<&Figures>, f: &dyn Fn(&Figures) -> f64| {
            base.map_or_else(|| "-".to_string(), |b| ratio(f(row), f(b)))
        };
        let answers: Vec<String> = row.answers.iter().map(|(kind, n)| format!("{n}× {kind}")).collect();
        // What being cold costs beyond a warm invocation of the same work.
        let penalty = |f: &Figures| median(&f.cold).saturating_sub(median(&f.warm));
        // Against the GetItem baseline that also hashes once: only for one-hash functions. A
        // two-hash route (change-password...) would be compared with half its hashing.
        let hashing_base = hashing_base.filter(|_| row.hashes == 1 && !row.name.starts_with("baseline-"));
        // Against the one of the same shape: a one-hash route making 5 DynamoDB calls.
        let five_calls_base = five_calls_base.filter(|_| has_five_call_shape(row));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            row.name,
            base_name.map_or("-", |b| b.strip_prefix("baseline-").unwrap_or(b)),
            row.size / 1024,
            ratio_to(base, &|f| f.size as f64),
            ms(median(&row.cold)),
            ratio_to(base, &|f| median(&f.cold).as_secs_f64()),
            ms(median(&row.init)),
            ratio_to(base, &|f| median(&f.init).as_secs_f64()),
            ms(penalty(row)),
            ratio_to(base, &|f| penalty(f).as_secs_f64()),
            ratio_to(hashing_base, &|f| median(&f.cold).as_secs_f64()),
            ratio_to(hashing_base, &|f| penalty(f).as_secs_f64()),
            ratio_to(five_calls_base, &|f| median(&f.cold).as_secs_f64()),
            ms(median(&row.warm)),
            ratio_to(base, &|f| median(&f.warm).as_secs_f64()),
            ms(percentile(&row.warm, 0.99)),
            row.rss_kib as f64 / 1024.0,
            ratio_to(base, &|f| f.rss_kib as f64),
            answers.join(", ")
        );
    }
}

/// Whether `row` is a route of `DYNAMO_HASH_5`'s shape: one hash, 5 AWS calls, all DynamoDB.
fn has_five_call_shape(row: &Figures) -> bool {
    !row.name.starts_with("baseline-")
        && row.hashes == 1
        && median_calls(&row.warm_aws) == 5
        && median_count(row.warm_aws.iter().map(|reading| reading.dynamodb_calls)) == 5
}

fn micros(duration: Duration) -> String {
    format!("{:.0}", duration.as_secs_f64() * 1e6)
}

/// Signed difference in microseconds.
fn micros_over(value: Duration, base: Duration) -> String {
    format!("{:+.0}", (value.as_secs_f64() - base.as_secs_f64()) * 1e6)
}

/// The median of counts (calls, faults).
fn median_count(counts: impl Iterator<Item = u64>) -> u64 {
    let mut counts: Vec<u64> = counts.collect();
    counts.sort_unstable();
    counts.get(counts.len() / 2).copied().unwrap_or_default()
}

fn median_calls(readings: &[Reading]) -> u64 {
    median_count(readings.iter().map(|reading| reading.calls))
}

/// One hash as the function timed it, warm (its median); the harness's own figure when the
/// function logged none.
fn hash_in_function(row: &Figures) -> Duration {
    if row.warm_hash.is_empty() { row.hash_time } else { median(&row.warm_hash) }
}

/// Each warm invocation's own time: its total less its AWS wait and its hashes as the function
/// timed them. The hashes are matched to invocations from the end of the log, which holds
/// every timed invocation's.
fn own_times(row: &Figures) -> Vec<Duration> {
    own_times_of(row, &row.warm)
}

/// As `own_times`, with each invocation's time taken from `times` (the harness's, or the
/// handler's own as logged, matched from the end).
fn own_times_of(row: &Figures, times: &[Duration]) -> Vec<Duration> {
    let covered = times.len().min(row.warm_aws.len());
    let aws = &row.warm_aws[row.warm_aws.len() - covered..];
    let without_aws =
        times[times.len() - covered..].iter().zip(aws).map(|(total, aws)| total.saturating_sub(aws.waited)).collect();
    less_hashes(row, without_aws, &row.warm_hash)
}

/// Per warm invocation (oldest first, ending with the last), `values` less the invocation's
/// hashes as timed in `hashes` (the log's last ones, matched from the end: for a hashing
/// function only the invocations they cover), or less the harness's hash time when none were
/// logged.
fn less_hashes(row: &Figures, values: Vec<Duration>, hashes: &[Duration]) -> Vec<Duration> {
    let per_call = row.hashes as usize;
    if per_call == 0 {
        return values;
    }
    if hashes.is_empty() {
        return values.into_iter().map(|value| value.saturating_sub(row.hash_time * row.hashes)).collect();
    }
    let hashed = (hashes.len() / per_call).min(values.len());
    let hashes = &hashes[hashes.len() - hashed * per_call..];
    values[values.len() - hashed..]
        .iter()
        .zip(hashes.chunks(per_call))
        .map(|(value, hashing)| value.saturating_sub(hashing.iter().sum()))
        .collect()
}

/// Each warm invocation's CPU time (the whole process's) less its hashes' thread CPU time: the
/// function's own work, whatever the machine's other processes do to its wall time.
fn own_cpu_times(row: &Figures) -> Vec<Duration> {
    less_hashes(row, row.warm_sched.iter().map(|sched| sched.on_cpu).collect(), &row.warm_hash_cpu)
}

/// Each warm invocation's own time less the time the process waited for a CPU, its hashes taken
/// off as CPU time (a hash's wall time holds any wait for a CPU during it, already taken off).
fn own_times_less_waiting(row: &Figures) -> Vec<Duration> {
    let values = row
        .warm
        .iter()
        .zip(&row.warm_aws)
        .zip(&row.warm_sched)
        .map(|((total, aws), sched)| total.saturating_sub(aws.waited).saturating_sub(sched.run_delay))
        .collect();
    less_hashes(row, values, &row.warm_hash_cpu)
}

/// What the baselines price, by one measure of their warm invocations (own time, or own CPU
/// time): the Runtime API round trip (hello-world's), each AWS call beyond it (the baseline
/// that makes only that call: the GetItem baseline's for a DynamoDB call, the SNS baseline's for
/// any other), a hash's after-effect on the code after it (the hashing GetItem baseline less the
/// plain one, signed: it may be negative in noise), and the hashing baseline of 5 calls.
struct Prices {
    hello: Duration,
    per_dynamodb_call: Duration,
    per_other_call: Duration,
    after_effect: Option<f64>,
    five_calls: Option<Duration>,
}

impl Prices {
    fn of(rows: &[Figures], measure: impl Fn(&Figures) -> Duration) -> Prices {
        let find = |name: &str| rows.iter().find(|row| row.name == name);
        let hello = find(HELLO).map(&measure).unwrap_or_default();
        let per_call = |baseline: &str| {
            find(baseline)
                .map(|row| {
                    measure(row).saturating_sub(hello) / u32::try_from(median_calls(&row.warm_aws).max(1)).unwrap_or(1)
                })
                .unwrap_or_default()
        };
        let after_effect = match (find(DYNAMO_HASH).map(&measure), find(DYNAMO_GET).map(&measure)) {
            (Some(hashing), Some(plain)) => Some((hashing.as_secs_f64() - plain.as_secs_f64()) * 1e6),
            _ => None,
        };
        Prices {
            hello,
            per_dynamodb_call: per_call(DYNAMO_GET),
            per_other_call: per_call(SNS_PUBLISH),
            after_effect,
            five_calls: find(DYNAMO_HASH_5).map(&measure),
        }
    }

    /// What `row`'s AWS calls cost beyond hello-world, at the baselines' price per call.
    fn sdk(&self, row: &Figures) -> Duration {
        let calls = median_calls(&row.warm_aws);
        let dynamodb_calls = median_count(row.warm_aws.iter().map(|reading| reading.dynamodb_calls));
        self.per_dynamodb_call * u32::try_from(dynamodb_calls).unwrap_or(u32::MAX)
            + self.per_other_call * u32::try_from(calls.saturating_sub(dynamodb_calls)).unwrap_or(u32::MAX)
    }

    /// `value` (the row's measure) over hello-world's and its calls' price, in µs.
    fn beyond_calls(&self, row: &Figures, value: Duration) -> f64 {
        (value.as_secs_f64() - (self.hello + self.sdk(row)).as_secs_f64()) * 1e6
    }

    fn over_sdk(&self, row: &Figures, value: Duration) -> String {
        if row.name.starts_with("baseline-") { "-".into() } else { format!("{:+.0}", self.beyond_calls(row, value)) }
    }

    /// As `over_sdk`, also less one after-effect per hash.
    fn over_after_effect(&self, row: &Figures, value: Duration) -> String {
        match self.after_effect {
            Some(per_hash) if !row.name.starts_with("baseline-") => {
                format!("{:+.0}", self.beyond_calls(row, value) - f64::from(row.hashes) * per_hash)
            }
            _ => "-".into(),
        }
    }

    /// `value` over the hashing baseline of 5 calls, for a route of that shape.
    fn over_five_calls(&self, row: &Figures, value: Duration) -> String {
        match self.five_calls {
            Some(base) if has_five_call_shape(row) => {
                format!("{:+.0}", (value.as_secs_f64() - base.as_secs_f64()) * 1e6)
            }
            _ => "-".into(),
        }
    }
}

/// The split by CPU time: each warm invocation's own time again, less the time the process
/// waited for a CPU, and its CPU time less its hashes' (both per invocation, read from the
/// kernel's schedstat around it), priced as in `print_split`. On a machine whose cores moto, the
/// timer and the harness share, a function's wall time holds waits for a CPU that a Lambda
/// environment (one function, its own share of a core) does not; its CPU time does not.
fn print_cpu_split(rows: &[Figures]) {
    let own_cpu = |row: &Figures| median(&own_cpu_times(row));
    let prices = Prices::of(rows, own_cpu);
    println!(
        "| function | waiting for a CPU p50 µs | own less waiting p50 µs | hash CPU p50 ms | own CPU p50 µs | own CPU \
         over hello µs | over hello and the baselines' CPU per call µs | … and the hashing baseline's after-effect \
         per hash µs | over the hashing baseline of 5 calls µs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let waits: Vec<Duration> = row.warm_sched.iter().map(|sched| sched.run_delay).collect();
        let cpu = own_cpu(row);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            micros(median(&waits)),
            micros(median(&own_times_less_waiting(row))),
            if row.warm_hash_cpu.is_empty() { "-".into() } else { ms(median(&row.warm_hash_cpu)) },
            micros(cpu),
            micros_over(cpu, prices.hello),
            prices.over_sdk(row, cpu),
            prices.over_after_effect(row, cpu),
            prices.over_five_calls(row, cpu),
        );
    }
    println!();
    if let Some(per_hash) = prices.after_effect {
        println!("after-effect of one argon2id hash on CPU time ({DYNAMO_HASH} − {DYNAMO_GET}): {per_hash:+.0} µs");
    }
    for (route, over) in over_exact_shapes(rows, own_cpu) {
        println!("{route}'s own CPU time over its exact-shape baseline's (the same calls and hash): {over:+.0} µs");
    }
}

/// Each measured route of `EXACT_SHAPES` with its `measure` over its baseline's, in µs.
fn over_exact_shapes(rows: &[Figures], measure: impl Fn(&Figures) -> Duration) -> Vec<(&'static str, f64)> {
    let find = |name: &str| rows.iter().find(|row| row.name == name).map(&measure);
    EXACT_SHAPES
        .iter()
        .filter_map(|(route, shape, _)| Some((*route, (find(route)?.as_secs_f64() - find(shape)?.as_secs_f64()) * 1e6)))
        .collect()
}

/// Per warm invocation (the last ones, as logged): the time outside the handler, i.e. the
/// Runtime API round trip, the event's decoding and the answer's encoding.
fn outside_handler(row: &Figures) -> Vec<Duration> {
    let covered = row.warm_handler.len().min(row.warm.len());
    row.warm[row.warm.len() - covered..]
        .iter()
        .zip(&row.warm_handler[row.warm_handler.len() - covered..])
        .map(|(total, handler)| total.saturating_sub(*handler))
        .collect()
}

/// What a warm invocation's time is made of: the AWS calls (waited for through the timer), the
/// argon2id hashes (as the function timed them), and the rest, the function's own time, also shown
/// over hello-world's (the Runtime API round trip every function pays) and over what the baselines
/// spend around each of their AWS calls beyond hello-world (SDK work: serializing, signing,
/// parsing; and the hop through the timer): the GetItem baseline's for each DynamoDB call, the SNS
/// baseline's for each other call (SNS; SES, which only the dispatcher calls, is priced as SNS).
/// The next column also takes off, for each hash, its after-effect on the code that runs after it
/// (caches and TLB evicted by the 19 MiB sweep): the hashing GetItem baseline's own time less the
/// plain one's. The one after compares a route making 5 DynamoDB calls around one hash with the
/// hashing baseline of the same shape (`DYNAMO_HASH_5`): both own times, so the SDK's time per
/// call and the hash's after-effect on those calls are in both. The handler's own time is the
/// same split of the time the function logged for its handler; outside it are the Runtime API
/// round trip and the event's decoding and the answer's encoding.
fn print_split(rows: &[Figures]) {
    let own = |row: &Figures| median(&own_times(row));
    let prices = Prices::of(rows, own);
    let Prices { hello: hello_own, per_dynamodb_call, after_effect, five_calls: five_calls_own, .. } = prices;
    println!(
        "| function | warm p50 ms | AWS calls (DynamoDB) | AWS wait p50 ms | argon2 hashes | hash ms in function | \
         hash ms back-to-back | own p50 µs | own over hello µs | over hello and the baselines' SDK time per \
         call µs | … and the hashing baseline's after-effect per hash µs | over the hashing baseline of 5 calls µs | handler's own p50 µs | \
         outside the handler p50 µs | CPU per call ms | CPU beyond hashing µs | waiting for a CPU per call µs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let waits: Vec<Duration> = row.warm_aws.iter().map(|reading| reading.waited).collect();
        let calls = median_calls(&row.warm_aws);
        let n = u32::try_from(row.warm.len().max(1)).unwrap_or(u32::MAX);
        let cpu = row.warm_cpu / n;
        let mean_hash = if row.warm_hash.is_empty() {
            row.hash_time
        } else {
            row.warm_hash.iter().sum::<Duration>() / u32::try_from(row.warm_hash.len()).unwrap_or(u32::MAX)
        };
        let hashing = mean_hash * row.hashes;
        let dynamodb_calls = median_count(row.warm_aws.iter().map(|reading| reading.dynamodb_calls));
        let logged = !row.warm_handler.is_empty();
        let own_time = own(row);
        println!(
            "| {} | {} | {calls} ({dynamodb_calls}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            ms(median(&row.warm)),
            ms(median(&waits)),
            row.hashes,
            if row.hashes > 0 { ms(hash_in_function(row)) } else { "-".into() },
            if row.hashes > 0 { ms(row.hash_time) } else { "-".into() },
            micros(own_time),
            micros_over(own_time, hello_own),
            prices.over_sdk(row, own_time),
            prices.over_after_effect(row, own_time),
            prices.over_five_calls(row, own_time),
            if logged { micros(median(&own_times_of(row, &row.warm_handler))) } else { "-".into() },
            if logged { micros(median(&outside_handler(row))) } else { "-".into() },
            ms(cpu),
            micros(cpu.saturating_sub(hashing)),
            micros(row.warm_run_delay / n),
        );
    }
    println!();
    match after_effect {
        Some(per_hash) => {
            println!("after-effect of one argon2id hash ({DYNAMO_HASH} own − {DYNAMO_GET} own): {per_hash:+.0} µs")
        }
        None => println!("after-effect of one argon2id hash: - ({DYNAMO_HASH} or {DYNAMO_GET} not measured)"),
    }
    for (route, over) in over_exact_shapes(rows, own) {
        println!("{route}'s own time over its exact-shape baseline's (the same calls and hash): {over:+.0} µs");
    }
    if let Some(five) = five_calls_own {
        let beyond = (five.as_secs_f64() - (hello_own + per_dynamodb_call * 5).as_secs_f64()) * 1e6;
        println!(
            "after-effect of one argon2id hash on 5 GetItems around it ({DYNAMO_HASH_5} own − hello-world's − 5 × \
             {DYNAMO_GET}'s per call): {beyond:+.0} µs"
        );
    }
}

/// What the first invocation of a fresh process costs beyond a warm one: its AWS calls (a new
/// connection), its first hash (the working memory's first use), and the rest.
fn print_cold_split(rows: &[Figures]) {
    println!(
        "| function | cold start ms | init ms | first invocation ms | its AWS wait ms | warm AWS wait ms | \
         first hash ms | warm hash ms | first invocation's own ms | of which in the handler ms | warm own ms | \
         minor faults at first answer |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let first: Vec<Duration> =
            row.cold.iter().zip(&row.init).map(|(cold, init)| cold.saturating_sub(*init)).collect();
        let cold_waits: Vec<Duration> = row.cold_aws.iter().map(|reading| reading.waited).collect();
        let warm_waits: Vec<Duration> = row.warm_aws.iter().map(|reading| reading.waited).collect();
        let warm_hash = hash_in_function(row);
        // The first hash as timed; a second one (change-password, pin-change...) runs warm.
        let first_hashing =
            if row.hashes > 0 { median(&row.cold_hash) + warm_hash * (row.hashes - 1) } else { Duration::ZERO };
        let first_own = median(&first).saturating_sub(median(&cold_waits)).saturating_sub(first_hashing);
        let in_handler = if row.cold_handler.is_empty() {
            "-".to_string()
        } else {
            ms(median(&row.cold_handler).saturating_sub(median(&cold_waits)).saturating_sub(first_hashing))
        };
        let warm_own = median(&own_times(row));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            ms(median(&row.cold)),
            ms(median(&row.init)),
            ms(median(&first)),
            ms(median(&cold_waits)),
            ms(median(&warm_waits)),
            if row.hashes > 0 { ms(median(&row.cold_hash)) } else { "-".into() },
            if row.hashes > 0 { ms(warm_hash) } else { "-".into() },
            ms(first_own),
            in_handler,
            ms(warm_own),
            median_count(row.cold_faults.iter().copied()),
        );
    }
}

/// The baseline a function's cold start is compared with: the one making its very calls where
/// there is one, else the hashing one of its shape, else the GetItem one (hello-world for the
/// storage-free functions).
fn matching_baseline<'a>(row: &Figures, group: &'a [Figures]) -> Option<&'a Figures> {
    let find = |name: &str| group.iter().find(|other| other.name == name);
    if let Some((_, shape, _)) = EXACT_SHAPES.iter().find(|(route, ..)| *route == row.function)
        && let Some(exact) = find(shape)
    {
        return Some(exact);
    }
    if has_five_call_shape(row) {
        return find(DYNAMO_HASH_5);
    }
    if row.hashes > 0 {
        return find(DYNAMO_HASH);
    }
    find(if STORAGE_FREE.contains(&row.function.as_str()) { HELLO } else { DYNAMO_GET })
}

/// Whether `row` measures a function as deployed (not a baseline, nor a variant of a function).
fn is_function(row: &Figures) -> bool {
    !row.name.starts_with("baseline-") && row.name == row.function
}

/// The targets under the chosen memory size's CPU share: each function's cold start against its
/// baseline's under the same share, and its warm p50 against its own at full CPU.
fn targets_table(groups: &[(Option<u32>, Vec<Figures>)], tls: bool, price_of: &power::Prices) -> String {
    use std::fmt::Write as _;
    let all: Vec<&Figures> = groups.iter().flat_map(|(_, rows)| rows).collect();
    let mut out = String::new();
    let over = if tls { "over TLS, " } else { "" };
    let _ = writeln!(
        out,
        "| function | chosen MB | cold p50 ms | its baseline ({over}same share) | baseline cold p50 ms | cold ratio | warm \
         p50 ms | full-CPU warm p50 ms | warm over full CPU |"
    );
    let _ = writeln!(out, "|---|---:|---:|---|---:|---:|---:|---:|---:|");
    let curves = power::curves(&all.iter().map(|row| clone_times(row)).collect::<Vec<_>>());
    for (name, points) in curves.iter().filter(|(name, _)| all.iter().any(|row| &row.name == name && is_function(row)))
    {
        let Some(chosen) = power::choose(points, price_of(name)) else { continue };
        let Some((_, group)) = groups.iter().find(|(memory, _)| *memory == Some(chosen.memory)) else { continue };
        let Some(row) = group.iter().find(|row| &row.name == name) else { continue };
        let baseline = matching_baseline(row, group);
        let full = groups
            .iter()
            .find(|(memory, _)| memory.is_none())
            .and_then(|(_, rows)| rows.iter().find(|row| &row.name == name))
            .map(|row| median(&row.warm));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            chosen.memory,
            ms(median(&row.cold)),
            baseline.map_or("-", |b| b.name.strip_prefix("baseline-").unwrap_or(&b.name)),
            baseline.map_or_else(|| "-".into(), |b| ms(median(&b.cold))),
            baseline
                .map_or_else(|| "-".into(), |b| ratio(median(&row.cold).as_secs_f64(), median(&b.cold).as_secs_f64())),
            ms(median(&row.warm)),
            full.map_or_else(|| "-".into(), ms),
            full.map_or_else(|| "-".into(), |full| ratio(median(&row.warm).as_secs_f64(), full.as_secs_f64())),
        );
    }
    out
}

/// The figures `power` reads of a row (name, memory, cold and warm times), copied.
fn clone_times(row: &Figures) -> Figures {
    Figures {
        name: row.name.clone(),
        function: row.function.clone(),
        memory: row.memory,
        cold: row.cold.clone(),
        warm: row.warm.clone(),
        ..Figures::default()
    }
}

/// Prints `text` and, with `--out`, writes it to `DIR/name`.
fn emit(out: Option<&Path>, name: &str, text: &str) {
    println!("{text}");
    if let Some(dir) = out {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// The memory-curve reports: the curve, the choice and its memory table, the targets, the
/// cost; with `--out`, also the charts.
fn report_curve(groups: &[(Option<u32>, Vec<Figures>)], options: &Options) {
    let out = options.out.as_deref();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let all: Vec<Figures> = groups.iter().flat_map(|(_, rows)| rows.iter().map(clone_times)).collect();
    let prices = cost::PriceFile::read(&options.prices);
    if let Err(error) = &prices {
        eprintln!("no cost table, and the memory sizes are chosen on GB-seconds alone: {error}");
    }
    let counted_of =
        |name: &str| groups.iter().flat_map(|(_, rows)| rows).find(|row| row.name == name && !row.counted.is_empty());
    let price_of = |name: &str| {
        let (Ok(prices), Some(row)) = (&prices, counted_of(name)) else { return power::CallPrice::DURATION_ONLY };
        cost::call_price(prices, name, &row.counted).unwrap_or(power::CallPrice::DURATION_ONLY)
    };
    emit(out, "memory-curve.md", &power::curve_table(&all, cores, &price_of));
    let functions: Vec<Figures> = all.iter().filter(|row| is_function(row)).map(clone_times).collect();
    emit(out, "memory-choice.md", &power::choice_table(&functions, &price_of));
    emit(out, "memory-sizes.csv", &power::memory_csv(&functions, &price_of));
    emit(out, "targets.md", &targets_table(groups, options.tls, &price_of));
    if let Ok(prices) = &prices {
        let curves = power::curves(&functions);
        let usages: Vec<cost::Usage> = curves
            .iter()
            .filter_map(|(name, points)| {
                Some(cost::Usage {
                    function: name,
                    point: power::choose(points, price_of(name))?,
                    counted: &counted_of(name)?.counted,
                })
            })
            .collect();
        emit(out, "cost.md", &cost::table(prices, &usages));
        emit(out, "prices.md", &prices.table());
    }
    if let Some(dir) = out {
        let curves: Vec<charts::Curve> = power::curves(&functions)
            .into_iter()
            .map(|(function, points)| charts::Curve {
                function,
                points: points.iter().map(|p| (p.memory, p.warm_p50.as_secs_f64() * 1000.0)).collect(),
            })
            .collect();
        let hashing = |function: &str| workload::argon2_hashes(function) > 0;
        let title = "Warm p50 by memory size, under the CPU share of each size";
        report_chart(charts::memory_curve(&dir.join("memory-curve.svg"), title, &curves, &hashing));
        let mut bars = Vec::new();
        for (name, points) in power::curves(&functions) {
            let Some(chosen) = power::choose(&points, price_of(&name)) else { continue };
            let Some((_, group)) = groups.iter().find(|(memory, _)| *memory == Some(chosen.memory)) else { continue };
            let Some(row) = group.iter().find(|row| row.name == name) else { continue };
            if let Some(baseline) = matching_baseline(row, group) {
                bars.push(charts::ColdBar {
                    function: format!("{name} ({} MB)", chosen.memory),
                    cold_ms: median(&row.cold).as_secs_f64() * 1000.0,
                    baseline: baseline.name.strip_prefix("baseline-").unwrap_or(&baseline.name).to_string(),
                    baseline_ms: median(&baseline.cold).as_secs_f64() * 1000.0,
                });
            }
        }
        let title = "Cold start at the chosen memory size, beside the matching baseline under the same share";
        report_chart(charts::cold_start(&dir.join("cold-start.svg"), title, &bars));
    }
}

fn report_chart(result: Result<(), String>) {
    if let Err(error) = result {
        eprintln!("chart not written: {error}");
    }
}

/// With `--out` and no curve: the cold-start chart at full CPU.
fn report_full(rows: &[Figures], out: &Path) {
    let bars: Vec<charts::ColdBar> = rows
        .iter()
        .filter(|row| is_function(row))
        .filter_map(|row| {
            let baseline = matching_baseline(row, rows)?;
            Some(charts::ColdBar {
                function: row.name.clone(),
                cold_ms: median(&row.cold).as_secs_f64() * 1000.0,
                baseline: baseline.name.strip_prefix("baseline-").unwrap_or(&baseline.name).to_string(),
                baseline_ms: median(&baseline.cold).as_secs_f64() * 1000.0,
            })
        })
        .collect();
    report_chart(charts::cold_start(
        &out.join("cold-start.svg"),
        "Cold start at full CPU, beside the matching baseline",
        &bars,
    ));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some(quota_check::SPIN) {
        quota_check::spin();
        return;
    }
    let options = options();
    if options.check_quota {
        quota_check::run(options.period_us);
        return;
    }
    let mut names: Vec<String> = vec![HELLO.into(), DYNAMO_GET.into(), DYNAMO_HASH.into(), SNS_PUBLISH.into()];
    names.extend(
        packages("functions")
            .into_iter()
            .filter(|name| options.only.as_ref().is_none_or(|only| only.iter().any(|o| o == name))),
    );
    let shapes: Vec<_> = EXACT_SHAPES.iter().filter(|(route, ..)| names.iter().any(|name| name == route)).collect();
    let mut binaries = names.clone();
    for (_, _, binary) in &shapes {
        if !binaries.iter().any(|name| name == binary) {
            binaries.push((*binary).to_string());
        }
    }
    let quotas: Vec<u32> = options.memory.iter().flatten().copied().collect();
    let shares = if quotas.is_empty() {
        None
    } else {
        Some(CpuShares::create(&quotas, options.period_us).unwrap_or_else(|e| panic!("CPU shares: {e}")))
    };
    let bins = if options.build { build(&binaries) } else { target_dir().join("coldstart-bins") };
    let mut workload = Workload::prepare().await;
    // The functions reach moto through the timer (with --tls, through a TLS endpoint in front
    // of it); the workload's own set-up calls do not.
    let timer = AwsTimer::start(&integration_tests::moto::url()).await;
    let tls = if options.tls { Some(TlsProxy::start(timer.url()).await) } else { None };
    let endpoint = tls.as_ref().map_or_else(|| timer.url().to_string(), |tls| tls.url().to_string());
    for (name, value) in &mut workload.env {
        if name == "AWS_ENDPOINT_URL" {
            value.clone_from(&endpoint);
        }
    }
    if let Some(tls) = &tls {
        workload.env.push(("SSL_CERT_FILE".into(), tls.ca_file().display().to_string()));
    }
    if let Some(dir) = &options.out {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let row = |name: String, function: &str, copy: usize, memory: Option<u32>, binary: PathBuf| {
        let size = std::fs::metadata(&binary)
            .unwrap_or_else(|e| panic!("{}: {e} (run without --no-build)", binary.display()))
            .len();
        Figures { name, function: function.to_string(), copy, memory, binary, size, ..Figures::default() }
    };
    let memories = if options.memory.is_empty() { vec![None] } else { options.memory.clone() };
    let variants = binary_copies(&options) / memories.len();
    let mut groups: Vec<(Option<u32>, Vec<Figures>)> = Vec::new();
    for (index, &memory) in memories.iter().enumerate() {
        let copy = index * variants;
        let mut rows: Vec<Figures> = Vec::new();
        for name in &names {
            rows.push(row(name.clone(), name, copy, memory, bins.join(name)));
            if name == DYNAMO_HASH {
                let mut five_calls = row(DYNAMO_HASH_5.into(), DYNAMO_HASH, copy, memory, bins.join(DYNAMO_HASH));
                five_calls.env.push(("BENCH_GETS_BEFORE_HASH".into(), GETS_BEFORE_HASH_5.into()));
                rows.push(five_calls);
                for (route, shape, binary) in &shapes {
                    let mut exact = row((*shape).into(), binary, copy, memory, bins.join(binary));
                    exact.env.push(("BENCH_SHAPE".into(), (*route).into()));
                    rows.push(exact);
                }
            }
            if name.starts_with("baseline-") {
                continue;
            }
            if let Some(dir) = options.compare.as_ref() {
                rows.push(row(format!("{name}{COMPARED}"), name, copy + 1, memory, dir.join(name)));
            }
        }
        groups.push((memory, rows));
    }
    let run = Run {
        workload: &workload,
        timer: &timer,
        shares: shares.as_ref(),
        init_at_quota: options.init_at_quota,
        split: !options.memory.is_empty(),
    };

    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let binaries: usize = groups.iter().map(|(_, rows)| rows.len()).sum();
    // Cold starts round-robin over every binary and memory size, so any drift of the machine
    // or of moto over the run falls on all alike.
    eprintln!("{} cold starts of {binaries} binaries", options.cold);
    for i in 0..options.cold {
        for (_, rows) in &mut groups {
            for row in rows.iter_mut() {
                cold_start(row, &run, i).await;
            }
        }
    }
    // Warm: one memory size at a time (its processes all up, in rounds), so that no more than
    // one size's processes are alive at once.
    for (memory, rows) in &mut groups {
        let mut processes = Vec::new();
        for row in rows.iter_mut() {
            eprintln!("{} ({} MB): started for {} warm invocations", row.name, power::label(*memory), options.warm);
            processes.push(start_warm(row, &run, options.cold, options.warm).await);
        }
        eprintln!("{} warm invocations per binary, in rounds of {WARM_ROUND}", options.warm);
        for round in (0..options.warm).step_by(WARM_ROUND) {
            for (row, process) in rows.iter_mut().zip(&mut processes) {
                warm_round(row, process, &workload, &timer, WARM_ROUND.min(options.warm - round)).await;
            }
        }
        for (row, process) in rows.iter_mut().zip(processes) {
            finish_warm(row, process).await;
        }
    }
    // What each function's calls would be billed for: the same in every group, so counted once.
    if options.count > 0
        && let Some((_, rows)) = groups.first_mut()
    {
        for row in rows.iter_mut().filter(|row| is_function(row)) {
            eprintln!("{}: {} invocations counted", row.name, options.count);
            count_usage(row, &run, options.cold + options.warm + 1, options.count).await;
        }
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("{} cold starts, {} warm invocations per binary", options.cold, options.warm);
    println!("load average (1, 5, 15 min) before: {}, after: {}", load_before.trim(), load_after.trim());
    if let Some(shares) = &shares {
        let quotas: Vec<String> = quotas
            .iter()
            .filter_map(|&mb| shares.quota(mb).map(|(quota, period)| format!("{mb} MB: {quota}/{period} µs")))
            .collect();
        println!(
            "CPU share: cgroup {:?} CPU quota per period ({}), init {}",
            shares.version(),
            quotas.join(", "),
            if options.init_at_quota { "under the quota" } else { "at full CPU" }
        );
    }
    if tls.is_some() {
        println!("AWS reached over TLS (a TLS endpoint in front of the timer and moto) by every function and baseline");
    }
    println!();
    // The detailed tables of one group: the whole machine's if it was measured, else the first.
    let detailed = groups.iter().find(|(memory, _)| memory.is_none()).or_else(|| groups.first());
    if let Some((memory, rows)) = detailed {
        println!("At {} MB:", power::label(*memory));
        print_table(rows);
        println!();
        print_split(rows);
        println!();
        print_cpu_split(rows);
        println!();
        print_cold_split(rows);
        println!();
        if options.memory.is_empty()
            && let Some(dir) = &options.out
        {
            report_full(rows, dir);
        }
    }
    if !options.memory.is_empty() {
        // Where a first invocation's time goes under each quota.
        for (memory, rows) in groups.iter().filter(|(memory, _)| memory.is_some()) {
            println!("First invocation at {} MB:", power::label(*memory));
            print_cold_split(rows);
            println!();
        }
        report_curve(&groups, &options);
    }
}
