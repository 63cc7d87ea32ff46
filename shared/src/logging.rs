//! Structured JSON logs on stdout (CloudWatch in Lambda). Log lines carry codes, IDs and
//! timings only: never a body, header, PIN, password, OTP, key or token.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`) sets the level, `info`
/// by default. Safe to call twice.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
