//! Cold start, warm latency, peak memory and size of every function binary, each beside the
//! baseline it should be compared with (`baseline-hello` for storage-free functions,
//! `baseline-dynamo-get` for the rest), all measured in the same run against the same moto.
//!
//! Run through `bench/coldstart.sh`, which builds the release binaries and starts moto.
//! Options: `--cold N` (cold starts per function, default 10), `--warm N` (warm invocations,
//! default 1000), `--only a,b` (these functions and the baselines).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::app::{HASH_KEY, JWT_KID, JWT_SECRET, test_config};
use integration_tests::moto::{self, DeliveryRig};
use integration_tests::runtime_api::{RuntimeApi, http_answer};
use serde_json::{Value, json};
use shared::App;
use shared::admin::{self, CustomerInput, TemplateInput};
use shared::http::{ApiRequest, ROUTES, routes};

const HELLO: &str = "baseline-hello";
const DYNAMO_GET: &str = "baseline-dynamo-get";
const STORAGE_FREE: [&str; 2] = ["token-verify", "validate-mobile-number"];
const HANG_GUARD: Duration = Duration::from_secs(60);

struct Options {
    cold: usize,
    warm: usize,
    only: Option<Vec<String>>,
}

fn options() -> Options {
    let mut options = Options { cold: 10, warm: 1000, only: None };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--cold" => options.cold = value.parse().unwrap_or(options.cold),
            "--warm" => options.warm = value.parse().unwrap_or(options.warm),
            "--only" => options.only = Some(value.split(',').map(str::to_string).collect()),
            other => eprintln!("ignoring {other}"),
        }
    }
    options
}

struct Figures {
    name: String,
    size: u64,
    cold: Duration,
    warm_median: Duration,
    warm_p99: Duration,
    rss_kib: u64,
    statuses: String,
}

fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

async fn measure(name: &str, event: &Value, env: &[(String, String)], options: &Options) -> Figures {
    let binary = release_dir().join(name);
    let size =
        std::fs::metadata(&binary).map(|m| m.len()).unwrap_or_else(|_| panic!("{} is not built", binary.display()));
    let mut colds = Vec::with_capacity(options.cold);
    for _ in 0..options.cold {
        let mut api = RuntimeApi::start().await.expect("runtime API");
        api.spawn(&binary, env).expect("spawn");
        api.invoke(event.clone(), HANG_GUARD).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        colds.push(api.time_to_first_answer().expect("answered"));
        api.kill();
    }
    colds.sort();

    let mut api = RuntimeApi::start().await.expect("runtime API");
    api.spawn(&binary, env).expect("spawn");
    api.invoke(event.clone(), HANG_GUARD).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut warms = Vec::with_capacity(options.warm);
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..options.warm {
        let started = Instant::now();
        let outcome = api.invoke(event.clone(), HANG_GUARD).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        warms.push(started.elapsed());
        let status = http_answer(&outcome.response()).0;
        *statuses.entry(status).or_insert(0u32) += 1;
    }
    let rss_kib = api.peak_rss_kib().unwrap_or_default();
    api.kill();
    warms.sort();
    let statuses = statuses.iter().map(|(status, n)| format!("{status}x{n}")).collect::<Vec<_>>().join(" ");
    Figures {
        name: name.to_string(),
        size,
        cold: percentile(&colds, 0.5),
        warm_median: percentile(&warms, 0.5),
        warm_p99: percentile(&warms, 0.99),
        rss_kib,
        statuses,
    }
}

/// The sample event of `function`, with the benchmark merchant's API key.
fn event(function: &str, api_key: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../events/{function}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut event: Value = serde_json::from_str(&text).expect("event JSON");
    if event["headers"].get("authorization").is_some() {
        event["headers"]["authorization"] = json!(format!("Token {api_key}"));
    }
    if function == "token" {
        event["body"] = json!(json!({"token": api_key, "merchant": 1}).to_string());
    }
    event
}

