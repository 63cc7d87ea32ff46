//! The `delivery-events` function: consumes SES's delivery, bounce and complaint events (SNS to
//! SQS) and records each for its customer (`delivery::ses_events`). A message it cannot read is
//! reported (`batchItemFailures`), so the queue's redrive policy parks it in the dead-letter
//! queue; a store failure is reported too, and the message comes back.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use crate::app::StartError;
use crate::config::Config;
use crate::delivery::ses_events;
use crate::http::routes::{DELIVERY_EVENTS, Worker};
use crate::metrics::Sink;
use crate::needs::Port;
use crate::store::Store;

pub struct RecorderDeps {
    pub store: Arc<dyn Store>,
    /// How long the history events are kept.
    pub retention_secs: i64,
    pub metrics: Sink,
}

/// Records every event of the batch; the answer lists the messages to deliver again.
pub async fn handle_batch(deps: &RecorderDeps, event: SqsEvent) -> SqsBatchResponse {
    let function = DELIVERY_EVENTS.function;
    let (response, counts) = crate::context::scope(function, None, record_batch(deps, event)).await;
    deps.metrics.invocation(function, &counts);
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

/// The recorder's `main`: logging, start-up from `worker`'s declaration (the store), then SQS
/// batches until the runtime stops the process.
pub async fn serve(worker: &'static Worker) -> Result<(), lambda_runtime::Error> {
    crate::sqs_batches::serve(|| deps(worker), |deps, batch| async move { handle_batch(&deps, batch).await }).await
}

/// The recorder's dependencies, from the process environment: exactly what `worker` declares
/// (the store), and the history's retention.
pub fn deps(worker: &Worker) -> Result<RecorderDeps, StartError> {
    let config = Config::from_env_given(worker.needs.secrets)?;
    let adapters = crate::startup::adapters(worker.function, &worker.needs, &config)?;
    let store = adapters
        .ports
        .store
        .ok_or_else(|| StartError::Port(format!("{} must declare {:?}", worker.function, Port::Store)))?;
    Ok(RecorderDeps { store, retention_secs: config.history_retention_secs, metrics: Sink::Emf })
}
