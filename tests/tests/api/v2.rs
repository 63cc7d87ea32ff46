//! The mobile app API v2 (docs/api.md section 7, seed document 002): login, register, forgot and
//! reset password, logout; Facebook sign-in against a stand-in Graph server on loopback
//! (`integration_tests::graph`).

use std::time::Duration;

use futures::future::join_all;
use integration_tests::app::{Backend, HASH_KEY, TestApp, TestResponse, spawn_app, spawn_app_with};
use integration_tests::graph;
use serde_json::{Value, json};
use shared::domain::secrets::{HashKey, Purpose};
use shared::store::UniqueField;

both_stores!(
    register_then_login_gives_fresh_keys_stored_only_as_hashes,
    errors_use_the_seed_wording_and_real_statuses,
    login_shares_the_password_throttle_with_the_merchant_routes,
    register_validates_every_field_and_creates_nothing_on_error,
    a_duplicate_email_is_409_even_under_twenty_concurrent_registrations,
    a_v2_customer_gets_a_pin_through_the_merchant_api,
    facebook_register_and_login_check_the_graph_api,
    facebook_down_or_slow_is_a_clear_503,
    a_token_of_another_app_is_refused_on_login_and_register,
    the_stand_in_refuses_a_wrong_proof_and_a_wrong_app_secret_is_503,
    without_a_facebook_app_facebook_sign_in_is_503_and_passwords_work,
    forgot_password_answers_alike_and_the_emailed_token_resets_once,
    logout_revokes_exactly_one_key,
    without_a_v2_merchant_every_route_is_503,
);

pub(crate) const EMAIL: &str = "shcode@example.com";
pub(crate) const PASSWORD: &str = "rahasia-sekali-9";

/// A server whose v2 merchant is the first merchant of its fresh store (ID 1), created here.
pub(crate) async fn v2_app(
    backend: Backend,
    extra: &[(&str, &str)],
) -> (TestApp, integration_tests::app::TestMerchant) {
    let mut vars = vec![("STAMPS_V2_MERCHANT", "1")];
    vars.extend_from_slice(extra);
    let app = spawn_app_with(backend, &vars).await;
    let merchant = app.create_merchant("Shoop").await;
    assert_eq!(merchant.id, 1, "the first merchant of a fresh store");
    (app, merchant)
}

/// POSTs form-encoded fields, as the seed's curl examples do.
pub(crate) async fn form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> TestResponse {
    let body = serde_urlencoded::to_string(fields).expect("form body");
    app.send("POST", path, Some("application/x-www-form-urlencoded"), body.into_bytes(), &[]).await
}

pub(crate) async fn register(app: &TestApp, email: &str) -> TestResponse {
    form(
        app,
        "/api/v2/auth/register",
        &[
            ("email", email),
            ("password", PASSWORD),
            ("name", "shcode"),
            ("id_location", "7"),
            ("phone", "082232856363"),
        ],
    )
    .await
}

pub(crate) async fn login(app: &TestApp, email: &str, password: &str) -> TestResponse {
    form(app, "/api/v2/auth/login", &[("email", email), ("password", password)]).await
}

pub(crate) fn key_of(response: &TestResponse) -> String {
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["status"], 1, "{}", response.text);
    let key = response.body["key"].as_str().expect("a key").to_string();
    assert!(key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    key
}

pub(crate) fn assert_v2_error(response: &TestResponse, status: u16, error: &str) {
    assert_eq!((response.status, &response.body), (status, &json!({"status": 0, "error": error})), "{}", response.text);
}

pub(crate) fn key_hash(key: &str) -> String {
    HashKey::new(HASH_KEY.as_bytes().to_vec()).hash(Purpose::V2Key, &[key.as_bytes()])
}

