//! A customer's security history and status (docs/api.md section 11), on both stores: each
//! event kind as the routes record it (time, route, outcome, never a secret), the status after
//! each state change (a block expiring with the clock included), pagination, retention, merchant
//! isolation, and the suppression of an address that bounced until the merchant updates it.

use std::collections::BTreeSet;

use integration_tests::app::{Backend, TestApp, TestMerchant, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use shared::admin::CustomerInput;
use shared::clock::Clock;
use shared::delivery::Channel;
use shared::store::{ContactChange, Customer, DeliveryOutcome, Suppression};

use crate::pin::{OTHER_PIN, PIN, set_pin, setup};

both_stores!(
    each_event_kind_is_recorded_with_its_route_and_outcome_and_no_secret,
    v2_registration_login_and_logout_are_recorded,
    status_follows_each_state_change,
    a_block_expires_with_the_clock,
    pages_go_newest_first_and_link_by_next,
    limit_and_before_are_checked,
    events_expire_after_the_retention,
    another_merchants_customer_is_invalid_user,
    a_bounced_address_is_not_sent_to_until_the_merchant_updates_it,
    ses_outcomes_are_recorded_and_shown_in_the_status,
    status_after_a_reset_and_a_right_password,
    unknown_identifiers_failures_go_to_the_unknown_subject_and_stay_hidden,
);

/// The customer's whole history, newest first (following `next` over pages of 100).
async fn history(app: &TestApp, merchant: &TestMerchant, customer: &Customer) -> Vec<Value> {
    let mut events = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut body = json!({"user": customer.id, "limit": 100});
        if let Some(before) = &before {
            body["before"] = json!(before);
        }
        let response = app.post_as(merchant, "/api/auth/customer-events", &body).await;
        assert_eq!(response.status, 200, "{}", response.text);
        events.extend(response.body["events"].as_array().cloned().unwrap_or_default());
        match response.body["next"].as_str() {
            Some(next) => before = Some(next.to_string()),
            None => return events,
        }
    }
}

fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["kind"].as_str().unwrap_or_default().to_string()).collect()
}

