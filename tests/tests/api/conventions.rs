//! docs/api.md section 1: the conventions every `/api/` route keeps.

use integration_tests::app::{Backend, TestResponse, spawn_app, spawn_app_with};
use serde_json::json;
use shared::http::{ErrorStyle, ROUTES, Route};

fn assert_json(response: &integration_tests::app::TestResponse) {
    assert_eq!(response.header("content-type"), Some("application/json"), "{}", response.text);
    assert!(response.body.is_object(), "body is a JSON object: {}", response.text);
}

/// The route's error body says `code`: the error body of docs/api.md for the merchant API, and for the mobile
/// app API v2 its own shape, `{"status": 0, "error": "..."}`, which carries no code.
fn assert_error(route: &Route, response: &TestResponse, code: &str) {
    assert_json(response);
    match route.errors {
        ErrorStyle::V2 => {
            let error = response.body["error"].as_str().unwrap_or_default();
            assert!(response.body["status"] == 0 && !error.is_empty(), "{}: {}", route.path, response.text);
            assert_eq!(response.body.as_object().map(|body| body.len()), Some(2), "{}", response.text);
        }
        ErrorStyle::Api | ErrorStyle::ApiWithStatus => {
            assert_eq!(response.error_code(), code, "{}: {}", route.path, response.text);
        }
    }
}

/// The human-readable message of an error body, whatever its shape.
fn message(response: &TestResponse) -> &str {
    response.body["detail"].as_str().or_else(|| response.body["error"].as_str()).unwrap_or_default()
}

#[tokio::test]
async fn options_answers_200_with_allow() {
    let app = spawn_app(Backend::Sqlite).await;
    for route in ROUTES {
        let response = app.send("OPTIONS", route.path, None, vec![], &[]).await;
        assert_eq!(response.status, 200, "{}", route.path);
        assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
        assert_json(&response);
    }
}

#[tokio::test]
async fn other_methods_answer_405_with_allow_and_an_error_body() {
    let app = spawn_app(Backend::Sqlite).await;
    for route in ROUTES {
        for method in ["GET", "PUT", "DELETE", "PATCH"] {
            let response = app.send(method, route.path, None, vec![], &[]).await;
            assert_eq!(response.status, 405, "{method} {}", route.path);
            assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
            assert_error(route, &response, "method_not_allowed");
            assert_eq!(message(&response), format!("Method \"{method}\" not allowed."));
        }
    }
}

#[tokio::test]
async fn unknown_paths_and_near_misses_are_404() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/", "/api/token", "/api/token/verify", "/api/auth/validate-mobile-number/", "/nope"] {
        let response = app.post(path, &json!({}), &[]).await;
        assert_eq!(response.status, 404, "{path}");
        assert_json(&response);
        assert_eq!(response.error_code(), "not_found");
    }
}

#[tokio::test]
async fn other_media_types_are_415() {
    let app = spawn_app(Backend::Sqlite).await;
    for route in ROUTES {
        let response = app.send("POST", route.path, Some("text/plain"), b"token=x".to_vec(), &[]).await;
        assert_eq!(response.status, 415, "{}", route.path);
        assert_error(route, &response, "unsupported_media_type");
    }
}

#[tokio::test]
async fn bodies_over_16_kib_are_413_and_at_16_kib_are_read() {
    let app = spawn_app(Backend::Sqlite).await;
    for route in ROUTES {
        let padding = "x".repeat(16 * 1024);
        let response = app.post(route.path, &json!({"padding": padding}), &[]).await;
        assert_eq!(response.status, 413, "{}", route.path);
        assert_error(route, &response, "request_too_large");
        // Exactly 16 KiB is accepted (and then fails on its fields, not its size).
        let mut body = br#"{"p":""#.to_vec();
        body.resize(16 * 1024 - 2, b'x');
        body.extend_from_slice(br#""}"#);
        assert_eq!(body.len(), 16 * 1024);
        let response = app.send("POST", route.path, Some("application/json"), body, &[]).await;
        assert_ne!(response.status, 413, "{}", route.path);
    }
}

#[tokio::test]
async fn malformed_json_and_non_objects_are_parse_errors() {
    let app = spawn_app(Backend::Sqlite).await;
    let bodies: [&[u8]; 6] = [
        br#"{"user": "a", "pin": "123456", "confirm_pin", "654321"}"#,
        b"[1, 2, 3]",
        b"\"a string\"",
        b"{",
        b"\xff\xfe",
        b"nul",
    ];
    for route in ROUTES {
        for body in bodies {
            let response = app.send("POST", route.path, Some("application/json"), body.to_vec(), &[]).await;
            assert_eq!(response.status, 400, "{} {:?}", route.path, String::from_utf8_lossy(body));
            assert_error(route, &response, "parse_error");
            assert!(message(&response).starts_with("JSON parse error - "), "{}", response.text);
        }
    }
}

#[tokio::test]
async fn no_route_answers_500_to_arbitrary_field_types() {
    // With the v2 routes configured: unconfigured they rightly answer 503 to everything.
    let app = spawn_app_with(Backend::Sqlite, &[("STAMPS_V2_MERCHANT", "1")]).await;
    let values =
        [json!(null), json!(true), json!(0), json!(-1), json!(1e300), json!(""), json!("x"), json!([]), json!({})];
    let fields = ["token", "merchant", "access_token", "accesstoken", "mobile_number", "user", "email", "key"];
    for route in ROUTES {
        for field in fields {
            for value in &values {
                let response = app.post(route.path, &json!({field: value}), &[]).await;
                assert!(response.status < 500, "{} {field}={value}: {}", route.path, response.text);
                assert_json(&response);
                assert!(!message(&response).is_empty(), "{} {field}={value}: {}", route.path, response.text);
                if route.errors != ErrorStyle::V2 {
                    assert!(!response.error_code().is_empty(), "{} {field}={value}: {}", route.path, response.text);
                }
            }
        }
    }
}
