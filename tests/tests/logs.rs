//! Logs never hold a secret (docs/api.md section 8, issue 9). Every route is driven through
//! success and failure on DynamoDB (moto), with OTP delivery to the outbox and Facebook sign-in
//! against the stand-in Graph API (accepted and refused tokens), while every log line of the
//! process — ours and the libraries', at `debug` — is
//! captured. Then no PIN, password, OTP, API key, v2 key, reset token, JWT or configured secret
//! may appear in it. Its own test binary, so the capture holds only this run.

use std::io::Write;
use std::sync::{Arc, Mutex};

use integration_tests::app::{Backend, HASH_KEY, JWT_SECRET, JWT_SECRET_OLD, TestApp, TestMerchant, spawn_app_with};
use integration_tests::graph;
use serde_json::{Value, json};
use shared::admin::CustomerInput;

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())).into_owned()
    }
}

/// The secrets the run has seen, to look for in the log.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 6, "{what} is too short to search for: {value:?}");
        self.0.push((what.to_string(), value));
    }
}

/// Whether `secret` appears in `log`. A numeric secret (a PIN, an OTP) counts only as a number
/// of its own, not as digits inside a longer one: the SDK's debug spans carry a random 7-digit
/// `sdk_invocation_id` (about 2,000 of the run's lines hold one), and a random 6-digit OTP now
/// and then sits inside one ("secrets in the log: PIN reset OTP", once, on code that logs none).
fn appears(log: &str, secret: &str) -> bool {
    if !secret.bytes().all(|b| b.is_ascii_digit()) {
        return log.contains(secret);
    }
    log.match_indices(secret).any(|(at, _)| {
        let before = log[..at].bytes().next_back();
        let after = log[at + secret.len()..].bytes().next();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

#[test]
fn a_numeric_secret_counts_only_as_a_number_of_its_own() {
    assert!(appears(r#"{"otp":"123456"}"#, "123456"));
    assert!(appears("123456", "123456"));
    assert!(appears("pin 123456.", "123456"));
    assert!(!appears(r#""sdk_invocation_id":5123456,"#, "123456"));
    assert!(!appears(r#""sdk_invocation_id":1234567,"#, "123456"));
    assert!(appears(r#""sdk_invocation_id":5123456,"otp":"123456""#, "123456"));
    assert!(appears("key abc-secret-def", "secret"));
}

fn field(response: &integration_tests::app::TestResponse, name: &str) -> String {
    assert_eq!(response.status, 200, "{}", response.text);
    response.body[name].as_str().unwrap_or_else(|| panic!("no {name}: {}", response.text)).to_string()
}

async fn post(app: &TestApp, merchant: &TestMerchant, path: &str, body: Value) -> integration_tests::app::TestResponse {
    app.post_as(merchant, path, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_reaches_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_writer(move || writer.clone())
        .without_time()
        .init();

    let graph_vars = graph::app_vars(&graph::spawn_graph(std::time::Duration::ZERO).await);
    let pepper = "pepper-pepper-pepper-0123456789";
    let mut vars = vec![("STAMPS_V2_MERCHANT", "1"), ("STAMPS_PASSWORD_PEPPER", pepper)];
    vars.extend(graph_vars.iter().map(|(name, value)| (*name, value.as_str())));
    let app = spawn_app_with(Backend::DynamoDb, &vars).await;
    let mut secrets = Secrets::default();
    for (what, value) in [("hash key", HASH_KEY), ("JWT secret", JWT_SECRET), ("old JWT secret", JWT_SECRET_OLD)] {
        secrets.add(what, value);
    }
    secrets.add("Facebook app secret", graph::APP_SECRET);
    secrets.add("pepper", pepper);

    let merchant = app.create_merchant("Kopi").await;
    assert_eq!(merchant.id, 1);
    secrets.add("API key", merchant.api_key.clone());
    let password = "first-secret-pass-1";
    secrets.add("password", password);
    let customer = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("ann@example.com".into()),
            mobile: Some("081234567890".into()),
            name: Some("Ann".into()),
            password: Some(password.into()),
            ..Default::default()
        })
        .await;
    let user = json!(customer.id);

    // Token API.
    let token =
        field(&app.post("/api/token/", &json!({"token": merchant.api_key, "merchant": 1}), &[]).await, "access_token");
    secrets.add("JWT", token.clone());
    app.post("/api/token/verify/", &json!({"access_token": token}), &[]).await;
    app.post("/api/token/verify/", &json!({"access_token": format!("{token}x")}), &[]).await;
    app.post_bearer(&token, "/api/auth/validate-mobile-number", &json!({"mobile_number": "081234567890"})).await;
    post(&app, &merchant, "/api/auth/validate-mobile-number", json!({"mobile_number": "12"})).await;

    // PINs: set, wrong, right, change, unblock, OTP reset (delivered), reset with password.
    let (pin, wrong_pin, new_pin, reset_pin, last_pin) = ("913572", "864209", "527391", "318864", "742915");
    for value in [pin, wrong_pin, new_pin, reset_pin, last_pin] {
        secrets.add("PIN", value);
    }
    post(&app, &merchant, "/api/pin/set", json!({"user": user, "pin": pin, "confirm_pin": pin})).await;
    post(&app, &merchant, "/api/pin/validate", json!({"user": user, "pin": wrong_pin})).await;
    post(&app, &merchant, "/api/pin/validate", json!({"user": user, "pin": pin})).await;
    post(
        &app,
        &merchant,
        "/api/pin/change",
        json!({"user": user, "current_pin": pin, "new_pin": new_pin, "confirm_new_pin": new_pin}),
    )
    .await;
    post(&app, &merchant, "/api/pin/unblock", json!({"user": user})).await;
    let body = json!({"user": user, "type": "email", "template_code": "forgot_password"});
    let otp = field(&post(&app, &merchant, "/api/pin/request-otp-for-reset", body).await, "otp");
    secrets.add("PIN reset OTP", otp.clone());
    post(
        &app,
        &merchant,
        "/api/pin/reset",
        json!({"user": user, "otp": "000000", "pin": reset_pin, "confirm_pin": reset_pin}),
    )
    .await;
    post(
        &app,
        &merchant,
        "/api/pin/reset",
        json!({"user": user, "otp": otp, "pin": reset_pin, "confirm_pin": reset_pin}),
    )
    .await;
    let body = json!({"user": user, "password": password, "pin": last_pin, "confirm_pin": last_pin});
    post(&app, &merchant, "/api/pin/reset-with-password", body).await;

    // Passwords: validate (right, wrong, unknown user), change, set, OTP reset.
    let (second, third, fourth) = ("second-secret-pass-2", "third-secret-pass-3", "fourth-secret-pass-4");
    for value in [second, third, fourth, "wrong-secret-pass-0"] {
        secrets.add("password", value);
    }
    post(&app, &merchant, "/api/auth/validate-password", json!({"user": user, "password": password})).await;
    post(&app, &merchant, "/api/auth/validate-password", json!({"user": user, "password": "wrong-secret-pass-0"}))
        .await;
    post(&app, &merchant, "/api/auth/validate-password", json!({"user": "nobody@example.com", "password": password}))
        .await;
    let body = json!({"user": user, "old_password": password, "new_password": second});
    post(&app, &merchant, "/api/auth/change-password", body).await;
    post(&app, &merchant, "/api/auth/set-password", json!({"email": "ann@example.com", "new_password": third})).await;
    let body = json!({"identifier": user, "type": "sms", "template_code": "forgot_password"});
    let response = post(&app, &merchant, "/api/auth/request-otp-for-password-reset", body).await;
    // The built-in template has no SMS text, so this one is refused at dispatch: still logged.
    let otp = field(&response, "otp");
    secrets.add("password reset OTP", otp.clone());
    let body = json!({"identifier": user, "otp": otp, "new_password": fourth, "confirm_new_password": fourth});
    post(&app, &merchant, "/api/auth/reset-password-with-otp", body).await;
    post(&app, &merchant, "/api/auth/reset-otp-limit", json!({"user": user})).await;
    // Support: the status and the history (which lists the events above, never their secrets).
    post(&app, &merchant, "/api/auth/customer-status", json!({"user": user})).await;
    post(&app, &merchant, "/api/auth/customer-events", json!({"user": user, "limit": 100})).await;

    // Mobile app API v2.
    let v2_password = "fifth-secret-pass-5";
    secrets.add("password", v2_password);
    let body = json!({"email": "v2@example.com", "password": v2_password, "name": "V", "id_location": 1});
    let key = field(&app.post("/api/v2/auth/register", &body, &[]).await, "key");
    secrets.add("v2 key", key.clone());
    let body = json!({"email": "v2@example.com", "password": v2_password, "gcm_id": "gcm-secretish-1"});
    let second_key = field(&app.post("/api/v2/auth/login", &body, &[]).await, "key");
    secrets.add("v2 key", second_key.clone());
    app.post("/api/v2/auth/login", &json!({"email": "v2@example.com", "password": "wrong-secret-pass-0"}), &[]).await;
    let fb_token = "EAAB-facebook-token-secret-0123456789";
    secrets.add("Facebook token", fb_token);
    app.post("/api/v2/auth/login", &json!({"fb_token": fb_token, "fb_uid": "1001"}), &[]).await;
    // A token the stand-in accepts (it knows it by this name): registered, then signed in.
    secrets.add("Facebook token", "good-token");
    for proof in [graph::proof(graph::APP_SECRET, "good-token"), graph::proof(graph::APP_SECRET, fb_token)] {
        secrets.add("appsecret_proof", proof);
    }
    let body = json!({"email": "fb@example.com", "password": "seventh-secret-pass-7", "name": "F", "id_location": 1,
                      "fb_token": "good-token"});
    secrets.add("password", "seventh-secret-pass-7");
    let fb_key = field(&app.post("/api/v2/auth/register", &body, &[]).await, "key");
    secrets.add("v2 key", fb_key);
    let fb_key =
        field(&app.post("/api/v2/auth/login", &json!({"fb_token": "good-token", "fb_uid": "1001"}), &[]).await, "key");
    secrets.add("v2 key", fb_key);
    app.post("/api/v2/auth/forgot_password", &json!({"email": "v2@example.com"}), &[]).await;
    let messages = app.outbox_messages().await;
    let reset_email = messages.iter().rev().find(|m| m["destination"] == "v2@example.com").expect("reset email");
    let text = reset_email["text"].as_str().expect("text");
    let reset_token =
        text.split("reset your password: ").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("token");
    secrets.add("reset token", reset_token);
    let sixth = "sixth-secret-pass-6";
    secrets.add("password", sixth);
    app.post("/api/v2/auth/reset_password", &json!({"token": reset_token, "password": sixth}), &[]).await;
    app.post("/api/v2/auth/logout", &json!({"key": key}), &[]).await;
    app.post("/api/v2/auth/logout", &json!({"key": key}), &[]).await;

    let log = capture.text();
    let lines = log.lines().count();
    // The capture works: every route logged its request line.
    for route in shared::http::ROUTES {
        let needle = format!("\"function\":\"{}\"", route.function);
        assert!(log.contains(&needle), "no log line of {}; {lines} lines captured", route.function);
    }
    let leaks: Vec<&str> =
        secrets.0.iter().filter(|(_, value)| appears(&log, value)).map(|(what, _)| what.as_str()).collect();
    println!("{lines} log lines, {} secrets searched, {} found", secrets.0.len(), leaks.len());
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}