async fn register_then_login_gives_fresh_keys_stored_only_as_hashes(backend: Backend) {
    let (app, merchant) = v2_app(backend, &[("STAMPS_DEFAULT_REGION", "ID")]).await;
    let first = key_of(&register(&app, EMAIL).await);
    let customer = app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").expect("created");
    assert_eq!(customer.mobile.as_deref(), Some("+6282232856363"));
    assert_eq!(customer.profile.location_id, Some(7));
    let stored = app.store.app_key(&key_hash(&first)).await.expect("read").expect("the key's hash is on record");
    assert_eq!((stored.merchant_id, stored.customer_id), (merchant.id, customer.id));
    assert!(app.store.app_key(&first).await.expect("read").is_none(), "never the key itself");

    let second = key_of(&login(&app, "ShCode@Example.com", PASSWORD).await);
    assert_ne!(first, second);
    // JSON works as well as form encoding, and gcm_id is kept with the key.
    let response =
        app.post("/api/v2/auth/login", &json!({"email": EMAIL, "password": PASSWORD, "gcm_id": "gcm-123"}), &[]).await;
    let third = key_of(&response);
    let stored = app.store.app_key(&key_hash(&third)).await.expect("read").expect("stored");
    assert_eq!(stored.gcm_id.as_deref(), Some("gcm-123"));
}

async fn errors_use_the_seed_wording_and_real_statuses(backend: Backend) {
    let (app, _) = v2_app(backend, &[]).await;
    key_of(&register(&app, EMAIL).await);
    let response = form(&app, "/api/v2/auth/login", &[("email", EMAIL)]).await;
    assert_v2_error(&response, 400, "Your parameter is not complete. Missing parameter 'password'.");
    let response = form(&app, "/api/v2/auth/login", &[("password", PASSWORD)]).await;
    assert_v2_error(&response, 400, "Your parameter is not complete. Missing parameter 'email'.");
    let response = form(&app, "/api/v2/auth/login", &[("fb_token", "abc")]).await;
    assert_v2_error(&response, 400, "Your parameter is not complete. Missing parameter 'fb_uid'.");
    // A wrong password and an unknown email answer alike.
    let wrong = login(&app, EMAIL, "not-the-password").await;
    assert_v2_error(&wrong, 401, "Your password is invalid.");
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    assert_v2_error(&unknown, 401, "Your password is invalid.");
    // Wrong types and malformed bodies: a clear 400, never a 500.
    let response = app.post("/api/v2/auth/login", &json!({"email": EMAIL, "password": 12345678}), &[]).await;
    assert_v2_error(&response, 400, "Your parameter 'password' must be text.");
    let response =
        app.send("POST", "/api/v2/auth/login", Some("application/json"), b"{\"email\": ".to_vec(), &[]).await;
    assert_eq!((response.status, &response.body["status"]), (400, &json!(0)), "{}", response.text);
    let response = app.send("GET", "/api/v2/auth/login", None, Vec::new(), &[]).await;
    assert_v2_error(&response, 405, "Method \"GET\" not allowed.");
}

async fn login_shares_the_password_throttle_with_the_merchant_routes(backend: Backend) {
    let (app, merchant) = v2_app(backend, &[]).await;
    key_of(&register(&app, EMAIL).await);
    let attempts = join_all((0..30).map(|_| login(&app, EMAIL, "not-the-password"))).await;
    let wrong = attempts.iter().filter(|r| r.status == 401).count();
    let throttled = attempts.iter().filter(|r| r.status == 429).count();
    assert_eq!((wrong, throttled), (10, 20), "at most 10 evaluated in the window");
    assert_v2_error(&login(&app, EMAIL, PASSWORD).await, 429, "Too many failed attempts. Try again later.");
    // The merchant's own route sees the same counter.
    let response =
        app.post_as(&merchant, "/api/auth/validate-password", &json!({"user": EMAIL, "password": PASSWORD})).await;
    assert_eq!((response.status, response.error_code()), (429, "too_many_attempts"), "{}", response.text);
    app.clock.advance(901);
    key_of(&login(&app, EMAIL, PASSWORD).await);
}

