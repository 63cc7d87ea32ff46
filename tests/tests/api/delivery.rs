//! OTP delivery (docs/api.md section 6.2): request routes publish `otp.requested` to SNS, the topic
//! feeds an SQS queue, and the dispatch function sends through SES and SNS SMS. All against
//! moto with the real SDK clients; what was sent is read back from moto's
//! `/moto-api/data.json`. The same rules run locally into the outbox.

use std::sync::Arc;

use integration_tests::app::{
    Backend, TestApp, TestMerchant, spawn_app, spawn_app_publishing, spawn_app_publishing_with,
};
use integration_tests::moto::{self, DeliveryRig};
use serde_json::{Value, json};
use shared::admin::{CustomerInput, TemplateInput};
use shared::clock::Clock;
use shared::delivery::outbox::Outbox;
use shared::delivery::reset_link::ResetLinks;
use shared::delivery::ses::SesEmail;
use shared::delivery::sns::{SnsPublisher, SnsSms};
use shared::delivery::{Channel, OtpDelivery, OtpRequested};
use shared::domain::otp::OtpPurpose;
use shared::lambda_sqs::{DispatchDeps, handle_batch};
use shared::store::{Customer, keys};

/// A customer with a unique email and mobile number, so that moto's record of what it sent
/// (shared by every test) can be filtered to this test's messages.
async fn customer(app: &TestApp, merchant: &TestMerchant) -> Customer {
    let suffix = u64::from_str_radix(&shared::random::random_hex::<4>().expect("random"), 16).expect("hex");
    app.create_customer(CustomerInput {
        merchant: merchant.id,
        email: Some(format!("ann.{suffix}@example.com")),
        mobile: Some(format!("0812{:08}", suffix % 100_000_000)),
        name: Some("Ann <& Co>".into()),
        ..Default::default()
    })
    .await
}

async fn template(app: &TestApp, merchant: &TestMerchant) {
    shared::admin::put_template(
        &app.app,
        TemplateInput {
            merchant: merchant.id,
            code: "reset".into(),
            subject: Some("Your code for {{ name }}".into()),
            text: Some("Code {{ otp }}, valid {{ expires_in_minutes }} minutes.".into()),
            html: Some("<p>Hello {{ name }}, your code is <b>{{ otp }}</b></p>".into()),
            sms: Some("{{ otp }} is your Kopi code".into()),
        },
    )
    .await
    .expect("template");
}

/// An app on DynamoDB whose events go to the rig's SNS topic, and the dispatch function's
/// dependencies on the same table, SES and SNS.
async fn aws_app(rig: &DeliveryRig) -> (TestApp, DispatchDeps) {
    let publisher = SnsPublisher::new(rig.sns.clone(), rig.topic_arn.clone());
    let app = spawn_app_publishing(Backend::DynamoDb, Arc::new(publisher)).await;
    let deps = deps(rig, &app);
    (app, deps)
}

/// The dispatch function's dependencies on `app`'s table, the rig's SES and SNS.
fn deps(rig: &DeliveryRig, app: &TestApp) -> DispatchDeps {
    DispatchDeps {
        store: Arc::clone(&app.store) as Arc<dyn shared::store::Store>,
        email: Arc::new(SesEmail::new(rig.ses.clone(), rig.sender.clone())),
        sms: Arc::new(SnsSms::new(rig.sns.clone(), None)),
        clock: app.clock.clone(),
        max_receives: shared::lambda_sqs::DEFAULT_MAX_RECEIVES,
        retention_secs: app.app.config.history_retention_secs,
        metrics: shared::metrics::Sink::Discard,
        reset_links: ResetLinks::from_config(&app.app.config).expect("hash key"),
    }
}

/// Runs the dispatch function over everything in the rig's queue; the failed message IDs.
pub(crate) async fn dispatch_all(rig: &DeliveryRig, app: &TestApp) -> Vec<String> {
    dispatch(&deps(rig, app), rig.receive_batch().await).await
}

