//! Customer import throughput and peak memory against each store's own bulk-write ceiling,
//! measured in the same run. Run by `bench/import/run.sh` (which builds this and the release
//! `stamps-auth`, and starts moto):
//!
//! 1. generates N customer lines (email, mobile, member ID, name, a Django password hash and a
//!    Django PIN hash each);
//! 2. runs `stamps-auth customer import` (release) into a fresh store and takes its wall time
//!    and peak RSS (`wait4`), then `--dry-run` of the same file against the filled store;
//! 3. the ceiling: the very rows (SQLite) or items (DynamoDB) the import wrote, read back
//!    into memory, then written into a fresh store by the store's plainest bulk write — SQLite:
//!    multi-row `INSERT`s in one transaction; DynamoDB: `BatchWriteItem` of 25 items, as many
//!    requests in flight as the import has transactions.
//!
//! Prints a Markdown table: customers per second, ratio to the ceiling, peak RSS.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{Value, json};

const HASH_KEY: &str = "bench-hash-key-bench-hash-key-bench-hash-key";
const JWT_KEYS: &str = "bench:bench-jwt-secret-bench-jwt-secret-bench-jwt";
/// What the import keeps in flight on DynamoDB (`shared::store::dynamodb`): the ceiling gets
/// as many requests at once.
const DYNAMO_IN_FLIGHT: usize = 8;

struct Args {
    sqlite_lines: usize,
    dynamo_lines: usize,
    only: Option<String>,
    dir: PathBuf,
}

fn args() -> Args {
    let mut args = Args {
        sqlite_lines: 1_000_000,
        dynamo_lines: 50_000,
        only: None,
        dir: std::env::temp_dir().join("stamps-import-bench"),
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        let mut value = || given.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--sqlite-lines" => args.sqlite_lines = value().parse().expect("a number"),
            "--dynamodb-lines" => args.dynamo_lines = value().parse().expect("a number"),
            "--only" => args.only = Some(value()),
            "--dir" => args.dir = PathBuf::from(value()),
            other => {
                panic!("unknown option {other}: --sqlite-lines N, --dynamodb-lines N, --only sqlite|dynamodb, --dir D")
            }
        }
    }
    args
}

/// `target/release/stamps-auth`, beside this binary (bench/ shares the product's target/).
fn stamps_auth() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let release = exe.parent().expect("target/release");
    let binary = release.join("stamps-auth");
    assert!(binary.exists(), "{} is missing: cargo build --release -p stamps-auth", binary.display());
    binary
}

/// `lines` customers: every line valid and distinct, hashes in two Django formats.
fn generate(path: &Path, lines: usize) {
    let file = std::fs::File::create(path).expect("create the input file");
    let mut out = std::io::BufWriter::new(file);
    // Made by Django 5.2 (tests/fixtures/django/hashes.json); an import checks their format,
    // not the password.
    let password = "pbkdf2_sha256$1000000$isTrgpDxiHPsbkfy4cgxaJ$GFTARDJFci/wnHgxT1nWQlRxzgAq4usYuowGY3waHS0=";
    let pin = "bcrypt_sha256$$2b$12$vwFo1yTHN7.eNkK9wtWsk.1Ww5eSceaiSEfOY4pKt9hYWWuvE06O2";
    for i in 1..=lines {
        let line = json!({
            "id": i,
            "email": format!("customer{i}@example.com"),
            "mobile": format!("+62812{:08}", i),
            "member_id": format!("M{i:09}"),
            "name": format!("Customer {i}"),
            "password": password,
            "pin": pin,
        });
        writeln!(out, "{line}").expect("write");
    }
    out.flush().expect("write");
}

struct Run {
    seconds: f64,
    peak_rss_kib: i64,
    summary: Value,
}

/// Runs `stamps-auth` to the end, with its wall time and peak RSS.
// The child is reaped by `wait4`, which also gives its resource usage; `Child::wait` cannot.
#[allow(clippy::zombie_processes)]
fn run_measured(store: &str, env: &[(String, String)], args: &[&str]) -> Run {
    let started = Instant::now();
    let child = Command::new(stamps_auth())
        .arg("--store")
        .arg(store)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start stamps-auth");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).expect("read stdout");
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for the child spawned above, which nothing else waits for.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(waited, pid, "wait4");
    let text = reader.join().expect("stdout reader");
    let summary = text.lines().last().and_then(|line| serde_json::from_str(line).ok()).unwrap_or(Value::Null);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{args:?} failed: {text}");
    Run { seconds, peak_rss_kib: usage.ru_maxrss, summary }
}

