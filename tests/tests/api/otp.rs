//! One-time codes (docs/api.md section 6) through the PIN reset routes: generation, expiry, tries,
//! replacement, the request limit and its reset, single use under races, delivery requests.

use futures::future::join_all;
use integration_tests::app::{Backend, TestApp, TestMerchant, TestResponse, spawn_app};
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::otp::OtpPurpose;
use shared::store::Customer;

use crate::pin::{OTHER_PIN, PIN, set_pin, setup};

both_stores!(
    request_returns_a_fresh_six_digit_code_uncached,
    reset_consumes_the_code_sets_the_pin_and_clears_the_block,
    a_code_works_once,
    a_code_expires_after_ten_minutes_even_before_ttl_deletion,
    five_wrong_tries_kill_a_code,
    a_new_request_replaces_the_old_code,
    codes_are_bound_to_their_customer_and_purpose,
    five_requests_a_day_then_otp_limit_exceeded,
    reset_otp_limit_clears_the_count,
    reset_otp_limit_errors_carry_status_invalid,
    twenty_parallel_right_codes_succeed_exactly_once,
    a_hundred_parallel_wrong_codes_evaluate_at_most_five,
    type_must_be_sms_or_email,
    unknown_template_is_invalid_template_code,
    delivery_needs_a_destination,
    a_templated_request_is_delivered_to_the_outbox,
    reset_format_errors_come_before_the_code,
    codes_are_stored_only_as_keyed_hashes,
);

async fn request(app: &TestApp, merchant: &TestMerchant, body: Value) -> TestResponse {
    app.post_as(merchant, "/api/pin/request-otp-for-reset", &body).await
}

async fn new_code(app: &TestApp, merchant: &TestMerchant, customer: &Customer) -> String {
    let response = request(app, merchant, json!({"user": customer.id})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body["otp"].as_str().expect("otp").to_string()
}

async fn reset(app: &TestApp, merchant: &TestMerchant, customer: &Customer, otp: &str, pin: &str) -> TestResponse {
    let body = json!({"user": customer.id, "otp": otp, "pin": pin, "confirm_pin": pin});
    app.post_as(merchant, "/api/pin/reset", &body).await
}

async fn validate(app: &TestApp, merchant: &TestMerchant, customer: &Customer, pin: &str) -> TestResponse {
    app.post_as(merchant, "/api/pin/validate", &json!({"user": customer.id, "pin": pin})).await
}

fn assert_invalid_otp(response: &TestResponse) {
    assert_eq!(response.status, 400, "{}", response.text);
    // The seed document's example, byte for byte.
    assert_eq!(
        response.body,
        json!({"detail": "otp: Invalid OTP", "errors": {"otp": "Invalid OTP"},
               "error_code": "invalid_otp", "error_message": "otp: Invalid OTP"})
    );
}

async fn request_returns_a_fresh_six_digit_code_uncached(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let response = request(&app, &merchant, json!({"user": customer.id})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.body["status"], "ok");
    let otp = response.body["otp"].as_str().expect("otp");
    assert!(otp.len() == 6 && otp.bytes().all(|b| b.is_ascii_digit()), "{otp}");
    app.clock.advance(1);
    let codes: std::collections::HashSet<String> = [otp.to_string(), new_code(&app, &merchant, &customer).await].into();
    assert_eq!(codes.len(), 2, "two requests, two codes (a 1 in 10^6 chance of a false failure)");
}

async fn reset_consumes_the_code_sets_the_pin_and_clears_the_block(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    set_pin(&app, &merchant, &customer, PIN).await;
    for _ in 0..3 {
        validate(&app, &merchant, &customer, "000000").await;
    }
    assert_eq!(validate(&app, &merchant, &customer, PIN).await.error_code(), "pin_blocked");
    let otp = new_code(&app, &merchant, &customer).await;
    let response = reset(&app, &merchant, &customer, &otp, OTHER_PIN).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
    assert_eq!(validate(&app, &merchant, &customer, OTHER_PIN).await.status, 200);
    let response = validate(&app, &merchant, &customer, PIN).await;
    assert_eq!(response.body["errors"]["pin"], "Invalid PIN, 2 attempt(s) left", "the block was cleared");
}

async fn a_code_works_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = new_code(&app, &merchant, &customer).await;
    assert_eq!(reset(&app, &merchant, &customer, &otp, PIN).await.status, 200);
    assert_invalid_otp(&reset(&app, &merchant, &customer, &otp, OTHER_PIN).await);
    assert_eq!(validate(&app, &merchant, &customer, PIN).await.status, 200);
}

