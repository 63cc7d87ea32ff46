//! PIN routes (docs/api.md section 5): formats, confirmation, lockout, unblock, resets, races, and
//! the storage round trips each route documents.

use futures::future::join_all;
use integration_tests::app::{Backend, TestApp, TestMerchant, spawn_app};
use serde_json::{Value, json};
use shared::admin::CustomerInput;
use shared::clock::Clock;
use shared::store::Customer;

both_stores!(
    set_then_validate,
    set_twice_is_pin_already_set,
    set_with_mismatched_confirmation_is_pin_mismatch,
    pins_must_be_six_digit_strings,
    missing_fields_are_required_in_order,
    wrong_pins_count_down_then_block,
    while_blocked_the_right_pin_does_not_get_through,
    format_and_confirmation_errors_never_cost_an_attempt,
    failures_return_to_zero_a_week_after_the_last_one,
    a_right_pin_resets_the_failures,
    unblock_clears_the_block_and_is_fine_when_not_blocked,
    validate_without_a_pin_is_pin_not_set,
    unknown_user_and_other_merchants_customer_are_invalid_user,
    user_may_be_an_email_a_mobile_a_member_id_or_a_key,
    change_checks_the_current_pin_and_counts_failures,
    change_with_mismatched_confirmation_is_pin_mismatch,
    reset_with_password_sets_the_pin_and_clears_the_block,
    reset_with_a_wrong_password_is_invalid_password,
    a_hundred_concurrent_wrong_pins_evaluate_at_most_three,
    the_right_pin_among_a_hundred_wrong_ones_never_passes_a_block,
    legacy_body_token_authenticates,
    pins_are_stored_as_argon2id_hashes,
);

pub const PIN: &str = "123456";
pub const OTHER_PIN: &str = "654321";

/// A merchant with one customer who has an email, a mobile number, a member ID and a
/// password (`secret-pass-1`).
pub async fn setup(app: &TestApp) -> (TestMerchant, Customer) {
    let merchant = app.create_merchant("Kopi").await;
    let customer = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("ann@example.com".into()),
            mobile: Some("081234567890".into()),
            member_id: Some("M-001".into()),
            name: Some("Ann".into()),
            password: Some("secret-pass-1".into()),
            ..Default::default()
        })
        .await;
    (merchant, customer)
}

pub async fn set_pin(app: &TestApp, merchant: &TestMerchant, customer: &Customer, pin: &str) {
    let body = json!({"user": customer.id, "pin": pin, "confirm_pin": pin});
    let response = app.post_as(merchant, "/api/pin/set", &body).await;
    assert_eq!(response.status, 200, "{}", response.text);
}

async fn validate(
    app: &TestApp,
    merchant: &TestMerchant,
    user: Value,
    pin: &str,
) -> integration_tests::app::TestResponse {
    app.post_as(merchant, "/api/pin/validate", &json!({"user": user, "pin": pin})).await
}

fn assert_error(response: &integration_tests::app::TestResponse, status: u16, code: &str, field: &str, message: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(
        response.body,
        json!({
            "detail": format!("{field}: {message}"),
            "errors": {field: message},
            "error_code": code,
            "error_message": format!("{field}: {message}"),
        }),
        "{}",
        response.text
    );
}

async fn set_then_validate(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let response =
        app.post_as(&merchant, "/api/pin/set", &json!({"user": customer.id, "pin": PIN, "confirm_pin": PIN})).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
    let response = validate(&app, &merchant, json!(customer.id), PIN).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
}

async fn set_twice_is_pin_already_set(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let body = json!({"user": customer.id, "pin": OTHER_PIN, "confirm_pin": OTHER_PIN});
    let response = app.post_as(&merchant, "/api/pin/set", &body).await;
    assert_error(&response, 400, "pin_already_set", "pin", "PIN has already been set.");
    assert_eq!(validate(&app, &merchant, json!(customer.id), PIN).await.status, 200, "the first PIN stays");
}

async fn set_with_mismatched_confirmation_is_pin_mismatch(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let body = json!({"user": customer.id, "pin": PIN, "confirm_pin": OTHER_PIN});
    let response = app.post_as(&merchant, "/api/pin/set", &body).await;
    // The seed document's example, byte for byte.
    assert_error(&response, 400, "pin_mismatch", "confirm_pin", "Confirmation PIN does not match");
    let response = validate(&app, &merchant, json!(customer.id), PIN).await;
    assert_eq!(response.error_code(), "pin_not_set", "nothing was stored");
}