async fn register_validates_every_field_and_creates_nothing_on_error(backend: Backend) {
    let (app, merchant) = v2_app(backend, &[]).await;
    let valid = [("email", EMAIL), ("password", PASSWORD), ("name", "shcode"), ("id_location", "7")];
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("email", "")], "Your parameter is not complete. Missing parameter 'email'."),
        (&[("name", " ")], "Your parameter is not complete. Missing parameter 'name'."),
        (&[("id_location", "")], "Your parameter is not complete. Missing parameter 'id_location'."),
        (&[("email", "shcode-at-example.com")], "Your parameter 'email' is not a valid email address."),
        (&[("password", "short")], "This password is too short. It must contain at least 8 characters."),
        (&[("password", "password123")], "This password is too common."),
        (&[("password", "20240101123")], "This password is entirely numeric."),
        (&[("password", "shcode@example.com")], "The password is too similar to the email."),
        (&[("phone", "12")], "Your parameter 'phone' is not a valid mobile phone number."),
        (&[("phone", "0215551234")], "Your parameter 'phone' is not a valid mobile phone number."),
        (&[("longitude", "180.5")], "Your parameter 'longitude' must be a number between -180 and 180."),
        (&[("latitude", "-91")], "Your parameter 'latitude' must be a number between -90 and 90."),
        (&[("latitude", "north")], "Your parameter 'latitude' must be a number between -90 and 90."),
        (&[("latitude", "NaN")], "Your parameter 'latitude' must be a number between -90 and 90."),
        (&[("id_location", "0")], "Your parameter 'id_location' must be a positive integer."),
        (&[("id_location", "-3")], "Your parameter 'id_location' must be a positive integer."),
        (&[("id_location", "seven")], "Your parameter 'id_location' must be a positive integer."),
    ];
    for (overrides, error) in cases {
        let fields: Vec<(&str, &str)> = valid
            .iter()
            .map(|(name, value)| overrides.iter().find(|(n, _)| n == name).copied().unwrap_or((*name, *value)))
            .chain(overrides.iter().filter(|(n, _)| !valid.iter().any(|(v, _)| v == n)).copied())
            .collect();
        let response = form(&app, "/api/v2/auth/register", &fields).await;
        assert_v2_error(&response, 400, error);
    }
    let response = app
        .post(
            "/api/v2/auth/register",
            &json!({"email": EMAIL, "password": PASSWORD, "name": "x", "id_location": 7, "longitude": "east"}),
            &[],
        )
        .await;
    assert_v2_error(&response, 400, "Your parameter 'longitude' must be a number between -180 and 180.");
    assert!(app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").is_none());
    // Deprecated fields are accepted and ignored; JSON numbers are fine for numbers.
    let response = app
        .post(
            "/api/v2/auth/register",
            &json!({"email": EMAIL, "password": PASSWORD, "name": "x", "id_location": 7, "longitude": 106.8,
                    "latitude": "-6.2", "show_phone": 1, "address": "Jl. Sudirman", "avatar": "/a/b.png"}),
            &[],
        )
        .await;
    key_of(&response);
    let customer = app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").expect("made");
    assert_eq!(
        (customer.profile.longitude, customer.profile.latitude, customer.profile.avatar.as_deref()),
        (Some(106.8), Some(-6.2), Some("/a/b.png"))
    );
}