async fn a_code_expires_after_ten_minutes_even_before_ttl_deletion(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let issued = app.clock.now();
    let otp = new_code(&app, &merchant, &customer).await;
    // 1 s before the end of its life: still good (checked with a wrong PIN confirmation
    // first, which must not cost anything).
    app.clock.set(issued + 599);
    let mismatch = json!({"user": customer.id, "otp": otp, "pin": PIN, "confirm_pin": OTHER_PIN});
    assert_eq!(app.post_as(&merchant, "/api/pin/reset", &mismatch).await.error_code(), "pin_mismatch");
    let second = new_code(&app, &merchant, &customer).await;
    app.clock.set(issued + 599 + 599);
    assert_eq!(reset(&app, &merchant, &customer, &second, PIN).await.status, 200);
    // A code at exactly 600 s, and at 601 s: dead, though its record is still stored.
    let third = new_code(&app, &merchant, &customer).await;
    let third_issued = app.clock.now();
    app.clock.set(third_issued + 600);
    let record = app.store.otp(merchant.id, customer.id, OtpPurpose::PinReset, third_issued).await.expect("read");
    assert!(record.is_some(), "the expired record has not been deleted");
    assert_invalid_otp(&reset(&app, &merchant, &customer, &third, OTHER_PIN).await);
    app.clock.set(third_issued + 601);
    assert_invalid_otp(&reset(&app, &merchant, &customer, &third, OTHER_PIN).await);
    assert_eq!(validate(&app, &merchant, &customer, PIN).await.status, 200);
}

async fn five_wrong_tries_kill_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = new_code(&app, &merchant, &customer).await;
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_invalid_otp(&reset(&app, &merchant, &customer, wrong, PIN).await);
    }
    assert_invalid_otp(&reset(&app, &merchant, &customer, &otp, PIN).await);
    assert_eq!(validate(&app, &merchant, &customer, PIN).await.error_code(), "pin_not_set");
}

async fn a_new_request_replaces_the_old_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let old = new_code(&app, &merchant, &customer).await;
    let mut new = new_code(&app, &merchant, &customer).await;
    while new == old {
        new = new_code(&app, &merchant, &customer).await;
    }
    assert_invalid_otp(&reset(&app, &merchant, &customer, &old, PIN).await);
    assert_eq!(reset(&app, &merchant, &customer, &new, PIN).await.status, 200);
}