async fn pins_must_be_six_digit_strings(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    for bad in [json!(123456), json!("12345"), json!("1234567"), json!("12a456"), json!(" 12345"), json!(true)] {
        let body = json!({"user": customer.id, "pin": bad, "confirm_pin": bad});
        let response = app.post_as(&merchant, "/api/pin/set", &body).await;
        assert_error(&response, 400, "invalid", "pin", "PIN must be a 6 digit string.");
    }
}

async fn missing_fields_are_required_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let cases = [
        ("/api/pin/set", json!({}), "user"),
        ("/api/pin/set", json!({"user": customer.id}), "pin"),
        ("/api/pin/set", json!({"user": customer.id, "pin": PIN}), "confirm_pin"),
        ("/api/pin/validate", json!({"pin": PIN}), "user"),
        ("/api/pin/validate", json!({"user": customer.id}), "pin"),
        ("/api/pin/change", json!({"user": customer.id, "current_pin": PIN, "new_pin": PIN}), "confirm_new_pin"),
        ("/api/pin/unblock", json!({}), "user"),
        ("/api/pin/reset", json!({"user": customer.id, "pin": PIN, "confirm_pin": PIN}), "otp"),
        ("/api/pin/reset-with-password", json!({"user": customer.id, "pin": PIN, "confirm_pin": PIN}), "password"),
        ("/api/pin/request-otp-for-reset", json!({}), "user"),
    ];
    for (path, body, field) in cases {
        let response = app.post_as(&merchant, path, &body).await;
        assert_error(&response, 400, "required", field, "This field is required.");
    }
}

async fn wrong_pins_count_down_then_block(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let first = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    // The seed document's example, byte for byte.
    assert_error(&first, 400, "invalid_pin", "pin", "Invalid PIN, 2 attempt(s) left");
    let second = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_error(&second, 400, "invalid_pin", "pin", "Invalid PIN, 1 attempt(s) left");
    let third = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_error(&third, 400, "pin_blocked", "pin", "PIN is blocked after too many failed attempts");
    let fourth = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_eq!(fourth.error_code(), "pin_blocked");
}

async fn block(app: &TestApp, merchant: &TestMerchant, customer: &Customer) {
    for _ in 0..3 {
        validate(app, merchant, json!(customer.id), OTHER_PIN).await;
    }
}

async fn while_blocked_the_right_pin_does_not_get_through(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    block(&app, &merchant, &customer).await;
    let evaluated = app.app.hasher.verifications();
    let response = validate(&app, &merchant, json!(customer.id), PIN).await;
    assert_eq!(response.error_code(), "pin_blocked");
    assert_eq!(app.app.hasher.verifications(), evaluated, "a blocked PIN is not evaluated at all");
}

async fn format_and_confirmation_errors_never_cost_an_attempt(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    for _ in 0..5 {
        validate(&app, &merchant, json!(customer.id), "12345").await;
        let body = json!({"user": customer.id, "current_pin": OTHER_PIN, "new_pin": PIN, "confirm_new_pin": OTHER_PIN});
        let response = app.post_as(&merchant, "/api/pin/change", &body).await;
        assert_eq!(response.error_code(), "pin_mismatch");
    }
    let response = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_eq!(response.body["errors"]["pin"], "Invalid PIN, 2 attempt(s) left");
}

async fn failures_return_to_zero_a_week_after_the_last_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    app.clock.advance(100);
    validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    app.clock.advance(100);
    assert_eq!(validate(&app, &merchant, json!(customer.id), OTHER_PIN).await.error_code(), "pin_blocked");
    let last_failure_blocked = app.clock.now();
    // One second before the week is up: still blocked (and the check does not extend it).
    app.clock.set(last_failure_blocked + 604_800 - 1);
    assert_eq!(validate(&app, &merchant, json!(customer.id), PIN).await.error_code(), "pin_blocked");
    // At the week: the count is zero again, though no TTL sweep has deleted anything.
    app.clock.set(last_failure_blocked + 604_800);
    let response = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_eq!(response.body["errors"]["pin"], "Invalid PIN, 2 attempt(s) left", "{}", response.text);
    // One second after a week from a single failure: a fresh count again.
    app.clock.advance(604_800 + 1);
    let response = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_eq!(response.body["errors"]["pin"], "Invalid PIN, 2 attempt(s) left", "{}", response.text);
}

