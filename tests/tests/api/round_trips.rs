//! Storage round trips on DynamoDB, counted by an interceptor on the real SDK client: the
//! figures each route's doc comment gives, for a customer named by primary key and a merchant
//! authenticated by a Bearer token (an API key credential adds one read).

use integration_tests::app::{Backend, TestApp, spawn_app};
use serde_json::{Value, json};

use crate::pin::{OTHER_PIN, PIN, set_pin, setup};

/// Sends `body` to `path` and returns the DynamoDB operations it caused.
async fn calls(app: &TestApp, token: &str, path: &str, body: Value, status: u16) -> Vec<String> {
    calls_and_rounds(app, token, path, body, status).await.0
}

/// Sends `body` to `path` and returns the DynamoDB operations it caused and the round trips
/// they took in sequence.
async fn calls_and_rounds(app: &TestApp, token: &str, path: &str, body: Value, status: u16) -> (Vec<String>, usize) {
    app.take_calls();
    let response = app.post_bearer(token, path, &body).await;
    assert_eq!(response.status, status, "{path}: {}", response.text);
    app.take_calls_with_rounds()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_routes_cost_what_their_doc_comments_say() {
    let app = spawn_app(Backend::DynamoDb).await;
    let (merchant, customer) = setup(&app).await;
    let token = app.access_token(&merchant).await;
    let id = customer.id;

    // validate: reserve the attempt and read the hash in one conditional write, then give it
    // back and record the history event in parallel: 3 calls, 2 round trips in sequence (as
    // many as before the history existed).
    set_pin(&app, &merchant, &customer, PIN).await;
    let (ok, rounds) = calls_and_rounds(&app, &token, "/api/pin/validate", json!({"user": id, "pin": PIN}), 200).await;
    assert_eq!(ok, ["UpdateItem", "UpdateItem", "PutItem"], "success: 3 calls");
    assert_eq!(rounds, 2, "success: the event is written beside the last call, not after it");
    let wrong = calls(&app, &token, "/api/pin/validate", json!({"user": id, "pin": OTHER_PIN}), 400).await;
    assert_eq!(wrong, ["UpdateItem", "PutItem"], "failure: the attempt, then the event");
    // With a failure on record, success still costs 2 round trips; blocked costs 1 call.
    let (ok, rounds) = calls_and_rounds(&app, &token, "/api/pin/validate", json!({"user": id, "pin": PIN}), 200).await;
    assert_eq!((ok.len(), rounds), (3, 2), "{ok:?}");
    for _ in 0..3 {
        calls(&app, &token, "/api/pin/validate", json!({"user": id, "pin": OTHER_PIN}), 400).await;
    }
    let blocked = calls(&app, &token, "/api/pin/validate", json!({"user": id, "pin": PIN}), 400).await;
    assert_eq!(blocked, ["UpdateItem"], "blocked: 1 call, the PIN never read for checking");

    // unblock: read the customer; clear and record, in parallel.
    let (unblock, rounds) = calls_and_rounds(&app, &token, "/api/pin/unblock", json!({"user": id}), 200).await;
    assert_eq!((unblock, rounds), (vec!["GetItem".to_string(), "UpdateItem".into(), "PutItem".into()], 2));

    // change: reserve, give back, conditional write of the new PIN, the event.
    let body = json!({"user": id, "current_pin": PIN, "new_pin": OTHER_PIN, "confirm_new_pin": OTHER_PIN});
    let change = calls(&app, &token, "/api/pin/change", body, 200).await;
    assert_eq!(change, ["UpdateItem", "UpdateItem", "PutItem", "PutItem"]);

    // request an OTP: read the customer, one transaction (count the request, store the code),
    // the event.
    let request = calls(&app, &token, "/api/pin/request-otp-for-reset", json!({"user": id}), 200).await;
    assert_eq!(request, ["GetItem", "TransactWriteItems", "PutItem"]);

    // reset: read the customer, use a try of the code, one transaction.
    let otp = app.post_bearer(&token, "/api/pin/request-otp-for-reset", &json!({"user": id})).await.body["otp"]
        .as_str()
        .expect("otp")
        .to_string();
    let body = json!({"user": id, "otp": otp, "pin": PIN, "confirm_pin": PIN});
    let reset = calls(&app, &token, "/api/pin/reset", body, 200).await;
    assert_eq!(
        reset,
        ["GetItem", "UpdateItem", "TransactWriteItems", "PutItem", "PutItem"],
        "otp_used and pin_reset, at once"
    );

    // set: read the customer, conditional write.
    let bob = app
        .create_customer(shared::admin::CustomerInput {
            merchant: merchant.id,
            email: Some("bob@example.com".into()),
            ..Default::default()
        })
        .await;
    let set = calls(&app, &token, "/api/pin/set", json!({"user": bob.id, "pin": PIN, "confirm_pin": PIN}), 200).await;
    assert_eq!(set, ["GetItem", "PutItem", "PutItem"]);

    // reset with password: read the customer, take a password place, give it back, write, the
    // event.
    let body = json!({"user": id, "password": "secret-pass-1", "pin": OTHER_PIN, "confirm_pin": OTHER_PIN});
    let with_password = calls(&app, &token, "/api/pin/reset-with-password", body, 200).await;
    assert_eq!(with_password, ["GetItem", "UpdateItem", "UpdateItem", "PutItem", "PutItem"]);

    // Naming the customer by email adds the unique-claim read.
    let (by_email, rounds) =
        calls_and_rounds(&app, &token, "/api/pin/validate", json!({"user": "ann@example.com", "pin": OTHER_PIN}), 200)
            .await;
    assert_eq!(
        (by_email, rounds),
        (vec!["GetItem".into(), "GetItem".into(), "UpdateItem".into(), "UpdateItem".into(), "PutItem".into()], 4)
    );

    // An API key credential adds one read (its hash must be on record).
    app.take_calls();
    let response = app.post_as(&merchant, "/api/pin/validate", &json!({"user": id, "pin": OTHER_PIN})).await;
    assert_eq!(response.status, 200);
    assert_eq!(app.take_calls(), ["GetItem", "UpdateItem", "UpdateItem", "PutItem"]);
}

/// validate-password's success path: the history event is written beside the call that gives
/// the throttle place back, so the route still makes 3 round trips in sequence (read the
/// customer, take a place, give it back) for 4 calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_password_records_its_event_without_a_round_trip_more() {
    let app = spawn_app(Backend::DynamoDb).await;
    let (merchant, customer) = setup(&app).await;
    let token = app.access_token(&merchant).await;
    let body = json!({"user": customer.id, "password": "secret-pass-1"});
    let (ok, rounds) = calls_and_rounds(&app, &token, "/api/auth/validate-password", body, 200).await;
    assert_eq!(ok, ["GetItem", "UpdateItem", "UpdateItem", "PutItem"]);
    assert_eq!(rounds, 3, "the event shares the last round trip");
    // A wrong password: the place (kept), then its event.
    let body = json!({"user": customer.id, "password": "wrong-pass-1"});
    let (wrong, rounds) = calls_and_rounds(&app, &token, "/api/auth/validate-password", body, 400).await;
    assert_eq!((wrong, rounds), (vec!["GetItem".into(), "UpdateItem".into(), "PutItem".into()], 3));
}

