//! The local server's metrics: the same counters the functions write as EMF, kept in a
//! `prometheus-client` registry and served as Prometheus (OpenMetrics) text at `GET /metrics`.
//! Each CloudWatch dimension is a label (`function`, `status_class`, `channel`); the
//! service-wide sets of CloudWatch are sums over `function` here. `ColdStart` has no meaning in
//! one long-running process and is not kept.

use std::collections::HashMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use super::{Metric, SERVICE};
use crate::context::Count;

type Labels = Vec<(String, String)>;

/// The content type of `render`'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct Registry {
    registry: prometheus_client::registry::Registry,
    counters: HashMap<Metric, Family<Labels, Counter>>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

fn histogram() -> Histogram {
    // 0.25 ms to about 4 s: a token check to a hash under load.
    Histogram::new(exponential_buckets(0.25, 2.0, 15))
}

impl Registry {
    pub fn new() -> Registry {
        let mut registry = prometheus_client::registry::Registry::default();
        let mut counters = HashMap::new();
        for metric in Metric::ALL {
            if matches!(metric, Metric::Latency | Metric::ColdStart) {
                continue;
            }
            let family = Family::<Labels, Counter>::default();
            registry.register(metric.prometheus_name(), format!("{} ({SERVICE})", metric.name()), family.clone());
            counters.insert(metric, family);
        }
        let latency: Family<Labels, Histogram, fn() -> Histogram> = Family::new_with_constructor(histogram);
        registry.register(Metric::Latency.prometheus_name(), "Handler time of each answer", latency.clone());
        Registry { registry, counters, latency }
    }

    fn add(&self, function: &str, count: &Count) {
        let Some(family) = self.counters.get(&count.metric) else { return };
        let mut labels = vec![("function".to_string(), function.to_string())];
        if let Some(channel) = count.channel {
            labels.push(("channel".to_string(), channel.as_str().to_string()));
        }
        family.get_or_create(&labels).inc_by(count.value.round().max(0.0) as u64);
    }

    pub fn request(&self, function: &str, status_class: &str, latency_ms: f64, counts: &[Count]) {
        let labels = vec![
            ("function".to_string(), function.to_string()),
            ("status_class".to_string(), status_class.to_string()),
        ];
        if let Some(requests) = self.counters.get(&Metric::Requests) {
            requests.get_or_create(&labels).inc();
        }
        self.latency.get_or_create(&vec![("function".to_string(), function.to_string())]).observe(latency_ms);
        for count in counts {
            self.add(function, count);
        }
    }

    pub fn invocation(&self, function: &str, counts: &[Count]) {
        for count in counts {
            self.add(function, count);
        }
    }

    /// Everything counted so far, as OpenMetrics text (which Prometheus scrapes).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_served_under_their_snake_case_names() {
        let registry = Registry::new();
        let counts = [Count { metric: Metric::PinFailures, channel: None, value: 1.0 }];
        registry.request("pin-validate", "4xx", 3.5, &counts);
        registry.request("pin-validate", "4xx", 2.0, &counts);
        let text = registry.render();
        assert!(text.contains("stamps_pin_failures_total{function=\"pin-validate\"} 2"), "{text}");
        assert!(text.contains("stamps_requests_total{function=\"pin-validate\",status_class=\"4xx\"} 2"), "{text}");
        assert!(text.contains("stamps_latency_milliseconds_count{function=\"pin-validate\"} 2"), "{text}");
    }
}
