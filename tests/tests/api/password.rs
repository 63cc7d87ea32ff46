//! Password routes (docs/api.md section 4): validate, change, set, the OTP reset, the policy, the
//! shared throttle, rehashing, and imported Django hashes.

use futures::future::join_all;
use integration_tests::app::{Backend, TestApp, TestMerchant, TestResponse, spawn_app};
use serde_json::{Value, json};
use shared::admin::CustomerInput;
use shared::clock::Clock;
use shared::store::Customer;

use crate::pin::setup;

both_stores!(
    validate_accepts_the_right_password,
    validate_refuses_a_wrong_password_with_the_seed_body,
    validate_names_the_unknown_user_and_the_missing_password,
    change_checks_the_old_password_and_applies_the_policy,
    set_password_answers_the_customer_and_overrides,
    the_policy_says_which_rule_failed,
    reset_with_otp_sets_the_password_once,
    reset_with_otp_checks_confirmation_policy_and_code,
    setting_a_password_kills_outstanding_reset_codes,
    ten_wrong_passwords_in_fifteen_minutes_then_429_across_routes,
    a_right_password_does_not_count_against_the_throttle,
    a_hundred_concurrent_wrong_passwords_evaluate_at_most_ten,
    a_weak_stored_hash_is_rehashed_on_the_next_right_check,
    imported_django_customers_log_in_and_are_rehashed,
    import_is_idempotent_keeps_ids_and_reports_rejected_lines,
);

const PASSWORD: &str = "secret-pass-1";
const NEW_PASSWORD: &str = "brand-new-pass-7";

async fn validate(app: &TestApp, merchant: &TestMerchant, user: Value, password: &str) -> TestResponse {
    app.post_as(merchant, "/api/auth/validate-password", &json!({"user": user, "password": password})).await
}

fn assert_field_error(response: &TestResponse, status: u16, code: &str, field: &str, message: &str) {
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

async fn validate_accepts_the_right_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    for user in [json!(customer.id), json!("ann@example.com"), json!("M-001"), json!("081234567890")] {
        let response = validate(&app, &merchant, user, PASSWORD).await;
        assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})), "{}", response.text);
    }
    // Form-encoded, as the seed's curl examples allow.
    let response = app
        .send(
            "POST",
            "/api/auth/validate-password",
            Some("application/x-www-form-urlencoded"),
            b"user=ann%40example.com&password=secret-pass-1".to_vec(),
            &[("Authorization", &format!("Token {}", merchant.api_key))],
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
}

async fn validate_refuses_a_wrong_password_with_the_seed_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let response = validate(&app, &merchant, json!(customer.id), "not-the-password").await;
    // The seed document's example, byte for byte (key order aside).
    assert_field_error(&response, 400, "invalid_password", "password", "Invalid user password");
    // Passwords are not trimmed.
    let response = validate(&app, &merchant, json!(customer.id), &format!(" {PASSWORD}")).await;
    assert_eq!(response.error_code(), "invalid_password");
}

async fn validate_names_the_unknown_user_and_the_missing_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, _) = setup(&app).await;
    let response = validate(&app, &merchant, json!("nobody@example.com"), PASSWORD).await;
    assert_field_error(&response, 400, "invalid_user", "user", "User not found.");
    let no_password = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("np@example.com".into()),
            ..Default::default()
        })
        .await;
    let response = validate(&app, &merchant, json!(no_password.id), PASSWORD).await;
    assert_field_error(&response, 400, "password_not_set", "user", "Password has not been set.");
    let response = app.post_as(&merchant, "/api/auth/validate-password", &json!({"user": no_password.id})).await;
    assert_field_error(&response, 400, "required", "password", "This field is required.");
    let response = app.post_as(&merchant, "/api/auth/validate-password", &json!({"user": 1, "password": 1234})).await;
    assert_eq!((response.status, response.error_code()), (400, "invalid"));
}

async fn change_checks_the_old_password_and_applies_the_policy(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let change = |old: &str, new: &str| json!({"user": "ann@example.com", "old_password": old, "new_password": new});
    let response = app.post_as(&merchant, "/api/auth/change-password", &change("wrong-one-1", NEW_PASSWORD)).await;
    assert_field_error(&response, 400, "invalid_password", "old_password", "Invalid user password");
    let response = app.post_as(&merchant, "/api/auth/change-password", &change(PASSWORD, "short")).await;
    assert_eq!((response.status, response.error_code()), (400, "weak_password"));
    assert_eq!(
        response.body["errors"]["new_password"],
        "This password is too short. It must contain at least 8 characters."
    );
    let response = app.post_as(&merchant, "/api/auth/change-password", &change(PASSWORD, NEW_PASSWORD)).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
    assert_eq!(validate(&app, &merchant, json!(customer.id), PASSWORD).await.error_code(), "invalid_password");
    assert_eq!(validate(&app, &merchant, json!(customer.id), NEW_PASSWORD).await.status, 200);
}