/// A table with what the sample events name: merchant 1, Ann with her password and PIN, the
/// `reset` template; plus the topic and SES sender the delivering functions need.
async fn world() -> (String, Vec<(String, String)>) {
    let rig = DeliveryRig::new().await;
    let (store, _) = moto::dynamo_store_counted().await;
    let table = store.table().to_string();
    let store: Arc<dyn shared::store::Store> = store;
    let store_url = format!("dynamodb:{table}");
    let app = App::from_config(test_config(&[("STAMPS_STORE", &store_url)]), Some(store)).expect("app");
    let (merchant, api_key) = admin::create_merchant(&app, "Bench").await.expect("merchant");
    assert_eq!(merchant.id, 1, "the sample events name merchant 1");
    let customer = CustomerInput {
        merchant: 1,
        email: Some("ann@example.com".into()),
        mobile: Some("081234567890".into()),
        name: Some("Ann".into()),
        password: Some("violet-otter-kettle".into()),
        ..Default::default()
    };
    admin::create_customer(&app, customer).await.expect("customer");
    let template = TemplateInput {
        merchant: 1,
        code: "reset".into(),
        subject: Some("Your code".into()),
        text: Some("{{ otp }}".into()),
        sms: Some("{{ otp }}".into()),
        ..Default::default()
    };
    admin::put_template(&app, template).await.expect("template");
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Token {api_key}").parse().expect("header"));
    headers.insert("content-type", "application/json".parse().expect("header"));
    let body = json!({"user": "ann@example.com", "pin": "135790", "confirm_pin": "135790"}).to_string();
    let request = ApiRequest { method: http::Method::POST, headers, body: bytes::Bytes::from(body) };
    let answer = shared::http::respond(&app, &routes::PIN_SET, request).await;
    assert_eq!(answer.status(), 200, "{}", answer.body());

    let env = [
        ("STAMPS_STORE", store_url),
        ("STAMPS_JWT_KEYS", format!("{JWT_KID}:{JWT_SECRET}")),
        ("STAMPS_HASH_KEY", HASH_KEY.to_string()),
        ("STAMPS_OTP_TOPIC_ARN", rig.topic_arn.clone()),
        ("STAMPS_EMAIL_FROM", rig.sender.clone()),
        ("STAMPS_V2_MERCHANT", "1".to_string()),
        ("BENCH_TABLE", table),
        ("AWS_ENDPOINT_URL", moto::url()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_LC_SYS_NO_JITTER_ENTROPY", "1".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    (api_key, env)
}

fn ratio(value: f64, base: f64) -> String {
    if base > 0.0 { format!("{:.2}x", value / base) } else { "-".into() }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    let (api_key, env) = world().await;
    let hello_event = event("token-verify", &api_key);
    let dynamo_event = event("pin-validate", &api_key);
    eprintln!("measuring baselines ({} cold starts, {} warm invocations each)", options.cold, options.warm);
    let hello = measure(HELLO, &hello_event, &env, &options).await;
    let dynamo = measure(DYNAMO_GET, &dynamo_event, &env, &options).await;
    let mut rows = Vec::new();
    let mut functions: Vec<&str> = ROUTES.iter().map(|route| route.function).collect();
    functions.push("otp-dispatch");
    for function in functions {
        if options.only.as_ref().is_some_and(|only| !only.iter().any(|f| f == function)) {
            continue;
        }
        eprintln!("measuring {function}");
        let event = event(function, &api_key);
        rows.push(measure(function, &event, &env, &options).await);
    }

    println!(
        "| function | size KiB | size vs base | cold start ms | cold vs base | warm median µs | warm p99 µs | peak RSS MiB | answers |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let print = |row: &Figures, base: Option<&Figures>| {
        let (size_ratio, cold_ratio) = match base {
            Some(base) => {
                (ratio(row.size as f64, base.size as f64), ratio(row.cold.as_secs_f64(), base.cold.as_secs_f64()))
            }
            None => ("base".into(), "base".into()),
        };
        println!(
            "| {} | {} | {} | {:.1} | {} | {} | {} | {:.1} | {} |",
            row.name,
            row.size / 1024,
            size_ratio,
            row.cold.as_secs_f64() * 1000.0,
            cold_ratio,
            row.warm_median.as_micros(),
            row.warm_p99.as_micros(),
            row.rss_kib as f64 / 1024.0,
            row.statuses
        );
    };
    print(&hello, None);
    print(&dynamo, None);
    for row in &rows {
        let base = if STORAGE_FREE.contains(&row.name.as_str()) { &hello } else { &dynamo };
        print(row, Some(base));
    }
}
