//! The `stamps-auth` binary itself: commands, exit codes, and the local server's start-up,
//! key persistence and clean shutdown. Runs on SQLite and on DynamoDB (moto).

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_stamps-auth");

/// Where a test's commands keep their data, and the environment they run with.
struct Env {
    store: String,
    vars: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
}

async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("cli.db").display());
    Env { store, vars: Vec::new(), dir }
}

/// A fresh table on moto, reached through the standard AWS environment variables.
async fn dynamodb_env() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let vars = vec![
        ("AWS_ENDPOINT_URL", integration_tests::moto::url()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
    ];
    Env { store: format!("dynamodb:{}", integration_tests::moto::unique_name("cli")), vars, dir }
}

impl Env {
    fn command(&self) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--store")
            .arg(&self.store)
            .env_remove("STAMPS_JWT_KEYS")
            .env_remove("STAMPS_HASH_KEY")
            .env_remove("STAMPS_STORE")
            .envs(self.vars.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }
}

fn run(env: &Env, args: &[&str]) -> Output {
    env.command().args(args).env("RUST_LOG", "warn").output().expect("stamps-auth runs")
}

fn json_out(output: &Output) -> Value {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON object on stdout")
}

macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::sqlite_env().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn dynamodb() {
                    super::$name(super::dynamodb_env().await).await
                }
            }
        )*
    };
}

both_stores!(
    init_is_idempotent,
    merchant_create_prints_id_and_key,
    duplicate_customer_exits_non_zero_and_creates_nothing,
    merchants_import_and_rotate_their_keys,
    customers_import_with_a_dry_run_first_and_export_back_unchanged,
    customer_status_events_and_update,
);

async fn customer_status_events_and_update(env: Env) {
    json_out(&run(&env, &["merchant", "create", "--name", "Kopi"]));
    json_out(&run(&env, &["merchant", "create", "--name", "Roti"]));
    let ann =
        json_out(&run(&env, &["customer", "create", "--merchant", "1", "--email", "ann@example.com", "--name", "Ann"]));
    let bob = json_out(&run(&env, &["customer", "create", "--merchant", "1", "--email", "bob@example.com"]));
    let status = json_out(&run(&env, &["customer", "status", "--merchant", "1", "--user", "ann@example.com"]));
    assert_eq!(status["user"], ann["id"]);
    assert_eq!(status["pin"]["set"], false);
    assert_eq!(status["password"]["set"], false);
    assert_eq!(status["otp"]["left"], 5);
    let events =
        json_out(&run(&env, &["customer", "events", "--merchant", "1", "--user", "ann@example.com", "--limit", "5"]));
    assert_eq!(events, json!({"user": ann["id"], "events": [], "next": null}));
    // Another merchant's customer is not found, and says so on one line.
    for command in ["status", "events"] {
        let output = run(&env, &["customer", command, "--merchant", "2", "--user", "ann@example.com"]);
        assert!(!output.status.success(), "{command}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("User not found"), "{command}");
    }
    let bad = run(&env, &["customer", "events", "--merchant", "1", "--user", "ann@example.com", "--limit", "0"]);
    assert!(!bad.status.success());
    // Update: a new email moves the claim; a taken one is refused and changes nothing.
    let updated = json_out(&run(
        &env,
        &[
            "customer",
            "update",
            "--merchant",
            "1",
            "--user",
            "ann@example.com",
            "--email",
            "Ann.New@Example.com",
            "--mobile",
            "081234567890",
        ],
    ));
    assert_eq!(
        (updated["email"].clone(), updated["mobile"].clone()),
        (json!("ann.new@example.com"), json!("+6281234567890"))
    );
    let taken = run(
        &env,
        &["customer", "update", "--merchant", "1", "--user", "ann.new@example.com", "--email", "bob@example.com"],
    );
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("email"));
    let status = json_out(&run(&env, &["customer", "status", "--merchant", "1", "--user", "ann.new@example.com"]));
    assert_eq!(status["user"], ann["id"]);
    let found = run(&env, &["customer", "status", "--merchant", "1", "--user", "ann@example.com"]);
    assert!(!found.status.success(), "the old email names nobody now");
    let removed = json_out(&run(
        &env,
        &["customer", "update", "--merchant", "1", "--user", &bob["id"].to_string(), "--mobile", ""],
    ));
    assert_eq!(removed["mobile"], Value::Null);
}

async fn init_is_idempotent(env: Env) {
    assert_eq!(json_out(&run(&env, &["init"]))["status"], "ok");
    assert_eq!(json_out(&run(&env, &["init"]))["status"], "ok");
}

async fn merchant_create_prints_id_and_key(env: Env) {
    let first = json_out(&run(&env, &["merchant", "create", "--name", "Kopi"]));
    let second = json_out(&run(&env, &["merchant", "create", "--name", "Roti"]));
    assert_eq!(first["merchant_id"], 1);
    assert_eq!(second["merchant_id"], 2);
    let key = first["api_key"].as_str().expect("api_key");
    assert!(key.starts_with("1."), "{key}");
    let blank = run(&env, &["merchant", "create", "--name", "  "]);
    assert!(!blank.status.success());
}

