//! Cost per million calls of each route at its chosen memory size: Lambda (requests and the
//! measured GB-seconds), the HTTP API request, the DynamoDB request units counted from the
//! call's item sizes (`capacity`), the SNS publishes and SES emails it made; and for the routes
//! that request an OTP, the delivery (SQS and `otp-dispatch`). The prices come from one dated
//! file (`bench/prices.toml`), each with its source.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::aws_timer::Reading;
use crate::power::{CallPrice, Point};

#[derive(Debug, Deserialize)]
pub struct PriceFile {
    pub date: String,
    pub region: String,
    pub prices: BTreeMap<String, Price>,
}

#[derive(Debug, Deserialize)]
pub struct Price {
    /// Absent when not known: shown as missing, never guessed.
    pub value: Option<f64>,
    pub unit: String,
    pub source: String,
    pub status: String,
}

impl PriceFile {
    pub fn read(path: &Path) -> Result<PriceFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The value of `name`, or why there is none.
    fn value(&self, name: &str) -> Result<f64, String> {
        self.prices.get(name).and_then(|price| price.value).ok_or_else(|| format!("{name} missing from the prices"))
    }

    /// The prices as a Markdown table, with their status and source.
    pub fn table(&self) -> String {
        let mut out = format!("Prices of {} ({}), from `bench/prices.toml`:\n\n", self.date, self.region);
        out.push_str("| item | value | unit | status | source |\n|---|---:|---|---|---|\n");
        for (name, price) in &self.prices {
            let value = price.value.map_or_else(|| "missing".to_string(), |value| format!("{value}"));
            let _ = writeln!(out, "| {name} | {value} | {} | {} | {} |", price.unit, price.status, price.source);
        }
        out
    }
}

/// What one call of a function used, as counted and measured.
pub struct Usage<'a> {
    pub function: &'a str,
    pub point: &'a Point,
    /// The counted invocations' AWS use (request units, publishes, emails), per invocation.
    pub counted: &'a [Reading],
}

