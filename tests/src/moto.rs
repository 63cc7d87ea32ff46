//! The AWS side of the tests: moto, a real AWS-compatible server on loopback, started by
//! `scripts/test.sh` (its URL in `STAMPS_TEST_MOTO_URL`). The clients are the real SDK
//! clients, speaking the real wire protocol; each test gets its own table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::Intercept;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeSerializationInterceptorContextRef, Input};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use shared::http::routes::{Route, TableAction};
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
    let random = shared::random::random_hex::<4>().expect("random");
    format!("{prefix}-{}-{}-{random}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

tokio::task_local! {
    /// The route whose request is being served: the test server sets it around each request,
    /// so that the table calls a handler makes are checked against the route's declaration.
    pub static SERVING: &'static Route;
}

/// Counts the DynamoDB operations a client sends, by name; and checks every call made while a
/// route is being served (`SERVING`) against the route's declared `TableAccess`: the IAM
/// actions and partition-key prefixes its function is granted in `template.yaml`. A call beyond
/// them would be `AccessDenied` deployed; here it is a violation the test server fails on.
///
/// It also counts the round trips the operations took in sequence: a round starts when an
/// operation starts while none is in flight, so operations sent in parallel share one.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<Vec<String>>>,
    violations: Arc<Mutex<Vec<String>>>,
    /// Operations in flight, and rounds since the last `take`.
    rounds: Arc<Mutex<(usize, usize)>>,
}

impl CallCounter {
    /// The operations sent since the last `take`.
    pub fn take(&self) -> Vec<String> {
        self.take_with_rounds().0
    }

    /// The operations sent since the last `take`, and how many round trips in sequence they
    /// took.
    pub fn take_with_rounds(&self) -> (Vec<String>, usize) {
        let rounds = std::mem::take(&mut self.rounds.lock().unwrap_or_else(|p| p.into_inner()).1);
        (std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner())), rounds)
    }

    /// The calls beyond their route's declaration since the last `take_violations`.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.violations.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Once per operation (not per retry), after the operation has named itself.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(operation.clone());
        {
            let mut rounds = self.rounds.lock().unwrap_or_else(|p| p.into_inner());
            if rounds.0 == 0 {
                rounds.1 += 1;
            }
            rounds.0 += 1;
        }
        if let Ok(route) = SERVING.try_with(|route| *route) {
            let access = &route.needs.table;
            let mut violations = self.violations.lock().unwrap_or_else(|p| p.into_inner());
            match item_calls(context.input()) {
                Some(calls) => {
                    for (action, pk) in calls {
                        if !access.allows(action, &pk) {
                            violations.push(format!("{}: {} on {pk}", route.function, action.as_str()));
                        }
                    }
                }
                None => violations.push(format!("{}: {operation}, which no route may call", route.function)),
            }
        }
        Ok(())
    }

    // Once per operation, when it has finished (answered or failed).
    fn read_after_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut rounds = self.rounds.lock().unwrap_or_else(|p| p.into_inner());
        rounds.0 = rounds.0.saturating_sub(1);
        Ok(())
    }
}

/// The item-level calls of a request, as IAM authorizes them: each action with the partition
/// key it touches (a transaction is one call per part). `None` for an operation that is not
/// one of the item-level calls a route may make.
fn item_calls(input: &Input) -> Option<Vec<(TableAction, String)>> {
    use aws_sdk_dynamodb::operation::{
        delete_item::DeleteItemInput, get_item::GetItemInput, put_item::PutItemInput, query::QueryInput,
        transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
    };
    use aws_sdk_dynamodb::types::AttributeValue;
    type Item = std::collections::HashMap<String, AttributeValue>;
    let pk = |item: Option<&Item>| match item.and_then(|item| item.get("pk")) {
        Some(AttributeValue::S(pk)) => pk.clone(),
        other => format!("(no string pk: {other:?})"),
    };
    if let Some(input) = input.downcast_ref::<GetItemInput>() {
        return Some(vec![(TableAction::GetItem, pk(input.key()))]);
    }
    if let Some(input) = input.downcast_ref::<PutItemInput>() {
        return Some(vec![(TableAction::PutItem, pk(input.item()))]);
    }
    if let Some(input) = input.downcast_ref::<UpdateItemInput>() {
        return Some(vec![(TableAction::UpdateItem, pk(input.key()))]);
    }
    if let Some(input) = input.downcast_ref::<DeleteItemInput>() {
        return Some(vec![(TableAction::DeleteItem, pk(input.key()))]);
    }
    if let Some(input) = input.downcast_ref::<QueryInput>() {
        // `pk = :placeholder AND ...`: the partition the query reads.
        let placeholder = input.key_condition_expression().and_then(|expression| {
            let rest = expression.split_once("pk = ")?.1;
            Some(rest.split_whitespace().next()?.to_string())
        });
        let value = placeholder.and_then(|p| input.expression_attribute_values().and_then(|values| values.get(&p)));
        let pk = match value {
            Some(AttributeValue::S(pk)) => pk.clone(),
            other => format!("(no string pk: {other:?})"),
        };
        return Some(vec![(TableAction::Query, pk)]);
    }
    if let Some(input) = input.downcast_ref::<TransactWriteItemsInput>() {
        let parts = input.transact_items().iter().map(|part| {
            if let Some(put) = part.put() {
                (TableAction::PutItem, pk(Some(put.item())))
            } else if let Some(update) = part.update() {
                (TableAction::UpdateItem, pk(Some(update.key())))
            } else if let Some(delete) = part.delete() {
                (TableAction::DeleteItem, pk(Some(delete.key())))
            } else {
                (TableAction::ConditionCheckItem, pk(part.condition_check().map(|check| check.key())))
            }
        });
        return Some(parts.collect());
    }
    None
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

/// Another store on the table of `store`, with a client of its own: what another process (a
/// second Lambda instance, the CLI) would hold.
pub async fn dynamo_store_beside(store: &DynamoStore) -> Arc<DynamoStore> {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    Arc::new(DynamoStore::new(client, store.table().to_string()))
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
        let topic_arn = self.sns.create_topic().name(&name).send().await.expect("topic").topic_arn.expect("topic ARN");
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
