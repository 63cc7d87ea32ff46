//! The AWS side of the tests: moto, a real AWS-compatible server on loopback, started by
//! `scripts/test.sh` (its URL in `STAMPS_TEST_MOTO_URL`). The clients are the real SDK
//! clients, speaking the real wire protocol; each test gets its own table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::Intercept;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use shared::store::dynamodb::DynamoStore;
use shared::store::prelude::*;

/// The moto server's URL. The DynamoDB tests cannot run without one.
pub fn url() -> String {
    match std::env::var("STAMPS_TEST_MOTO_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "STAMPS_TEST_MOTO_URL is not set: the DynamoDB tests need moto. Run ./scripts/test.sh, which \
             installs and starts moto_server, or start one and set STAMPS_TEST_MOTO_URL=http://127.0.0.1:PORT"
        ),
    }
}

/// SDK configuration pointing at moto, with test credentials.
pub async fn sdk_config() -> aws_config::SdkConfig {
    // Generous: moto serves one request at a time, and under the 100-way race tests a call can
    // queue for seconds. The tests of timeouts themselves use `sdk_config_at` with short ones.
    sdk_config_at(&url(), Duration::from_secs(15)).await
}

/// SDK configuration for any endpoint (a fault-injecting proxy, a closed port).
pub async fn sdk_config_at(endpoint: &str, timeout: Duration) -> aws_config::SdkConfig {
    let attempt = timeout.mul_f32(0.45);
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::https::HttpsClient::new().expect("TLS configuration"))
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "tests"))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(attempt)
                .operation_attempt_timeout(attempt)
                .operation_timeout(timeout)
                .build(),
        )
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// A table name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let random = shared::domain::secrets::random_hex::<4>().expect("random");
    format!("{prefix}-{}-{}-{random}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Counts the DynamoDB operations a client sends, by name, and the round trips they took in
/// sequence: a round starts when an operation starts while none is in flight, so operations
/// sent in parallel share one.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<Calls>>);

#[derive(Debug, Default)]
struct Calls {
    operations: Vec<String>,
    in_flight: usize,
    rounds: usize,
}

impl CallCounter {
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The operations sent since the last `take`.
    pub fn take(&self) -> Vec<String> {
        let mut calls = self.calls();
        calls.rounds = 0;
        std::mem::take(&mut calls.operations)
    }

    /// The operations sent since the last `take`, and how many round trips in sequence they
    /// took.
    pub fn take_with_rounds(&self) -> (Vec<String>, usize) {
        let mut calls = self.calls();
        let rounds = std::mem::take(&mut calls.rounds);
        (std::mem::take(&mut calls.operations), rounds)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Once per operation (not per retry), after the operation has named itself.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        let mut calls = self.calls();
        calls.operations.push(operation);
        if calls.in_flight == 0 {
            calls.rounds += 1;
        }
        calls.in_flight += 1;
        Ok(())
    }

    // Once per operation, when it has finished (answered or failed).
    fn read_after_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut calls = self.calls();
        calls.in_flight = calls.in_flight.saturating_sub(1);
        Ok(())
    }
}

/// A fresh DynamoDB store on moto (its own table, created), and the counter of its calls.
pub async fn dynamo_store_counted() -> (Arc<DynamoStore>, CallCounter) {
    let sdk = sdk_config().await;
    let counter = CallCounter::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), unique_name("stamps"));
    store.init().await.expect("create the table on moto");
    counter.take();
    (Arc::new(store), counter)
}

/// A fresh DynamoDB store on moto.
pub async fn dynamo_store() -> Arc<dyn AdminStore> {
    dynamo_store_counted().await.0
}

/// The OTP delivery path on moto: an SNS topic feeding an SQS queue (raw message delivery,
/// as in template.yaml), and a verified SES sender.
pub struct DeliveryRig {
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub topic_arn: String,
    pub queue_url: String,
    pub sender: String,
}

impl DeliveryRig {
    pub async fn new() -> DeliveryRig {
        let sdk = sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let ses = aws_sdk_sesv2::Client::new(&sdk);
        let name = unique_name("otp");
        let topic_arn = sns.create_topic().name(&name).send().await.expect("topic").topic_arn.expect("topic ARN");
        let queue_url = sqs.create_queue().queue_name(&name).send().await.expect("queue").queue_url.expect("queue URL");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .expect("queue ARN");
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscription");
        let sender = format!("{}@stamps.example", unique_name("noreply"));
        ses.create_email_identity().email_identity(&sender).send().await.expect("SES identity");
        DeliveryRig { sns, sqs, ses, topic_arn, queue_url, sender }
    }

    /// Everything waiting in the queue, as the Lambda service would hand it over.
    pub async fn receive_batch(&self) -> serde_json::Value {
        self.receive_batch_from(&self.queue_url).await
    }

    /// A new topic feeding a new queue by raw delivery (as template.yaml subscribes the
    /// delivery-events queue to the SES events topic): the topic's ARN and the queue's URL.
    pub async fn topic_to_queue(&self, name: &str) -> (String, String) {
        let name = unique_name(name);
        let topic_arn =
            self.sns.create_topic().name(&name).send().await.expect("topic").topic_arn.expect("topic ARN");
        let queue_url =
            self.sqs.create_queue().queue_name(&name).send().await.expect("queue").queue_url.expect("queue URL");
        let queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .expect("queue ARN");
        self.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscription");
        (topic_arn, queue_url)
    }

    /// Everything waiting in `queue_url`, as the Lambda service would hand it over.
    pub async fn receive_batch_from(&self, queue_url: &str) -> serde_json::Value {
        let mut records = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                records.push(serde_json::json!({
                    "messageId": message.message_id,
                    "receiptHandle": message.receipt_handle,
                    "body": message.body,
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:otp",
                    "awsRegion": "us-east-1",
                }));
            }
        }
        serde_json::json!({ "Records": records })
    }
}

/// What moto has received, from `/moto-api/data.json`.
pub async fn received() -> serde_json::Value {
    crate::http_client()
        .get(format!("{}/moto-api/data.json", url()))
        .send()
        .await
        .expect("moto data")
        .json()
        .await
        .expect("JSON")
}

/// The emails moto's SES has accepted for `address`.
pub async fn emails_to(address: &str) -> Vec<serde_json::Value> {
    let data = received().await;
    data["ses"]["Message"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter(|m| {
                    m["destinations"]["ToAddresses"].as_array().is_some_and(|to| to.iter().any(|a| a == address))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The SMS moto's SNS has accepted for `number`.
pub async fn sms_to(number: &str) -> Vec<serde_json::Value> {
    let data = received().await;
    data["sns"]["SMS"]
        .as_array()
        .map(|messages| messages.iter().filter(|m| m["phone_number"] == number).cloned().collect())
        .unwrap_or_default()
}
