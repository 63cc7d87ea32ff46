//! The local server's `GET /metrics`: the counters the functions write as EMF, in Prometheus
//! text, counted as the routes decide.

use integration_tests::app::{Backend, spawn_app};
use serde_json::json;

use crate::pin::{OTHER_PIN, PIN, set_pin, setup};

/// The value of the sample `name{labels}` in Prometheus text (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_routes_decided() {
    let app = spawn_app(Backend::Sqlite).await;
    let (merchant, ann) = setup(&app).await;
    set_pin(&app, &merchant, &ann, PIN).await;
    for _ in 0..3 {
        app.post_as(&merchant, "/api/pin/validate", &json!({"user": ann.id, "pin": OTHER_PIN})).await;
    }
    // Blocked: refused without a PIN evaluated, not a failure.
    app.post_as(&merchant, "/api/pin/validate", &json!({"user": ann.id, "pin": PIN})).await;
    app.access_token(&merchant).await;
    app.post("/api/token/verify/", &json!({"access_token": "x.y.z"}), &[]).await;
    let body = json!({"user": ann.id, "password": "wrong-pass-1"});
    app.post_as(&merchant, "/api/auth/validate-password", &body).await;
    app.post_as(&merchant, "/api/pin/request-otp-for-reset", &json!({"user": ann.id})).await;

    let response = app.send("GET", "/metrics", None, Vec::new(), &[]).await;
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").is_some_and(|t| t.starts_with("application/openmetrics-text")));
    let text = response.text;
    let pin = "function=\"pin-validate\"";
    assert_eq!(sample(&text, &format!("stamps_pin_failures_total{{{pin}}}")), 3.0, "{text}");
    assert_eq!(sample(&text, &format!("stamps_pin_blocks_total{{{pin}}}")), 1.0);
    assert_eq!(sample(&text, &format!("stamps_requests_total{{{pin},status_class=\"4xx\"}}")), 4.0);
    assert_eq!(sample(&text, "stamps_requests_total{function=\"pin-set\",status_class=\"2xx\"}"), 1.0);
    assert_eq!(sample(&text, &format!("stamps_latency_milliseconds_count{{{pin}}}")), 4.0);
    assert_eq!(sample(&text, "stamps_tokens_issued_total{function=\"token\"}"), 1.0);
    assert_eq!(sample(&text, "stamps_tokens_refused_total{function=\"token-verify\"}"), 1.0);
    assert_eq!(sample(&text, "stamps_password_failures_total{function=\"validate-password\"}"), 1.0);
    assert_eq!(sample(&text, "stamps_otp_requested_total{function=\"pin-request-otp-for-reset\"}"), 1.0);
    assert!(text.ends_with("# EOF\n"), "{text}");

    let response = app.send("POST", "/metrics", None, Vec::new(), &[]).await;
    assert_eq!((response.status, response.header("allow")), (405, Some("GET")));
}
