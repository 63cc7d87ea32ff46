//! `POST /api/auth/validate-mobile-number` and the merchant credentials it needs.

use integration_tests::app::{Backend, JWT_KID, JWT_SECRET, START, spawn_app};
use integration_tests::jwt::mint;
use serde_json::json;

const PATH: &str = "/api/auth/validate-mobile-number";

both_stores!(
    valid_number_comes_back_in_e164_with_each_credential,
    invalid_number_is_invalid_mobile_number_with_status_invalid,
    missing_credentials_are_not_authenticated,
    bad_credentials_are_authentication_failed,
);

async fn valid_number_comes_back_in_e164_with_each_credential(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    let token = app.access_token(&merchant).await;
    let bearer = format!("Bearer {token}");
    let api_key = format!("Token {}", merchant.api_key);
    let body = json!({"mobile_number": "081234567890"});
    for headers in [vec![("authorization", bearer.as_str())], vec![("authorization", api_key.as_str())]] {
        let response = app.post(PATH, &body, &headers).await;
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(response.body, json!({"status": "ok", "mobile_number": "+6281234567890"}));
    }
    // Legacy: the API key as a `token` body field, no Authorization header.
    let legacy = json!({"mobile_number": "081234567890", "token": merchant.api_key});
    assert_eq!(app.post(PATH, &legacy, &[]).await.status, 200);
    // Schemes are case-insensitive.
    let lower = format!("bearer {token}");
    assert_eq!(app.post(PATH, &body, &[("authorization", lower.as_str())]).await.status, 200);
}

async fn invalid_number_is_invalid_mobile_number_with_status_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    let auth = format!("Token {}", merchant.api_key);
    let headers = [("authorization", auth.as_str())];
    for number in ["0215551234", "12", "not a number"] {
        let response = app.post(PATH, &json!({"mobile_number": number}), &headers).await;
        assert_eq!(response.status, 400, "{number}");
        assert_eq!(
            response.body,
            json!({
                "detail": "mobile_number: Please enter a valid mobile phone number.",
                "errors": {"mobile_number": "Please enter a valid mobile phone number."},
                "error_code": "invalid_mobile_number",
                "error_message": "mobile_number: Please enter a valid mobile phone number.",
                "status": "invalid",
            })
        );
    }
    let response = app.post(PATH, &json!({}), &headers).await;
    assert_eq!((response.status, response.error_code()), (400, "required"));
    assert_eq!(response.body["status"], "invalid");
    let response = app.post(PATH, &json!({"mobile_number": 81234567890u64}), &headers).await;
    assert_eq!((response.status, response.error_code()), (400, "invalid"));
}

async fn missing_credentials_are_not_authenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post(PATH, &json!({"mobile_number": "081234567890"}), &[]).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.error_code(), "not_authenticated");
    assert_eq!(response.body["detail"], "Authentication credentials were not provided.");
    assert_eq!(response.body["status"], "invalid");
}

async fn bad_credentials_are_authentication_failed(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Shop").await;
    let expired = mint(JWT_KID, JWT_SECRET, json!({"exp": START - 100, "iat": START - 200}));
    let refresh = mint(JWT_KID, JWT_SECRET, json!({"token_type": "refresh"}));
    let token = app.access_token(&merchant).await;
    let cases = [
        format!("Bearer {expired}"),
        format!("Bearer {refresh}"),
        format!("Bearer {}", merchant.api_key),
        format!("Token {token}"),
        "Token nonsense".to_string(),
        format!("Basic {}", merchant.api_key),
        "Bearer".to_string(),
        format!("Bearer {token} extra"),
    ];
    for auth in &cases {
        let response = app.post(PATH, &json!({"mobile_number": "081234567890"}), &[("authorization", auth)]).await;
        assert_eq!(response.status, 401, "{auth}: {}", response.text);
        assert_eq!(response.error_code(), "authentication_failed", "{auth}");
        assert_eq!(response.body["detail"], "Invalid token.");
    }
    let response = app.post(PATH, &json!({"mobile_number": "081234567890", "token": "nonsense"}), &[]).await;
    assert_eq!((response.status, response.error_code()), (401, "authentication_failed"));
}
