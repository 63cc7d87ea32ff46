//! DynamoDB down, slow, or failing one call in the middle of a multi-step operation (issue 9).
//! A fault-injecting proxy sits between the server's DynamoDB client and moto. Each scenario
//! asserts: the answer is `503 service_unavailable` (from the SDK's own timeout, never a hang
//! or a 500); the table, read directly from moto, is exactly as before — except where a step
//! taken before the failure is a documented, deliberate change (an attempt counted); and once
//! the proxy passes again, the same server, not restarted, answers as it should.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::app::{TestApp, TestMerchant, TestResponse, spawn_on, test_config};
use integration_tests::fault_proxy::{FaultProxy, Mode};
use integration_tests::moto;
use serde_json::{Value, json};
use shared::admin::CustomerInput;
use shared::store::Setup;
use shared::store::dynamodb::DynamoStore;

/// The client's whole budget per call; the slow proxy holds requests well past it.
const TIMEOUT: Duration = Duration::from_millis(2500);
const SLOW: Duration = Duration::from_secs(6);
/// The SDK tries each call three times: failing three in a row fails the call.
const ATTEMPTS: u32 = 3;

struct Rig {
    proxy: FaultProxy,
    app: TestApp,
    merchant: TestMerchant,
    customer_id: u64,
    direct: aws_sdk_dynamodb::Client,
    table: String,
}

async fn rig(extra: &[(&str, &str)]) -> Rig {
    let proxy = FaultProxy::start(&moto::url()).await;
    let table = moto::unique_name("faults");
    let direct = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    // The table is made directly (moto can take longer than the short timeout to create one).
    DynamoStore::new(direct.clone(), table.clone()).init().await.expect("table");
    let through_proxy = moto::sdk_config_at(proxy.url(), TIMEOUT).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&through_proxy), table.clone());
    let store: Arc<dyn shared::store::AdminStore> = Arc::new(store);
    let app = spawn_on(store, None, test_config(extra)).await;
    let merchant = app.create_merchant("Kopi").await;
    let customer = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("ann@example.com".into()),
            mobile: Some("081234567890".into()),
            name: Some("Ann".into()),
            password: Some("secret-pass-1".into()),
            ..Default::default()
        })
        .await;
    Rig { proxy, app, merchant, customer_id: customer.id, direct, table }
}

fn to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::M(map) => {
            json!({"M": map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect::<BTreeMap<_, _>>()})
        }
        AttributeValue::L(list) => json!({"L": list.iter().map(to_json).collect::<Vec<_>>()}),
        AttributeValue::Ss(set) => json!({"SS": set}),
        other => json!({"other": format!("{other:?}")}),
    }
}