async fn dispatch(deps: &DispatchDeps, batch: Value) -> Vec<String> {
    let event = serde_json::from_value(batch).expect("an SQS event");
    let response = handle_batch(deps, event).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

async fn request(app: &TestApp, merchant: &TestMerchant, customer: &Customer, kind: &str) -> String {
    let body = json!({"user": customer.id, "type": kind, "template_code": "reset"});
    let response = app.post_as(merchant, "/api/pin/request-otp-for-reset", &body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body["otp"].as_str().expect("otp").to_string()
}

/// The emails this test's rig sent to `address` (moto is shared by every test of the run, and
/// other tests mail the same addresses; each rig has its own sender).
async fn emails(rig: &DeliveryRig, address: &str) -> Vec<Value> {
    moto::emails_to(address).await.into_iter().filter(|m| m["source"] == rig.sender.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_request_sends_exactly_one_rendered_ses_message() {
    let rig = DeliveryRig::new().await;
    let (app, deps) = aws_app(&rig).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    let email = ann.email.clone().expect("email");
    let otp = request(&app, &merchant, &ann, "email").await;
    assert!(emails(&rig, &email).await.is_empty(), "the route only publishes; nothing is sent yet");

    let failures = dispatch(&deps, rig.receive_batch().await).await;
    assert!(failures.is_empty(), "{failures:?}");
    let sent = emails(&rig, &email).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["source"], rig.sender.as_str());
    assert_eq!(sent[0]["subject"], "Your code for Ann <& Co>");
    // moto keeps the HTML part when there is one; it is escaped.
    assert_eq!(sent[0]["body"], format!("<p>Hello Ann &lt;&amp; Co&gt;, your code is <b>{otp}</b></p>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_request_sends_one_sms_to_the_e164_number() {
    let rig = DeliveryRig::new().await;
    let (app, deps) = aws_app(&rig).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    let mobile = ann.mobile.clone().expect("mobile");
    assert!(mobile.starts_with("+62812"), "{mobile}");
    let otp = request(&app, &merchant, &ann, "sms").await;
    assert!(dispatch(&deps, rig.receive_batch().await).await.is_empty());
    let sent = moto::sms_to(&mobile).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["message"], format!("{otp} is your Kopi code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_queue_delivers_twice_is_sent_once() {
    let rig = DeliveryRig::new().await;
    let (app, deps) = aws_app(&rig).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    request(&app, &merchant, &ann, "sms").await;
    let batch = rig.receive_batch().await;
    let record = batch["Records"][0].clone();
    let mut again = record.clone();
    again["messageId"] = json!("a-second-delivery");
    // The same event twice in one batch, then once more in a later batch.
    assert!(dispatch(&deps, json!({"Records": [record.clone(), again]})).await.is_empty());
    assert!(dispatch(&deps, json!({"Records": [record]})).await.is_empty());
    assert_eq!(moto::sms_to(ann.mobile.as_deref().expect("mobile")).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_poisoned_message_reports_only_that_one() {
    let rig = DeliveryRig::new().await;
    let (app, deps) = aws_app(&rig).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    request(&app, &merchant, &ann, "email").await;
    let mut batch = rig.receive_batch().await;
    let poisoned = json!({"messageId": "poisoned", "body": "{\"type\": \"otp.requested\", \"version\": 1}"});
    let unknown_template = {
        let mut event = event(&ann, Channel::Email, "no-such-template", app.clock.now());
        event.merchant_id = merchant.id;
        json!({"messageId": "unknown-template", "body": serde_json::to_string(&event).expect("json")})
    };
    let records = batch["Records"].as_array_mut().expect("records");
    assert_eq!(records.len(), 1);
    records.insert(0, poisoned);
    records.push(unknown_template);
    let mut failures = dispatch(&deps, batch).await;
    failures.sort();
    assert_eq!(failures, ["poisoned", "unknown-template"]);
    assert_eq!(emails(&rig, ann.email.as_deref().expect("email")).await.len(), 1, "the good one was sent");
}

fn event(customer: &Customer, channel: Channel, template_code: &str, now: i64) -> OtpRequested {
    OtpRequested::new(OtpDelivery {
        merchant_id: customer.merchant_id,
        customer_id: customer.id,
        purpose: OtpPurpose::PinReset,
        channel,
        destination: match channel {
            Channel::Email => customer.email.clone().unwrap_or_default(),
            Channel::Sms => customer.mobile.clone().unwrap_or_default(),
        },
        name: customer.name.clone(),
        template_code: template_code.into(),
        otp: "246810".into(),
        expires_at: now + 600,
        requested_at: now,
    })
    .expect("random")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_is_retried_and_then_sent_once() {
    let rig = DeliveryRig::new().await;
    let (app, mut deps) = aws_app(&rig).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    let event = event(&ann, Channel::Email, "reset", app.clock.now());
    let batch = json!({"Records": [{"messageId": "m1", "body": serde_json::to_string(&event).expect("json")}]});
    // SES unreachable (a closed port): reported for retry, nothing sent, claim given back.
    let down = moto::sdk_config_at("http://127.0.0.1:9", std::time::Duration::from_millis(500)).await;
    let working = std::mem::replace(
        &mut deps.email,
        Arc::new(SesEmail::new(aws_sdk_sesv2::Client::new(&down), rig.sender.clone())),
    );
    assert_eq!(dispatch(&deps, batch.clone()).await, ["m1"]);
    assert!(emails(&rig, ann.email.as_deref().expect("email")).await.is_empty());
    deps.email = working;
    assert!(dispatch(&deps, batch.clone()).await.is_empty());
    assert!(dispatch(&deps, batch).await.is_empty());
    assert_eq!(emails(&rig, ann.email.as_deref().expect("email")).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_event_is_dropped_without_sending() {
    let rig = DeliveryRig::new().await;
    let (app, deps) = aws_app(&rig).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    let event = event(&ann, Channel::Sms, "reset", app.clock.now() - 601);
    let batch = json!({"Records": [{"messageId": "old", "body": serde_json::to_string(&event).expect("json")}]});
    assert!(dispatch(&deps, batch).await.is_empty(), "not worth retrying");
    assert!(moto::sms_to(ann.mobile.as_deref().expect("mobile")).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_event_is_a_versioned_document() {
    let rig = DeliveryRig::new().await;
    let (app, _deps) = aws_app(&rig).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    let otp = request(&app, &merchant, &ann, "sms").await;
    let batch = rig.receive_batch().await;
    let body: Value = serde_json::from_str(batch["Records"][0]["body"].as_str().expect("body")).expect("JSON event");
    assert_eq!(body["type"], "otp.requested");
    assert_eq!(body["version"], 1);
    assert_eq!(body["merchant_id"], merchant.id);
    assert_eq!(body["customer_id"], ann.id);
    assert_eq!(body["purpose"], "pin_reset");
    assert_eq!(body["channel"], "sms");
    assert_eq!(body["destination"], ann.mobile.clone().expect("mobile"));
    assert_eq!(body["template_code"], "reset");
    assert_eq!(body["otp"], otp);
    assert_eq!(body["expires_at"], app.clock.now() + 600);
    assert_eq!(body["requested_at"], app.clock.now());
    assert_eq!(body["event_id"].as_str().map(str::len), Some(32));
}

/// The local outbox keeps the same promises: once per event, poisoned messages refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_outbox_sends_once_and_refuses_poison() {
    let app = spawn_app(Backend::Sqlite).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    let dir = tempfile::tempdir().expect("outbox");
    let outbox = Arc::new(Outbox::new(dir.path(), app.clock.clone()));
    let deps = DispatchDeps {
        store: Arc::clone(&app.store) as Arc<dyn shared::store::Store>,
        email: outbox.clone(),
        sms: outbox,
        clock: app.clock.clone(),
        max_receives: shared::lambda_sqs::DEFAULT_MAX_RECEIVES,
        retention_secs: app.app.config.history_retention_secs,
        metrics: shared::metrics::Sink::Discard,
        reset_links: ResetLinks::from_config(&app.app.config).expect("hash key"),
    };
    let good = serde_json::to_string(&event(&ann, Channel::Email, "reset", app.clock.now())).expect("json");
    let batch = json!({"Records": [
        {"messageId": "a", "body": good},
        {"messageId": "b", "body": good},
        {"messageId": "c", "body": "not json"},
    ]});
    assert_eq!(dispatch(&deps, batch).await, ["c"]);
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("outbox").filter_map(Result::ok).collect();
    assert_eq!(files.len(), 1);
    let message: Value = serde_json::from_slice(&std::fs::read(files[0].path()).expect("file")).expect("json");
    assert_eq!(message["channel"], "email");
    assert_eq!(message["destination"], ann.email.clone().expect("email"));
    assert_eq!(message["subject"], "Your code for Ann <& Co>");
    assert_eq!(message["text"], "Code 246810, valid 10 minutes.");
    assert_eq!(message["html"], "<p>Hello Ann &lt;&amp; Co&gt;, your code is <b>246810</b></p>");
}

/// Publishing that fails answers 503 and gives the request back to the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_topic_is_503_and_costs_no_request() {
    let down = moto::sdk_config_at("http://127.0.0.1:9", std::time::Duration::from_millis(500)).await;
    let publisher =
        SnsPublisher::new(aws_sdk_sns::Client::new(&down), "arn:aws:sns:us-east-1:123456789012:none".into());
    let app = spawn_app_publishing(Backend::DynamoDb, Arc::new(publisher)).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    for _ in 0..6 {
        let body = json!({"user": ann.id, "template_code": "reset"});
        let response = app.post_as(&merchant, "/api/pin/request-otp-for-reset", &body).await;
        assert_eq!((response.status, response.error_code()), (503, "service_unavailable"), "{}", response.text);
    }
    for _ in 0..5 {
        let response = app.post_as(&merchant, "/api/pin/request-otp-for-reset", &json!({"user": ann.id})).await;
        assert_eq!(response.status, 200, "{}", response.text);
    }
}

/// A v2 reset request through SNS, SQS and the dispatch function: a failed send is retried and
/// gives its place in the customer's reset emails back, a duplicate issues and sends nothing,
/// the token sent resets the password, and a request older than a token's life is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_request_is_issued_and_sent_once_even_when_a_send_fails() {
    let rig = DeliveryRig::new().await;
    let publisher = SnsPublisher::new(rig.sns.clone(), rig.topic_arn.clone());
    let app = spawn_app_publishing_with(Backend::DynamoDb, Arc::new(publisher), &[("STAMPS_V2_MERCHANT", "1")]).await;
    let mut deps = deps(&rig, &app);
    let merchant = app.create_merchant("Kopi").await;
    let ann = customer(&app, &merchant).await;
    let email = ann.email.clone().expect("email");
    let response = app.post("/api/v2/auth/forgot_password", &json!({"email": email}), &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let batch = rig.receive_batch().await;
    let body: Value = serde_json::from_str(batch["Records"][0]["body"].as_str().expect("body")).expect("JSON event");
    assert_eq!(body["type"], "password_reset_link.requested");
    assert_eq!((&body["email"], &body["merchant_id"]), (&json!(email), &json!(merchant.id)));
    assert!(body.get("otp").is_none() && body.get("customer_id").is_none(), "no token, no customer: {body}");

    let limit = keys::reset_emails(merchant.id, ann.id);
    let down = moto::sdk_config_at("http://127.0.0.1:9", std::time::Duration::from_millis(500)).await;
    let working = std::mem::replace(
        &mut deps.email,
        Arc::new(SesEmail::new(aws_sdk_sesv2::Client::new(&down), rig.sender.clone())),
    );
    assert_eq!(dispatch(&deps, batch.clone()).await.len(), 1, "reported for retry");
    assert!(emails(&rig, &email).await.is_empty());
    assert_eq!(app.store.counter(&limit, app.clock.now()).await.expect("read").count, 0, "given back");
    deps.email = working;
    assert!(dispatch(&deps, batch.clone()).await.is_empty());
    assert!(dispatch(&deps, batch).await.is_empty(), "a duplicate is no failure");
    let sent = emails(&rig, &email).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(app.store.counter(&limit, app.clock.now()).await.expect("read").count, 1, "one email, one place");
    let text = sent[0]["body"].as_str().expect("body");
    let token = text.split("reset your password: <b>").nth(1).and_then(|t| t.split('<').next()).expect("a token");
    let body = json!({"token": token, "password": "brand-new-pass-7"});
    let response = app.post("/api/v2/auth/reset_password", &body, &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);

    // A request that waited in the queue longer than a token lives is not worth an email.
    let old =
        shared::delivery::ResetLinkRequested::new(merchant.id, email.clone(), app.clock.now() - 3_600).expect("random");
    let batch = json!({"Records": [{"messageId": "old", "body": serde_json::to_string(&old).expect("json")}]});
    assert!(dispatch(&deps, batch).await.is_empty());
    assert_eq!(emails(&rig, &email).await.len(), 1);
}

/// What the dispatcher did with each message is counted per channel and recorded for the
/// customer: a send failing before the queue's last receive is `failed` (retried), on the last
/// receive `dead_lettered`; a message to an address that bounced since the request is not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_outcomes_are_counted_and_recorded_for_the_customer() {
    let app = spawn_app(Backend::Sqlite).await;
    let merchant = app.create_merchant("Kopi").await;
    template(&app, &merchant).await;
    let ann = customer(&app, &merchant).await;
    let dir = tempfile::tempdir().expect("outbox");
    let outbox = Arc::new(Outbox::new(dir.path(), app.clock.clone()));
    let registry = Arc::new(shared::metrics::registry::Registry::new());
    let deps = DispatchDeps {
        store: Arc::clone(&app.store) as Arc<dyn shared::store::Store>,
        email: outbox.clone(),
        sms: outbox,
        clock: app.clock.clone(),
        max_receives: 3,
        retention_secs: app.app.config.history_retention_secs,
        metrics: shared::metrics::Sink::Registry(Arc::clone(&registry)),
        reset_links: ResetLinks::from_config(&app.app.config).expect("hash key"),
    };
    let now = app.clock.now();
    let unknown = serde_json::to_string(&event(&ann, Channel::Sms, "no-such-template", now)).expect("json");
    let record = |id: &str, body: &str, receives: u32| json!({"messageId": id, "body": body, "attributes": {"ApproximateReceiveCount": receives.to_string()}});
    let batch = json!({"Records": [record("a", &unknown, 1), record("b", &unknown, 3)]});
    assert_eq!(dispatch(&deps, batch).await, ["a", "b"]);
    let good = serde_json::to_string(&event(&ann, Channel::Email, "reset", now)).expect("json");
    assert!(dispatch(&deps, json!({"Records": [record("c", &good, 1)]})).await.is_empty());

    let text = registry.render();
    for (series, value) in [
        ("stamps_deliveries_failed_total{function=\"otp-dispatch\",channel=\"sms\"}", "1"),
        ("stamps_deliveries_dead_lettered_total{function=\"otp-dispatch\",channel=\"sms\"}", "1"),
        ("stamps_deliveries_sent_total{function=\"otp-dispatch\",channel=\"email\"}", "1"),
    ] {
        assert!(text.lines().any(|line| line == format!("{series} {value}")), "{series} in {text}");
    }
    let page = shared::history::page(&app.app, merchant.id, ann.id, 10, None).await.expect("history");
    let seen: Vec<(&str, &str, Option<Channel>)> =
        page.events.iter().map(|e| (e.kind.as_str(), e.outcome.as_str(), e.channel)).collect();
    assert_eq!(
        seen,
        [
            ("otp_sent", "sent", Some(Channel::Email)),
            ("otp_dead_lettered", "dead_lettered", Some(Channel::Sms)),
            ("otp_send_failed", "failed", Some(Channel::Sms)),
        ]
    );
    assert!(page.events.iter().all(|e| e.route == "otp-dispatch"));

    // The address bounces after the code was requested: the message still queued is not sent.
    let suppression = shared::store::Suppression {
        channel: Channel::Email,
        address: ann.email.clone().expect("email"),
        reason: "bounced".into(),
        at: now,
    };
    let bounced = shared::store::DeliveryOutcome {
        at: now,
        channel: Channel::Email,
        outcome: "bounced".into(),
        message_id: "earlier".into(),
    };
    app.store.record_delivery(merchant.id, ann.id, &bounced, Some(&suppression)).await.expect("recorded");
    let queued = serde_json::to_string(&event(&ann, Channel::Email, "reset", now)).expect("json");
    assert!(dispatch(&deps, json!({"Records": [record("d", &queued, 1)]})).await.is_empty(), "not retried");
    let page = shared::history::page(&app.app, merchant.id, ann.id, 1, None).await.expect("history");
    assert_eq!(page.events[0].kind.as_str(), "otp_suppressed");
    let emails = std::fs::read_dir(dir.path()).expect("outbox").count();
    assert_eq!(emails, 1, "only the message before the bounce went out");
}