async fn a_duplicate_email_is_409_even_under_twenty_concurrent_registrations(backend: Backend) {
    let (app, merchant) = v2_app(backend, &[]).await;
    key_of(&register(&app, EMAIL).await);
    assert_v2_error(&register(&app, "SHCODE@example.com").await, 409, "This email is already registered.");
    // Same phone, other email.
    assert_v2_error(&register(&app, "other@example.com").await, 409, "This phone number is already registered.");

    let email = "race@example.com";
    let attempts = join_all((0..20).map(|i| {
        let app = &app;
        async move {
            let phone = format!("08123450{i:04}");
            form(
                app,
                "/api/v2/auth/register",
                &[("email", email), ("password", PASSWORD), ("name", "race"), ("id_location", "1"), ("phone", &phone)],
            )
            .await
        }
    }))
    .await;
    let created: Vec<&TestResponse> = attempts.iter().filter(|r| r.status == 200).collect();
    let conflicts = attempts.iter().filter(|r| r.status == 409).count();
    assert_eq!((created.len(), conflicts), (1, 19), "{:?}", attempts.iter().map(|r| &r.text).collect::<Vec<_>>());
    let winner = app.store.customer_by(merchant.id, UniqueField::Email, email).await.expect("read").expect("one");
    let key = created[0].body["key"].as_str().expect("key");
    let stored = app.store.app_key(&key_hash(key)).await.expect("read").expect("the winner's key");
    assert_eq!(stored.customer_id, winner.id);
    // No loser left a half-made customer behind: none of their phone numbers is taken.
    let mut taken = 0;
    for i in 0..20 {
        let phone = format!("+628123450{i:04}");
        taken +=
            usize::from(app.store.customer_by(merchant.id, UniqueField::Mobile, &phone).await.expect("read").is_some());
    }
    assert_eq!(taken, 1);
}

