//! The `otp-dispatch` function: consumes `otp.requested` and `password_reset_link.requested`
//! events from SQS in batches and reports each failed message (`batchItemFailures`), so one
//! bad message never makes the queue send the others again. A message that can never be sent (malformed, unknown
//! template, refused address) is reported too: the queue's redrive policy moves it to the
//! dead-letter queue after a few receives instead of retrying it forever.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::app::StartError;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::dispatch::{DispatchError, Dispatcher, describe, parse_event};
use crate::delivery::reset_link::ResetLinks;
use crate::delivery::{EmailSender, SmsSender};
use crate::http::routes::Worker;
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
}

/// Sends every message of the batch; the answer lists the ones to deliver again.
pub async fn handle_batch(deps: &DispatchDeps, event: SqsEvent) -> SqsBatchResponse {
    let dispatcher = Dispatcher {
        store: deps.store.as_ref(),
        email: deps.email.as_ref(),
        sms: deps.sms.as_ref(),
        reset_links: &deps.reset_links,
    };
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let outcome = match parse_event(record.body.as_deref().unwrap_or_default()) {
            Ok(event) => {
                let about = describe(&event);
                let outcome = dispatcher.dispatch(&event, deps.clock.now()).await;
                if let Ok(outcome) = &outcome {
                    tracing::info!(message_id, ?outcome, "{about}");
                }
                outcome.map_err(|error| (error, about))
            }
            Err(error) => Err((error, "unreadable message".to_string())),
        };
        match outcome {
            Ok(_) => {}
            Err((DispatchError::Retry(reason), about)) => {
                tracing::warn!(message_id, %reason, "will be retried: {about}");
                response.add_failure(message_id);
            }
            Err((DispatchError::Permanent(reason), about)) => {
                tracing::error!(message_id, %reason, "cannot be sent, bound for the dead-letter queue: {about}");
                response.add_failure(message_id);
            }
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

/// The dispatch function's `main`: logging, start-up from `worker`'s declaration (the store,
/// SES from `STAMPS_EMAIL_FROM`, SMS through SNS with `STAMPS_SMS_SENDER_ID` optional), then SQS
/// batches until the runtime stops the process.
pub async fn serve(worker: &'static Worker) -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    let deps = deps(worker).map_err(|error| {
        tracing::error!(%error, "start-up failed");
        lambda_runtime::Error::from(format!("start-up failed: {error}"))
    })?;
    run(deps).await
}

/// The dispatch function's dependencies, from the process environment: exactly what `worker`
/// declares, which must include the store, both senders and the hash key (the v2 reset tokens
/// it issues are stored by their keyed hash).
pub fn deps(worker: &Worker) -> Result<DispatchDeps, StartError> {
    let config = Config::from_env_given(worker.needs.secrets)?;
    let reset_links = ResetLinks::from_config(&config)?;
    let adapters = crate::startup::adapters(worker.function, &worker.needs, &config)?;
    let undeclared = |port: Port| StartError::Port(format!("{} must declare {port:?}", worker.function));
    Ok(DispatchDeps {
        store: adapters.ports.store.ok_or_else(|| undeclared(Port::Store))?,
        email: adapters.email.ok_or_else(|| undeclared(Port::Email))?,
        sms: adapters.sms.ok_or_else(|| undeclared(Port::Sms))?,
        clock: Arc::new(SystemClock),
        reset_links,
    })
}