/// A Bearer token is checked without storage; an API key costs one read everywhere, on
/// `validate-mobile-number` too (its record says whether it was revoked, rotated or imported).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_cost_no_call_and_api_keys_one_read() {
    let app = spawn_app(Backend::DynamoDb).await;
    let merchant = app.create_merchant("Kopi").await;
    let token = app.access_token(&merchant).await;
    let verify = calls(&app, &token, "/api/token/verify/", json!({"access_token": token}), 200).await;
    assert!(verify.is_empty(), "{verify:?}");
    let mobile =
        calls(&app, &token, "/api/auth/validate-mobile-number", json!({"mobile_number": "081234567890"}), 200).await;
    assert!(mobile.is_empty(), "{mobile:?}");
    app.take_calls();
    let response =
        app.post_as(&merchant, "/api/auth/validate-mobile-number", &json!({"mobile_number": "081234567890"})).await;
    assert_eq!(response.status, 200);
    assert_eq!(app.take_calls(), ["GetItem"]);
}

/// The check behind every DynamoDB test of a route (`moto::CallCounter`): a table call beyond
/// its route's declared actions and partitions is caught, as IAM would deny it deployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_call_beyond_the_route_table_is_caught() {
    use integration_tests::moto::{SERVING, dynamo_store_counted};
    use shared::http::routes;
    use shared::store::prelude::*;
    let (store, calls) = dynamo_store_counted().await;
    // token-verify declares no table access; pin-validate declares customers, not app keys, and
    // no deletes.
    SERVING.scope(&routes::TOKEN_VERIFY, store.customer(1, 2)).await.expect("read");
    SERVING.scope(&routes::PIN_VALIDATE, store.app_key("ab")).await.expect("read");
    SERVING.scope(&routes::PIN_VALIDATE, store.clear_counter("otpreq#1#2")).await.expect("delete");
    SERVING.scope(&routes::PIN_VALIDATE, store.customer(1, 2)).await.expect("read");
    store.app_key("ab").await.expect("outside a request: not checked");
    assert_eq!(
        calls.take_violations(),
        [
            "token-verify: GetItem on CUSTOMER#1#2",
            "pin-validate: GetItem on APPKEY#ab",
            "pin-validate: DeleteItem on COUNTER#otpreq#1#2"
        ]
    );
}