/// The median of a count over the counted invocations.
fn median_of(readings: &[Reading], value: impl Fn(&Reading) -> f64) -> f64 {
    let mut values: Vec<f64> = readings.iter().map(value).collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The dollars per million calls of one function, by part.
struct Cost {
    lambda_requests: f64,
    lambda_duration: f64,
    http_api: f64,
    read_units: f64,
    write_units: f64,
    dynamodb: f64,
    sns: f64,
    ses: f64,
}

impl Cost {
    fn total(&self) -> f64 {
        self.lambda_requests + self.lambda_duration + self.http_api + self.dynamodb + self.sns + self.ses
    }
}

const MILLION: f64 = 1_000_000.0;

/// One call's cost without its duration: what it costs at any memory size.
fn cost_without_duration(prices: &PriceFile, function: &str, counted: &[Reading]) -> Result<Cost, String> {
    let read_units = median_of(counted, |r| r.units.read);
    let write_units = median_of(counted, |r| r.units.write);
    let publishes = median_of(counted, |r| r.publishes as f64);
    let emails = median_of(counted, |r| r.emails as f64);
    // The OTP dispatcher is triggered by its queue, not by the HTTP API.
    let http_calls = if function == crate::DISPATCH { 0.0 } else { 1.0 };
    Ok(Cost {
        lambda_requests: MILLION * prices.value("lambda_request")?,
        lambda_duration: 0.0,
        http_api: MILLION * http_calls * prices.value("http_api_request")?,
        read_units,
        write_units,
        dynamodb: MILLION
            * (read_units * prices.value("dynamodb_read_request_unit")?
                + write_units * prices.value("dynamodb_write_request_unit")?),
        sns: MILLION * publishes * prices.value("sns_publish_request")?,
        ses: MILLION * emails * prices.value("ses_email")?,
    })
}

fn cost(prices: &PriceFile, usage: &Usage) -> Result<Cost, String> {
    Ok(Cost {
        lambda_duration: MILLION * usage.point.warm_gb_s * prices.value("lambda_arm64_gb_second")?,
        ..cost_without_duration(prices, usage.function, usage.counted)?
    })
}

/// What the memory choice weighs for `function`: its GB-second price and the rest of a call.
pub fn call_price(prices: &PriceFile, function: &str, counted: &[Reading]) -> Result<CallPrice, String> {
    Ok(CallPrice {
        per_gb_second: prices.value("lambda_arm64_gb_second")?,
        fixed: cost_without_duration(prices, function, counted)?.total() / MILLION,
    })
}

/// One OTP message's delivery: the SQS requests of the event source mapping and one
/// `otp-dispatch` invocation (as measured: one email), per million messages.
fn delivery(prices: &PriceFile, dispatch: Option<&Usage>) -> Result<f64, String> {
    let dispatch = dispatch.ok_or("otp-dispatch was not measured")?;
    Ok(cost(prices, dispatch)?.total()
        + MILLION * prices.value("sqs_requests_per_message")? * prices.value("sqs_request")?)
}

/// The cost table: per function, its parts and total per million calls, and for the routes that
/// publish an OTP event, the total with its delivery by email. Then the comparison with a hosted
/// service for `pin-validate`.
pub fn table(prices: &PriceFile, usages: &[Usage]) -> String {
    let mut out = String::new();
    let dispatch = usages.iter().find(|usage| usage.function == crate::DISPATCH);
    let delivery = delivery(prices, dispatch);
    let _ = writeln!(
        out,
        "| function | memory MB | warm GB-s per call (µ) | Lambda requests $ | Lambda duration $ | HTTP API $ | DynamoDB \
         RRU | WRU | DynamoDB $ | SNS $ | SES $ | total $ per million calls | with the OTP's delivery by email $ |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for usage in usages {
        match cost(prices, usage) {
            Ok(cost) => {
                let publishes = median_of(usage.counted, |r| r.publishes as f64);
                let with_delivery = match (&delivery, publishes > 0.0 && usage.function != crate::DISPATCH) {
                    (Ok(delivery), true) => format!("{:.2}", cost.total() + publishes * delivery),
                    (Err(why), true) => format!("- ({why})"),
                    (_, false) => "-".into(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {:.2} | {:.2} | {:.2} | **{:.2}** | {with_delivery} |",
                    usage.function,
                    usage.point.memory,
                    usage.point.warm_gb_s * 1e6,
                    cost.lambda_requests,
                    cost.lambda_duration,
                    cost.http_api,
                    cost.read_units,
                    cost.write_units,
                    cost.dynamodb,
                    cost.sns,
                    cost.ses,
                    cost.total(),
                );
            }
            Err(why) => {
                let _ = writeln!(out, "| {} | {} | - ({why}) |", usage.function, usage.point.memory);
            }
        }
    }
    if let Some(pin_validate) = usages.iter().find(|usage| usage.function == "pin-validate") {
        out.push('\n');
        out.push_str(&hosted_comparison(prices, pin_validate));
    }
    out.push_str("\nAn OTP sent by SMS instead of email costs the SMS price (`sms_indonesia`) instead of SES's.\n");
    out
}

/// A merchant with 100,000 customers, each validating a PIN ten times a month: 1,000,000
/// `pin-validate` calls here, against Cognito's price for 100,000 monthly active users.
fn hosted_comparison(prices: &PriceFile, pin_validate: &Usage) -> String {
    const CUSTOMERS: f64 = 100_000.0;
    const CALLS_PER_CUSTOMER: f64 = 10.0;
    let ours = cost(prices, pin_validate).map(|cost| cost.total() * CUSTOMERS * CALLS_PER_CUSTOMER / MILLION);
    let cognito = |tier: &str| -> Result<f64, String> {
        Ok((CUSTOMERS - prices.value("cognito_free_mau")?).max(0.0) * prices.value(tier)?)
    };
    let show = |value: Result<f64, String>| value.map_or_else(|why| format!("- ({why})"), |v| format!("${v:.2}"));
    format!(
        "A merchant with 100,000 customers each validating a PIN ten times a month (1,000,000 `pin-validate` calls): \
         {} a month here; Amazon Cognito for 100,000 monthly active users: {} (Lite), {} (Essentials).\n",
        show(ours),
        show(cognito("cognito_lite_mau")),
        show(cognito("cognito_essentials_mau")),
    )
}
