//! Metrics without a network call: the names, units and dimensions of docs/metrics.md, counted
//! where the domain decides (a PIN failure, a block, an OTP issued...) into the current
//! invocation's scope (`context`), then written once per invocation by the `Sink`:
//! - a Lambda function writes one CloudWatch Embedded Metric Format record per invocation (per
//!   delivery channel for the dispatch function) on standard output, from which CloudWatch Logs
//!   extracts the metrics (`emf`);
//! - the local server adds them to its registry, served as Prometheus text at `GET /metrics`
//!   (`registry`).
//!
//! Per route, `http::respond` adds `Requests` (by status class) and `Latency` (handler time);
//! the EMF sink adds `ColdStart` to the first record of a process.

pub mod emf;
#[cfg(feature = "server")]
pub mod registry;

use std::time::Duration;

use crate::context::{self, Count};
use crate::delivery::Channel;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "StampsAuth";
/// The value of the `Service` dimension every record carries.
pub const SERVICE: &str = "stamps-auth";

/// A dimension of a metric (docs/metrics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Service,
    Function,
    StatusClass,
    Channel,
}

impl Dimension {
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Service => "Service",
            Dimension::Function => "Function",
            Dimension::StatusClass => "StatusClass",
            Dimension::Channel => "Channel",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Every metric of docs/metrics.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Requests,
    Latency,
    ColdStart,
    PinFailures,
    PinBlocks,
    OtpRequested,
    OtpUsed,
    OtpRejected,
    OtpLimitHits,
    PasswordFailures,
    PasswordThrottles,
    TokensIssued,
    TokensRefused,
    DeliveriesSent,
    DeliveriesFailed,
    DeliveriesDeadLettered,
    DeliveryBounces,
    DeliveryComplaints,
}

use Dimension::{Channel as ChannelDimension, Function, Service, StatusClass};

const PER_FUNCTION: &[&[Dimension]] = &[&[Service, Function]];
/// A domain counter: over the whole service, and per function.
const DOMAIN: &[&[Dimension]] = &[&[Service], &[Service, Function]];
const DELIVERY: &[&[Dimension]] = &[&[Service, Function], &[Service, ChannelDimension]];
const SERVICE_ONLY: &[&[Dimension]] = &[&[Service]];

impl Metric {
    pub const ALL: [Metric; 18] = [
        Metric::Requests,
        Metric::Latency,
        Metric::ColdStart,
        Metric::PinFailures,
        Metric::PinBlocks,
        Metric::OtpRequested,
        Metric::OtpUsed,
        Metric::OtpRejected,
        Metric::OtpLimitHits,
        Metric::PasswordFailures,
        Metric::PasswordThrottles,
        Metric::TokensIssued,
        Metric::TokensRefused,
        Metric::DeliveriesSent,
        Metric::DeliveriesFailed,
        Metric::DeliveriesDeadLettered,
        Metric::DeliveryBounces,
        Metric::DeliveryComplaints,
    ];

