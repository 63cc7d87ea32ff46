//! The `delivery-events` function: consumes SES's delivery, bounce and complaint events (SNS to
//! SQS) and records each for its customer (`delivery::ses_events`). A message it cannot read is
//! reported (`batchItemFailures`), so the queue's redrive policy parks it in the dead-letter
//! queue; a store failure is reported too, and the message comes back.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::delivery::ses_events;
use crate::metrics::Sink;
use crate::store::Store;

/// The function's name, in its metrics and in the history events it records.
pub const FUNCTION: &str = "delivery-events";

pub struct RecorderDeps {
    pub store: Arc<dyn Store>,
    /// How long the history events are kept.
    pub retention_secs: i64,
    pub metrics: Sink,
}

/// Records every event of the batch; the answer lists the messages to deliver again.
pub async fn handle_batch(deps: &RecorderDeps, event: SqsEvent) -> SqsBatchResponse {
    let (response, counts) = crate::context::scope(FUNCTION, None, record_batch(deps, event)).await;
    deps.metrics.invocation(FUNCTION, &counts);
    response
}

async fn record_batch(deps: &RecorderDeps, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        match ses_events::parse(record.body.as_deref().unwrap_or_default()) {
            Ok(None) => tracing::info!(message_id, "not about one of our codes: skipped"),
            Ok(Some(outcome)) => {
                let about = format!(
                    "{} of event {} merchant {} customer {}",
                    outcome.reported.outcome(),
                    outcome.event_id,
                    outcome.merchant_id,
                    outcome.customer_id
                );
                match ses_events::record(deps.store.as_ref(), &outcome, deps.retention_secs).await {
                    Ok(()) => tracing::info!(message_id, "recorded {about}"),
                    Err(error) => {
                        tracing::warn!(message_id, %error, "will be retried: {about}");
                        response.add_failure(message_id);
                    }
                }
            }
            Err(reason) => {
                tracing::error!(message_id, %reason, "unreadable SES event, bound for the dead-letter queue");
                response.add_failure(message_id);
            }
        }
    }
    response
}

/// Serves batches until the Lambda runtime stops the process.
pub async fn run(deps: RecorderDeps) -> Result<(), lambda_runtime::Error> {
    let deps = Arc::new(deps);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let deps = Arc::clone(&deps);
        async move { Ok::<_, lambda_runtime::Error>(handle_batch(&deps, event.payload).await) }
    }))
    .await
}

/// The recorder's dependencies from the environment: DynamoDB (`STAMPS_STORE`) and the
/// history's retention.
#[cfg(feature = "dynamodb")]
pub async fn deps_from_env() -> Result<RecorderDeps, lambda_runtime::Error> {
    use crate::config::Config;
    use crate::store::StoreUrl;

    let fail = |error: String| -> lambda_runtime::Error {
        tracing::error!(%error, "start-up failed");
        format!("start-up failed: {error}").into()
    };
    let config = Config::from_env().map_err(|e| fail(e.to_string()))?;
    let table = match StoreUrl::parse(&config.store_url).map_err(fail)? {
        StoreUrl::DynamoDb(table) => table,
        StoreUrl::Sqlite(_) => return Err(fail("the delivery-events function needs STAMPS_STORE=dynamodb:TABLE".into())),
    };
    let sdk = crate::aws::lambda_sdk_config(config.aws_timeout).map_err(fail)?;
    Ok(RecorderDeps {
        store: Arc::new(crate::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        retention_secs: config.history_retention_secs,
        metrics: Sink::Emf,
    })
}