async fn a_v2_customer_gets_a_pin_through_the_merchant_api(backend: Backend) {
    let (app, merchant) = v2_app(backend, &[]).await;
    key_of(&register(&app, EMAIL).await);
    let response =
        app.post_as(&merchant, "/api/pin/set", &json!({"user": EMAIL, "pin": "246810", "confirm_pin": "246810"})).await;
    assert_eq!((response.status, &response.body), (200, &json!({"status": "ok"})), "{}", response.text);
    let response = app.post_as(&merchant, "/api/pin/validate", &json!({"user": "082232856363", "pin": "246810"})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let response =
        app.post_as(&merchant, "/api/auth/validate-password", &json!({"user": EMAIL, "password": PASSWORD})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    // Another merchant does not see the customer.
    let other = app.create_merchant("Other").await;
    let response = app.post_as(&other, "/api/pin/validate", &json!({"user": EMAIL, "pin": "246810"})).await;
    assert_eq!(response.error_code(), "invalid_user", "{}", response.text);
}

/// A server signing in with the stand-in's app at `graph` (plus `extra`).
pub(crate) async fn facebook_app(
    backend: Backend,
    graph: &str,
    extra: &[(&str, &str)],
) -> (TestApp, integration_tests::app::TestMerchant) {
    let vars = graph::app_vars(graph);
    let mut all: Vec<(&str, &str)> = vars.iter().map(|(name, value)| (*name, value.as_str())).collect();
    all.extend_from_slice(extra);
    v2_app(backend, &all).await
}

async fn fb_register(app: &TestApp, email: &str, token: &str) -> TestResponse {
    form(
        app,
        "/api/v2/auth/register",
        &[("email", email), ("password", PASSWORD), ("name", "fb"), ("id_location", "3"), ("fb_token", token)],
    )
    .await
}

async fn fb_login(app: &TestApp, token: &str, uid: &str) -> TestResponse {
    form(app, "/api/v2/auth/login", &[("fb_token", token), ("fb_uid", uid)]).await
}

const FACEBOOK_UNAVAILABLE: &str = "Facebook cannot be reached right now. Try again later.";

async fn facebook_register_and_login_check_the_graph_api(backend: Backend) {
    let graph = graph::spawn_graph(Duration::ZERO).await;
    let (app, merchant) = facebook_app(backend, &graph, &[]).await;
    key_of(&fb_register(&app, "fb@example.com", "good-token").await);
    let customer =
        app.store.customer_by(merchant.id, UniqueField::FacebookId, "1001").await.expect("read").expect("linked");
    assert_eq!(customer.email.as_deref(), Some("fb@example.com"));
    assert_v2_error(
        &fb_register(&app, "fb2@example.com", "good-token").await,
        409,
        "This Facebook account is already registered.",
    );
    assert_v2_error(&fb_register(&app, "fb3@example.com", "forged").await, 401, "Your Facebook token is invalid.");

    key_of(&fb_login(&app, "good-token", "1001").await);
    assert_v2_error(
        &fb_login(&app, "good-token", "9999").await,
        401,
        "Your Facebook token does not belong to this user.",
    );
    assert_v2_error(&fb_login(&app, "forged", "1001").await, 401, "Your Facebook token is invalid.");
    assert_v2_error(&fb_login(&app, "other-token", "2002").await, 401, "This Facebook account is not registered.");
    // An answer that is not Graph's (far too large, or not JSON) is Facebook being unavailable.
    assert_v2_error(&fb_login(&app, "huge-token", "1001").await, 503, FACEBOOK_UNAVAILABLE);
    assert_v2_error(&fb_login(&app, "garbage-token", "1001").await, 503, FACEBOOK_UNAVAILABLE);
    assert_v2_error(&fb_login(&app, "debug-garbage-token", "1001").await, 503, FACEBOOK_UNAVAILABLE);
    assert_v2_error(&fb_register(&app, "fb4@example.com", "huge-token").await, 503, FACEBOOK_UNAVAILABLE);
    // Nothing was created by the refused attempts.
    for email in ["fb2@example.com", "fb3@example.com", "fb4@example.com"] {
        assert!(app.store.customer_by(merchant.id, UniqueField::Email, email).await.expect("read").is_none());
    }
}

/// Issue 20 item 8: a token Graph calls valid but issued to another app (one the user also
/// signed in to, or an attacker's) must not sign anyone in, even for the same Facebook user.
async fn a_token_of_another_app_is_refused_on_login_and_register(backend: Backend) {
    let graph = graph::spawn_graph(Duration::ZERO).await;
    let (app, merchant) = facebook_app(backend, &graph, &[]).await;
    let invalid = "Your Facebook token is invalid.";
    assert_v2_error(&fb_register(&app, "mallory@example.com", "other-app-new-token").await, 401, invalid);
    assert_v2_error(&fb_register(&app, "mallory2@example.com", "other-app-token").await, 401, invalid);
    for email in ["mallory@example.com", "mallory2@example.com"] {
        assert!(app.store.customer_by(merchant.id, UniqueField::Email, email).await.expect("read").is_none());
    }
    for uid in ["1001", "3003"] {
        assert!(app.store.customer_by(merchant.id, UniqueField::FacebookId, uid).await.expect("read").is_none());
    }
    // The real customer 1001 registers with our app's token; the other app's token for the
    // same Facebook user still does not get a key to their account.
    key_of(&fb_register(&app, "fb@example.com", "good-token").await);
    assert_v2_error(&fb_login(&app, "other-app-token", "1001").await, 401, invalid);
    assert_v2_error(&fb_login(&app, "other-app-new-token", "3003").await, 401, invalid);
    key_of(&fb_login(&app, "good-token", "1001").await);
}

/// The stand-in checks `appsecret_proof` (so a success against it proves the service sends
/// the right one), and a service with the wrong app secret is refused by it: a clear 503,
/// not the user's token called invalid.
async fn the_stand_in_refuses_a_wrong_proof_and_a_wrong_app_secret_is_503(backend: Backend) {
    let graph = graph::spawn_graph(Duration::ZERO).await;
    let http = reqwest::Client::new();
    let get = |path: &'static str, query: Vec<(&'static str, String)>| {
        let request = http.get(format!("{graph}/{path}")).query(&query);
        async move {
            let response = request.send().await.expect("stand-in answers");
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let me = |proof: Option<String>| {
        let mut query = vec![("fields", "id,email".to_string()), ("access_token", "good-token".to_string())];
        query.extend(proof.map(|proof| ("appsecret_proof", proof)));
        get("me", query)
    };
    let right = graph::proof(graph::APP_SECRET, "good-token");
    assert_eq!(me(Some(right)).await, (200, json!({"id": "1001", "email": "fb@example.com"})));
    for wrong in [None, Some(graph::proof("not-the-secret", "good-token")), Some("00".repeat(32))] {
        let (status, body) = me(wrong).await;
        assert_eq!((status, &body["error"]["code"]), (400, &json!(100)), "{body}");
    }
    let app_token = format!("{}|{}", graph::APP_ID, graph::APP_SECRET);
    let debug = |proof: String| {
        get(
            "debug_token",
            vec![("input_token", "good-token".into()), ("access_token", app_token.clone()), ("appsecret_proof", proof)],
        )
    };
    let (status, body) = debug(graph::proof(graph::APP_SECRET, &app_token)).await;
    assert_eq!((status, &body["data"]["is_valid"], &body["data"]["user_id"]), (200, &json!(true), &json!("1001")));
    let (status, _) = debug(graph::proof(graph::APP_SECRET, "good-token")).await;
    assert_eq!(status, 400, "a proof of another token");

    // The service configured with the wrong secret: its app token and proofs are refused.
    let (app, _) = facebook_app(backend, &graph, &[("STAMPS_FACEBOOK_APP_SECRET", "not-the-app-secret")]).await;
    assert_v2_error(&fb_login(&app, "good-token", "1001").await, 503, FACEBOOK_UNAVAILABLE);
    assert_v2_error(&fb_register(&app, EMAIL, "good-token").await, 503, FACEBOOK_UNAVAILABLE);
    assert!(app.store.customer_by(1, UniqueField::Email, EMAIL).await.expect("read").is_none(), "nothing created");
}

/// Without a Facebook app configured the server starts, passwords work, and a Facebook token
/// gets a clear 503 that names the cause.
async fn without_a_facebook_app_facebook_sign_in_is_503_and_passwords_work(backend: Backend) {
    let graph = graph::spawn_graph(Duration::ZERO).await;
    let (app, merchant) = v2_app(backend, &[("STAMPS_FACEBOOK_GRAPH_URL", &graph)]).await;
    let not_configured = "Facebook sign-in is not configured on this server.";
    assert_v2_error(&fb_login(&app, "good-token", "1001").await, 503, not_configured);
    assert_v2_error(&fb_register(&app, EMAIL, "good-token").await, 503, not_configured);
    assert!(app.store.customer_by(merchant.id, UniqueField::Email, EMAIL).await.expect("read").is_none());
    key_of(&register(&app, EMAIL).await);
    key_of(&login(&app, EMAIL, PASSWORD).await);
}

async fn facebook_down_or_slow_is_a_clear_503(backend: Backend) {
    // Down: a port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let (app, _) = facebook_app(backend, &closed, &[]).await;
    assert_v2_error(&fb_login(&app, "good-token", "1001").await, 503, FACEBOOK_UNAVAILABLE);
    assert_v2_error(&fb_register(&app, EMAIL, "good-token").await, 503, FACEBOOK_UNAVAILABLE);
    assert!(app.store.customer_by(1, UniqueField::Email, EMAIL).await.expect("read").is_none(), "nothing created");

    // Slow: answers after the configured timeout.
    let slow = graph::spawn_graph(Duration::from_secs(3)).await;
    let (app, _) = facebook_app(backend, &slow, &[("STAMPS_AWS_TIMEOUT_MS", "300")]).await;
    assert_v2_error(&fb_login(&app, "good-token", "1001").await, 503, FACEBOOK_UNAVAILABLE);
}

/// The reset token in the one email sent to `to` so far.
pub(crate) async fn emailed_token(app: &TestApp, to: &str) -> String {
    let messages = app.outbox_messages().await;
    let emails: Vec<&Value> = messages.iter().filter(|m| m["destination"] == to).collect();
    assert_eq!(emails.len(), 1, "{messages:?}");
    assert_eq!((&emails[0]["channel"], &emails[0]["subject"]), (&json!("email"), &json!("Reset your password")));
    let text = emails[0]["text"].as_str().expect("text body");
    let token = text.split("reset your password: ").nth(1).and_then(|rest| rest.split_whitespace().next());
    token.expect("a token in the email").to_string()
}

async fn forgot_password_answers_alike_and_the_emailed_token_resets_once(backend: Backend) {
    let (app, _) = v2_app(backend, &[]).await;
    key_of(&register(&app, EMAIL).await);
    let known = form(&app, "/api/v2/auth/forgot_password", &[("email", "ShCode@example.com")]).await;
    let unknown = form(&app, "/api/v2/auth/forgot_password", &[("email", "nobody@example.com")]).await;
    let answer = json!({"status": 1, "message": "Profile detail and reset password has been sent to your email."});
    assert_eq!((known.status, &known.body), (200, &answer), "{}", known.text);
    assert_eq!((unknown.status, &unknown.body), (200, &answer), "{}", unknown.text);
    let token = emailed_token(&app, EMAIL).await;
    assert_eq!(app.outbox_messages().await.len(), 1, "nothing is sent for an unknown email");

    let reset = |token: String, password: &'static str| {
        let app = &app;
        async move { form(app, "/api/v2/auth/reset_password", &[("token", &token), ("password", password)]).await }
    };
    // A weak password is refused without using the token up.
    assert_v2_error(&reset(token.clone(), "12345678").await, 400, "This password is entirely numeric.");
    let invalid = "Your reset token is invalid or has expired.";
    assert_v2_error(&reset(format!("{token}x"), "brand-new-pass-7").await, 400, invalid);
    assert_v2_error(&reset("garbage".into(), "brand-new-pass-7").await, 400, invalid);
    let done = reset(token.clone(), "brand-new-pass-7").await;
    assert_eq!((done.status, &done.body), (200, &json!({"status": 1, "message": "Password has been reset."})));
    assert_v2_error(&reset(token, "another-pass-8").await, 400, invalid);
    assert_v2_error(&login(&app, EMAIL, PASSWORD).await, 401, "Your password is invalid.");
    key_of(&login(&app, EMAIL, "brand-new-pass-7").await);

    // A token is good for one hour.
    form(&app, "/api/v2/auth/forgot_password", &[("email", EMAIL)]).await;
    let messages = app.outbox_messages().await;
    let text = messages.last().and_then(|m| m["text"].as_str()).expect("a second email");
    let token = text.split("reset your password: ").nth(1).and_then(|r| r.split_whitespace().next()).expect("token");
    app.clock.advance(3601);
    assert_v2_error(&reset(token.to_string(), "third-pass-999").await, 400, invalid);
}

async fn logout_revokes_exactly_one_key(backend: Backend) {
    let (app, _) = v2_app(backend, &[]).await;
    let first = key_of(&register(&app, EMAIL).await);
    let second = key_of(&login(&app, EMAIL, PASSWORD).await);
    let logout = |key: String| {
        let app = &app;
        async move { form(app, "/api/v2/auth/logout", &[("key", &key)]).await }
    };
    let response = logout(first.clone()).await;
    assert_eq!((response.status, &response.body), (200, &json!({"status": 1})), "{}", response.text);
    assert!(app.store.app_key(&key_hash(&first)).await.expect("read").is_none());
    assert!(app.store.app_key(&key_hash(&second)).await.expect("read").is_some(), "the other key lives on");
    assert_v2_error(&logout(first).await, 401, "Your key is invalid.");
    assert_v2_error(&logout("not-a-key".into()).await, 401, "Your key is invalid.");
    assert_v2_error(
        &form(&app, "/api/v2/auth/logout", &[]).await,
        400,
        "Your parameter is not complete. Missing parameter 'key'.",
    );
    assert_eq!(logout(second).await.status, 200);
}

async fn without_a_v2_merchant_every_route_is_503(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in [
        "/api/v2/auth/login",
        "/api/v2/auth/register",
        "/api/v2/auth/forgot_password",
        "/api/v2/auth/reset_password",
        "/api/v2/auth/logout",
    ] {
        let response = form(&app, path, &[("email", EMAIL), ("password", PASSWORD)]).await;
        assert_v2_error(&response, 503, "The mobile app API is not configured on this server.");
    }
}