async fn duplicate_customer_exits_non_zero_and_creates_nothing(env: Env) {
    json_out(&run(&env, &["merchant", "create", "--name", "Kopi"]));
    let ann = json_out(&run(
        &env,
        &[
            "customer",
            "create",
            "--merchant",
            "1",
            "--email",
            "Ann@Example.com",
            "--mobile",
            "081234567890",
            "--member-id",
            "M1",
            "--name",
            "Ann",
            "--password",
            "correct horse battery",
        ],
    ));
    assert!(ann["id"].as_u64().is_some_and(|id| id > 0));
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["mobile"], "+6281234567890");
    let duplicates = [
        (vec!["--email", "ann@EXAMPLE.com", "--mobile", "081299999999"], "email"),
        (vec!["--mobile", "+6281234567890", "--member-id", "M2"], "mobile"),
        (vec!["--member-id", "M1", "--email", "bob@example.com"], "member_id"),
    ];
    for (args, field) in duplicates {
        let mut full = vec!["customer", "create", "--merchant", "1"];
        full.extend(args);
        let output = run(&env, &full);
        assert!(!output.status.success(), "duplicate {field} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one-line reason: {stderr}");
        assert!(lines[0].contains(field), "{stderr}");
    }
    // The refused creations claimed nothing: their other values are still free.
    let bob = json_out(&run(
        &env,
        &[
            "customer",
            "create",
            "--merchant",
            "1",
            "--email",
            "bob@example.com",
            "--mobile",
            "081299999999",
            "--member-id",
            "M2",
        ],
    ));
    assert_ne!(bob["id"], ann["id"]);
    let unknown = run(&env, &["customer", "create", "--merchant", "99", "--email", "x@example.com"]);
    assert!(!unknown.status.success());
    let bad_mobile = run(&env, &["customer", "create", "--merchant", "1", "--mobile", "12"]);
    assert!(!bad_mobile.status.success());
}

/// A running `stamps-auth serve`, killed on drop if a test fails before stopping it.
struct Server {
    child: std::process::Child,
    url: String,
    log: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// Starts the server and waits for its "listening" log line.
fn serve(env: &Env) -> Server {
    let addr = format!("127.0.0.1:{}", free_port());
    let outbox = env.dir.path().join("outbox");
    let mut child = env
        .command()
        .args(["serve", "--addr", &addr, "--outbox"])
        .arg(&outbox)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for line in lines.by_ref() {
        let line = line.expect("log line");
        let listening = line.contains("\"listening\"");
        log.push(line);
        if listening || Instant::now() > deadline {
            break;
        }
    }
    // Keep draining so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, url: format!("http://{addr}"), log }
}

fn sigterm(server: &mut Server) -> std::process::ExitStatus {
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_server_generates_a_key_once_keeps_it_across_restarts_and_stops_on_sigterm() {
    let env = sqlite_env().await;
    let http = reqwest::Client::new();

    let mut server = serve(&env);
    let log = server.log.join("\n");
    assert!(log.contains("generated"), "says once that it generated keys: {log}");
    for line in &server.log {
        let _: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("JSON log line: {line}"));
    }
    // A command beside the running server uses the same stored keys.
    let created = run(&env, &["merchant", "create", "--name", "Kopi"]);
    assert!(!String::from_utf8_lossy(&created.stderr).contains("generated"), "the stored key is reused");
    let merchant = json_out(&created);
    let body = json!({"token": merchant["api_key"], "merchant": merchant["merchant_id"]});
    let response = http.post(format!("{}/api/token/", server.url)).json(&body).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let token = response.json::<Value>().await.expect("json")["access_token"].clone();
    assert!(sigterm(&mut server).success(), "clean exit on SIGTERM");

    let restarted = serve(&env);
    assert!(!restarted.log.join("\n").contains("generated"), "the stored key is reused");
    let verified = http
        .post(format!("{}/api/token/verify/", restarted.url))
        .json(&json!({"access_token": token}))
        .send()
        .await
        .expect("sent");
    assert_eq!(verified.status(), 200, "a token survives a restart");
}

/// Writes `lines` to a file of the test's folder.
fn file(env: &Env, name: &str, lines: &[Value]) -> String {
    let path = env.dir.path().join(name);
    let text: Vec<String> =
        lines.iter().map(|line| line.as_str().map_or_else(|| line.to_string(), str::to_string)).collect();
    std::fs::write(&path, text.join("\n")).expect("write");
    path.display().to_string()
}

/// The JSON lines of a command's stdout.
fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect()
}