async fn status(app: &TestApp, merchant: &TestMerchant, customer: &Customer) -> Value {
    let response = app.post_as(merchant, "/api/auth/customer-status", &json!({"user": customer.id})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body
}

async fn post_ok(app: &TestApp, merchant: &TestMerchant, path: &str, body: Value) -> Value {
    let response = app.post_as(merchant, path, &body).await;
    assert_eq!(response.status, 200, "{path}: {}", response.text);
    response.body
}

async fn post_code(app: &TestApp, merchant: &TestMerchant, path: &str, body: Value) -> String {
    app.post_as(merchant, path, &body).await.error_code().to_string()
}

async fn template(app: &TestApp, merchant: &TestMerchant) {
    shared::admin::put_template(
        &app.app,
        shared::admin::TemplateInput {
            merchant: merchant.id,
            code: "reset".into(),
            subject: Some("Your code".into()),
            text: Some("Code {{ otp }}".into()),
            sms: Some("{{ otp }} is your code".into()),
            ..Default::default()
        },
    )
    .await
    .expect("template");
}

async fn each_event_kind_is_recorded_with_its_route_and_outcome_and_no_secret(backend: Backend) {
    let app = spawn_app_with(backend, &[("STAMPS_PASSWORD_MAX_FAILURES", "2")]).await;
    let (merchant, ann) = setup(&app).await;
    template(&app, &merchant).await;
    let id = ann.id;
    let mut secrets =
        vec![PIN.to_string(), OTHER_PIN.to_string(), "secret-pass-1".into(), "amber-heron-lantern".into()];

    set_pin(&app, &merchant, &ann, PIN).await;
    post_ok(&app, &merchant, "/api/pin/validate", json!({"user": id, "pin": PIN})).await;
    for expected in ["invalid_pin", "invalid_pin", "pin_blocked"] {
        assert_eq!(
            post_code(&app, &merchant, "/api/pin/validate", json!({"user": id, "pin": OTHER_PIN})).await,
            expected
        );
    }
    // Refused while blocked: counted in the metrics, not kept per customer.
    post_code(&app, &merchant, "/api/pin/validate", json!({"user": id, "pin": OTHER_PIN})).await;
    post_ok(&app, &merchant, "/api/pin/unblock", json!({"user": id})).await;
    let change = json!({"user": id, "current_pin": PIN, "new_pin": OTHER_PIN, "confirm_new_pin": OTHER_PIN});
    post_ok(&app, &merchant, "/api/pin/change", change).await;
    // An OTP delivered by email through the local outbox, a wrong one, then the reset.
    let body = json!({"user": id, "type": "email", "template_code": "reset"});
    let otp = post_ok(&app, &merchant, "/api/pin/request-otp-for-reset", body).await["otp"]
        .as_str()
        .expect("otp")
        .to_string();
    app.outbox_messages().await;
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    let reset = json!({"user": id, "otp": wrong, "pin": PIN, "confirm_pin": PIN});
    assert_eq!(post_code(&app, &merchant, "/api/pin/reset", reset).await, "invalid_otp");
    post_ok(&app, &merchant, "/api/pin/reset", json!({"user": id, "otp": otp, "pin": PIN, "confirm_pin": PIN})).await;
    secrets.push(otp);
    let body = json!({"user": id, "password": "secret-pass-1", "pin": OTHER_PIN, "confirm_pin": OTHER_PIN});
    post_ok(&app, &merchant, "/api/pin/reset-with-password", body).await;
    // Passwords: right, wrong, the wrong one that fills the window (limit 2 here).
    post_ok(&app, &merchant, "/api/auth/validate-password", json!({"user": id, "password": "secret-pass-1"})).await;
    for expected in ["invalid_password", "invalid_password", "too_many_attempts"] {
        let body = json!({"user": id, "password": "wrong-pass-1"});
        assert_eq!(post_code(&app, &merchant, "/api/auth/validate-password", body).await, expected);
    }
    app.clock.advance(3_600);
    let body = json!({"user": id, "old_password": "secret-pass-1", "new_password": "amber-heron-lantern"});
    post_ok(&app, &merchant, "/api/auth/change-password", body).await;
    let body = json!({"email": "ann@example.com", "new_password": "quiet-otter-meadow"});
    post_ok(&app, &merchant, "/api/auth/set-password", body).await;
    secrets.push("quiet-otter-meadow".into());
    let body = json!({"identifier": "ann@example.com", "type": "sms"});
    let otp = post_ok(&app, &merchant, "/api/auth/request-otp-for-password-reset", body).await["otp"]
        .as_str()
        .expect("otp")
        .to_string();
    let body = json!({"identifier": "ann@example.com", "otp": otp, "new_password": "brisk-walnut-harbor",
                      "confirm_new_password": "brisk-walnut-harbor"});
    post_ok(&app, &merchant, "/api/auth/reset-password-with-otp", body).await;
    secrets.extend([otp, "brisk-walnut-harbor".into(), merchant.api_key.clone()]);

    let events = history(&app, &merchant, &ann).await;
    let mut seen = kinds(&events);
    seen.reverse();
    assert_eq!(
        seen,
        [
            "pin_set",
            "pin_validated",
            "pin_failed",
            "pin_failed",
            "pin_blocked",
            "pin_unblocked",
            "pin_changed",
            "otp_requested",
            "otp_sent",
            "otp_failed",
            "otp_used",
            "pin_reset",
            "pin_reset",
            "password_validated",
            "password_failed",
            "password_throttled",
            "password_changed",
            "password_set",
            "otp_requested",
            "otp_used",
            "password_reset",
        ],
        "{events:#?}"
    );
    let find = |kind: &str| events.iter().find(|e| e["kind"] == kind).cloned().unwrap_or_else(|| panic!("{kind}"));
    assert_eq!(find("pin_validated")["route"], "pin-validate");
    assert_eq!(find("pin_validated")["outcome"], "ok");
    assert_eq!(
        (find("pin_blocked")["outcome"].clone(), find("pin_blocked")["failures"].clone()),
        (json!("pin_blocked"), json!(3))
    );
    assert_eq!(find("password_throttled")["failures"], 2);
    assert_eq!(find("otp_failed")["outcome"], "invalid_otp");
    let sent = find("otp_sent");
    assert_eq!(
        (sent["route"].clone(), sent["channel"].clone(), sent["outcome"].clone()),
        (json!("otp-dispatch"), json!("email"), json!("sent"))
    );
    let requested = events.iter().rev().find(|e| e["kind"] == "otp_requested").expect("requested");
    assert_eq!((requested["channel"].clone(), requested["purpose"].clone()), (json!("email"), json!("pin_reset")));
    assert_eq!(requested["message_id"], sent["message_id"], "the delivery is tied to its request");
    assert!(events.iter().all(|e| e["at"].as_i64().is_some_and(|at| at >= integration_tests::app::START)));
    // The local server tells each route the TCP peer's address once the edge passes it on.
    let text = serde_json::to_string(&events).expect("json");
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret in the history: {secret}");
    }
}

