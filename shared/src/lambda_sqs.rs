//! The `otp-dispatch` function: consumes `otp.requested` events from SQS in batches and
//! reports each failed message (`batchItemFailures`), so one bad message never makes the
//! queue send the others again. A message that can never be sent (malformed, unknown
//! template, refused address) is reported too: the queue's redrive policy moves it to the
//! dead-letter queue after a few receives instead of retrying it forever.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::clock::{Clock, SystemClock};
use crate::delivery::dispatch::{DispatchError, Dispatcher, describe, parse_event, recorded};
use crate::delivery::outcomes::{Dispatched, record_dispatch};
use crate::delivery::{EmailSender, SmsSender};
use crate::metrics::{self, Metric, Sink};
use crate::store::Store;

/// The function's name, in its metrics and in the history events it records.
pub const FUNCTION: &str = "otp-dispatch";

/// What the dispatch function works with, built once per process.
pub struct DispatchDeps {
    pub store: Arc<dyn Store>,
    pub email: Arc<dyn EmailSender>,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    /// The queue's `maxReceiveCount` (`STAMPS_DISPATCH_MAX_RECEIVES`): a message that fails on
    /// that receive goes to the dead-letter queue.
    pub max_receives: u32,
    /// How long the outcomes' history events are kept.
    pub retention_secs: i64,
    pub metrics: Sink,
}

/// How many times the queue has handed `record` over, this time included.
fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1)
}

/// Sends every message of the batch; the answer lists the ones to deliver again. Each message's
/// outcome is counted (per channel) and recorded for its customer; the batch's metrics are
/// written once.
pub async fn handle_batch(deps: &DispatchDeps, event: SqsEvent) -> SqsBatchResponse {
    let (response, counts) = crate::context::scope(FUNCTION, None, dispatch_batch(deps, event)).await;
    deps.metrics.invocation(FUNCTION, &counts);
    response
}

async fn dispatch_batch(deps: &DispatchDeps, event: SqsEvent) -> SqsBatchResponse {
    let dispatcher = Dispatcher {
        templates: deps.store.as_ref(),
        deliveries: deps.store.as_ref(),
        outcomes: deps.store.as_ref(),
        email: deps.email.as_ref(),
        sms: deps.sms.as_ref(),
    };
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let last_receive = receive_count(&record) >= deps.max_receives;
        let event = match parse_event(record.body.as_deref().unwrap_or_default()) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(message_id, %error, "unreadable message, bound for the dead-letter queue");
                metrics::count(if last_receive { Metric::DeliveriesDeadLettered } else { Metric::DeliveriesFailed });
                response.add_failure(message_id);
                continue;
            }
        };
        let about = describe(&event);
        let now = deps.clock.now();
        let dispatched = match dispatcher.dispatch(&event, now).await {
            Ok(outcome) => {
                tracing::info!(message_id, ?outcome, "{about}");
                recorded(outcome)
            }
            Err(error) => {
                match &error {
                    DispatchError::Retry(reason) => tracing::warn!(message_id, %reason, last_receive, "not sent: {about}"),
                    DispatchError::Permanent(reason) => {
                        tracing::error!(message_id, %reason, last_receive, "cannot be sent: {about}")
                    }
                }
                response.add_failure(message_id);
                Some(if last_receive { Dispatched::DeadLettered } else { Dispatched::Failed })
            }
        };
        if let Some(dispatched) = dispatched {
            record_dispatch(deps.store.as_ref(), &event, dispatched, now, deps.retention_secs).await;
        }
    }
    response
}

/// Serves SQS batches until the runtime stops the process.
pub async fn run(deps: DispatchDeps) -> Result<(), lambda_runtime::Error> {
    let deps = Arc::new(deps);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deps = Arc::clone(&deps);
        async move { Ok::<_, lambda_runtime::Error>(handle_batch(&deps, event.payload).await) }
    }))
    .await
}

/// The queue's `maxReceiveCount` in `template.yaml`, when `STAMPS_DISPATCH_MAX_RECEIVES` does
/// not say.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// The dispatch function's dependencies from the environment: DynamoDB (templates, delivery
/// marks and outcomes), SES from `STAMPS_EMAIL_FROM` through `STAMPS_SES_CONFIGURATION_SET`
/// (optional), SNS for SMS (`STAMPS_SMS_SENDER_ID` optional), the queue's
/// `STAMPS_DISPATCH_MAX_RECEIVES`.
#[cfg(all(feature = "dynamodb", feature = "ses", feature = "sns"))]
pub async fn deps_from_env() -> Result<DispatchDeps, lambda_runtime::Error> {
    use crate::config::Config;
    use crate::store::StoreUrl;

    let fail = |error: String| -> lambda_runtime::Error {
        tracing::error!(%error, "start-up failed");
        format!("start-up failed: {error}").into()
    };
    let config = Config::from_env().map_err(|e| fail(e.to_string()))?;
    let table = match StoreUrl::parse(&config.store_url).map_err(fail)? {
        StoreUrl::DynamoDb(table) => table,
        StoreUrl::Sqlite(_) => return Err(fail("the dispatch function needs STAMPS_STORE=dynamodb:TABLE".into())),
    };
    let env = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let from = env("STAMPS_EMAIL_FROM").ok_or_else(|| fail("STAMPS_EMAIL_FROM is not set".into()))?;
    let max_receives = match env("STAMPS_DISPATCH_MAX_RECEIVES") {
        None => DEFAULT_MAX_RECEIVES,
        Some(text) => text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            fail(format!("STAMPS_DISPATCH_MAX_RECEIVES must be the queue's maxReceiveCount, got {text:?}"))
        })?,
    };
    let sdk = crate::aws::lambda_sdk_config(config.aws_timeout).map_err(fail)?;
    let email = crate::delivery::ses::SesEmail::new(aws_sdk_sesv2::Client::new(&sdk), from)
        .with_configuration_set(env("STAMPS_SES_CONFIGURATION_SET"));
    Ok(DispatchDeps {
        store: Arc::new(crate::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        email: Arc::new(email),
        sms: Arc::new(crate::delivery::sns::SnsSms::new(aws_sdk_sns::Client::new(&sdk), env("STAMPS_SMS_SENDER_ID"))),
        clock: Arc::new(SystemClock),
        max_receives,
        retention_secs: config.history_retention_secs,
        metrics: Sink::Emf,
    })
}
