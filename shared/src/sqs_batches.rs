//! What the SQS-triggered functions (the OTP dispatch, the delivery-event recorder) share:
//! logging, their start-up, then batches until the Lambda runtime stops the process.

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::app::StartError;

/// Starts logging, then answers every batch with `handle` and the dependencies `start` built;
/// a failed start-up is logged and ends the process.
pub async fn serve<D, Fut>(
    start: impl FnOnce() -> Result<D, StartError>,
    handle: impl Fn(Arc<D>, SqsEvent) -> Fut,
) -> Result<(), lambda_runtime::Error>
where
    Fut: Future<Output = SqsBatchResponse>,
{
    crate::logging::init();
    let deps = Arc::new(start().map_err(|error| {
        tracing::error!(%error, "start-up failed");
        lambda_runtime::Error::from(format!("start-up failed: {error}"))
    })?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let batch = handle(Arc::clone(&deps), event.payload);
        async move { Ok::<_, lambda_runtime::Error>(batch.await) }
    }))
    .await
}
