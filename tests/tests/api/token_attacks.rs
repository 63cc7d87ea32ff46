//! Hostile tokens (issue 9), beyond `token.rs`: not-yet-valid, `kid` tricks, embedded keys,
//! `alg` spellings, oversize, and every one of them on the merchant routes too (where a token
//! is a credential, not just a thing to verify); then a token of merchant A on merchant B's
//! customers.

use integration_tests::app::{Backend, JWT_KID, JWT_SECRET, START, spawn_app};
use integration_tests::jwt::{mint, mint_raw};
use serde_json::{Value, json};
use shared::admin::CustomerInput;

both_stores!(a_token_of_merchant_a_never_reaches_merchant_b_customers);

fn header(overrides: Value) -> Value {
    let mut header = json!({"alg": "HS256", "typ": "JWT", "kid": JWT_KID});
    if let (Some(base), Value::Object(changes)) = (header.as_object_mut(), overrides) {
        for (key, value) in changes {
            base.insert(key, value);
        }
    }
    header
}

/// Tokens that must all be refused, with what each tries.
fn hostile_tokens() -> Vec<(&'static str, String)> {
    let valid = json!({"exp": START + 60});
    let signed = |what, head: Value| (what, mint_raw(&header(head), valid.clone(), Some(JWT_SECRET)));
    vec![
        ("issued in the future", mint(JWT_KID, JWT_SECRET, json!({"iat": START + 31, "exp": START + 3600}))),
        ("not valid before later", mint(JWT_KID, JWT_SECRET, json!({"nbf": START + 31}))),
        signed("kid path traversal", json!({"kid": "../../../../dev/null"})),
        signed("kid SQL injection", json!({"kid": "x' OR '1'='1"})),
        signed("kid empty", json!({"kid": ""})),
        signed("kid a number", json!({"kid": 1})),
        signed("kid null", json!({"kid": null})),
        signed("kid 10,000 characters", json!({"kid": "k".repeat(10_000)})),
        (
            "embedded jwk with the attacker's key",
            mint_raw(
                &header(json!({"kid": "attacker", "jwk": {"kty": "oct", "k": "YXR0YWNrZXItc2VjcmV0"}})),
                valid.clone(),
                Some("attacker-secret"),
            ),
        ),
        (
            "jku pointing elsewhere",
            mint_raw(&header(json!({"jku": "https://evil.example/keys"})), valid.clone(), Some("attacker-secret")),
        ),
        ("alg None", mint_raw(&header(json!({"alg": "None"})), valid.clone(), None)),
        ("alg NONE with a signature", mint_raw(&header(json!({"alg": "NONE"})), valid.clone(), Some(JWT_SECRET))),
        ("alg hs256 in lower case", mint_raw(&header(json!({"alg": "hs256"})), valid.clone(), Some(JWT_SECRET))),
        ("alg missing", mint_raw(&json!({"typ": "JWT", "kid": JWT_KID}), valid.clone(), Some(JWT_SECRET))),
        ("unsigned HS256", mint_raw(&header(json!({})), valid.clone(), None)),
        ("signed with the empty key", mint_raw(&header(json!({})), valid.clone(), Some(""))),
        ("token_type missing", mint(JWT_KID, JWT_SECRET, json!({"token_type": null}))),
        ("token_type refresh", mint(JWT_KID, JWT_SECRET, json!({"token_type": "refresh"}))),
        ("exp a string", mint(JWT_KID, JWT_SECRET, json!({"exp": "never"}))),
        ("merchant missing", mint(JWT_KID, JWT_SECRET, json!({"merchant_user_id": null}))),
        ("four segments", format!("{}.extra", mint(JWT_KID, JWT_SECRET, json!({})))),
        (
            "two segments",
            mint(JWT_KID, JWT_SECRET, json!({})).rsplit_once('.').map(|(a, _)| a.to_string()).unwrap_or_default(),
        ),
        ("oversize payload", mint(JWT_KID, JWT_SECRET, json!({"padding": "p".repeat(12_000)}))),
    ]
}

