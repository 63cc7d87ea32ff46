//! Token API (docs/api.md section 3).

use integration_tests::app::{Backend, JWT_KID, JWT_KID_OLD, JWT_SECRET, JWT_SECRET_OLD, START, spawn_app};
use integration_tests::jwt::{mint, mint_raw};
use serde_json::json;

both_stores!(
    valid_key_gets_a_token_that_verifies,
    token_payload_has_the_spec_fields,
    wrong_key_is_authentication_failed,
    key_of_another_merchant_is_authentication_failed,
    missing_fields_are_required,
    merchant_of_wrong_type_is_invalid,
    token_issued_by_form_body,
);

async fn valid_key_gets_a_token_that_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    let response = app.post("/api/token/", &json!({"token": merchant.api_key, "merchant": merchant.id}), &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let token = response.body["access_token"].as_str().expect("token");
    let verified = app.post("/api/token/verify/", &json!({"access_token": token}), &[]).await;
    assert_eq!((verified.status, verified.body.clone()), (200, json!({})));
}

async fn token_payload_has_the_spec_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    let token = app.access_token(&merchant).await;
    let (header, payload) = integration_tests::jwt::decode_unverified(&token);
    assert_eq!(header, json!({"typ": "JWT", "alg": "HS256", "kid": JWT_KID}));
    assert_eq!(payload["token_type"], "access");
    assert_eq!(payload["iat"], START);
    assert_eq!(payload["exp"], START + 86_400);
    assert_eq!(payload["user_id"], merchant.id);
    assert_eq!(payload["merchant_user_id"], merchant.id);
    let jti = payload["jti"].as_str().expect("jti");
    assert!(jti.len() == 32 && jti.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')), "{jti}");
    let keys: Vec<&String> = payload.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
}

async fn wrong_key_is_authentication_failed(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    for key in ["nonsense", "", "1.00000000000000000000000000000000.00000000000000000000000000000000"] {
        let response = app.post("/api/token/", &json!({"token": key, "merchant": merchant.id}), &[]).await;
        let expected = if key.is_empty() { 400 } else { 401 };
        assert_eq!(response.status, expected, "{key}: {}", response.text);
    }
    let response = app.post("/api/token/", &json!({"token": "nonsense", "merchant": merchant.id}), &[]).await;
    assert_eq!(response.error_code(), "authentication_failed");
    assert_eq!(response.body["detail"], "Invalid token.");
}

async fn key_of_another_merchant_is_authentication_failed(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_merchant("A").await;
    let b = app.create_merchant("B").await;
    let response = app.post("/api/token/", &json!({"token": a.api_key, "merchant": b.id}), &[]).await;
    assert_eq!((response.status, response.error_code()), (401, "authentication_failed"));
}

async fn missing_fields_are_required(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    let response = app.post("/api/token/", &json!({"merchant": merchant.id}), &[]).await;
    assert_eq!((response.status, response.error_code()), (400, "required"));
    assert_eq!(response.body["errors"], json!({"token": "This field is required."}));
    assert_eq!(response.body["detail"], "token: This field is required.");
    let response = app.post("/api/token/", &json!({"token": merchant.api_key}), &[]).await;
    assert_eq!(response.body["errors"], json!({"merchant": "This field is required."}));
    let response = app.post("/api/token/", &json!({}), &[]).await;
    assert_eq!(response.body["errors"], json!({"token": "This field is required."}), "first failing field only");
}

async fn merchant_of_wrong_type_is_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    for bad in [json!("abc"), json!(true), json!([1]), json!(-3), json!(1.5)] {
        let response = app.post("/api/token/", &json!({"token": merchant.api_key, "merchant": bad}), &[]).await;
        assert_eq!((response.status, response.error_code()), (400, "invalid"), "{bad}");
    }
    let response = app.post("/api/token/", &json!({"token": 12345, "merchant": merchant.id}), &[]).await;
    assert_eq!((response.status, response.error_code()), (400, "invalid"));
    let as_string = json!({"token": merchant.api_key, "merchant": merchant.id.to_string()});
    assert_eq!(app.post("/api/token/", &as_string, &[]).await.status, 200);
}