async fn a_right_pin_resets_the_failures(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_eq!(validate(&app, &merchant, json!(customer.id), PIN).await.status, 200);
    let response = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_eq!(response.body["errors"]["pin"], "Invalid PIN, 2 attempt(s) left");
}

async fn unblock_clears_the_block_and_is_fine_when_not_blocked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let response = app.post_as(&merchant, "/api/pin/unblock", &json!({"user": customer.id})).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
    block(&app, &merchant, &customer).await;
    let response = app.post_as(&merchant, "/api/pin/unblock", &json!({"user": "M-001"})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(validate(&app, &merchant, json!(customer.id), PIN).await.status, 200);
}

async fn validate_without_a_pin_is_pin_not_set(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    for user in [json!(customer.id), json!("ann@example.com")] {
        let response = validate(&app, &merchant, user, PIN).await;
        assert_error(&response, 400, "pin_not_set", "user", "PIN has not been set.");
    }
}

async fn unknown_user_and_other_merchants_customer_are_invalid_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let other = app.create_merchant("Other").await;
    for (who, user) in
        [(&merchant, json!(999_999)), (&merchant, json!("nobody@example.com")), (&other, json!(customer.id))]
    {
        let response = validate(&app, who, user.clone(), PIN).await;
        assert_error(&response, 400, "invalid_user", "user", "User not found.");
        let response = app.post_as(who, "/api/pin/unblock", &json!({"user": user})).await;
        assert_error(&response, 400, "invalid_user", "user", "User not found.");
    }
    // The other merchant's attempts cost the customer nothing.
    let response = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_eq!(response.body["errors"]["pin"], "Invalid PIN, 2 attempt(s) left");
}

async fn user_may_be_an_email_a_mobile_a_member_id_or_a_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let users = [
        json!(customer.id),
        json!(customer.id.to_string()),
        json!("ANN@example.com"),
        json!(" ann@example.com "),
        json!("081234567890"),
        json!("+6281234567890"),
        json!("M-001"),
    ];
    for user in users {
        let response = validate(&app, &merchant, user.clone(), PIN).await;
        assert_eq!(response.status, 200, "{user}: {}", response.text);
    }
}

async fn change_checks_the_current_pin_and_counts_failures(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let wrong =
        json!({"user": customer.id, "current_pin": OTHER_PIN, "new_pin": "111111", "confirm_new_pin": "111111"});
    // The seed document's example, byte for byte.
    assert_error(
        &app.post_as(&merchant, "/api/pin/change", &wrong).await,
        400,
        "invalid_pin",
        "current_pin",
        "Invalid PIN",
    );
    let response = validate(&app, &merchant, json!(customer.id), OTHER_PIN).await;
    assert_eq!(response.body["errors"]["pin"], "Invalid PIN, 1 attempt(s) left", "a wrong current PIN counted");
    let right = json!({"user": customer.id, "current_pin": PIN, "new_pin": "111111", "confirm_new_pin": "111111"});
    let response = app.post_as(&merchant, "/api/pin/change", &right).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
    assert_eq!(validate(&app, &merchant, json!(customer.id), PIN).await.error_code(), "invalid_pin");
    assert_eq!(validate(&app, &merchant, json!(customer.id), "111111").await.status, 200);
    block(&app, &merchant, &customer).await;
    let again = json!({"user": customer.id, "current_pin": "111111", "new_pin": PIN, "confirm_new_pin": PIN});
    let response = app.post_as(&merchant, "/api/pin/change", &again).await;
    assert_error(&response, 400, "pin_blocked", "current_pin", "PIN is blocked after too many failed attempts");
}

async fn change_with_mismatched_confirmation_is_pin_mismatch(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let body = json!({"user": customer.id, "current_pin": PIN, "new_pin": "111111", "confirm_new_pin": "222222"});
    let response = app.post_as(&merchant, "/api/pin/change", &body).await;
    assert_error(&response, 400, "pin_mismatch", "confirm_new_pin", "Confirmation PIN does not match");
}

async fn reset_with_password_sets_the_pin_and_clears_the_block(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    block(&app, &merchant, &customer).await;
    let body = json!({"user": customer.id, "password": "secret-pass-1", "pin": OTHER_PIN, "confirm_pin": OTHER_PIN});
    let response = app.post_as(&merchant, "/api/pin/reset-with-password", &body).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
    assert_eq!(validate(&app, &merchant, json!(customer.id), OTHER_PIN).await.status, 200);
    // Also for a customer who never had a PIN.
    let bob = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("bob@example.com".into()),
            password: Some("bobs-password-9".into()),
            ..Default::default()
        })
        .await;
    let body = json!({"user": bob.id, "password": "bobs-password-9", "pin": PIN, "confirm_pin": PIN});
    assert_eq!(app.post_as(&merchant, "/api/pin/reset-with-password", &body).await.status, 200);
    assert_eq!(validate(&app, &merchant, json!(bob.id), PIN).await.status, 200);
}