async fn v2_registration_login_and_logout_are_recorded(backend: Backend) {
    let app = spawn_app_with(backend, &[("STAMPS_V2_MERCHANT", "1")]).await;
    let merchant = app.create_merchant("Shoop").await;
    assert_eq!(merchant.id, 1);
    let form = |fields: &[(&str, &str)]| serde_urlencoded::to_string(fields).expect("form").into_bytes();
    let register = form(&[
        ("email", "budi@example.com"),
        ("password", "rahasia-sekali-9"),
        ("name", "Budi"),
        ("id_location", "7"),
    ]);
    let response =
        app.send("POST", "/api/v2/auth/register", Some("application/x-www-form-urlencoded"), register, &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let login = form(&[("email", "budi@example.com"), ("password", "rahasia-sekali-9")]);
    let response = app.send("POST", "/api/v2/auth/login", Some("application/x-www-form-urlencoded"), login, &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let key = response.body["key"].as_str().expect("key").to_string();
    let budi = app
        .store
        .customer_by(1, shared::store::UniqueField::Email, "budi@example.com")
        .await
        .expect("read")
        .expect("budi");
    let logout = form(&[("key", key.as_str())]);
    let response =
        app.send("POST", "/api/v2/auth/logout", Some("application/x-www-form-urlencoded"), logout, &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let events = history(&app, &merchant, &budi).await;
    assert_eq!(kinds(&events), ["v2_logout", "v2_login", "v2_register"]);
    assert_eq!(
        events.iter().map(|e| e["route"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        ["v2-logout", "v2-login", "v2-register"]
    );
    assert!(events.iter().all(|e| e["outcome"] == "ok"), "{events:#?}");
    assert!(!serde_json::to_string(&events).expect("json").contains(&key));
}

/// What the delivery-events function records from SES (the same `ses_events::record` the
/// binary calls), on both stores: a delivery, a complaint and a hard bounce each become an
/// event of the customer's history and its last delivery outcome; the complaint and the hard
/// bounce suppress the address, a soft bounce does not; the status shows each in turn.
async fn ses_outcomes_are_recorded_and_shown_in_the_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, ann) = setup(&app).await;
    let start = integration_tests::app::START;
    let ses = |event: Value, second: u32, id: &str| -> shared::delivery::ses_events::SesOutcome {
        let mut value = event;
        value["mail"] = json!({
            "timestamp": "2027-01-15T08:00:00.000Z", "messageId": format!("ses-{id}"),
            "destination": ["ann@example.com"],
            "tags": {"ses:configuration-set": ["stamps"], "stamps_merchant": [merchant.id.to_string()],
                     "stamps_customer": [ann.id.to_string()], "stamps_event": [format!("event-{id}")]}
        });
        let detail =
            value.as_object_mut().and_then(|o| o.values_mut().find(|v| v.is_object() && v.get("timestamp").is_none()));
        if let Some(detail) = detail {
            detail["timestamp"] = json!(format!("2027-01-15T08:00:{second:02}.000Z"));
        }
        shared::delivery::ses_events::parse(&value.to_string()).expect("an SES event").expect("about our code")
    };
    let retention = app.app.config.history_retention_secs;
    let store: &dyn shared::store::Store = app.store.as_ref();
    let record = |outcome| async move { shared::delivery::ses_events::record(store, &outcome, retention).await };

    let delivered = ses(json!({"eventType": "Delivery", "delivery": {"recipients": ["ann@example.com"]}}), 1, "1");
    record(delivered).await.expect("recorded");
    let state = status(&app, &merchant, &ann).await;
    assert_eq!(
        state["delivery"],
        json!({"last": {"channel": "email", "outcome": "delivered", "at": start + 1, "message_id": "event-1"},
               "suppressed": []})
    );

    let soft = json!({"eventType": "Bounce", "bounce": {"bounceType": "Transient", "bounceSubType": "MailboxFull",
                      "bouncedRecipients": [{"emailAddress": "ann@example.com"}]}});
    record(ses(soft, 2, "2")).await.expect("recorded");
    let state = status(&app, &merchant, &ann).await;
    assert_eq!(state["delivery"]["last"]["at"], start + 2);
    assert_eq!(state["delivery"]["suppressed"], json!([]), "a soft bounce suppresses nothing");

    let complaint = json!({"eventType": "Complaint",
                           "complaint": {"complainedRecipients": [{"emailAddress": "Ann@Example.com"}]}});
    record(ses(complaint, 3, "3")).await.expect("recorded");
    let state = status(&app, &merchant, &ann).await;
    assert_eq!(state["delivery"]["last"]["outcome"], "complained");
    let suppressed = &state["delivery"]["suppressed"];
    assert_eq!(
        (suppressed[0]["address"].clone(), suppressed[0]["reason"].clone(), suppressed[0]["channel"].clone()),
        (json!("ann@example.com"), json!("complained"), json!("email")),
        "{state}"
    );

    let hard = json!({"eventType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                      "bouncedRecipients": [{"emailAddress": "ann@example.com"}]}});
    let bounced = ses(hard, 4, "4");
    record(bounced.clone()).await.expect("recorded");
    // The queue delivers a message twice: recorded once.
    record(bounced).await.expect("recorded");
    let state = status(&app, &merchant, &ann).await;
    assert_eq!(state["delivery"]["last"]["outcome"], "bounced");
    assert_eq!(state["delivery"]["suppressed"].as_array().map(Vec::len), Some(1), "{state}");

    let events = history(&app, &merchant, &ann).await;
    assert_eq!(kinds(&events), ["otp_bounced", "otp_complained", "otp_bounced", "otp_delivered"], "{events:#?}");
    assert_eq!(
        events.iter().map(|e| e["message_id"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        ["event-4", "event-3", "event-2", "event-1"]
    );
    assert!(events.iter().all(|e| e["channel"] == "email"), "{events:#?}");
    // Another merchant's customer with the same ID learns nothing of it.
    let other = app.create_merchant("Other").await;
    let response = app.post_as(&other, "/api/auth/customer-events", &json!({"user": ann.id})).await;
    assert_eq!((response.status, response.error_code()), (400, "invalid_user"), "{}", response.text);
}

async fn status_follows_each_state_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, ann) = setup(&app).await;
    template(&app, &merchant).await;
    let id = ann.id;
    let now = app.clock.now();

    let fresh = status(&app, &merchant, &ann).await;
    assert_eq!(fresh["status"], "ok");
    assert_eq!(fresh["user"], id);
    assert_eq!(
        fresh["pin"],
        json!({"set": false, "failures": 0, "max_failures": 3, "blocked": false, "failures_reset_at": null})
    );
    assert_eq!(fresh["password"]["set"], true);
    assert_eq!(fresh["password"]["failures"], 0);
    assert_eq!(fresh["otp"], json!({"requests": 0, "limit": 5, "left": 5, "window_resets_at": null}));
    assert_eq!(fresh["delivery"], json!({"last": null, "suppressed": []}));

    set_pin(&app, &merchant, &ann, PIN).await;
    assert_eq!(status(&app, &merchant, &ann).await["pin"]["set"], true);
    post_code(&app, &merchant, "/api/pin/validate", json!({"user": id, "pin": OTHER_PIN})).await;
    let pin = status(&app, &merchant, &ann).await["pin"].clone();
    assert_eq!(
        pin,
        json!({"set": true, "failures": 1, "max_failures": 3, "blocked": false, "failures_reset_at": now + 604_800})
    );
    for _ in 0..2 {
        post_code(&app, &merchant, "/api/pin/validate", json!({"user": id, "pin": OTHER_PIN})).await;
    }
    let pin = status(&app, &merchant, &ann).await["pin"].clone();
    assert_eq!((pin["failures"].clone(), pin["blocked"].clone()), (json!(3), json!(true)));
    post_ok(&app, &merchant, "/api/pin/unblock", json!({"user": id})).await;
    let pin = status(&app, &merchant, &ann).await["pin"].clone();
    assert_eq!(
        (pin["failures"].clone(), pin["blocked"].clone(), pin["failures_reset_at"].clone()),
        (json!(0), json!(false), json!(null))
    );

    post_code(&app, &merchant, "/api/auth/validate-password", json!({"user": id, "password": "wrong-pass-1"})).await;
    let password = status(&app, &merchant, &ann).await["password"].clone();
    assert_eq!(
        password,
        json!({"set": true, "failures": 1, "max_failures": 10, "throttled": false,
                                "throttled_until": null, "window_resets_at": now + 900})
    );

    let body = json!({"user": id, "type": "email", "template_code": "reset"});
    post_ok(&app, &merchant, "/api/pin/request-otp-for-reset", body).await;
    app.outbox_messages().await;
    let after = status(&app, &merchant, &ann).await;
    assert_eq!(after["otp"], json!({"requests": 1, "limit": 5, "left": 4, "window_resets_at": now + 86_400}));
    let last = &after["delivery"]["last"];
    assert_eq!(
        (last["channel"].clone(), last["outcome"].clone(), last["at"].clone()),
        (json!("email"), json!("sent"), json!(now))
    );
    post_ok(&app, &merchant, "/api/auth/reset-otp-limit", json!({"user": id})).await;
    assert_eq!(status(&app, &merchant, &ann).await["otp"]["left"], 5);
}

async fn a_block_expires_with_the_clock(backend: Backend) {
    let app = spawn_app_with(backend, &[("STAMPS_PASSWORD_MAX_FAILURES", "1")]).await;
    let (merchant, ann) = setup(&app).await;
    set_pin(&app, &merchant, &ann, PIN).await;
    for _ in 0..3 {
        post_code(&app, &merchant, "/api/pin/validate", json!({"user": ann.id, "pin": OTHER_PIN})).await;
    }
    post_code(&app, &merchant, "/api/auth/validate-password", json!({"user": ann.id, "password": "wrong-pass-1"}))
        .await;
    let blocked = status(&app, &merchant, &ann).await;
    assert_eq!(blocked["pin"]["blocked"], true);
    let until = blocked["password"]["throttled_until"].as_i64().expect("throttled until");
    assert_eq!(blocked["password"]["throttled"], true);
    // The password window ends first: throttled no more, the PIN still blocked.
    app.clock.set(until);
    let later = status(&app, &merchant, &ann).await;
    assert_eq!(
        (later["password"]["throttled"].clone(), later["password"]["failures"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(later["pin"]["blocked"], true);
    // A week after the last failure the block has lifted, and the route agrees.
    app.clock.set(blocked["pin"]["failures_reset_at"].as_i64().expect("reset at"));
    let lifted = status(&app, &merchant, &ann).await;
    assert_eq!(
        lifted["pin"],
        json!({"set": true, "failures": 0, "max_failures": 3, "blocked": false, "failures_reset_at": null})
    );
    post_ok(&app, &merchant, "/api/pin/validate", json!({"user": ann.id, "pin": PIN})).await;
}

async fn pages_go_newest_first_and_link_by_next(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, ann) = setup(&app).await;
    // 25 events, some in the same second of the test's clock.
    for i in 0..25 {
        if i % 3 == 0 {
            app.clock.advance(1);
        }
        post_ok(&app, &merchant, "/api/pin/unblock", json!({"user": ann.id})).await;
    }
    let first = post_ok(&app, &merchant, "/api/auth/customer-events", json!({"user": ann.id})).await;
    assert_eq!(first["events"].as_array().map(Vec::len), Some(20), "20 by default");
    let mut ids = Vec::new();
    let mut before: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let mut body = json!({"user": "ann@example.com", "limit": 10});
        if let Some(before) = &before {
            body["before"] = json!(before);
        }
        let page = post_ok(&app, &merchant, "/api/auth/customer-events", body).await;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        sizes.push(events.len());
        ids.extend(events.iter().map(|e| e["id"].as_str().expect("id").to_string()));
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), ids.last().map(String::as_str), "next is the last event of the page");
                before = Some(next.to_string());
            }
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(ids, sorted, "newest first");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 25, "no event twice");
    let ats: Vec<i64> = history(&app, &merchant, &ann).await.iter().map(|e| e["at"].as_i64().expect("at")).collect();
    assert!(ats.windows(2).all(|w| w[0] >= w[1]), "{ats:?}");
}

async fn limit_and_before_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, ann) = setup(&app).await;
    for (body, field) in [
        (json!({"user": ann.id, "limit": 0}), "limit"),
        (json!({"user": ann.id, "limit": 101}), "limit"),
        (json!({"user": ann.id, "limit": "ten"}), "limit"),
        (json!({"user": ann.id, "limit": -1}), "limit"),
        (json!({"user": ann.id, "before": "yesterday"}), "before"),
        (json!({"user": ann.id, "before": 5}), "before"),
        (json!({"limit": 5}), "user"),
    ] {
        let response = app.post_as(&merchant, "/api/auth/customer-events", &body).await;
        assert_eq!(response.status, 400, "{body}: {}", response.text);
        assert!(response.body["errors"].get(field).is_some(), "{body}: {}", response.text);
    }
    let page = post_ok(&app, &merchant, "/api/auth/customer-events", json!({"user": ann.id, "limit": "100"})).await;
    assert_eq!(page, json!({"status": "ok", "user": ann.id, "events": [], "next": null}));
    let response = app.post_as(&merchant, "/api/auth/customer-status", &json!({})).await;
    assert_eq!((response.status, response.error_code()), (400, "required"));
}

async fn events_expire_after_the_retention(backend: Backend) {
    let app = spawn_app_with(backend, &[("STAMPS_HISTORY_RETENTION_DAYS", "2")]).await;
    let (merchant, ann) = setup(&app).await;
    post_ok(&app, &merchant, "/api/pin/unblock", json!({"user": ann.id})).await;
    app.clock.advance(86_400);
    post_ok(&app, &merchant, "/api/pin/unblock", json!({"user": ann.id})).await;
    assert_eq!(history(&app, &merchant, &ann).await.len(), 2);
    // Two days after the first: it is gone, the second is kept one more day.
    app.clock.advance(86_400);
    assert_eq!(history(&app, &merchant, &ann).await.len(), 1);
    app.clock.advance(86_399);
    assert_eq!(history(&app, &merchant, &ann).await.len(), 1);
    app.clock.advance(1);
    assert!(history(&app, &merchant, &ann).await.is_empty());
}

async fn another_merchants_customer_is_invalid_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, ann) = setup(&app).await;
    post_ok(&app, &merchant, "/api/pin/unblock", json!({"user": ann.id})).await;
    let other = app.create_merchant("Other").await;
    for path in ["/api/auth/customer-status", "/api/auth/customer-events"] {
        for user in [json!(ann.id), json!("ann@example.com"), json!(999_999)] {
            let response = app.post_as(&other, path, &json!({"user": user})).await;
            assert_eq!(
                (response.status, response.error_code()),
                (400, "invalid_user"),
                "{path} {user}: {}",
                response.text
            );
        }
        let response = app.post(path, &json!({"user": ann.id}), &[]).await;
        assert_eq!(response.status, 401, "{path}: {}", response.text);
    }
}