async fn set_password_answers_the_customer_and_overrides(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let body = json!({"email": "Ann@Example.com", "new_password": NEW_PASSWORD});
    let response = app.post_as(&merchant, "/api/auth/set-password", &body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    // The seed document's shape: {"id", "name", "email", "status": "ok"}.
    assert_eq!(response.body, json!({"id": customer.id, "name": "Ann", "email": "ann@example.com", "status": "ok"}));
    assert_eq!(validate(&app, &merchant, json!(customer.id), NEW_PASSWORD).await.status, 200);
    let response = app
        .post_as(&merchant, "/api/auth/set-password", &json!({"email": "x@example.com", "new_password": NEW_PASSWORD}))
        .await;
    assert_field_error(&response, 400, "invalid_user", "email", "User not found.");
    let response = app.post_as(&merchant, "/api/auth/set-password", &json!({"new_password": NEW_PASSWORD})).await;
    assert_field_error(&response, 400, "required", "email", "This field is required.");
}

async fn the_policy_says_which_rule_failed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let cases = [
        ("seven77", "This password is too short. It must contain at least 8 characters."),
        ("12345678901", "This password is entirely numeric."),
        ("password", "This password is too common."),
        ("iloveyou", "This password is too common."),
        ("ann@example.com", "The password is too similar to the email."),
        (&"x".repeat(129), "This password is too long. It must contain at most 128 characters."),
    ];
    for (password, message) in cases {
        let body = json!({"email": customer.email, "new_password": password});
        let response = app.post_as(&merchant, "/api/auth/set-password", &body).await;
        assert_field_error(&response, 400, "weak_password", "new_password", message);
    }
    // Boundaries that pass: 8 and 128 characters, multi-byte characters counted as one.
    for password in ["kopi-tea", &"y".repeat(128), "ñandú-ñandú"] {
        let body = json!({"email": customer.email, "new_password": password});
        assert_eq!(app.post_as(&merchant, "/api/auth/set-password", &body).await.status, 200, "{password}");
    }
}

async fn request_code(app: &TestApp, merchant: &TestMerchant, customer: &Customer) -> String {
    let body = json!({"identifier": customer.id, "type": "email"});
    let response = app.post_as(merchant, "/api/auth/request-otp-for-password-reset", &body).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    response.body["otp"].as_str().expect("otp").to_string()
}

async fn reset(
    app: &TestApp,
    merchant: &TestMerchant,
    identifier: Value,
    otp: &str,
    new: &str,
    confirm: &str,
) -> TestResponse {
    let body = json!({"identifier": identifier, "otp": otp, "new_password": new, "confirm_new_password": confirm});
    app.post_as(merchant, "/api/auth/reset-password-with-otp", &body).await
}

async fn reset_with_otp_sets_the_password_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = request_code(&app, &merchant, &customer).await;
    let response = reset(&app, &merchant, json!("M-001"), &otp, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!((response.status, response.body.clone()), (200, json!({"status": "ok"})));
    assert_eq!(validate(&app, &merchant, json!(customer.id), NEW_PASSWORD).await.status, 200);
    let response = reset(&app, &merchant, json!(customer.id), &otp, "another-pass-3", "another-pass-3").await;
    assert_field_error(&response, 400, "invalid_otp", "otp", "Invalid OTP");
}

async fn reset_with_otp_checks_confirmation_policy_and_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = request_code(&app, &merchant, &customer).await;
    let response = reset(&app, &merchant, json!(customer.id), &otp, NEW_PASSWORD, "something-else-2").await;
    // The seed document's example, byte for byte.
    assert_field_error(
        &response,
        400,
        "mismatch_password",
        "confirm_new_password",
        "Confirmation password does not match",
    );
    let response = reset(&app, &merchant, json!(customer.id), &otp, "123456789", "123456789").await;
    assert_field_error(&response, 400, "weak_password", "new_password", "This password is entirely numeric.");
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    let response = reset(&app, &merchant, json!(customer.id), wrong, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_field_error(&response, 400, "invalid_otp", "otp", "Invalid OTP");
    // A PIN-reset code is not a password-reset code.
    let pin_code =
        app.post_as(&merchant, "/api/pin/request-otp-for-reset", &json!({"user": customer.id})).await.body["otp"]
            .as_str()
            .expect("otp")
            .to_string();
    let response = reset(&app, &merchant, json!(customer.id), &pin_code, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.error_code(), "invalid_otp");
    // Expiry at 600 s.
    app.clock.advance(600);
    assert_eq!(
        reset(&app, &merchant, json!(customer.id), &otp, NEW_PASSWORD, NEW_PASSWORD).await.error_code(),
        "invalid_otp"
    );
    assert_eq!(validate(&app, &merchant, json!(customer.id), PASSWORD).await.status, 200, "unchanged");
}