/// Every item of the table, read straight from moto, keyed by `pk|sk`.
async fn snapshot(rig: &Rig) -> BTreeMap<String, Value> {
    let mut items = BTreeMap::new();
    let mut start = None;
    loop {
        let page = rig.direct.scan().table_name(&rig.table).set_exclusive_start_key(start).send().await.expect("scan");
        for item in page.items.unwrap_or_default() {
            let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let fields: BTreeMap<String, Value> = item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            items.insert(format!("{}|{}", key("pk"), key("sk")), json!(fields));
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// The items that differ between two snapshots, by key.
fn changed(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter().filter(|k| before.get(*k) != after.get(*k)).cloned().collect()
}

fn assert_unavailable(response: &TestResponse, what: &str) {
    assert_eq!((response.status, response.error_code()), (503, "service_unavailable"), "{what}: {}", response.text);
}

async fn post(rig: &Rig, path: &str, body: Value) -> TestResponse {
    rig.app.post_as(&rig.merchant, path, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_down_is_503_changes_nothing_and_recovers_without_restart() {
    let rig = rig(&[]).await;
    let user = json!(rig.customer_id);
    let before = snapshot(&rig).await;
    rig.proxy.set(Mode::Down);
    let token =
        rig.app.post("/api/token/", &json!({"token": rig.merchant.api_key, "merchant": rig.merchant.id}), &[]).await;
    assert_unavailable(&token, "token");
    assert_unavailable(
        &post(&rig, "/api/pin/set", json!({"user": user, "pin": "135790", "confirm_pin": "135790"})).await,
        "pin/set",
    );
    assert_unavailable(&post(&rig, "/api/pin/validate", json!({"user": user, "pin": "135790"})).await, "pin/validate");
    let body = json!({"user": "ann@example.com", "password": "secret-pass-1"});
    assert_unavailable(&post(&rig, "/api/auth/validate-password", body).await, "validate-password by email");
    assert_eq!(changed(&before, &snapshot(&rig).await), Vec::<String>::new());

    rig.proxy.set(Mode::Pass);
    let response = post(&rig, "/api/pin/set", json!({"user": user, "pin": "135790", "confirm_pin": "135790"})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(post(&rig, "/api/pin/validate", json!({"user": user, "pin": "135790"})).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_slower_than_the_timeout_is_503_changes_nothing_and_recovers() {
    let rig = rig(&[]).await;
    let user = json!(rig.customer_id);
    assert_eq!(
        post(&rig, "/api/pin/set", json!({"user": user, "pin": "135790", "confirm_pin": "135790"})).await.status,
        200
    );
    let before = snapshot(&rig).await;
    rig.proxy.set(Mode::Slow(SLOW));
    assert_unavailable(&post(&rig, "/api/pin/validate", json!({"user": user, "pin": "000000"})).await, "pin/validate");
    let body = json!({"user": user, "current_pin": "135790", "new_pin": "246801", "confirm_new_pin": "246801"});
    assert_unavailable(&post(&rig, "/api/pin/change", body).await, "pin/change");
    rig.proxy.set(Mode::Pass);
    // Requests the client gave up on may still reach moto late: wait for them to land, then
    // compare. Giving up is the client's side; a late write would show up here.
    tokio::time::sleep(SLOW + Duration::from_millis(500)).await;
    let after = snapshot(&rig).await;
    let pin_key = format!("CUSTOMER#{}#{}|PIN", rig.merchant.id, rig.customer_id);
    let changes = changed(&before, &after);
    // A held request that moto finally receives is a real attempt: the wrong PIN's reserved
    // attempt may land (it counts, by design: faults give no free guesses). Nothing else may.
    assert!(changes.iter().all(|k| *k == pin_key), "{changes:?}");
    let response = post(&rig, "/api/pin/validate", json!({"user": user, "pin": "135790"})).await;
    assert_eq!(response.status, 200, "the PIN was not changed: {}", response.text);
}

/// Requests a PIN reset code while everything passes.
async fn otp(rig: &Rig, path: &str, body: Value) -> String {
    let response = post(rig, path, body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body["otp"].as_str().expect("otp").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pin_reset_whose_transaction_fails_keeps_the_code_and_the_old_pin() {
    let rig = rig(&[]).await;
    let user = json!(rig.customer_id);
    assert_eq!(
        post(&rig, "/api/pin/set", json!({"user": user, "pin": "135790", "confirm_pin": "135790"})).await.status,
        200
    );
    let code = otp(&rig, "/api/pin/request-otp-for-reset", json!({"user": user})).await;
    let before = snapshot(&rig).await;
    rig.proxy.fail_next("TransactWriteItems", ATTEMPTS);
    let body = json!({"user": user, "otp": code, "pin": "246801", "confirm_pin": "246801"});
    assert_unavailable(&post(&rig, "/api/pin/reset", body.clone()).await, "pin/reset");
    // Within its time budget the SDK retried; each try was failed.
    assert!(rig.proxy.failed().get("TransactWriteItems").is_some_and(|n| *n >= 1), "{:?}", rig.proxy.failed());
    let after = snapshot(&rig).await;
    let otp_key = format!("CUSTOMER#{}#{}|OTP#pin_reset", rig.merchant.id, rig.customer_id);
    // The code's try was taken before the failing write: it stays taken (a failed request is
    // still an attempt). The PIN, its failures, the request count: untouched.
    assert_eq!(changed(&before, &after), vec![otp_key.clone()]);
    assert_eq!(after[&otp_key]["tries"], json!({"N": "1"}), "{}", after[&otp_key]);
    rig.proxy.set(Mode::Pass);
    assert_eq!(post(&rig, "/api/pin/validate", json!({"user": user, "pin": "135790"})).await.status, 200, "old PIN");
    assert_eq!(post(&rig, "/api/pin/reset", body).await.status, 200, "the code still works");
    assert_eq!(post(&rig, "/api/pin/validate", json!({"user": user, "pin": "246801"})).await.status, 200, "new PIN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_reset_whose_transaction_fails_keeps_the_code_and_the_old_password() {
    let rig = rig(&[]).await;
    let body = json!({"identifier": rig.customer_id, "type": "email"});
    let code = otp(&rig, "/api/auth/request-otp-for-password-reset", body).await;
    let before = snapshot(&rig).await;
    rig.proxy.fail_next("TransactWriteItems", ATTEMPTS);
    let reset = json!({"identifier": rig.customer_id, "otp": code, "new_password": "amber-heron-lantern",
                       "confirm_new_password": "amber-heron-lantern"});
    assert_unavailable(
        &post(&rig, "/api/auth/reset-password-with-otp", reset.clone()).await,
        "reset-password-with-otp",
    );
    let otp_key = format!("CUSTOMER#{}#{}|OTP#password_reset", rig.merchant.id, rig.customer_id);
    assert_eq!(changed(&before, &snapshot(&rig).await), vec![otp_key]);
    rig.proxy.set(Mode::Pass);
    let old = json!({"user": rig.customer_id, "password": "secret-pass-1"});
    assert_eq!(post(&rig, "/api/auth/validate-password", old).await.status, 200, "old password");
    assert_eq!(post(&rig, "/api/auth/reset-password-with-otp", reset).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_pin_write_and_password_change_failing_change_nothing() {
    let rig = rig(&[]).await;
    let user = json!(rig.customer_id);
    let before = snapshot(&rig).await;
    rig.proxy.fail_next("PutItem", ATTEMPTS);
    let set = json!({"user": user, "pin": "135790", "confirm_pin": "135790"});
    assert_unavailable(&post(&rig, "/api/pin/set", set.clone()).await, "pin/set");
    assert_eq!(changed(&before, &snapshot(&rig).await), Vec::<String>::new());

    rig.proxy.fail_next("TransactWriteItems", ATTEMPTS);
    let change = json!({"user": user, "old_password": "secret-pass-1", "new_password": "amber-heron-lantern"});
    assert_unavailable(&post(&rig, "/api/auth/change-password", change.clone()).await, "change-password");
    let after = snapshot(&rig).await;
    // The right old password took its place in the throttle window and gave it back before the
    // failing write: the window's item may now exist, at zero. Nothing else changed.
    for key in changed(&before, &after) {
        assert!(key.starts_with("COUNTER#pwfail#"), "{key} changed");
        assert_eq!(after[&key]["count"], json!({"N": "0"}), "{}", after[&key]);
    }
    rig.proxy.set(Mode::Pass);
    assert_eq!(post(&rig, "/api/pin/set", set).await.status, 200);
    assert_eq!(post(&rig, "/api/auth/change-password", change).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v2_registration_whose_transaction_fails_leaves_no_customer() {
    let rig = rig(&[("STAMPS_V2_MERCHANT", "1")]).await;
    assert_eq!(rig.merchant.id, 1);
    let before = snapshot(&rig).await;
    rig.proxy.fail_next("TransactWriteItems", ATTEMPTS);
    let body = json!({"email": "budi@example.com", "password": "rahasia-sekali-9", "name": "Budi", "id_location": 7,
                      "phone": "082232856363"});
    let response = rig.app.post("/api/v2/auth/register", &body, &[]).await;
    assert_eq!(response.status, 503, "{}", response.text);
    assert_eq!(response.body["status"], 0);
    // The customer ID was allocated before the failing transaction: the sequence moved on (a
    // gap in IDs, harmless). The client network's place in the window of registrations was
    // taken and given back (a failure of the service costs the client nothing): its item may
    // now exist, at zero. No customer, unique claim or key was written.
    let after = snapshot(&rig).await;
    for key in changed(&before, &after) {
        if key.starts_with("COUNTER#ip#registrations#") {
            assert_eq!(after[&key]["count"], json!({"N": "0"}), "{}", after[&key]);
        } else {
            assert!(key.starts_with("SEQUENCE#"), "{key} changed");
        }
    }
    rig.proxy.set(Mode::Pass);
    let response = rig.app.post("/api/v2/auth/register", &body, &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);
}

/// Writes a PIN through `path` while the answer to its put is lost: 200 all the same, the put
/// failed `lost_so_far` times in all, and `pin` is then the customer's PIN.
async fn pin_write_with_lost_answer(rig: &Rig, path: &str, body: Value, pin: &str, lost_so_far: u32) {
    rig.proxy.lose_answer_next("PutItem", 1);
    let response = post(rig, path, body).await;
    assert_eq!(response.status, 200, "{path}: {}", response.text);
    assert_eq!(rig.proxy.failed().get("PutItem"), Some(&lost_so_far), "the answer was lost");
    let validate = json!({"user": rig.customer_id, "pin": pin});
    assert_eq!(post(rig, "/api/pin/validate", validate).await.status, 200);
}

/// A write that lands but whose answer is lost (first PIN, PIN change, registration, delivery
/// claim): the SDK retries it, and the retry meets the first write. Conditional puts have no
/// idempotency token, and moto ignores the one the SDK gives transactions, so the adapter
/// recognises its own writes: the request succeeds once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_whose_answers_are_lost_are_retried_and_succeed_once() {
    let rig = rig(&[("STAMPS_V2_MERCHANT", "1")]).await;
    let user = json!(rig.customer_id);

    // The first PIN (a put only if no PIN is set), then a change (a put only while the old
    // hash is stored).
    let set = json!({"user": user, "pin": "135790", "confirm_pin": "135790"});
    pin_write_with_lost_answer(&rig, "/api/pin/set", set, "135790", 1).await;
    let change = json!({"user": user, "current_pin": "135790", "new_pin": "246801", "confirm_new_pin": "246801"});
    pin_write_with_lost_answer(&rig, "/api/pin/change", change, "246801", 2).await;

    // A customer with its unique claims and app key (one transaction).
    rig.proxy.lose_answer_next("TransactWriteItems", 1);
    let body = json!({"email": "budi@example.com", "password": "rahasia-sekali-9", "name": "Budi", "id_location": 7,
                      "phone": "082232856363"});
    let response = rig.app.post("/api/v2/auth/register", &body, &[]).await;
    assert_eq!((response.status, &response.body["status"]), (200, &json!(1)), "register: {}", response.text);
    let customers = snapshot(&rig).await.keys().filter(|k| k.ends_with("|CUSTOMER")).count();
    assert_eq!(customers, 2, "Ann and one Budi");
    let login = json!({"email": "budi@example.com", "password": "rahasia-sekali-9"});
    assert_eq!(rig.app.post("/api/v2/auth/login", &login, &[]).await.status, 200);

    // A delivery claim: lost answer, still ours; a real second delivery is still a duplicate.
    let store = &rig.app.store;
    rig.proxy.lose_answer_next("PutItem", 1);
    assert!(store.claim_delivery("event-1", 4_000_000_000, 1_800_000_000).await.expect("claim"), "first claim");
    assert!(!store.claim_delivery("event-1", 4_000_000_000, 1_800_000_000).await.expect("claim"), "duplicate");
}