async fn token_issued_by_form_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    let form = format!("token={}&merchant={}", merchant.api_key, merchant.id);
    let response =
        app.send("POST", "/api/token/", Some("application/x-www-form-urlencoded"), form.into_bytes(), &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);
}

// Verification needs no storage: one store is enough for these.

#[tokio::test]
async fn verify_accepts_the_three_field_spellings() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = mint(JWT_KID, JWT_SECRET, json!({"exp": START + 60}));
    for field in ["access_token", "accesstoken", "token"] {
        let response = app.post("/api/token/verify/", &json!({field: token}), &[]).await;
        assert_eq!(response.status, 200, "{field}: {}", response.text);
    }
}

#[tokio::test]
async fn verify_refuses_hostile_tokens_with_token_not_valid() {
    let app = spawn_app(Backend::Sqlite).await;
    let good = mint(JWT_KID, JWT_SECRET, json!({"exp": START + 60}));
    let cases = vec![
        ("expired", mint(JWT_KID, JWT_SECRET, json!({"exp": START - 31, "iat": START - 100}))),
        (
            "tampered signature",
            format!("{}{}", &good[..good.len() - 2], if good.ends_with("AA") { "BB" } else { "AA" }),
        ),
        ("truncated", good[..good.len() - 10].to_string()),
        ("alg none", mint_raw(&json!({"alg": "none", "typ": "JWT", "kid": JWT_KID}), json!({"exp": START + 60}), None)),
        (
            "HS512",
            mint_raw(
                &json!({"alg": "HS512", "typ": "JWT", "kid": JWT_KID}),
                json!({"exp": START + 60}),
                Some(JWT_SECRET),
            ),
        ),
        (
            "RS256",
            mint_raw(
                &json!({"alg": "RS256", "typ": "JWT", "kid": JWT_KID}),
                json!({"exp": START + 60}),
                Some(JWT_SECRET),
            ),
        ),
        ("unknown kid", mint("nobody", JWT_SECRET, json!({"exp": START + 60}))),
        ("no exp", mint(JWT_KID, JWT_SECRET, json!({"exp": null}))),
        ("refresh type", mint(JWT_KID, JWT_SECRET, json!({"exp": START + 60, "token_type": "refresh"}))),
        ("right kid, other key's secret", mint(JWT_KID, JWT_SECRET_OLD, json!({"exp": START + 60}))),
        ("not a jwt", "hello".to_string()),
    ];
    for (what, token) in cases {
        let response = app.post("/api/token/verify/", &json!({"access_token": token}), &[]).await;
        assert_eq!(response.status, 401, "{what}: {}", response.text);
        assert_eq!(response.body["code"], "token_not_valid", "{what}");
        assert_eq!(response.body["error_code"], "token_not_valid", "{what}");
        assert_eq!(response.body["detail"], "Token is invalid or expired", "{what}");
    }
}

#[tokio::test]
async fn verify_allows_thirty_seconds_of_leeway_only() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = mint(JWT_KID, JWT_SECRET, json!({"exp": START - 30, "iat": START - 100}));
    assert_eq!(app.post("/api/token/verify/", &json!({"token": token}), &[]).await.status, 200);
    app.clock.advance(1);
    assert_eq!(app.post("/api/token/verify/", &json!({"token": token}), &[]).await.status, 401);
}

#[tokio::test]
async fn rotation_token_signed_by_second_key_verifies() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = mint(JWT_KID_OLD, JWT_SECRET_OLD, json!({"exp": START + 60}));
    assert_eq!(app.post("/api/token/verify/", &json!({"access_token": token}), &[]).await.status, 200);
}

#[tokio::test]
async fn verify_without_token_is_required_and_wrong_type_is_not_valid() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.post("/api/token/verify/", &json!({}), &[]).await;
    assert_eq!((response.status, response.error_code()), (400, "required"));
    let response = app.post("/api/token/verify/", &json!({"access_token": 5}), &[]).await;
    assert_eq!((response.status, response.error_code()), (401, "token_not_valid"));
}
