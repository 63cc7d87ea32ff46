//! Local delivery: instead of SES and SNS, each message becomes one JSON file in an outbox
//! folder (channel, destination, subject and bodies) and one log line without its content.
//! `LocalPublisher` dispatches in-process, after the request has been answered, the way the
//! queue and the dispatch function do on AWS.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use serde_json::json;

use super::{DeliveryError, EmailMessage, EmailSender, SmsSender};
use crate::clock::Clock;

/// Writes messages to `dir`, creating it on first use.
pub struct Outbox {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    sequence: AtomicU64,
}

impl Outbox {
    pub fn new(dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Outbox {
        Outbox { dir: dir.into(), clock, sequence: AtomicU64::new(0) }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    async fn write(&self, channel: &str, message: serde_json::Value) -> Result<(), DeliveryError> {
        let number = self.sequence.fetch_add(1, Ordering::Relaxed);
        let random = crate::random::random_hex::<4>().map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
        // Sortable by time; unique across processes sharing the folder.
        let name = format!("{}-{number:04}-{random}-{channel}.json", self.clock.now());
        let path = self.dir.join(&name);
        let dir = self.dir.clone();
        let body = serde_json::to_vec_pretty(&message).map_err(|e| DeliveryError::Rejected(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, body)
        })
        .await
        .map_err(|e| DeliveryError::Unavailable(e.to_string()))?
        .map_err(|e| DeliveryError::Unavailable(format!("outbox {}: {e}", self.dir.display())))?;
        tracing::info!(channel, file = %name, "delivered to the local outbox");
        Ok(())
    }
}

#[async_trait]
impl EmailSender for Outbox {
    async fn send_email(&self, message: &EmailMessage) -> Result<(), DeliveryError> {
        let value = json!({
            "channel": "email",
            "destination": message.to,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
        });
        self.write("email", value).await
    }
}

#[async_trait]
impl SmsSender for Outbox {
    async fn send_sms(&self, to: &str, text: &str) -> Result<(), DeliveryError> {
        self.write("sms", json!({"channel": "sms", "destination": to, "text": text})).await
    }
}

/// Publishes by dispatching in a background task: the request is answered first.
#[cfg(feature = "render")]
pub struct LocalPublisher {
    pub store: Arc<dyn crate::store::Store>,
    pub outbox: Arc<Outbox>,
    pub clock: Arc<dyn Clock>,
    /// Issues the tokens of v2 reset requests (the server's hash key and limits).
    pub reset_links: Arc<super::reset_link::ResetLinks>,
    /// Dispatches still running, so tests and shutdown can wait for them.
    pub pending: Pending,
    /// How long the delivery outcomes' history events are kept.
    pub retention_secs: i64,
}

#[cfg(feature = "render")]
impl LocalPublisher {
    pub fn new(
        store: Arc<dyn crate::store::Store>,
        outbox: Arc<Outbox>,
        clock: Arc<dyn Clock>,
        reset_links: super::reset_link::ResetLinks,
    ) -> LocalPublisher {
        let retention_secs = crate::config::DEFAULT_HISTORY_RETENTION_DAYS * 86_400;
        LocalPublisher {
            store,
            outbox,
            clock,
            reset_links: Arc::new(reset_links),
            pending: Pending::default(),
            retention_secs,
        }
    }

    /// Keeps the outcomes' history events `retention_secs` (`STAMPS_HISTORY_RETENTION_DAYS`).
    pub fn with_retention(mut self, retention_secs: i64) -> LocalPublisher {
        self.retention_secs = retention_secs;
        self
    }

    /// Waits until every dispatch started so far has finished.
    pub async fn settle(&self) {
        self.pending.wait().await;
    }
}

#[cfg(feature = "render")]
#[async_trait]
impl super::EventPublisher for LocalPublisher {
    async fn publish(&self, event: &super::Event) -> Result<(), DeliveryError> {
        let (store, outbox, clock) = (Arc::clone(&self.store), Arc::clone(&self.outbox), Arc::clone(&self.clock));
        let reset_links = Arc::clone(&self.reset_links);
        let event = event.clone();
        let guard = self.pending.start();
        let retention_secs = self.retention_secs;
        // Recorded as the dispatch function's work, as on AWS.
        tokio::spawn(crate::context::scope("otp-dispatch", None, async move {
            let _guard = guard;
            let dispatcher = super::dispatch::Dispatcher {
                store: store.as_ref(),
                email: outbox.as_ref(),
                sms: outbox.as_ref(),
                reset_links: reset_links.as_ref(),
                retention_secs,
            };
            let about = super::dispatch::describe(&event);
            // One attempt, no queue to try again: a failure is final.
            match dispatcher.dispatch(&event, clock.now(), true).await {
                Ok(outcome) => tracing::info!(?outcome, "{about}"),
                Err(error) => tracing::warn!(%error, "{about}"),
            }
        }));
        Ok(())
    }
}

/// A count of running tasks that can be awaited.
#[derive(Default, Clone)]
pub struct Pending(Arc<(AtomicUsize, tokio::sync::Notify)>);

/// One running task of a `Pending`; dropping it marks the task done.
pub struct PendingGuard(Arc<(AtomicUsize, tokio::sync::Notify)>);

impl Pending {
    pub fn start(&self) -> PendingGuard {
        self.0.0.fetch_add(1, Ordering::SeqCst);
        PendingGuard(Arc::clone(&self.0))
    }

    pub async fn wait(&self) {
        loop {
            let notified = self.0.1.notified();
            if self.0.0.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if self.0.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.1.notify_waiters();
        }
    }
}