    /// The CloudWatch name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Requests => "Requests",
            Metric::Latency => "Latency",
            Metric::ColdStart => "ColdStart",
            Metric::PinFailures => "PinFailures",
            Metric::PinBlocks => "PinBlocks",
            Metric::OtpRequested => "OtpRequested",
            Metric::OtpUsed => "OtpUsed",
            Metric::OtpRejected => "OtpRejected",
            Metric::OtpLimitHits => "OtpLimitHits",
            Metric::PasswordFailures => "PasswordFailures",
            Metric::PasswordThrottles => "PasswordThrottles",
            Metric::TokensIssued => "TokensIssued",
            Metric::TokensRefused => "TokensRefused",
            Metric::DeliveriesSent => "DeliveriesSent",
            Metric::DeliveriesFailed => "DeliveriesFailed",
            Metric::DeliveriesDeadLettered => "DeliveriesDeadLettered",
            Metric::DeliveryBounces => "DeliveryBounces",
            Metric::DeliveryComplaints => "DeliveryComplaints",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::Latency => Unit::Milliseconds,
            _ => Unit::Count,
        }
    }

    /// The dimension sets CloudWatch aggregates the metric by.
    pub fn dimension_sets(self) -> &'static [&'static [Dimension]] {
        match self {
            Metric::Requests => &[&[Service, Function, StatusClass]],
            Metric::Latency | Metric::ColdStart => PER_FUNCTION,
            Metric::DeliveriesSent | Metric::DeliveriesFailed | Metric::DeliveriesDeadLettered => DELIVERY,
            Metric::DeliveryBounces | Metric::DeliveryComplaints => SERVICE_ONLY,
            _ => DOMAIN,
        }
    }

    /// The name in the local server's Prometheus text: snake case, prefixed `stamps_`
    /// (counters get `_total` when encoded).
    pub fn prometheus_name(self) -> String {
        let mut name = String::from("stamps");
        for c in self.name().chars() {
            if c.is_ascii_uppercase() {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        if self == Metric::Latency {
            name.push_str("_milliseconds");
        }
        name
    }
}

/// Counts one `metric` for the current invocation.
pub fn count(metric: Metric) {
    context::add(Count { metric, channel: None, value: 1.0 });
}

/// Counts one delivery `metric` on `channel` for the current invocation.
pub fn count_delivery(metric: Metric, channel: Channel) {
    context::add(Count { metric, channel: Some(channel), value: 1.0 });
}

/// `2xx`, `4xx` or `5xx` (and `1xx`/`3xx`, which no route answers).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Where an invocation's metrics go.
#[derive(Clone, Default)]
pub enum Sink {
    /// One EMF record per invocation on standard output (the Lambda functions).
    Emf,
    /// The local server's registry, served at `GET /metrics`.
    #[cfg(feature = "server")]
    Registry(std::sync::Arc<registry::Registry>),
    /// Nowhere (operator commands, tests that do not look).
    #[default]
    Discard,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sink::Emf => "Emf",
            #[cfg(feature = "server")]
            Sink::Registry(_) => "Registry",
            Sink::Discard => "Discard",
        })
    }
}

impl Sink {
    /// One HTTP answer of `function`: `Requests` by status class, `Latency`, and what the
    /// handler counted.
    pub fn request(&self, function: &str, status: u16, elapsed: Duration, counts: &[Count]) {
        let class = status_class(status);
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        match self {
            Sink::Emf => emf::write(&emf::request_records(function, class, latency_ms, counts)),
            #[cfg(feature = "server")]
            Sink::Registry(registry) => registry.request(function, class, latency_ms, counts),
            Sink::Discard => {}
        }
    }

    /// One invocation of a queue worker (`otp-dispatch`, `delivery-events`): what it counted.
    pub fn invocation(&self, function: &str, counts: &[Count]) {
        match self {
            Sink::Emf => emf::write(&emf::invocation_records(function, counts)),
            #[cfg(feature = "server")]
            Sink::Registry(registry) => registry.invocation(function, counts),
            Sink::Discard => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_metrics_md() {
        assert_eq!(Metric::PinFailures.prometheus_name(), "stamps_pin_failures");
        assert_eq!(Metric::DeliveriesDeadLettered.prometheus_name(), "stamps_deliveries_dead_lettered");
        assert_eq!(Metric::Latency.prometheus_name(), "stamps_latency_milliseconds");
        assert_eq!(Metric::Latency.unit(), Unit::Milliseconds);
        for metric in Metric::ALL {
            assert!(metric.dimension_sets().iter().all(|set| set.first() == Some(&Service)), "{metric:?}");
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!([status_class(200), status_class(429), status_class(503)], ["2xx", "4xx", "5xx"]);
    }

    /// docs/metrics.md is what the alarms and dashboards are built on: every metric in its
    /// table is one of ours, with the same unit and dimension sets, and none is missing.
    #[test]
    fn the_metrics_page_and_the_code_agree() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
        let text = std::fs::read_to_string(path).expect("docs/metrics.md");
        let mut seen = Vec::new();
        for line in text.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`');
            let metric = Metric::ALL.iter().find(|m| m.name() == name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(cells[2], metric.unit().name(), "{name}");
            let sets: Vec<String> = metric
                .dimension_sets()
                .iter()
                .map(|set| format!("[{}]", set.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")))
                .collect();
            assert_eq!(cells[3], sets.join(", "), "{name}");
            seen.push(*metric);
        }
        assert_eq!(seen, Metric::ALL.to_vec());
    }
}
