//! The `otp-dispatch` function: consumes `otp.requested` and `password_reset_link.requested`
//! events from SQS in batches and reports each failed message (`batchItemFailures`), so one
//! bad message never makes the queue send the others again. A message that can never be sent (malformed, unknown
//! template, refused address) is reported too: the queue's redrive policy moves it to the
//! dead-letter queue after a few receives instead of retrying it forever.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::clock::{Clock, SystemClock};
use crate::delivery::dispatch::{DispatchError, Dispatcher, describe, parse_event};
use crate::delivery::reset_link::ResetLinks;
use crate::delivery::{EmailSender, SmsSender};
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

/// The dispatch function's dependencies from the environment: DynamoDB (templates, delivery
/// marks, and for v2 reset requests customers, tokens and their limit), SES from
/// `STAMPS_EMAIL_FROM`, SNS for SMS (`STAMPS_SMS_SENDER_ID` optional), `STAMPS_HASH_KEY` (the
/// reset tokens' hashes).
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
    let reset_links = ResetLinks::from_config(&config).map_err(|e| fail(e.to_string()))?;
    let sdk = crate::aws::lambda_sdk_config(config.aws_timeout).map_err(fail)?;
    Ok(DispatchDeps {
        store: Arc::new(crate::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)),
        email: Arc::new(crate::delivery::ses::SesEmail::new(aws_sdk_sesv2::Client::new(&sdk), from)),
        sms: Arc::new(crate::delivery::sns::SnsSms::new(aws_sdk_sns::Client::new(&sdk), env("STAMPS_SMS_SENDER_ID"))),
        clock: Arc::new(SystemClock),
        reset_links,
    })
}