async fn merchants_import_and_rotate_their_keys(env: Env) {
    let merchants = file(
        &env,
        "merchants.jsonl",
        &[
            json!({"merchant_id": 5, "name": "Kopi", "api_key": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}),
            json!({"merchant_id": 6, "name": "Roti", "api_key": "short"}),
        ],
    );
    let output = run(&env, &["merchant", "import", &merchants]);
    assert!(!output.status.success(), "a rejected line exits non-zero");
    let lines = json_lines(&output);
    assert_eq!(lines[0]["line"], 2, "{lines:?}");
    assert!(lines[0]["reason"].as_str().is_some_and(|r| r.contains("api_key")), "{lines:?}");
    assert_eq!(lines[1], json!({"imported": 1, "skipped": 0, "rejected": 1, "dry_run": false}));
    let again = json_lines(&run(&env, &["merchant", "import", &merchants]));
    assert_eq!(again.last().map(|s| s["skipped"].clone()), Some(json!(1)));
    // New merchants come after the imported ID.
    assert_eq!(json_out(&run(&env, &["merchant", "create", "--name", "Teh"]))["merchant_id"], 6);

    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let rotated = json_out(&run(&env, &["merchant", "rotate-key", "--merchant", "5", "--grace", "24h"]));
    assert_eq!((rotated["merchant_id"].clone(), rotated["old_keys"].clone()), (json!(5), json!(1)));
    assert!(rotated["api_key"].as_str().is_some_and(|key| key.starts_with("5.")), "{rotated}");
    let ends = rotated["old_keys_expire_at"].as_i64().expect("old_keys_expire_at");
    assert!((before + 86_400..before + 86_400 + 60).contains(&ends), "{rotated}");
    let at_once = json_out(&run(&env, &["merchant", "rotate-key", "--merchant", "5"]));
    assert_eq!(at_once["old_keys"], 2, "the imported key (in its grace period) and the first new one");
    for (args, says) in [
        (vec!["merchant", "rotate-key", "--merchant", "5", "--grace", "soon"], "not a duration"),
        (vec!["merchant", "rotate-key", "--merchant", "5", "--grace", "3w"], "not a duration"),
        (vec!["merchant", "rotate-key", "--merchant", "99"], "merchant 99 does not exist"),
    ] {
        let output = run(&env, &args);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(says),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

async fn customers_import_with_a_dry_run_first_and_export_back_unchanged(env: Env) {
    json_out(&run(&env, &["merchant", "create", "--name", "Kopi"]));
    let customers = file(
        &env,
        "customers.jsonl",
        &[
            json!({"id": 10, "email": "ann@example.com", "mobile": "081234567890", "name": "Ann",
                   "password": "md5$0PxfM7FS0dOxtjvhrA2e1n$29d1d27cfd6ece0c2323698fc46dd7e2"}),
            Value::String("{broken".into()),
            json!({"id": 11, "email": "bob@example.com", "pin": "sha1$gJTTXeDkmpCB1cg6rxVTo1$2e95a149e5f5577dd7f70252af6c4495d4fbc1f3"}),
        ],
    );
    let dry = run(&env, &["customer", "import", "--merchant", "1", "--dry-run", &customers]);
    assert!(!dry.status.success());
    let lines = json_lines(&dry);
    assert_eq!((lines[0]["line"].clone(), lines[0]["status"].clone()), (json!(2), json!("rejected")), "{lines:?}");
    assert_eq!(lines[1], json!({"imported": 2, "skipped": 0, "rejected": 1, "dry_run": true}));
    let nothing = run(&env, &["customer", "export", "--merchant", "1"]);
    assert!(nothing.status.success());
    assert!(nothing.stdout.is_empty(), "the dry run wrote nothing");

    let imported = json_lines(&run(&env, &["customer", "import", "--merchant", "1", &customers]));
    assert_eq!(imported.last(), Some(&json!({"imported": 2, "skipped": 0, "rejected": 1, "dry_run": false})));
    let exported = run(&env, &["customer", "export", "--merchant", "1"]);
    assert!(exported.status.success());
    assert!(String::from_utf8_lossy(&exported.stderr).contains("\"exported\":2"));
    let to_file = env.dir.path().join("export.jsonl");
    let output = run(&env, &["customer", "export", "--merchant", "1", "-o", to_file.to_str().expect("path")]);
    assert!(output.status.success());
    let text = std::fs::read_to_string(&to_file).expect("export file");
    assert_eq!(text.as_bytes(), exported.stdout.as_slice());
    let sorted = |text: &str| {
        let mut lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
        lines.sort_by_key(|line| line["id"].as_u64());
        lines
    };
    let lines = sorted(&text);
    assert_eq!(lines[0]["mobile"], "+6281234567890");
    assert!(lines[1]["pin"].as_str().is_some_and(|pin| pin.starts_with("sha1$")));

    // Into another store: the same lines come back out.
    let other = Env {
        store: format!("sqlite:{}", env.dir.path().join("other.db").display()),
        vars: Vec::new(),
        dir: tempfile::tempdir().expect("dir"),
    };
    json_out(&run(&other, &["merchant", "create", "--name", "Kopi"]));
    let round = json_lines(&run(&other, &["customer", "import", "--merchant", "1", to_file.to_str().expect("path")]));
    assert_eq!(round.last(), Some(&json!({"imported": 2, "skipped": 0, "rejected": 0, "dry_run": false})));
    let back = run(&other, &["customer", "export", "--merchant", "1"]);
    assert_eq!(sorted(&String::from_utf8_lossy(&back.stdout)), lines);
    let unknown = run(&env, &["customer", "export", "--merchant", "99"]);
    assert!(!unknown.status.success());
}