async fn a_bounced_address_is_not_sent_to_until_the_merchant_updates_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, ann) = setup(&app).await;
    template(&app, &merchant).await;
    let now = app.clock.now();
    // What the delivery-events function records for a hard bounce.
    let bounced =
        DeliveryOutcome { at: now, channel: Channel::Email, outcome: "bounced".into(), message_id: "m1".into() };
    let suppression =
        Suppression { channel: Channel::Email, address: "ann@example.com".into(), reason: "bounced".into(), at: now };
    app.store.record_delivery(merchant.id, ann.id, &bounced, Some(&suppression)).await.expect("recorded");
    // An older outcome arriving late does not replace the last one.
    let late = DeliveryOutcome { at: now - 60, outcome: "delivered".into(), ..bounced.clone() };
    app.store.record_delivery(merchant.id, ann.id, &late, None).await.expect("recorded");

    let state = status(&app, &merchant, &ann).await;
    assert_eq!(state["delivery"]["last"]["outcome"], "bounced");
    assert_eq!(state["delivery"]["suppressed"][0]["address"], "ann@example.com");
    let body = json!({"user": ann.id, "type": "email", "template_code": "reset"});
    let response = app.post_as(&merchant, "/api/pin/request-otp-for-reset", &body).await;
    assert_eq!((response.status, response.error_code()), (400, "no_destination"), "{}", response.text);
    assert!(response.text.contains("bounced") && response.text.contains("Update the customer"), "{}", response.text);
    // Without delivery the code is still given to the merchant, and SMS still goes out.
    post_ok(&app, &merchant, "/api/pin/request-otp-for-reset", json!({"user": ann.id, "type": "email"})).await;
    post_ok(
        &app,
        &merchant,
        "/api/pin/request-otp-for-reset",
        json!({"user": ann.id, "type": "sms", "template_code": "reset"}),
    )
    .await;

    // The merchant corrects the address: sent to again.
    let change = ContactChange { email: Some(Some("ann.new@example.com".into())), mobile: None };
    let updated = app.store.update_contact(merchant.id, ann.id, &change).await.expect("updated").expect("customer");
    assert_eq!(updated.email.as_deref(), Some("ann.new@example.com"));
    assert!(
        app.store
            .customer_by(merchant.id, shared::store::UniqueField::Email, "ann@example.com")
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(status(&app, &merchant, &ann).await["delivery"]["suppressed"], json!([]));
    post_ok(&app, &merchant, "/api/pin/request-otp-for-reset", body).await;
    let emails: Vec<Value> = app.outbox_messages().await.into_iter().filter(|m| m["channel"] == "email").collect();
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["destination"], "ann.new@example.com");

    // A taken address is refused and changes nothing.
    let bob = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("bob@example.com".into()),
            ..Default::default()
        })
        .await;
    let taken = ContactChange { email: Some(Some("bob@example.com".into())), mobile: None };
    let error = app.store.update_contact(merchant.id, ann.id, &taken).await.expect_err("taken");
    assert!(matches!(error, shared::store::StoreError::Duplicate(shared::store::UniqueField::Email)), "{error}");
    let ann_now = app.store.customer(merchant.id, ann.id).await.expect("read").expect("ann");
    assert_eq!(ann_now.email.as_deref(), Some("ann.new@example.com"));
    assert_eq!(
        app.store
            .customer_by(merchant.id, shared::store::UniqueField::Email, "bob@example.com")
            .await
            .expect("read")
            .map(|c| c.id),
        Some(bob.id)
    );
    assert!(app.store.update_contact(merchant.id, 999_999, &change).await.expect("no error").is_none());
}

