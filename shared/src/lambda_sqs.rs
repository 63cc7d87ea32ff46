//! The `otp-dispatch` function: consumes `otp.requested` and `password_reset_link.requested`
//! events from SQS in batches and reports each failed message (`batchItemFailures`), so one
//! bad message never makes the queue send the others again. A message that can never be sent (malformed, unknown
//! template, refused address) is reported too: the queue's redrive policy moves it to the
//! dead-letter queue after a few receives instead of retrying it forever.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::app::StartError;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::dispatch::{DispatchError, Dispatcher, describe, parse_event};
use crate::delivery::reset_link::ResetLinks;
use crate::delivery::{EmailSender, SmsSender};
use crate::http::routes::{OTP_DISPATCH, Worker};
use crate::metrics::{self, Metric, Sink};
use crate::needs::Port;
use crate::store::Store;

/// What the dispatch function works with, built once per process.
pub struct DispatchDeps {
    pub store: Arc<dyn Store>,
    pub email: Arc<dyn EmailSender>,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    /// Issues the tokens of v2 reset requests.
    pub reset_links: ResetLinks,
    /// The queue's `maxReceiveCount` (`STAMPS_DISPATCH_MAX_RECEIVES`): a message that fails on
    /// that receive goes to the dead-letter queue.
    pub max_receives: u32,
    /// How long the outcomes' history events are kept.
    pub retention_secs: i64,
    pub metrics: Sink,
}

/// The queue's `maxReceiveCount` in `template.yaml`, when `STAMPS_DISPATCH_MAX_RECEIVES` does
/// not say.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// How many times the queue has handed `record` over, this time included.
fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1)
}

/// Sends every message of the batch; the answer lists the ones to deliver again. Each message's
/// outcome is counted (per channel) and recorded for its customer (`Dispatcher::dispatch`); the
/// batch's metrics are written once.
pub async fn handle_batch(deps: &DispatchDeps, event: SqsEvent) -> SqsBatchResponse {
    let function = OTP_DISPATCH.function;
    let (response, counts) = crate::context::scope(function, None, dispatch_batch(deps, event)).await;
    deps.metrics.invocation(function, &counts);
    response
}

async fn dispatch_batch(deps: &DispatchDeps, event: SqsEvent) -> SqsBatchResponse {
    let dispatcher = Dispatcher {
        store: deps.store.as_ref(),
        email: deps.email.as_ref(),
        sms: deps.sms.as_ref(),
        reset_links: &deps.reset_links,
        retention_secs: deps.retention_secs,
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
        match dispatcher.dispatch(&event, deps.clock.now(), last_receive).await {
            Ok(outcome) => tracing::info!(message_id, ?outcome, "{about}"),
            Err(DispatchError::Retry(reason)) => {
                tracing::warn!(message_id, %reason, last_receive, "not sent: {about}");
                response.add_failure(message_id);
            }
            Err(DispatchError::Permanent(reason)) => {
                tracing::error!(message_id, %reason, last_receive, "cannot be sent: {about}");
                response.add_failure(message_id);
            }
        }
    }
    response
}

/// The dispatch function's `main`: logging, start-up from `worker`'s declaration (the store,
/// SES from `STAMPS_EMAIL_FROM`, SMS through SNS with `STAMPS_SMS_SENDER_ID` optional), then SQS
/// batches until the runtime stops the process.
pub async fn serve(worker: &'static Worker) -> Result<(), lambda_runtime::Error> {
    crate::sqs_batches::serve(|| deps(worker), |deps, batch| async move { handle_batch(&deps, batch).await }).await
}

/// The dispatch function's dependencies, from the process environment: exactly what `worker`
/// declares, which must include the store, both senders and the hash key (the v2 reset tokens
/// it issues are stored by their keyed hash); the queue's `STAMPS_DISPATCH_MAX_RECEIVES`.
pub fn deps(worker: &Worker) -> Result<DispatchDeps, StartError> {
    let config = Config::from_env_given(worker.needs.secrets)?;
    let max_receives = match std::env::var("STAMPS_DISPATCH_MAX_RECEIVES").ok().map(|v| v.trim().to_string()) {
        None => DEFAULT_MAX_RECEIVES,
        Some(text) if text.is_empty() => DEFAULT_MAX_RECEIVES,
        Some(text) => text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            crate::config::ConfigError(format!(
                "STAMPS_DISPATCH_MAX_RECEIVES must be the queue's maxReceiveCount, got {text:?}"
            ))
        })?,
    };
    let reset_links = ResetLinks::from_config(&config)?;
    let adapters = crate::startup::adapters(worker.function, &worker.needs, &config)?;
    let undeclared = |port: Port| StartError::Port(format!("{} must declare {port:?}", worker.function));
    Ok(DispatchDeps {
        store: adapters.ports.store.ok_or_else(|| undeclared(Port::Store))?,
        email: adapters.email.ok_or_else(|| undeclared(Port::Email))?,
        sms: adapters.sms.ok_or_else(|| undeclared(Port::Sms))?,
        clock: Arc::new(SystemClock),
        reset_links,
        max_receives,
        retention_secs: config.history_retention_secs,
        metrics: Sink::Emf,
    })
}
