//! Baseline for the cold-start harness: the calls of a route that requests an OTP, as the
//! project's store and publisher make them, on items of its own with the attributes and sizes of
//! the route's (the items read are written by the harness's workload, `BENCH`/`*-SHAPE`):
//! GetItems of the route's reads, a transaction of a conditional counter Update and a Put of the
//! OTP record, and one SNS publish of an event of the route's size to `BENCH_TOPIC_ARN`. No hash:
//! the routes hash their OTP with HMAC, which is their own time. `BENCH_SHAPE` picks the route:
//! - `request-otp-for-password-reset` (the default): 4 GetItems (an API key's, an identifier's
//!   claim, a customer, a template), a 6-digit OTP for 10 minutes;
//! - `v2-forgot-password`: 2 GetItems (the email's claim, the customer), a reset token for an
//!   hour.

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use aws_sdk_sns::types::MessageAttributeValue;
use lambda_http::{Body, Error, Request, Response, service_fn};

#[path = "../../dynamo-hash/src/shape_items.rs"]
mod shape_items;

use shape_items::{SECRET_HASH, key, n, read_fixture, s, unix_now};

/// Whose calls the baseline makes (`BENCH_SHAPE`).
#[derive(Clone, Copy)]
enum Shape {
    RequestOtp,
    V2ForgotPassword,
}

impl Shape {
    fn from_env() -> Shape {
        match std::env::var("BENCH_SHAPE").as_deref() {
            Ok("v2-forgot-password") => Shape::V2ForgotPassword,
            _ => Shape::RequestOtp,
        }
    }

    /// The items the route reads, by their `sk` under `BENCH`.
    fn reads(self) -> &'static [&'static str] {
        match self {
            Shape::RequestOtp => &["APIKEY-SHAPE", "UNIQUE-SHAPE", "CUSTOMER-SHAPE", "TEMPLATE-SHAPE"],
            Shape::V2ForgotPassword => &["UNIQUE-SHAPE", "CUSTOMER-SHAPE"],
        }
    }

    /// The OTP's purpose, the secret sent, and how long it lives.
    fn otp(self) -> (&'static str, String, i64) {
        match self {
            Shape::RequestOtp => ("password_reset", "123456".into(), 600),
            Shape::V2ForgotPassword => ("password_reset_link", format!("1.{}", &SECRET_HASH[..32]), 3_600),
        }
    }
}

/// The request counted (a sliding window far below its limit) and the OTP record stored, in one
/// transaction, as the store's `issue_otp`.
fn issue(table: &str, purpose: &str, now: i64, lifetime: i64) -> Option<Vec<TransactWriteItem>> {
    let expires = now + 86_400;
    let values =
        [(":zero", n(0)), (":one", n(1)), (":now", n(now)), (":limit", n(1_000_000)), (":expires", n(expires))];
    let counter = Update::builder()
        .table_name(table)
        .set_key(Some(key("COUNTER-SHAPE")))
        .update_expression("SET #count = if_not_exists(#count, :zero) + :one, expires_at = :expires, #ttl = :expires")
        .condition_expression("attribute_not_exists(pk) OR (expires_at > :now AND #count < :limit)")
        .expression_attribute_names("#count", "count")
        .expression_attribute_names("#ttl", "ttl")
        .set_expression_attribute_values(Some(values.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .ok()?;
    let mut record = key("OTP-SHAPE");
    for (name, value) in [
        ("merchant_id", n(1)),
        ("customer_id", n(1)),
        ("purpose", s(purpose)),
        ("otp_hash", s(SECRET_HASH)),
        ("expires_at", n(now + lifetime)),
        ("tries", n(0)),
        ("ttl", n(now + lifetime)),
    ] {
        record.insert(name.to_string(), value);
    }
    let otp = Put::builder()
        .table_name(table)
        .set_item(Some(record))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .ok()?;
    Some(vec![TransactWriteItem::builder().update(counter).build(), TransactWriteItem::builder().put(otp).build()])
}

/// An `otp.requested` event of the route's fields and size.
fn event(purpose: &str, otp: &str, now: i64, lifetime: i64) -> String {
    format!(
        "{{\"type\":\"otp.requested\",\"version\":1,\"event_id\":\"{}\",\"merchant_id\":1,\"customer_id\":1,\
         \"purpose\":\"{purpose}\",\"channel\":\"email\",\"destination\":\"shape@example.com\",\"name\":\"Budi\",\
         \"template_code\":\"reset\",\"otp\":\"{otp}\",\"expires_at\":{},\"requested_at\":{now}}}",
        &SECRET_HASH[..32],
        now + lifetime
    )
}

async fn request_otp_shape(
    shape: Shape,
    dynamodb: &aws_sdk_dynamodb::Client,
    sns: &aws_sdk_sns::Client,
    table: &str,
    topic: &str,
) -> bool {
    for fixture in shape.reads() {
        if !read_fixture(dynamodb, table, fixture).await {
            return false;
        }
    }
    let (now, (purpose, otp, lifetime)) = (unix_now(), shape.otp());
    let Some(items) = issue(table, purpose, now, lifetime) else { return false };
    if dynamodb.transact_write_items().set_transact_items(Some(items)).send().await.is_err() {
        return false;
    }
    let Ok(kind) = MessageAttributeValue::builder().data_type("String").string_value("otp.requested").build() else {
        return false;
    };
    let message = event(purpose, &otp, now, lifetime);
    sns.publish().topic_arn(topic).message(message).message_attributes("type", kind).send().await.is_ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let table = std::env::var("BENCH_TABLE").unwrap_or_else(|_| "bench".to_string());
    let topic = std::env::var("BENCH_TOPIC_ARN").unwrap_or_default();
    let shape = Shape::from_env();
    lambda_http::run(service_fn(move |_request: Request| {
        let (dynamodb, sns, table, topic) = (dynamodb.clone(), sns.clone(), table.clone(), topic.clone());
        async move {
            let done = request_otp_shape(shape, &dynamodb, &sns, &table, &topic).await;
            let status = if done { 200 } else { 503 };
            Ok::<_, Error>(Response::builder().status(status).body(Body::Text(format!("{{\"done\":{done}}}")))?)
        }
    }))
    .await
}
