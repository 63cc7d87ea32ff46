//! Structured JSON logs (CloudWatch in Lambda). Log lines carry codes, IDs and timings only:
//! never a body, header, PIN, password, OTP, key or token.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The levels from `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`), `info` by default: a level, or
/// `target=level` pairs separated by commas (`warn,shared=debug`). `Targets` rather than
/// `EnvFilter`: no span or field filters, but no regex engine linked into every function.
fn filter() -> Targets {
    std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .ok()
        .and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

fn init_with<W>(writer: W)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer);
    let _ = tracing_subscriber::registry().with(json).with(filter()).try_init();
}

/// JSON logs on standard output: the functions and the local server. Safe to call twice.
pub fn init() {
    init_with(std::io::stdout);
}

/// JSON logs on standard error: commands whose standard output is their answer.
pub fn init_stderr() {
    init_with(std::io::stderr);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn a_level_or_target_pairs_are_understood() {
        let spec: Targets = "warn,shared=debug".parse().expect("valid spec");
        assert!(spec.would_enable("shared::http", &Level::DEBUG));
        assert!(!spec.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(spec.would_enable("aws_smithy_runtime", &Level::WARN));
        let level: Targets = "error".parse().expect("valid spec");
        assert!(!level.would_enable("shared", &Level::WARN));
    }
}
