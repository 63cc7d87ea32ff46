//! The mobile app API v2 under attack (issue 20, items 2-5 and 7): the reset token is checked
//! before anything else speaks, the anonymous reset email has a limit of its own, known and
//! unknown emails cost the same, each source IP has its windows, and a reset through the
//! emailed token takes the account back from whoever registered it first.

use std::net::IpAddr;
use std::sync::Arc;

use futures::future::join_all;
use integration_tests::app::{Backend, TestApp, TestResponse, spawn_app_on_defaults, spawn_app_publishing_with};
use integration_tests::moto::{self, DeliveryRig};
use serde_json::{Value, json};
use shared::admin::CustomerInput;
use shared::clock::Clock;
use shared::delivery::sns::SnsPublisher;
use shared::store::{UniqueField, keys};

use crate::v2::{EMAIL, PASSWORD, assert_v2_error, facebook_app, form, key_hash, key_of, login, v2_app};

both_stores!(
    reset_password_answers_alike_until_the_token_is_verified,
    a_weak_password_after_a_verified_token_costs_a_try_and_keeps_the_token,
    forgot_password_has_its_own_limit_and_never_locks_the_merchant_out,
    per_ip_windows_hold_exactly_under_concurrency,
    the_default_per_ip_window_of_forgot_password_holds,
    a_reset_through_the_emailed_token_revokes_every_key_and_unlinks_an_unproven_facebook,
    customer_names_are_bounded_wherever_they_are_accepted,
);

const INVALID_TOKEN: &str = "Your reset token is invalid or has expired.";
const FROM_YOUR_NETWORK: &str = "Too many requests from your network. Try again later.";
const FORGOT: &str = "/api/v2/auth/forgot_password";
const RESET: &str = "/api/v2/auth/reset_password";