/// DynamoDB forgets an event by its TTL: each event item carries `ttl`, the end of its
/// retention, under its customer's partition (`CUSTOMER#...`, `EVENT#{id}`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_event_items_carry_their_ttl_under_the_customer() {
    let (store, _) = integration_tests::moto::dynamo_store_counted().await;
    let event =
        shared::history::new_event(7, 42, shared::store::EventKind::PinFailed, "invalid_pin", 1_800_000_000, 3_600);
    shared::store::History::record_events(store.as_ref(), std::slice::from_ref(&event)).await.expect("recorded");
    let client = aws_sdk_dynamodb::Client::new(&integration_tests::moto::sdk_config().await);
    let item = client
        .get_item()
        .table_name(store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("CUSTOMER#7#42".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("EVENT#{}", event.id)))
        .send()
        .await
        .expect("read")
        .item
        .expect("the event item");
    assert_eq!(item.get("ttl"), Some(&aws_sdk_dynamodb::types::AttributeValue::N("1800003600".into())));
    // Read back at its last live second, and not after.
    let page = shared::store::History::events(store.as_ref(), 7, 42, None, 10, 1_800_000_000, 1_800_003_599)
        .await
        .expect("page");
    assert_eq!(page.events, [event]);
    let page = shared::store::History::events(store.as_ref(), 7, 42, None, 10, 1_800_000_000, 1_800_003_600)
        .await
        .expect("page");
    assert!(page.events.is_empty());
}