fn run(store: &str, env: &[(String, String)], args: &[&str]) -> Value {
    let output = Command::new(stamps_auth())
        .arg("--store")
        .arg(store)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .output()
        .expect("stamps-auth");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

struct Row {
    store: &'static str,
    lines: usize,
    import: Run,
    dry_run: Run,
    ceiling_seconds: f64,
}

fn base_env() -> Vec<(String, String)> {
    vec![("STAMPS_HASH_KEY".into(), HASH_KEY.into()), ("STAMPS_JWT_KEYS".into(), JWT_KEYS.into())]
}

fn import_runs(store: &str, env: &[(String, String)], input: &Path, lines: usize) -> (Run, Run) {
    run(store, env, &["init"]);
    let merchant = run(store, env, &["merchant", "create", "--name", "Bench"]);
    let merchant = merchant["merchant_id"].to_string();
    let input = input.to_str().expect("path");
    let import = run_measured(store, env, &["customer", "import", "--merchant", &merchant, input]);
    assert_eq!(import.summary["imported"], json!(lines), "{}", import.summary);
    let dry_run = run_measured(store, env, &["customer", "import", "--dry-run", "--merchant", &merchant, input]);
    assert_eq!(dry_run.summary["skipped"], json!(lines), "{}", dry_run.summary);
    (import, dry_run)
}

fn sqlite(args: &Args, input: &Path) -> Row {
    let db = args.dir.join("import.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = format!("sqlite:{}", db.display());
    let (import, dry_run) = import_runs(&store, &base_env(), input, args.sqlite_lines);

    // The ceiling: the same rows, read back, into a fresh database of the same schema.
    let source = rusqlite::Connection::open(&db).expect("open");
    // Every column of the table, however many the schema has: (rows, column count).
    let read = |sql: &str| -> (Vec<Vec<rusqlite::types::Value>>, usize) {
        let mut statement = source.prepare(sql).expect("prepare");
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |row| (0..columns).map(|i| row.get(i)).collect::<rusqlite::Result<Vec<_>>>())
            .expect("query");
        (rows.collect::<rusqlite::Result<Vec<_>>>().expect("rows"), columns)
    };
    let (customers, customer_columns) = read("SELECT * FROM customers");
    let (pins, pin_columns) = read("SELECT * FROM pins");
    assert_eq!(customers.len(), args.sqlite_lines);
    let fresh = args.dir.join("ceiling.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    run(&format!("sqlite:{}", fresh.display()), &base_env(), &["init"]);
    let mut target = rusqlite::Connection::open(&fresh).expect("open");
    // The store's own settings (shared/src/store/sqlite.rs).
    target.pragma_update(None, "journal_mode", "WAL").expect("pragma");
    target.pragma_update(None, "synchronous", "NORMAL").expect("pragma");
    let started = Instant::now();
    let tx = target.transaction().expect("begin");
    for (table, rows, columns) in [("customers", &customers, customer_columns), ("pins", &pins, pin_columns)] {
        const ROWS_PER_INSERT: usize = 500;
        let placeholders = |n: usize| {
            let row = format!("({})", vec!["?"; columns].join(","));
            vec![row; n].join(",")
        };
        let mut full =
            tx.prepare(&format!("INSERT INTO {table} VALUES {}", placeholders(ROWS_PER_INSERT))).expect("prepare");
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let values = chunk.iter().flatten();
            if chunk.len() == ROWS_PER_INSERT {
                full.execute(rusqlite::params_from_iter(values)).expect("insert");
            } else {
                tx.execute(
                    &format!("INSERT INTO {table} VALUES {}", placeholders(chunk.len())),
                    rusqlite::params_from_iter(values),
                )
                .expect("insert");
            }
        }
    }
    tx.commit().expect("commit");
    let ceiling_seconds = started.elapsed().as_secs_f64();
    Row { store: "SQLite", lines: args.sqlite_lines, import, dry_run, ceiling_seconds }
}

async fn dynamodb(args: &Args, input: &Path) -> Row {
    let moto = std::env::var("STAMPS_TEST_MOTO_URL").expect("STAMPS_TEST_MOTO_URL: run bench/import/run.sh");
    let mut env = base_env();
    env.extend([
        ("AWS_ENDPOINT_URL".to_string(), moto.clone()),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
        // moto answers one request at a time: with the import's transactions in flight, a call
        // waits behind the others far longer than the 3 s a function allows one.
        ("STAMPS_AWS_TIMEOUT_MS".to_string(), "60000".to_string()),
    ]);
    let run_id = std::process::id();
    let table = format!("import-bench-{run_id}");
    let (import, dry_run) = import_runs(&format!("dynamodb:{table}"), &env, input, args.dynamo_lines);

    for (name, value) in &env {
        // SAFETY: set before any client reads the environment; this thread is the only one
        // touching it.
        unsafe { std::env::set_var(name, value) };
    }
    let sdk = shared::aws::default_chain_sdk_config(Duration::from_secs(30)).await.expect("SDK configuration");
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    // The items the import wrote: customers, their claims and PINs.
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client.scan().table_name(&table).set_exclusive_start_key(start.take()).send().await.expect("scan");
        for item in page.items.unwrap_or_default() {
            let pk = match item.get("pk") {
                Some(AttributeValue::S(pk)) => pk.clone(),
                _ => continue,
            };
            if pk.starts_with("CUSTOMER#") || pk.starts_with("UNIQUE#") {
                items.push(item);
            }
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    let fresh = format!("import-bench-ceiling-{run_id}");
    run(&format!("dynamodb:{fresh}"), &env, &["init"]);
    let started = Instant::now();
    let batches: Vec<Vec<WriteRequest>> = items
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build().expect("put");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect()
        })
        .collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(batches));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..DYNAMO_IN_FLIGHT {
        let (client, queue, fresh) = (client.clone(), queue.clone(), fresh.clone());
        writers.spawn(async move {
            loop {
                let Some(mut batch) = queue.lock().expect("queue").pop() else { return };
                while !batch.is_empty() {
                    let output = client
                        .batch_write_item()
                        .request_items(&fresh, std::mem::take(&mut batch))
                        .send()
                        .await
                        .expect("batch write");
                    batch = output.unprocessed_items.and_then(|mut u| u.remove(&fresh)).unwrap_or_default();
                }
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
    let ceiling_seconds = started.elapsed().as_secs_f64();
    for table in [table, fresh] {
        let _ = client.delete_table().table_name(table).send().await;
    }
    Row { store: "DynamoDB (moto)", lines: args.dynamo_lines, import, dry_run, ceiling_seconds }
}

#[tokio::main]
async fn main() {
    let args = args();
    std::fs::create_dir_all(&args.dir).expect("bench dir");
    println!(
        "| store | lines | import: customers/s | ceiling: customers/s | import / ceiling | import peak RSS | dry run: lines/s | dry run peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let wanted = |store: &str| args.only.as_deref().is_none_or(|only| only == store);
    if wanted("sqlite") {
        let input = args.dir.join(format!("customers-{}.jsonl", args.sqlite_lines));
        eprintln!("== generating {} lines", args.sqlite_lines);
        generate(&input, args.sqlite_lines);
        eprintln!("== SQLite");
        print_row(&sqlite(&args, &input));
        let _ = std::fs::remove_file(&input);
    }
    if wanted("dynamodb") {
        let input = args.dir.join(format!("customers-{}.jsonl", args.dynamo_lines));
        eprintln!("== generating {} lines", args.dynamo_lines);
        generate(&input, args.dynamo_lines);
        eprintln!("== DynamoDB (moto)");
        print_row(&dynamodb(&args, &input).await);
        let _ = std::fs::remove_file(&input);
    }
}

/// One row of the table, printed as soon as its store is measured.
fn print_row(row: &Row) {
    let per_second = |seconds: f64| row.lines as f64 / seconds;
    println!(
        "| {} | {} | {:.0} ({:.1} s) | {:.0} ({:.1} s) | {:.2} | {:.1} MiB | {:.0} ({:.1} s) | {:.1} MiB |",
        row.store,
        row.lines,
        per_second(row.import.seconds),
        row.import.seconds,
        per_second(row.ceiling_seconds),
        row.ceiling_seconds,
        row.ceiling_seconds / row.import.seconds,
        row.import.peak_rss_kib as f64 / 1024.0,
        per_second(row.dry_run.seconds),
        row.dry_run.seconds,
        row.dry_run.peak_rss_kib as f64 / 1024.0,
    );
}