#[tokio::test]
async fn hostile_tokens_fail_verification() {
    let app = spawn_app(Backend::Sqlite).await;
    for (what, token) in hostile_tokens() {
        let response = app.post("/api/token/verify/", &json!({"access_token": token}), &[]).await;
        assert_eq!((response.status, response.error_code()), (401, "token_not_valid"), "{what}: {}", response.text);
    }
    // Within the leeway, a token issued "now" on a slightly fast clock is fine.
    let token = mint(JWT_KID, JWT_SECRET, json!({"iat": START + 30, "nbf": START + 30}));
    assert_eq!(app.post("/api/token/verify/", &json!({"access_token": token}), &[]).await.status, 200);
}

#[tokio::test]
async fn hostile_tokens_are_not_credentials() {
    let app = spawn_app(Backend::Sqlite).await;
    let merchant = app.create_merchant("Kopi").await;
    let customer = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("a@example.com".into()),
            ..Default::default()
        })
        .await;
    let body = json!({"user": customer.id, "pin": "123456", "confirm_pin": "123456"});
    for (what, token) in hostile_tokens() {
        let response = app.post_bearer(&token, "/api/pin/set", &body).await;
        assert_eq!(
            (response.status, response.error_code()),
            (401, "authentication_failed"),
            "{what}: {}",
            response.text
        );
    }
    // A header far past any sane size is refused before the body is read, never a 500.
    let huge = "A".repeat(60_000);
    let response = app.post_bearer(&huge, "/api/pin/set", &body).await;
    assert!(matches!(response.status, 401 | 431), "{}: {}", response.status, response.text);
    // Nothing was set by any of them.
    let response = app.post_as(&merchant, "/api/pin/validate", &json!({"user": customer.id, "pin": "123456"})).await;
    assert_eq!(response.error_code(), "pin_not_set", "{}", response.text);
}

async fn a_token_of_merchant_a_never_reaches_merchant_b_customers(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_merchant("A").await;
    let b = app.create_merchant("B").await;
    let b_customer = app
        .create_customer(CustomerInput {
            merchant: b.id,
            email: Some("b@example.com".into()),
            member_id: Some("B-1".into()),
            password: Some("b-secret-pass-1".into()),
            ..Default::default()
        })
        .await;
    let set = json!({"user": b_customer.id, "pin": "135790", "confirm_pin": "135790"});
    assert_eq!(app.post_as(&b, "/api/pin/set", &set).await.status, 200);
    let a_token = app.access_token(&a).await;
    for user in [json!(b_customer.id), json!("b@example.com"), json!("B-1")] {
        for (path, body) in [
            ("/api/pin/validate", json!({"user": user, "pin": "000000"})),
            ("/api/pin/unblock", json!({"user": user})),
            ("/api/auth/validate-password", json!({"user": user, "password": "b-secret-pass-1"})),
            ("/api/pin/request-otp-for-reset", json!({"user": user})),
        ] {
            let response = app.post_bearer(&a_token, path, &body).await;
            assert_eq!(response.error_code(), "invalid_user", "{path} {user}: {}", response.text);
        }
    }
    // A's wrong guesses cost B's customer nothing: three attempts remain.
    let response = app.post_as(&b, "/api/pin/validate", &json!({"user": b_customer.id, "pin": "000000"})).await;
    assert_eq!(response.body["errors"]["pin"], "Invalid PIN, 2 attempt(s) left", "{}", response.text);
    // A token naming B in the payload but signed by someone else is no credential at all.
    let forged =
        mint(JWT_KID, "not-the-secret-not-the-secret-000000", json!({"user_id": b.id, "merchant_user_id": b.id}));
    let response =
        app.post_bearer(&forged, "/api/pin/validate", &json!({"user": b_customer.id, "pin": "135790"})).await;
    assert_eq!(response.error_code(), "authentication_failed");
}