async fn reset_with_a_wrong_password_is_invalid_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let body = json!({"user": customer.id, "password": "wrong-password", "pin": OTHER_PIN, "confirm_pin": OTHER_PIN});
    let response = app.post_as(&merchant, "/api/pin/reset-with-password", &body).await;
    assert_error(&response, 400, "invalid_password", "password", "Invalid user password");
    assert_eq!(validate(&app, &merchant, json!(customer.id), PIN).await.status, 200, "the PIN is unchanged");
}

async fn a_hundred_concurrent_wrong_pins_evaluate_at_most_three(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let before = app.app.hasher.verifications();
    let guesses = (0..100).map(|i| {
        let pin = format!("{:06}", 200_000 + i);
        let (app, merchant) = (&app, &merchant);
        async move { validate(app, merchant, json!(customer.id), &pin).await }
    });
    let responses = join_all(guesses).await;
    let evaluated = app.app.hasher.verifications() - before;
    assert!(evaluated <= 3, "{evaluated} guesses were evaluated");
    assert!(responses.iter().all(|r| r.status == 400), "no 5xx, no success");
    let invalid = responses.iter().filter(|r| r.error_code() == "invalid_pin").count();
    let blocked = responses.iter().filter(|r| r.error_code() == "pin_blocked").count();
    assert_eq!((invalid, blocked), (2, 98), "two countdown answers, then blocked");
    assert_eq!(validate(&app, &merchant, json!(customer.id), PIN).await.error_code(), "pin_blocked");
}

async fn the_right_pin_among_a_hundred_wrong_ones_never_passes_a_block(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let before = app.app.hasher.verifications();
    let guesses = (0..101).map(|i| {
        let pin = if i == 50 { PIN.to_string() } else { format!("{:06}", 200_000 + i) };
        let (app, merchant) = (&app, &merchant);
        async move { (pin.clone(), validate(app, merchant, json!(customer.id), &pin).await) }
    });
    let responses = join_all(guesses).await;
    let evaluated = app.app.hasher.verifications() - before;
    let right = responses.iter().find(|(pin, _)| pin == PIN).map(|(_, r)| r).expect("the right guess");
    assert!(responses.iter().filter(|(pin, _)| pin != PIN).all(|(_, r)| r.status == 400));
    if right.status == 200 {
        // It reserved a place before the block: at most 2 wrong before it was cleared, 3 after.
        assert!(evaluated <= 6, "{evaluated} evaluated");
    } else {
        assert_eq!(right.error_code(), "pin_blocked", "{}", right.text);
        assert!(evaluated <= 3, "{evaluated} evaluated");
    }
}

async fn legacy_body_token_authenticates(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    // Document 001: the API key as a `token` field, no Authorization header.
    let body = json!({"token": merchant.api_key, "user": customer.id, "pin": PIN, "confirm_pin": PIN});
    assert_eq!(app.post("/api/pin/set", &body, &[]).await.status, 200);
    let body = json!({"token": merchant.api_key, "user": customer.id, "pin": PIN});
    assert_eq!(app.post("/api/pin/validate", &body, &[]).await.status, 200);
    let token = app.access_token(&merchant).await;
    assert_eq!(
        app.post_bearer(&token, "/api/pin/validate", &json!({"user": customer.id, "pin": PIN})).await.status,
        200
    );
    let response = app.post("/api/pin/validate", &json!({"user": customer.id, "pin": PIN}), &[]).await;
    assert_eq!((response.status, response.error_code()), (401, "not_authenticated"));
}

async fn pins_are_stored_as_argon2id_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    let policy = shared::store::CounterPolicy { limit: 3, window_secs: 10, window: shared::store::Window::Sliding };
    let attempt = app.store.reserve_pin_attempt(merchant.id, customer.id, policy, app.clock.now()).await.expect("read");
    let shared::store::PinAttempt::Granted { pin_hash, .. } = attempt else { panic!("a PIN is set: {attempt:?}") };
    assert!(pin_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{pin_hash}");
    assert!(!pin_hash.contains(PIN));
}