async fn setting_a_password_kills_outstanding_reset_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = request_code(&app, &merchant, &customer).await;
    let body = json!({"email": "ann@example.com", "new_password": NEW_PASSWORD});
    assert_eq!(app.post_as(&merchant, "/api/auth/set-password", &body).await.status, 200);
    let response = reset(&app, &merchant, json!(customer.id), &otp, "attacker-pass-9", "attacker-pass-9").await;
    assert_eq!(response.error_code(), "invalid_otp");
    // And a change does too.
    let otp = request_code(&app, &merchant, &customer).await;
    let body = json!({"user": customer.id, "old_password": NEW_PASSWORD, "new_password": "third-pass-33"});
    assert_eq!(app.post_as(&merchant, "/api/auth/change-password", &body).await.status, 200);
    let response = reset(&app, &merchant, json!(customer.id), &otp, "attacker-pass-9", "attacker-pass-9").await;
    assert_eq!(response.error_code(), "invalid_otp");
}

async fn ten_wrong_passwords_in_fifteen_minutes_then_429_across_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let start = app.clock.now();
    for i in 0..10 {
        app.clock.set(start + i * 60);
        let response = match i % 3 {
            0 => validate(&app, &merchant, json!(customer.id), "wrong-pass-00").await,
            1 => {
                let body = json!({"user": customer.id, "old_password": "wrong-pass-00", "new_password": NEW_PASSWORD});
                app.post_as(&merchant, "/api/auth/change-password", &body).await
            }
            _ => {
                let body =
                    json!({"user": customer.id, "password": "wrong-pass-00", "pin": "123456", "confirm_pin": "123456"});
                app.post_as(&merchant, "/api/pin/reset-with-password", &body).await
            }
        };
        assert_eq!(response.error_code(), "invalid_password", "attempt {i}: {}", response.text);
    }
    let response = validate(&app, &merchant, json!(customer.id), PASSWORD).await;
    assert_eq!(response.status, 429, "{}", response.text);
    assert_eq!(
        response.body,
        json!({"detail": "Too many failed attempts. Try again later.", "errors": {},
               "error_code": "too_many_attempts", "error_message": "Too many failed attempts. Try again later."})
    );
    // The window is 15 minutes from the first failure.
    app.clock.set(start + 900 - 1);
    assert_eq!(validate(&app, &merchant, json!(customer.id), PASSWORD).await.status, 429);
    app.clock.set(start + 900);
    assert_eq!(validate(&app, &merchant, json!(customer.id), PASSWORD).await.status, 200);
}

async fn a_right_password_does_not_count_against_the_throttle(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    for _ in 0..12 {
        assert_eq!(validate(&app, &merchant, json!(customer.id), PASSWORD).await.status, 200);
    }
    for _ in 0..9 {
        validate(&app, &merchant, json!(customer.id), "wrong-pass-00").await;
    }
    assert_eq!(validate(&app, &merchant, json!(customer.id), PASSWORD).await.status, 200);
}

async fn a_hundred_concurrent_wrong_passwords_evaluate_at_most_ten(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let before = app.app.hasher.verifications();
    let attempts = (0..100).map(|i| {
        let (app, merchant) = (&app, &merchant);
        async move { validate(app, merchant, json!(customer.id), &format!("wrong-pass-{i:03}")).await }
    });
    let responses = join_all(attempts).await;
    let evaluated = app.app.hasher.verifications() - before;
    assert!(evaluated <= 10, "{evaluated} evaluated");
    let wrong = responses.iter().filter(|r| r.error_code() == "invalid_password").count();
    let throttled = responses.iter().filter(|r| r.error_code() == "too_many_attempts").count();
    assert_eq!((wrong, throttled), (10, 90));
}

async fn a_weak_stored_hash_is_rehashed_on_the_next_right_check(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let weak = shared::hashing::SecretHasher::with_params(None, 1024, 1, 1).expect("hasher");
    let old_hash = weak.hash(PASSWORD).expect("hash");
    let customer = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("old@example.com".into()),
            password_hash: Some(old_hash.clone()),
            ..Default::default()
        })
        .await;
    assert_eq!(validate(&app, &merchant, json!(customer.id), "wrong-pass-00").await.error_code(), "invalid_password");
    assert_eq!(stored_hash(&app, &customer).await, old_hash, "a wrong password changes nothing");
    assert_eq!(validate(&app, &merchant, json!(customer.id), PASSWORD).await.status, 200);
    let fresh = stored_hash(&app, &customer).await;
    assert!(fresh.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{fresh}");
    assert_eq!(validate(&app, &merchant, json!(customer.id), PASSWORD).await.status, 200);
}