/// The status after the changes `status_follows_each_state_change` leaves out: a blocked PIN
/// reset with a code is set, unblocked and without failures; a right password gives its place
/// back (the failures before it stay counted, the window unchanged); a used code still counts as
/// a request of the window.
async fn status_after_a_reset_and_a_right_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, ann) = setup(&app).await;
    let id = ann.id;
    let now = app.clock.now();
    set_pin(&app, &merchant, &ann, PIN).await;
    for _ in 0..3 {
        post_code(&app, &merchant, "/api/pin/validate", json!({"user": id, "pin": OTHER_PIN})).await;
    }
    assert_eq!(status(&app, &merchant, &ann).await["pin"]["blocked"], true);
    let otp = post_ok(&app, &merchant, "/api/pin/request-otp-for-reset", json!({"user": id})).await["otp"]
        .as_str()
        .expect("otp")
        .to_string();
    app.clock.advance(10);
    post_ok(
        &app,
        &merchant,
        "/api/pin/reset",
        json!({"user": id, "otp": otp, "pin": OTHER_PIN, "confirm_pin": OTHER_PIN}),
    )
    .await;
    let after = status(&app, &merchant, &ann).await;
    assert_eq!(
        after["pin"],
        json!({"set": true, "failures": 0, "max_failures": 3, "blocked": false, "failures_reset_at": null})
    );
    assert_eq!(after["otp"], json!({"requests": 1, "limit": 5, "left": 4, "window_resets_at": now + 86_400}));
    post_ok(&app, &merchant, "/api/pin/validate", json!({"user": id, "pin": OTHER_PIN})).await;

    for _ in 0..2 {
        post_code(&app, &merchant, "/api/auth/validate-password", json!({"user": id, "password": "wrong-pass-1"}))
            .await;
    }
    let before = status(&app, &merchant, &ann).await["password"].clone();
    assert_eq!((before["failures"].clone(), before["throttled"].clone()), (json!(2), json!(false)));
    post_ok(&app, &merchant, "/api/auth/validate-password", json!({"user": id, "password": "secret-pass-1"})).await;
    assert_eq!(status(&app, &merchant, &ann).await["password"], before, "a right password takes no place");
}

/// A wrong password for an identifier that names nobody is recorded for the merchant's unknown
/// subject (customer 0), without the identifier, and no route shows it: `user` 0 is
/// `invalid_user` like any ID nobody has.
async fn unknown_identifiers_failures_go_to_the_unknown_subject_and_stay_hidden(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, _ann) = setup(&app).await;
    let body = json!({"user": "nobody@example.com", "password": "wrong-pass-1"});
    let response = app.post_as(&merchant, "/api/auth/validate-password", &body).await;
    assert_eq!(response.status, 400, "{}", response.text);
    let page = shared::history::page(&app.app, merchant.id, shared::history::UNKNOWN_CUSTOMER, 10, None)
        .await
        .expect("history");
    assert_eq!(page.events.len(), 1, "{:?}", page.events);
    let event = serde_json::to_string(&shared::history::to_json(&page.events[0])).expect("json");
    assert!(event.contains("password_failed") && !event.contains("nobody"), "{event}");
    for path in ["/api/auth/customer-events", "/api/auth/customer-status"] {
        let response = app.post_as(&merchant, path, &json!({"user": 0})).await;
        assert_eq!((response.status, response.error_code()), (400, "invalid_user"), "{path}: {}", response.text);
    }
}