async fn register_as(app: &TestApp, email: &str, phone: &str) -> TestResponse {
    form(
        app,
        "/api/v2/auth/register",
        &[("email", email), ("password", PASSWORD), ("name", "shcode"), ("id_location", "7"), ("phone", phone)],
    )
    .await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> TestResponse {
    form(app, RESET, &[("token", token), ("password", password)]).await
}

/// The reset tokens emailed to `to` so far, oldest first.
async fn emailed_tokens(app: &TestApp, to: &str) -> Vec<String> {
    app.outbox_messages()
        .await
        .iter()
        .filter(|m| m["destination"] == to)
        .filter_map(|m| {
            let text = m["text"].as_str()?;
            Some(text.split("reset your password: ").nth(1)?.split_whitespace().next()?.to_string())
        })
        .collect()
}

/// Asks for a reset email and returns the token it carried.
async fn fresh_token(app: &TestApp, email: &str) -> String {
    let before = emailed_tokens(app, email).await.len();
    let response = form(app, FORGOT, &[("email", email)]).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let tokens = emailed_tokens(app, email).await;
    assert_eq!(tokens.len(), before + 1, "one more email");
    tokens.last().cloned().expect("a token")
}

/// Every answer is the one answer an unverified token gets: same status, same bytes.
fn assert_all_the_invalid_token_answer(cases: &[(String, TestResponse)]) {
    for (case, response) in cases {
        assert_eq!(
            (response.status, response.text.as_str()),
            (400, json!({"status": 0, "error": INVALID_TOKEN}).to_string().as_str()),
            "{case}"
        );
    }
}

async fn reset_password_answers_alike_until_the_token_is_verified(backend: Backend) {
    let (app, merchant) = v2_app(backend, &[]).await;
    key_of(&register_as(&app, EMAIL, "082232856363").await);
    let customer = app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").expect("made");
    let id = customer.id;
    let mut cases = Vec::new();
    // A forged `N.x` with password `x`: customer N exists, customer 999 does not.
    for (token, password) in [
        (format!("{id}.x"), "x".to_string()),
        ("999.x".into(), "x".into()),
        // A password built from the email: "too similar" would confirm the guessed email.
        (format!("{id}.x"), EMAIL.into()),
        (format!("{id}.x"), "shcode".into()),
        ("999.x".into(), EMAIL.into()),
        (format!("{id}.x"), "any-other-guess-7".into()),
        // Malformed tokens.
        ("garbage".into(), "x".into()),
        (format!("{id}"), "x".into()),
        ("0.x".into(), "x".into()),
        ("-1.x".into(), "x".into()),
        (format!(".{id}"), "x".into()),
        ("18446744073709551616.x".into(), "x".into()),
    ] {
        cases.push((format!("{token:?} / {password:?}, no live token"), reset(&app, &token, &password).await));
    }
    // With a live token: the token with something appended (malformed), five wrong secrets
    // (each uses one of the token's five tries), and then the right token itself.
    let token = fresh_token(&app, EMAIL).await;
    let wrong_secret = format!("{id}.{}", "0".repeat(32));
    for (token, password) in [
        (format!("{token}x"), "x".to_string()),
        (wrong_secret.clone(), "x".into()),
        (wrong_secret.clone(), EMAIL.into()),
        (wrong_secret.clone(), "shcode".into()),
        (wrong_secret.clone(), "brand-new-pass-7".into()),
        (wrong_secret, "12345678".into()),
    ] {
        cases.push((format!("{token:?} / {password:?}, wrong secret"), reset(&app, &token, &password).await));
    }
    cases.push(("the right token, tries used up".into(), reset(&app, &token, "brand-new-pass-7").await));
    assert_all_the_invalid_token_answer(&cases);
    key_of(&login(&app, EMAIL, PASSWORD).await);
}

async fn a_weak_password_after_a_verified_token_costs_a_try_and_keeps_the_token(backend: Backend) {
    let (app, _) = v2_app(backend, &[]).await;
    key_of(&register_as(&app, EMAIL, "082232856363").await);
    // Once the token is verified the policy speaks; each weak password costs one of the
    // token's five tries, and the token stays alive for the others.
    let token = fresh_token(&app, EMAIL).await;
    assert_v2_error(&reset(&app, &token, "12345678").await, 400, "This password is entirely numeric.");
    assert_v2_error(&reset(&app, &token, EMAIL).await, 400, "The password is too similar to the email.");
    assert_v2_error(
        &reset(&app, &token, "short").await,
        400,
        "This password is too short. It must contain at least 8 characters.",
    );
    assert_v2_error(&reset(&app, &token, "password123").await, 400, "This password is too common.");
    let done = reset(&app, &token, "brand-new-pass-7").await;
    assert_eq!((done.status, &done.body), (200, &json!({"status": 1, "message": "Password has been reset."})));
    key_of(&login(&app, EMAIL, "brand-new-pass-7").await);

    // Five weak passwords use the token up: no sixth guess, whatever it is.
    let token = fresh_token(&app, EMAIL).await;
    for _ in 0..5 {
        assert_v2_error(&reset(&app, &token, "12345678").await, 400, "This password is entirely numeric.");
    }
    assert_v2_error(&reset(&app, &token, "third-pass-999").await, 400, INVALID_TOKEN);
    key_of(&login(&app, EMAIL, "brand-new-pass-7").await);
}

async fn forgot_password_has_its_own_limit_and_never_locks_the_merchant_out(backend: Backend) {
    let (app, merchant) = v2_app(backend, &[]).await;
    key_of(&register_as(&app, EMAIL, "082232856363").await);
    let customer = app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").expect("made");
    // Twenty anonymous requests, one after the other (each email settled before the next):
    // the same answer every time, three emails (the default limit per hour), then none.
    for _ in 0..20 {
        let response = form(&app, FORGOT, &[("email", EMAIL)]).await;
        assert_eq!(response.status, 200, "{}", response.text);
        app.outbox_messages().await;
    }
    let tokens = emailed_tokens(&app, EMAIL).await;
    assert_eq!(tokens.len(), 3, "{tokens:?}");
    let merchant_limit = app.store.counter(&keys::otp_requests(merchant.id, customer.id), app.clock.now()).await;
    assert_eq!(merchant_limit.expect("read").count, 0, "the merchant's OTP request limit is untouched");
    // The merchant's own OTP routes still answer.
    let response = app.post_as(&merchant, "/api/pin/request-otp-for-reset", &json!({"user": EMAIL})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let body = json!({"identifier": EMAIL, "type": "email"});
    let response = app.post_as(&merchant, "/api/auth/request-otp-for-password-reset", &body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    // The throttled requests kept the live link: the last token emailed still resets (the
    // merchant's password-reset OTP above removed nothing of it).
    let done = reset(&app, tokens.last().expect("token"), "brand-new-pass-7").await;
    assert_eq!(done.status, 200, "{}", done.text);
    key_of(&login(&app, EMAIL, "brand-new-pass-7").await);
    // The window passes: an email again.
    app.clock.advance(3601);
    fresh_token(&app, EMAIL).await;
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// Counts answers by status.
fn statuses(responses: &[TestResponse]) -> std::collections::BTreeMap<u16, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for response in responses {
        *counts.entry(response.status).or_default() += 1;
        if response.status == 429 {
            assert_eq!(response.body, json!({"status": 0, "error": FROM_YOUR_NETWORK}), "{}", response.text);
        }
    }
    counts
}

async fn per_ip_windows_hold_exactly_under_concurrency(backend: Backend) {
    let limits = [
        ("STAMPS_V2_IP_LOGIN_FAILURES_PER_WINDOW", "5"),
        ("STAMPS_V2_IP_LOGIN_FAILURE_WINDOW_SECS", "900"),
        ("STAMPS_V2_IP_REGISTRATIONS_PER_WINDOW", "5"),
        ("STAMPS_V2_IP_REGISTRATION_WINDOW_SECS", "3600"),
        ("STAMPS_V2_IP_RESET_REQUESTS_PER_WINDOW", "5"),
        ("STAMPS_V2_IP_RESET_REQUEST_WINDOW_SECS", "3600"),
    ];
    let (app, _) = v2_app(backend, &limits).await;
    let here = loopback(1);
    let elsewhere = loopback(2);

    // Registrations: 30 at once from one address, 5 get through.
    let registrations = join_all((0..30).map(|i| {
        let app = &app;
        async move {
            let body = json!({"email": format!("r{i}@example.com"), "password": PASSWORD, "name": "R",
                              "id_location": 1, "phone": format!("08123450{i:04}")});
            app.post_from(here, "/api/v2/auth/register", &body).await
        }
    }))
    .await;
    assert_eq!(statuses(&registrations), [(200, 5), (429, 25)].into());
    let body = json!({"email": EMAIL, "password": PASSWORD, "name": "S", "id_location": 1});
    key_of(&app.post_from(elsewhere, "/api/v2/auth/register", &body).await);

    // Login failures: 30 wrong passwords at once (unknown emails, so no customer throttle is
    // involved), 5 evaluated; then even the right password waits for the window.
    let failures = join_all((0..30).map(|i| {
        let app = &app;
        async move {
            let body = json!({"email": format!("nobody{i}@example.com"), "password": "wrong-pass-1"});
            app.post_from(here, "/api/v2/auth/login", &body).await
        }
    }))
    .await;
    assert_eq!(statuses(&failures), [(401, 5), (429, 25)].into());
    let right = json!({"email": EMAIL, "password": PASSWORD});
    let response = app.post_from(here, "/api/v2/auth/login", &right).await;
    assert_v2_error(&response, 429, FROM_YOUR_NETWORK);
    key_of(&app.post_from(elsewhere, "/api/v2/auth/login", &right).await);
    // A right password gives its place back: successes never fill the window.
    for _ in 0..10 {
        key_of(&app.post_from(elsewhere, "/api/v2/auth/login", &right).await);
    }

    // Reset emails: 30 at once, 5 answered.
    let requests = join_all((0..30).map(|i| {
        let app = &app;
        async move { app.post_from(here, FORGOT, &json!({"email": format!("f{i}@example.com")})).await }
    }))
    .await;
    assert_eq!(statuses(&requests), [(200, 5), (429, 25)].into());
    assert_eq!(app.post_from(elsewhere, FORGOT, &json!({"email": EMAIL})).await.status, 200);

    // The windows pass.
    app.clock.advance(3601);
    key_of(&app.post_from(here, "/api/v2/auth/login", &right).await);
    assert_eq!(app.post_from(here, FORGOT, &json!({"email": EMAIL})).await.status, 200);
}

/// On the service's own defaults (20 reset requests per address per hour), fired at once.
async fn the_default_per_ip_window_of_forgot_password_holds(backend: Backend) {
    let app = spawn_app_on_defaults(backend, &[("STAMPS_V2_MERCHANT", "1")]).await;
    app.create_merchant("Shoop").await;
    let requests = join_all((0..30).map(|i| {
        let app = &app;
        async move { app.post(FORGOT, &json!({"email": format!("f{i}@example.com")}), &[]).await }
    }))
    .await;
    assert_eq!(statuses(&requests), [(200, 20), (429, 10)].into());
}

async fn a_reset_through_the_emailed_token_revokes_every_key_and_unlinks_an_unproven_facebook(backend: Backend) {
    let graph = integration_tests::graph::spawn_graph(std::time::Duration::ZERO).await;
    let (app, merchant) = facebook_app(backend, &graph, &[]).await;
    // An attacker registers the victim's email with their own Facebook account.
    let body =
        [("email", EMAIL), ("password", PASSWORD), ("name", "x"), ("id_location", "3"), ("fb_token", "good-token")];
    let mut keys = vec![key_of(&form(&app, "/api/v2/auth/register", &body).await)];
    keys.push(key_of(&login(&app, EMAIL, PASSWORD).await));
    let facebook = [("fb_token", "good-token"), ("fb_uid", "1001")];
    keys.push(key_of(&form(&app, "/api/v2/auth/login", &facebook).await));
    for key in &keys {
        assert!(app.store.app_key(&key_hash(key)).await.expect("read").is_some());
    }
    // The victim proves the email with the emailed token.
    let token = fresh_token(&app, EMAIL).await;
    assert_eq!(reset(&app, &token, "brand-new-pass-7").await.status, 200);

    for key in &keys {
        assert!(app.store.app_key(&key_hash(key)).await.expect("read").is_none(), "every earlier key is revoked");
    }
    assert_v2_error(
        &form(&app, "/api/v2/auth/login", &facebook).await,
        401,
        "This Facebook account is not registered.",
    );
    let customer = app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").expect("kept");
    assert_eq!(customer.facebook_id, None);
    assert!(app.store.customer_by(merchant.id, UniqueField::FacebookId, "1001").await.expect("read").is_none());
    assert_eq!(customer.email_proven_at, Some(app.clock.now()));
    // The Facebook account is free again: its owner can register with it.
    let body = [
        ("email", "fb@example.com"),
        ("password", PASSWORD),
        ("name", "fb"),
        ("id_location", "3"),
        ("fb_token", "good-token"),
    ];
    key_of(&form(&app, "/api/v2/auth/register", &body).await);
    // The victim's new keys live.
    let fresh = key_of(&login(&app, EMAIL, "brand-new-pass-7").await);
    assert!(app.store.app_key(&key_hash(&fresh)).await.expect("read").is_some());
    // A second reset (the email already proven) revokes the keys again, and nothing else changes.
    app.clock.advance(60);
    let token = fresh_token(&app, EMAIL).await;
    assert_eq!(reset(&app, &token, "third-pass-999").await.status, 200);
    assert!(app.store.app_key(&key_hash(&fresh)).await.expect("read").is_none());
    let after = app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").expect("kept");
    assert_eq!(after.email_proven_at, customer.email_proven_at, "proven once, when first proven");
}

async fn customer_names_are_bounded_wherever_they_are_accepted(backend: Backend) {
    let (app, merchant) = v2_app(backend, &[]).await;
    let long = "n".repeat(101);
    for (name, error) in [
        (long.as_str(), "Your parameter 'name' must be at most 100 characters."),
        ("Ann\nSubject: pay now", "Your parameter 'name' must not contain control characters."),
        ("Ann\u{7}", "Your parameter 'name' must not contain control characters."),
        ("Ann\u{202e}gnp.exe", "Your parameter 'name' must not contain control characters."),
    ] {
        let body = json!({"email": EMAIL, "password": PASSWORD, "name": name, "id_location": 7});
        assert_v2_error(&app.post("/api/v2/auth/register", &body, &[]).await, 400, error);
        let input = CustomerInput { merchant: merchant.id, name: Some(name.into()), ..Default::default() };
        let refused = shared::admin::create_customer(&app.app, input).await;
        assert!(matches!(refused, Err(shared::admin::AdminError::Invalid(_))), "{name:?}: {refused:?}");
    }
    assert!(app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").is_none());
    // A hundred characters of any script is fine.
    let name = "Ñ".repeat(100);
    let body = json!({"email": EMAIL, "password": PASSWORD, "name": name, "id_location": 7});
    key_of(&app.post("/api/v2/auth/register", &body, &[]).await);
    let input = CustomerInput { merchant: merchant.id, name: Some("Budi Santoso".into()), ..Default::default() };
    shared::admin::create_customer(&app.app, input).await.expect("a plain name");
}

/// The DynamoDB operations `request` makes, once the store has settled.
async fn calls_of(app: &TestApp, request: impl std::future::Future<Output = TestResponse>) -> (u16, Vec<String>) {
    app.take_calls();
    let response = request.await;
    (response.status, app.take_calls())
}

/// A wrong password for a known email and any password for an unknown one make the same
/// DynamoDB calls (same number, same kind, same order): an unknown email reads as much. On v2
/// login, and on the merchant's validate-password, whose timing `enumeration.rs` compares.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_makes_the_same_store_calls_for_unknown_and_known_emails() {
    let (app, merchant) = v2_app(Backend::DynamoDb, &[]).await;
    key_of(&register_as(&app, EMAIL, "082232856363").await);
    let known = calls_of(&app, login(&app, EMAIL, "wrong-pass-1")).await;
    let unknown = calls_of(&app, login(&app, "nobody@example.com", "wrong-pass-1")).await;
    assert_eq!(known.0, 401);
    assert_eq!(known, unknown);
    assert!(known.1.iter().filter(|call| *call == "GetItem").count() >= 2, "{known:?}");

    let validate = |user: &'static str| {
        let (app, merchant) = (&app, &merchant);
        async move {
            let body = json!({"user": user, "password": "wrong-pass-1"});
            app.post_as(merchant, "/api/auth/validate-password", &body).await
        }
    };
    let known = calls_of(&app, validate(EMAIL)).await;
    let unknown = calls_of(&app, validate("nobody@example.com")).await;
    assert_eq!((known.0, unknown.0), (400, 400));
    assert_eq!(known.1, unknown.1);
}

/// forgot_password on AWS: the route's DynamoDB calls and its answer are the same for a known
/// and an unknown email, and so is its answer with SNS down. The dispatch function then emails
/// only the known one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forgot_password_does_the_same_work_for_known_and_unknown_emails() {
    let rig = DeliveryRig::new().await;
    let publisher = Arc::new(SnsPublisher::new(rig.sns.clone(), rig.topic_arn.clone()));
    let app = spawn_app_publishing_with(Backend::DynamoDb, publisher, &[("STAMPS_V2_MERCHANT", "1")]).await;
    app.create_merchant("Shoop").await;
    let email = format!("{}@example.com", moto::unique_name("known"));
    key_of(&register_as(&app, &email, "082232856363").await);

    let known = calls_of(&app, app.post(FORGOT, &json!({"email": email}), &[])).await;
    let unknown = calls_of(&app, app.post(FORGOT, &json!({"email": "nobody@example.com"}), &[])).await;
    assert_eq!(known.0, 200);
    assert_eq!(known, unknown);

    let down = moto::sdk_config_at("http://127.0.0.1:9", std::time::Duration::from_millis(500)).await;
    let publisher =
        SnsPublisher::new(aws_sdk_sns::Client::new(&down), "arn:aws:sns:us-east-1:123456789012:none".into());
    let down_app =
        spawn_app_publishing_with(Backend::DynamoDb, Arc::new(publisher), &[("STAMPS_V2_MERCHANT", "1")]).await;
    down_app.create_merchant("Shoop").await;
    key_of(&register_as(&down_app, &email, "082232856363").await);
    let known = down_app.post(FORGOT, &json!({"email": email}), &[]).await;
    let unknown = down_app.post(FORGOT, &json!({"email": "nobody@example.com"}), &[]).await;
    assert_eq!((known.status, &known.text), (unknown.status, &unknown.text));
    assert_eq!(known.status, 503, "{}", known.text);

    let sent = crate::delivery::dispatch_all(&rig, &app).await;
    assert!(sent.is_empty(), "{sent:?}");
    let emails: Vec<Value> =
        moto::emails_to(&email).await.into_iter().filter(|m| m["source"] == rig.sender.as_str()).collect();
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(moto::emails_to("nobody@example.com").await.iter().all(|m| m["source"] != rig.sender.as_str()));
}
