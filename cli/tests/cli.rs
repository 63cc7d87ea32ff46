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