async fn stored_hash(app: &TestApp, customer: &Customer) -> String {
    app.store
        .customer(customer.merchant_id, customer.id)
        .await
        .expect("read")
        .and_then(|c| c.password_hash)
        .expect("a password hash")
}

async fn imported_django_customers_log_in_and_are_rehashed(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let vectors = django_vectors();
    let mut lines = String::new();
    for (i, (_, hash)) in vectors.iter().enumerate() {
        lines.push_str(
            &json!({"id": 100 + i, "email": format!("d{i}@example.com"), "name": "D", "password": hash}).to_string(),
        );
        lines.push('\n');
    }
    let report = shared::admin::import_customers(&app.app, merchant.id, &lines).await.expect("import");
    assert_eq!((report.imported, report.rejected.len()), (vectors.len() as u64, 0), "{:?}", report.rejected);
    for (i, (password, hash)) in vectors.iter().enumerate() {
        let id = 100 + i as u64;
        let wrong = validate(&app, &merchant, json!(id), "not-it-at-all").await;
        assert_eq!(wrong.error_code(), "invalid_password", "{hash}");
        let right = validate(&app, &merchant, json!(id), password).await;
        assert_eq!(right.status, 200, "{hash}: {}", right.text);
        let customer = app.store.customer(merchant.id, id).await.expect("read").expect("imported");
        let stored = customer.password_hash.expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=19456"), "rehashed: {stored}");
        assert_eq!(validate(&app, &merchant, json!(id), password).await.status, 200);
    }
}

/// `(password, hash)` pairs made by Django 5.1's own hashers: `PBKDF2PasswordHasher` (1,000
/// iterations to keep the test fast, and the default 870,000), `Argon2PasswordHasher` and
/// `BCryptSHA256PasswordHasher` (4 rounds).
fn django_vectors() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "correct horse battery",
            "pbkdf2_sha256$1000$tJJiBYOeEfg6HlkdXYhTrw$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=",
        ),
        (
            "Imported-Pass-2024",
            "pbkdf2_sha256$870000$RyjW8WfICDxMKlnQ0mLxxg$HKL8AIu95CWIyXA9lef7YBcB7cqNGSniC2YDC+bFuE4=",
        ),
        (
            "correct horse battery",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$ZmJ1TE4xNDNId0JGUTh0S1FCZndCSA$P0gI4vdNmavb9eHOfFb2T9DEHD2zvwIt9NJOFnhSkPQ",
        ),
        ("pässwörd-ünïcode", "bcrypt_sha256$$2b$04$QtcxWeZMpZLwfItJWLbGF.iGP.UlHZ1QBvfw0FeJwEhUmXls5qRPC"),
    ]
}

async fn import_is_idempotent_keeps_ids_and_reports_rejected_lines(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let (_, hash) = django_vectors()[0];
    let lines = [
        json!({"id": 7, "email": "Seven@Example.com", "mobile": "081234567890", "member_id": "M7", "name": "Seven", "password": hash}).to_string(),
        json!({"id": 9, "email": "nine@example.com", "name": "Nine"}).to_string(),
        "not json".to_string(),
        json!({"id": 10, "email": "seven@example.com"}).to_string(),
        json!({"id": 11, "email": "eleven@example.com", "password": "plaintext-password"}).to_string(),
        json!({"id": 12, "mobile": "12"}).to_string(),
        json!({"id": 0, "email": "zero@example.com"}).to_string(),
        String::new(),
    ]
    .join("\n");
    let first = shared::admin::import_customers(&app.app, merchant.id, &lines).await.expect("import");
    assert_eq!((first.imported, first.skipped), (2, 0));
    let rejected: Vec<usize> = first.rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(rejected, [3, 4, 5, 6, 7], "{:?}", first.rejected);
    assert!(first.rejected[1].1.contains("email"), "{:?}", first.rejected[1]);
    let again = shared::admin::import_customers(&app.app, merchant.id, &lines).await.expect("import");
    assert_eq!((again.imported, again.skipped, again.rejected.len()), (0, 2, 5));
    let seven = app.store.customer(merchant.id, 7).await.expect("read").expect("kept ID 7");
    assert_eq!(seven.email.as_deref(), Some("seven@example.com"));
    assert_eq!(seven.mobile.as_deref(), Some("+6281234567890"));
    // Allocated IDs skip the imported ones.
    let next = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("new@example.com".into()),
            ..Default::default()
        })
        .await;
    assert!(![7, 9].contains(&next.id));
    // A different customer under a taken ID is refused.
    let clash = json!({"id": 9, "email": "other@example.com", "name": "Other"}).to_string();
    let report = shared::admin::import_customers(&app.app, merchant.id, &clash).await.expect("import");
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
}
