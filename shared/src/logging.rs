//! Structured JSON logs (CloudWatch in Lambda). Log lines carry codes, IDs and timings only:
//! never a body, header, PIN, password, OTP, key or token.

use tracing_subscriber::EnvFilter;

/// The level from `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`), `info` by default.
fn filter() -> EnvFilter {
    std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// JSON logs on standard output: the functions and the local server. Safe to call twice.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(false)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// JSON logs on standard error: commands whose standard output is their answer.
pub fn init_stderr() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}