async fn codes_are_bound_to_their_customer_and_purpose(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, ann) = setup(&app).await;
    let bob = app
        .create_customer(shared::admin::CustomerInput {
            merchant: merchant.id,
            email: Some("bob@example.com".into()),
            ..Default::default()
        })
        .await;
    let anns = new_code(&app, &merchant, &ann).await;
    assert_invalid_otp(&reset(&app, &merchant, &bob, &anns, PIN).await);
    // A password-reset code does not reset a PIN.
    let response = app
        .post_as(&merchant, "/api/auth/request-otp-for-password-reset", &json!({"identifier": bob.id, "type": "email"}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let password_code = response.body["otp"].as_str().expect("otp").to_string();
    assert_invalid_otp(&reset(&app, &merchant, &bob, &password_code, PIN).await);
    // Another merchant cannot use Ann's code even with her ID.
    let other = app.create_merchant("Other").await;
    let body = json!({"user": ann.id, "otp": anns, "pin": PIN, "confirm_pin": PIN});
    assert_eq!(app.post_as(&other, "/api/pin/reset", &body).await.error_code(), "invalid_user");
    assert_eq!(reset(&app, &merchant, &ann, &anns, PIN).await.status, 200);
}

async fn five_requests_a_day_then_otp_limit_exceeded(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let start = app.clock.now();
    for i in 0..5 {
        app.clock.set(start + i * 3600);
        new_code(&app, &merchant, &customer).await;
    }
    let response = request(&app, &merchant, json!({"user": customer.id})).await;
    assert_eq!(response.status, 429, "{}", response.text);
    assert_eq!(
        response.body,
        json!({"detail": "user: Too many OTP requests. Try again later.",
               "errors": {"user": "Too many OTP requests. Try again later."},
               "error_code": "otp_limit_exceeded",
               "error_message": "user: Too many OTP requests. Try again later."})
    );
    // All purposes together, and the field is the route's own.
    let response = app
        .post_as(
            &merchant,
            "/api/auth/request-otp-for-password-reset",
            &json!({"identifier": customer.id, "type": "sms"}),
        )
        .await;
    assert_eq!((response.status, response.error_code()), (429, "otp_limit_exceeded"));
    assert_eq!(response.body["errors"], json!({"identifier": "Too many OTP requests. Try again later."}));
    // The window is 24 h from the first request: 1 s before, still limited; at 24 h, free.
    app.clock.set(start + 86_400 - 1);
    assert_eq!(request(&app, &merchant, json!({"user": customer.id})).await.status, 429);
    app.clock.set(start + 86_400);
    assert_eq!(request(&app, &merchant, json!({"user": customer.id})).await.status, 200);
}

async fn reset_otp_limit_clears_the_count(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    for _ in 0..5 {
        new_code(&app, &merchant, &customer).await;
    }
    assert_eq!(request(&app, &merchant, json!({"user": customer.id})).await.status, 429);
    let response = app.post_as(&merchant, "/api/auth/reset-otp-limit", &json!({"user": "081234567890"})).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
    for _ in 0..5 {
        new_code(&app, &merchant, &customer).await;
    }
    assert_eq!(request(&app, &merchant, json!({"user": customer.id})).await.status, 429);
}

async fn reset_otp_limit_errors_carry_status_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, _) = setup(&app).await;
    let response = app.post_as(&merchant, "/api/auth/reset-otp-limit", &json!({"user": "not-a-number"})).await;
    assert_eq!(response.status, 400);
    // The seed document's example, byte for byte.
    assert_eq!(
        response.body,
        json!({"status": "invalid",
               "detail": "user: Please enter a valid mobile phone number.",
               "errors": {"user": "Please enter a valid mobile phone number."},
               "error_code": "invalid_user",
               "error_message": "user: Please enter a valid mobile phone number."})
    );
    // A valid mobile number of nobody: nothing to clear, fine.
    let response = app.post_as(&merchant, "/api/auth/reset-otp-limit", &json!({"user": "081299998888"})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let response = app.post_as(&merchant, "/api/auth/reset-otp-limit", &json!({})).await;
    assert_eq!((response.status, response.error_code()), (400, "required"));
    assert_eq!(response.body["status"], "invalid");
}

async fn twenty_parallel_right_codes_succeed_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = new_code(&app, &merchant, &customer).await;
    let attempts = (0..20).map(|i| {
        let pin = format!("{:06}", 300_000 + i);
        let (app, merchant, customer, otp) = (&app, &merchant, &customer, &otp);
        async move { (pin.clone(), reset(app, merchant, customer, otp, &pin).await) }
    });
    let responses = join_all(attempts).await;
    let winners: Vec<&String> = responses.iter().filter(|(_, r)| r.status == 200).map(|(pin, _)| pin).collect();
    assert_eq!(winners.len(), 1, "{:?}", responses.iter().map(|(_, r)| &r.text).collect::<Vec<_>>());
    assert!(responses.iter().filter(|(_, r)| r.status != 200).all(|(_, r)| r.error_code() == "invalid_otp"));
    assert_eq!(validate(&app, &merchant, &customer, winners[0]).await.status, 200, "the winner's PIN is set");
}

async fn a_hundred_parallel_wrong_codes_evaluate_at_most_five(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = new_code(&app, &merchant, &customer).await;
    let guesses = (0..100).map(|i| {
        let mut guess = format!("{:06}", 400_000 + i);
        if guess == otp {
            guess = "999999".into();
        }
        let (app, merchant, customer) = (&app, &merchant, &customer);
        async move { reset(app, merchant, customer, &guess, PIN).await }
    });
    let responses = join_all(guesses).await;
    assert!(responses.iter().all(|r| r.error_code() == "invalid_otp"));
    let record = app.store.otp(merchant.id, customer.id, OtpPurpose::PinReset, app.clock.now()).await.expect("read");
    assert_eq!(record.map(|r| r.tries), Some(5), "exactly five tries were used, so at most five codes compared");
    assert_invalid_otp(&reset(&app, &merchant, &customer, &otp, PIN).await);
}

async fn type_must_be_sms_or_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let response = request(&app, &merchant, json!({"user": customer.id, "type": "fax"})).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["errors"], json!({"type": "\"fax\" is not a valid choice."}));
    assert_eq!(response.error_code(), "invalid");
    for kind in ["sms", "email"] {
        assert_eq!(request(&app, &merchant, json!({"user": customer.id, "type": kind})).await.status, 200);
    }
    // Password reset: `type` is required.
    let response =
        app.post_as(&merchant, "/api/auth/request-otp-for-password-reset", &json!({"identifier": customer.id})).await;
    assert_eq!(response.body["errors"], json!({"type": "This field is required."}));
}

