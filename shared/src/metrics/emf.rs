//! CloudWatch Embedded Metric Format, written by hand: a record is one JSON object on one line
//! of standard output, its metric values and dimension values as top-level keys, and `_aws`
//! saying which keys are metrics (name, unit) under which dimension sets. CloudWatch Logs
//! extracts the metrics from the function's log group; no call, no agent, no permission.
//!
//! The templates' functions log in Lambda's JSON format, which keeps a line that is already a
//! JSON object as it is (a line that is not would be wrapped in a `message` string, and its
//! metrics lost). A record carries no `level`, so Lambda files it as INFO: an application
//! log level above INFO would drop the metrics with the info logs.
//!
//! Written by hand rather than through `metrics_cloudwatch_embedded` or `metrique`: the format
//! is small (this file) and neither crate's effect on size and cold start has been measured
//! yet; measure it (`bench/coldstart.sh`) before trading this file for one.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::{Dimension, Metric, NAMESPACE, SERVICE};
use crate::context::Count;
use crate::delivery::Channel;

/// Whether this process has written no record yet: its first carries `ColdStart`.
static COLD: AtomicBool = AtomicBool::new(true);

fn cold_start() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// The counts summed by channel (`None` first), each channel's by metric.
fn by_channel(counts: &[Count]) -> BTreeMap<Option<Channel>, BTreeMap<Metric, f64>> {
    let mut grouped: BTreeMap<Option<Channel>, BTreeMap<Metric, f64>> = BTreeMap::new();
    for count in counts {
        *grouped.entry(count.channel).or_default().entry(count.metric).or_default() += count.value;
    }
    grouped
}

/// One record of `function`: `values` under their dimension sets, keeping only the sets whose
/// dimensions the record has a value for.
pub fn record(
    function: &str,
    status_class: Option<&str>,
    channel: Option<Channel>,
    values: &BTreeMap<Metric, f64>,
    timestamp_ms: u64,
) -> String {
    let present = |dimension: Dimension| match dimension {
        Dimension::Service | Dimension::Function => true,
        Dimension::StatusClass => status_class.is_some(),
        Dimension::Channel => channel.is_some(),
    };
    // Metrics with the same dimension sets share one directive.
    let mut directives: Vec<(Vec<Vec<&str>>, Vec<Value>)> = Vec::new();
    let mut record = Map::new();
    for (metric, value) in values {
        let sets: Vec<Vec<&str>> = metric
            .dimension_sets()
            .iter()
            .filter(|set| set.iter().all(|d| present(*d)))
            .map(|set| set.iter().map(|d| d.name()).collect())
            .collect();
        let definition = json!({"Name": metric.name(), "Unit": metric.unit().name()});
        match directives.iter_mut().find(|(existing, _)| *existing == sets) {
            Some((_, metrics)) => metrics.push(definition),
            None => directives.push((sets, vec![definition])),
        }
        record.insert(metric.name().to_string(), json!(value));
    }
    let directives: Vec<Value> = directives
        .into_iter()
        .map(|(sets, metrics)| json!({"Namespace": NAMESPACE, "Dimensions": sets, "Metrics": metrics}))
        .collect();
    record.insert(Dimension::Service.name().into(), json!(SERVICE));
    record.insert(Dimension::Function.name().into(), json!(function));
    if let Some(class) = status_class {
        record.insert(Dimension::StatusClass.name().into(), json!(class));
    }
    if let Some(channel) = channel {
        record.insert(Dimension::Channel.name().into(), json!(channel.as_str()));
    }
    record.insert("_aws".into(), json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}));
    Value::Object(record).to_string()
}

/// The records of one HTTP answer: `Requests`, `Latency`, the first answer's `ColdStart` and the
/// handler's counts in one record, and one more per delivery channel counted.
pub fn request_records(function: &str, status_class: &str, latency_ms: f64, counts: &[Count]) -> Vec<String> {
    let timestamp = now_ms();
    let mut grouped = by_channel(counts);
    let main = grouped.entry(None).or_default();
    main.insert(Metric::Requests, 1.0);
    // Microsecond precision is plenty, and keeps the line short.
    main.insert(Metric::Latency, (latency_ms * 1000.0).round() / 1000.0);
    if cold_start() {
        main.insert(Metric::ColdStart, 1.0);
    }
    grouped
        .iter()
        .map(|(channel, values)| {
            let class = if channel.is_none() { Some(status_class) } else { None };
            record(function, class, *channel, values, timestamp)
        })
        .collect()
}

/// The records of one queue worker invocation: one per channel counted, and `ColdStart` on
/// the first invocation of the process.
pub fn invocation_records(function: &str, counts: &[Count]) -> Vec<String> {
    let timestamp = now_ms();
    let mut grouped = by_channel(counts);
    if cold_start() {
        grouped.entry(None).or_default().insert(Metric::ColdStart, 1.0);
    }
    grouped.iter().map(|(channel, values)| record(function, None, *channel, values, timestamp)).collect()
}

/// Writes each record as one line of standard output, whole (the log lines of `tracing` take
/// the same lock, so lines never interleave).
pub fn write(records: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in records {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // Standard output closed: the metrics are lost with the logs, nothing to do.
        let _ = out.write_all(&bytes);
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(metric: Metric, channel: Option<Channel>) -> Count {
        Count { metric, channel, value: 1.0 }
    }

    #[test]
    fn a_request_record_names_its_metrics_and_their_dimensions() {
        let counts =
            [count(Metric::PinFailures, None), count(Metric::PinBlocks, None), count(Metric::PinFailures, None)];
        let line = record(
            "pin-validate",
            Some("4xx"),
            None,
            &by_channel(&counts).remove(&None).unwrap_or_default(),
            1_700_000_000_000,
        );
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["Service"], "stamps-auth");
        assert_eq!(value["Function"], "pin-validate");
        assert_eq!(value["PinFailures"], 2.0);
        assert_eq!(value["PinBlocks"], 1.0);
        let directives = value["_aws"]["CloudWatchMetrics"].as_array().expect("directives");
        assert_eq!(directives.len(), 1, "both counters share their dimension sets: {value}");
        assert_eq!(directives[0]["Namespace"], "StampsAuth");
        assert_eq!(directives[0]["Dimensions"], json!([["Service"], ["Service", "Function"]]));
        assert_eq!(value["_aws"]["Timestamp"], 1_700_000_000_000_u64);
    }

    #[test]
    fn deliveries_are_recorded_per_channel() {
        let counts = [
            count(Metric::DeliveriesSent, Some(Channel::Email)),
            count(Metric::DeliveriesSent, Some(Channel::Sms)),
            count(Metric::DeliveriesFailed, Some(Channel::Sms)),
        ];
        let records: Vec<Value> = invocation_records("otp-dispatch", &counts)
            .iter()
            .map(|line| serde_json::from_str(line).expect("JSON"))
            .collect();
        let sms = records.iter().find(|r| r["Channel"] == "sms").expect("an sms record");
        assert_eq!((sms["DeliveriesSent"].clone(), sms["DeliveriesFailed"].clone()), (json!(1.0), json!(1.0)));
        assert_eq!(
            sms["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Function"], ["Service", "Channel"]])
        );
        assert!(records.iter().any(|r| r["Channel"] == "email"));
        assert!(records.iter().all(|r| r.get("StatusClass").is_none()));
    }
}