async fn unknown_template_is_invalid_template_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let response = request(&app, &merchant, json!({"user": customer.id, "template_code": "nope"})).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body["errors"], json!({"template_code": "Unknown template."}));
    assert_eq!(response.error_code(), "invalid_template_code");
    // Another merchant's template is unknown too.
    let other = app.create_merchant("Other").await;
    put_template(&app, &other, "reset").await;
    let response = request(&app, &merchant, json!({"user": customer.id, "template_code": "reset"})).await;
    assert_eq!(response.error_code(), "invalid_template_code");
    // Nothing was stored or counted: five requests still fit.
    for _ in 0..5 {
        new_code(&app, &merchant, &customer).await;
    }
}

async fn put_template(app: &TestApp, merchant: &TestMerchant, code: &str) {
    shared::admin::put_template(
        &app.app,
        shared::admin::TemplateInput {
            merchant: merchant.id,
            code: code.into(),
            subject: Some("Your code".into()),
            text: Some("Hi {{ name }}, your code is {{ otp }} ({{ expires_in_minutes }} min).".into()),
            html: Some("<p>Hi {{ name }}, your code is <b>{{ otp }}</b></p>".into()),
            sms: Some("{{ otp }} is your code".into()),
        },
    )
    .await
    .expect("template stored");
}

async fn delivery_needs_a_destination(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    put_template(&app, &merchant, "reset").await;
    let member = app
        .create_customer(shared::admin::CustomerInput {
            merchant: merchant.id,
            member_id: Some("M-9".into()),
            ..Default::default()
        })
        .await;
    for (kind, message) in [("sms", "Customer has no mobile number."), ("email", "Customer has no email.")] {
        let response =
            request(&app, &merchant, json!({"user": member.id, "type": kind, "template_code": "reset"})).await;
        assert_eq!((response.status, response.error_code()), (400, "no_destination"), "{}", response.text);
        assert_eq!(response.body["errors"], json!({"type": message}));
    }
    // Without a template nothing is delivered, so no destination is needed.
    assert_eq!(request(&app, &merchant, json!({"user": member.id})).await.status, 200);
}

async fn a_templated_request_is_delivered_to_the_outbox(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    put_template(&app, &merchant, "reset").await;
    let response = request(&app, &merchant, json!({"user": customer.id, "template_code": "reset"})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let otp = response.body["otp"].as_str().expect("otp").to_string();
    let response =
        request(&app, &merchant, json!({"user": customer.id, "type": "email", "template_code": "reset"})).await;
    let second = response.body["otp"].as_str().expect("otp").to_string();
    let messages = app.outbox_messages().await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let sms = messages.iter().find(|m| m["channel"] == "sms").expect("an SMS");
    assert_eq!(sms["destination"], "+6281234567890", "the customer's mobile, E.164 (the default type)");
    assert_eq!(sms["text"], format!("{otp} is your code"));
    let email = messages.iter().find(|m| m["channel"] == "email").expect("an email");
    assert_eq!(email["destination"], "ann@example.com");
    assert_eq!(email["subject"], "Your code");
    assert_eq!(email["text"], format!("Hi Ann, your code is {second} (10 min)."));
}

async fn reset_format_errors_come_before_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = new_code(&app, &merchant, &customer).await;
    for _ in 0..10 {
        let body = json!({"user": customer.id, "otp": "000000", "pin": "12", "confirm_pin": "12"});
        assert_eq!(app.post_as(&merchant, "/api/pin/reset", &body).await.error_code(), "invalid");
        let body = json!({"user": customer.id, "otp": "000000", "pin": PIN, "confirm_pin": OTHER_PIN});
        assert_eq!(app.post_as(&merchant, "/api/pin/reset", &body).await.error_code(), "pin_mismatch");
    }
    assert_eq!(reset(&app, &merchant, &customer, &otp, PIN).await.status, 200, "no try was used");
}

async fn codes_are_stored_only_as_keyed_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = new_code(&app, &merchant, &customer).await;
    let record = app
        .store
        .otp(merchant.id, customer.id, OtpPurpose::PinReset, app.clock.now())
        .await
        .expect("read")
        .expect("a live code");
    assert_eq!(record.otp_hash.len(), 64);
    assert!(!record.otp_hash.contains(&otp));
    assert_eq!(record.expires_at, app.clock.now() + 600);
}
