//! Taking over from the running system (docs/cutover.md): its tokens, its merchants' keys, its
//! customers' passwords and PINs in every Django format, imports that report every bad line,
//! exports that import back unchanged, and key rotation. Both stores.

use integration_tests::app::{Backend, START, TestApp, TestMerchant, TestResponse, spawn_app, spawn_app_with};
use integration_tests::fixtures::{cheap_hashes, simplejwt};
use serde_json::{Value, json};
use shared::admin::{self, ImportOptions, ImportReport};
use shared::store::{Customer, PinAttempt};

both_stores!(
    simplejwt_tokens_work_with_the_legacy_key_until_they_expire,
    without_a_legacy_key_a_token_without_kid_is_refused,
    a_short_legacy_key_works_too,
    imported_merchants_keep_their_ids_and_keys_on_every_route,
    a_merchant_import_reports_each_bad_line_and_is_idempotent,
    imported_django_passwords_work_once_rehashed_to_argon2id,
    imported_django_pins_work_and_are_rehashed_at_the_first_right_one,
    the_lockout_applies_to_an_imported_pin_from_the_first_check,
    an_import_reports_every_bad_line_with_its_number_and_writes_nothing_of_it,
    a_dry_run_reports_the_same_lines_and_writes_nothing,
    lines_that_are_not_utf8_or_too_long_are_refused_on_their_own,
    new_customers_get_ids_past_every_imported_one,
    an_export_imports_back_unchanged_and_its_secrets_still_work,
    a_rotated_key_keeps_working_for_its_grace_period_only,
    the_whole_cutover_over_http,
);

/// A server with the old system's token secret configured.
async fn legacy_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[("STAMPS_JWT_LEGACY_KEY", &simplejwt().secret_key)]).await
}

async fn verify(app: &TestApp, token: &str) -> TestResponse {
    app.post("/api/token/verify/", &json!({"token": token}), &[]).await
}

async fn mobile_with_bearer(app: &TestApp, token: &str) -> TestResponse {
    app.post_bearer(token, "/api/auth/validate-mobile-number", &json!({"mobile_number": "081234567890"})).await
}

async fn mobile_with_key(app: &TestApp, key: &str) -> TestResponse {
    let header = format!("Token {key}");
    app.post(
        "/api/auth/validate-mobile-number",
        &json!({"mobile_number": "081234567890"}),
        &[("Authorization", &header)],
    )
    .await
}

async fn simplejwt_tokens_work_with_the_legacy_key_until_they_expire(backend: Backend) {
    let app = legacy_app(backend).await;
    let tokens = simplejwt();
    let first = app.create_merchant("Kopi").await;
    let second = app.create_merchant("Roti").await;
    assert_eq!((first.id, second.id), (1, 2), "the fixtures name merchants 1 and 2");
    let valid = tokens.token("valid");
    assert_eq!((verify(&app, valid).await.status, verify(&app, valid).await.body.clone()), (200, json!({})));
    assert_eq!(mobile_with_bearer(&app, valid).await.status, 200);
    // The token acts for its merchant only: merchant 2's customer is unknown to merchant 1.
    let customer = app
        .create_customer(admin::CustomerInput {
            merchant: 2,
            email: Some("ann@example.com".into()),
            ..Default::default()
        })
        .await;
    let unblock = json!({"user": customer.id});
    let as_first = app.post_bearer(valid, "/api/pin/unblock", &unblock).await;
    assert_eq!(as_first.error_code(), "invalid_user", "{}", as_first.text);
    let as_second = app.post_bearer(tokens.token("valid_merchant_2"), "/api/pin/unblock", &unblock).await;
    assert_eq!(as_second.status, 200, "{}", as_second.text);
    // The same claim checks as our own tokens.
    for name in ["expired", "refresh", "short_key"] {
        let response = verify(&app, tokens.token(name)).await;
        assert_eq!((response.status, response.error_code()), (401, "token_not_valid"), "{name}");
        let response = mobile_with_bearer(&app, tokens.token(name)).await;
        assert_eq!((response.status, response.error_code()), (401, "authentication_failed"), "{name}");
    }
    // Until it expires (5 minutes after the tests' start, with 30 s of leeway).
    app.clock.set(START + 300 + 30);
    assert_eq!(verify(&app, valid).await.status, 200);
    app.clock.set(START + 300 + 31);
    assert_eq!(verify(&app, valid).await.status, 401);
    assert_eq!(mobile_with_bearer(&app, valid).await.status, 401);
    // Tokens we issue still work beside them.
    app.clock.set(START);
    let ours = app.access_token(&first).await;
    assert_eq!(verify(&app, &ours).await.status, 200);
}

async fn without_a_legacy_key_a_token_without_kid_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_merchant("Kopi").await;
    let valid = simplejwt().token("valid").to_string();
    assert_eq!(verify(&app, &valid).await.error_code(), "token_not_valid");
    assert_eq!(mobile_with_bearer(&app, &valid).await.error_code(), "authentication_failed");
}

async fn a_short_legacy_key_works_too(backend: Backend) {
    let tokens = simplejwt();
    let app = spawn_app_with(backend, &[("STAMPS_JWT_LEGACY_KEY", &tokens.short_secret_key)]).await;
    app.create_merchant("Kopi").await;
    assert_eq!(verify(&app, tokens.token("short_key")).await.status, 200);
    assert_eq!(verify(&app, tokens.token("valid")).await.status, 401, "signed with another key");
}

/// Imports merchants from JSON lines, answering the report.
async fn import_merchants(app: &TestApp, lines: &str) -> (admin::ImportSummary, Vec<(usize, String)>) {
    let mut rejected = Vec::new();
    let reader = Box::new(std::io::Cursor::new(lines.to_string()));
    let summary = admin::import_merchants_from(&app.app, reader, &mut rejected).await.expect("import");
    (summary, rejected)
}

const LEGACY_KEY_1: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
const LEGACY_KEY_2: &str = "f1e2d3c4b5a697887766554433221100ffeeddcc";

fn merchant_lines() -> String {
    [
        json!({"merchant_id": 1, "name": "Kopi", "api_key": LEGACY_KEY_1}),
        json!({"merchant_id": 2, "name": "Roti", "api_key": LEGACY_KEY_2, "created_at": 1_600_000_000}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n")
}

async fn imported_merchants_keep_their_ids_and_keys_on_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let (summary, rejected) = import_merchants(&app, &merchant_lines()).await;
    assert_eq!((summary.imported, rejected.len()), (2, 0), "{rejected:?}");
    let stored = app.store.merchant(2).await.expect("read").expect("kept its ID");
    assert_eq!((stored.name.as_str(), stored.created_at), ("Roti", 1_600_000_000));
    // The key as `Token`, as the body `token`, on the route without other storage, and for a
    // token of its own merchant only.
    assert_eq!(mobile_with_key(&app, LEGACY_KEY_1).await.status, 200);
    let body = json!({"token": LEGACY_KEY_2, "mobile_number": "081234567890"});
    assert_eq!(app.post("/api/auth/validate-mobile-number", &body, &[]).await.status, 200);
    let token = app.post("/api/token/", &json!({"token": LEGACY_KEY_1, "merchant": 1}), &[]).await;
    assert_eq!(token.status, 200, "{}", token.text);
    let wrong = app.post("/api/token/", &json!({"token": LEGACY_KEY_1, "merchant": 2}), &[]).await;
    assert_eq!(wrong.error_code(), "authentication_failed");
    // Only the hash is stored; a near miss is refused.
    assert_eq!(mobile_with_key(&app, &LEGACY_KEY_1.replace('9', "8")).await.error_code(), "authentication_failed");
    // New merchants get IDs past the imported ones.
    assert_eq!(app.create_merchant("Teh").await.id, 3);
}

async fn a_merchant_import_reports_each_bad_line_and_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let ours = app.create_merchant("Ours").await;
    let lines = [
        merchant_lines(),
        "not json".to_string(),
        json!({"merchant_id": 3, "name": "Short", "api_key": "abc123"}).to_string(),
        json!({"merchant_id": 4, "name": "Spaces", "api_key": "has spaces in the middle of it"}).to_string(),
        json!({"merchant_id": 5, "name": "Taken key", "api_key": LEGACY_KEY_2}).to_string(),
        json!({"merchant_id": ours.id, "name": "Another", "api_key": "0123456789abcdef0123456789abcdef01234567"})
            .to_string(),
        json!({"merchant_id": 6, "name": "Forged", "api_key": ours.api_key.replacen(&format!("{}.", ours.id), "6.", 1)})
            .to_string(),
        json!({"merchant_id": 0, "name": "Zero", "api_key": "0123456789abcdef0123456789abcdef01234568"}).to_string(),
        json!({"merchant_id": 7, "name": " ", "api_key": "0123456789abcdef0123456789abcdef01234569"}).to_string(),
    ]
    .join("\n");
    let (summary, rejected) = import_merchants(&app, &lines).await;
    assert_eq!((summary.imported, summary.skipped, summary.rejected), (1, 0, 9), "{rejected:?}");
    let numbers: Vec<usize> = rejected.iter().map(|(line, _)| *line).collect();
    // Line 1 is merchant 1 with ID 1, which `Ours` took: a different merchant.
    assert_eq!(numbers, [1, 3, 4, 5, 6, 7, 8, 9, 10], "{rejected:?}");
    for (line, says) in [
        (1, "taken by a different merchant"),
        (3, "not a merchant record"),
        (4, "20-256 characters"),
        (5, "printable ASCII"),
        (6, "already merchant 2's"),
        (7, "taken by a different merchant"),
        (8, "was not issued to merchant 6"),
        (9, "positive integer"),
        (10, "must not be blank"),
    ] {
        let reason = &rejected.iter().find(|(n, _)| *n == line).expect("line").1;
        assert!(reason.contains(says), "line {line}: {reason}");
    }
    for id in [3, 4, 5, 6, 7] {
        assert_eq!(app.store.merchant(id).await.expect("read"), None, "merchant {id} written");
    }
    let (again, _) = import_merchants(&app, &merchant_lines()).await;
    assert_eq!((again.imported, again.skipped, again.rejected), (0, 1, 1));
}

/// Imports customers of `merchant` from lines.
async fn import(app: &TestApp, merchant: u64, lines: &[Value]) -> ImportReport {
    let text = lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    admin::import_customers(&app.app, merchant, &text).await.expect("import")
}

async fn stored(app: &TestApp, merchant: u64, id: u64) -> (Customer, Option<String>) {
    let customer = app.store.customer(merchant, id).await.expect("read").expect("customer");
    let (page, _) = app.store.export_page(merchant, None, 10_000).await.expect("export");
    let pin = page.into_iter().find(|c| c.customer.id == id).and_then(|c| c.pin_hash);
    (customer, pin)
}

async fn validate_password(app: &TestApp, merchant: &TestMerchant, id: u64, password: &str) -> TestResponse {
    app.post_as(merchant, "/api/auth/validate-password", &json!({"user": id, "password": password})).await
}

async fn validate_pin(app: &TestApp, merchant: &TestMerchant, id: u64, pin: &str) -> TestResponse {
    app.post_as(merchant, "/api/pin/validate", &json!({"user": id, "pin": pin})).await
}

async fn imported_django_passwords_work_once_rehashed_to_argon2id(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let hashes = cheap_hashes("password");
    assert_eq!(hashes.len(), 9, "every hasher");
    let lines: Vec<Value> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| json!({"id": 100 + i, "email": format!("c{i}@example.com"), "password": h.encoded}))
        .collect();
    let report = import(&app, merchant.id, &lines).await;
    assert_eq!((report.imported, report.rejected.len()), (9, 0), "{:?}", report.rejected);
    for (i, hash) in hashes.iter().enumerate() {
        let id = 100 + i as u64;
        let label = format!("{} ({})", hash.hasher, hash.encoded);
        let wrong = validate_password(&app, &merchant, id, &format!("{}!", hash.secret)).await;
        assert_eq!(wrong.error_code(), "invalid_password", "{label}");
        assert_eq!(stored(&app, merchant.id, id).await.0.password_hash.as_deref(), Some(hash.encoded.as_str()));
        let right = validate_password(&app, &merchant, id, &hash.secret).await;
        assert_eq!(right.status, 200, "{label}: {}", right.text);
        let rehashed = stored(&app, merchant.id, id).await.0.password_hash.expect("hash");
        assert!(rehashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{label}: {rehashed}");
        assert_eq!(validate_password(&app, &merchant, id, &hash.secret).await.status, 200, "{label}");
        let wrong = validate_password(&app, &merchant, id, &format!("{}!", hash.secret)).await;
        assert_eq!(wrong.error_code(), "invalid_password", "{label}");
    }
}

async fn imported_django_pins_work_and_are_rehashed_at_the_first_right_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let hashes = cheap_hashes("pin");
    let lines: Vec<Value> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| json!({"id": 200 + i, "member_id": format!("M{i}"), "pin": h.encoded}))
        .collect();
    let report = import(&app, merchant.id, &lines).await;
    assert_eq!((report.imported, report.rejected.len()), (hashes.len() as u64, 0), "{:?}", report.rejected);
    for (i, hash) in hashes.iter().enumerate() {
        let id = 200 + i as u64;
        let label = format!("{} ({})", hash.hasher, hash.encoded);
        let wrong = validate_pin(&app, &merchant, id, "000000").await;
        assert_eq!(
            (wrong.error_code(), wrong.body["detail"].as_str()),
            ("invalid_pin", Some("pin: Invalid PIN, 2 attempt(s) left")),
            "{label}"
        );
        assert_eq!(stored(&app, merchant.id, id).await.1.as_deref(), Some(hash.encoded.as_str()), "{label}");
        let right = validate_pin(&app, &merchant, id, &hash.secret).await;
        assert_eq!(right.status, 200, "{label}: {}", right.text);
        let rehashed = stored(&app, merchant.id, id).await.1.expect("PIN hash");
        assert!(rehashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{label}: {rehashed}");
        assert_eq!(validate_pin(&app, &merchant, id, &hash.secret).await.status, 200, "{label}");
    }
}

async fn the_lockout_applies_to_an_imported_pin_from_the_first_check(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let hash = cheap_hashes("pin").into_iter().find(|h| h.hasher == "pbkdf2_sha256").expect("pbkdf2");
    import(&app, merchant.id, &[json!({"id": 5, "pin": hash.encoded})]).await;
    let codes: Vec<String> = {
        let mut codes = Vec::new();
        for _ in 0..3 {
            codes.push(validate_pin(&app, &merchant, 5, "000000").await.error_code().to_string());
        }
        codes
    };
    assert_eq!(codes, ["invalid_pin", "invalid_pin", "pin_blocked"]);
    let right = validate_pin(&app, &merchant, 5, &hash.secret).await;
    assert_eq!(right.error_code(), "pin_blocked", "the right PIN does not get through a block");
    assert_eq!(stored(&app, merchant.id, 5).await.1.as_deref(), Some(hash.encoded.as_str()), "not rehashed");
    let blocked = app
        .store
        .reserve_pin_attempt(
            merchant.id,
            5,
            shared::store::CounterPolicy { limit: 3, window_secs: 604_800, window: shared::store::Window::Sliding },
            START,
        )
        .await
        .expect("PIN");
    assert_eq!(blocked, PinAttempt::Blocked);
}

/// Django's scrypt hash with a work factor of 2^20: 1 GiB of memory a check.
fn huge_scrypt() -> String {
    let cheap = cheap_hashes("pin").into_iter().find(|h| h.hasher == "scrypt").expect("scrypt");
    cheap.encoded.replacen("scrypt$16$", "scrypt$1048576$", 1)
}

/// Lines with every kind of fault, after two good ones (`base` taken for the clashes).
fn faulty_lines(pin: &str) -> Vec<Value> {
    vec![
        json!({"id": 1, "email": "ann@example.com", "mobile": "081234567890", "member_id": "M1", "name": "Ann", "pin": pin}),
        json!({"id": 2, "email": "bob@example.com", "mobile": "081234567891", "member_id": "M2", "name": "Bob"}),
        Value::String("{not json".into()),
        json!({"id": 3, "email": "c@example.com", "password": "md4$salt$0123456789abcdef0123456789abcdef"}),
        json!({"id": 4, "email": "d@example.com", "password": "pbkdf2_sha256$90000000$salt$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4="}),
        json!({"id": 5, "email": "ANN@example.com"}),
        json!({"id": 6, "mobile": "+62 812-3456-7890"}),
        json!({"id": 7, "member_id": "M2"}),
        json!({"id": 2, "email": "robert@example.com", "name": "Robert"}),
        json!({"id": 8, "email": "h@example.com", "pin": huge_scrypt()}),
        json!({"id": 9, "email": "i@example.com", "surname": "unknown field"}),
        json!({"id": 0, "email": "zero@example.com"}),
        json!({"id": 10, "email": "not an email"}),
        json!({"id": 11, "mobile": "12"}),
        json!({"id": 12, "email": "twelve@example.com", "member_id": "M12"}),
    ]
}

/// The faulty lines' numbers and what their reasons must say.
const FAULTS: [(usize, &str); 12] = [
    (3, "not a customer record"),
    (4, "password: not a supported hash format"),
    (5, "password: pbkdf2_sha256 hash with 90000000 iterations"),
    (6, "email"),
    (7, "mobile"),
    (8, "member_id"),
    (9, "customer ID 2 is taken by a different customer"),
    (10, "pin: scrypt hash with N=1048576"),
    (11, "unknown field `surname`"),
    (12, "positive integer"),
    (13, "not a valid email address"),
    (14, "not a valid mobile phone number"),
];

fn raw(lines: &[Value]) -> String {
    lines
        .iter()
        .map(|line| line.as_str().map_or_else(|| line.to_string(), str::to_string))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_faults(report: &ImportReport) {
    let numbers: Vec<usize> = report.rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(numbers, FAULTS.map(|(line, _)| line), "{:?}", report.rejected);
    for ((line, reason), (_, says)) in report.rejected.iter().zip(FAULTS) {
        assert!(reason.contains(says), "line {line}: {reason:?} should say {says:?}");
    }
}

async fn an_import_reports_every_bad_line_with_its_number_and_writes_nothing_of_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let pin = cheap_hashes("pin").remove(0).encoded;
    let lines = faulty_lines(&pin);
    let report = admin::import_customers(&app.app, merchant.id, &raw(&lines)).await.expect("import");
    assert_eq!((report.imported, report.skipped), (3, 0), "{:?}", report.rejected);
    assert_faults(&report);
    for id in [3, 4, 5, 6, 7, 8, 9, 10, 11] {
        assert_eq!(app.store.customer(merchant.id, id).await.expect("read"), None, "customer {id} was written");
    }
    assert_eq!(app.store.customer(merchant.id, 2).await.expect("read").map(|c| c.name), Some("Bob".into()));
    for (field, value) in [
        (shared::store::UniqueField::Email, "robert@example.com"),
        (shared::store::UniqueField::Email, "h@example.com"),
    ] {
        assert_eq!(app.store.customer_by(merchant.id, field, value).await.expect("read"), None, "{value} claimed");
    }
    // A re-run skips what is there and reports the same faults.
    let again = admin::import_customers(&app.app, merchant.id, &raw(&lines)).await.expect("import");
    assert_eq!((again.imported, again.skipped), (0, 3));
    assert_faults(&again);
}

async fn a_dry_run_reports_the_same_lines_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let pin = cheap_hashes("pin").remove(0).encoded;
    let mut lines = faulty_lines(&pin);
    // Two lines of the file that clash with each other (the store has neither): the later is
    // refused, an identical repeat is skipped.
    lines.push(json!({"id": 13, "email": "dup@example.com"}));
    lines.push(json!({"id": 14, "email": "dup@example.com"}));
    lines.push(json!({"id": 13, "email": "dup@example.com"}));
    let dry = ImportOptions { dry_run: true };
    let checked = admin::import_customers_with(&app.app, merchant.id, &raw(&lines), dry).await.expect("dry run");
    assert_eq!((checked.imported, checked.skipped), (4, 1), "{:?}", checked.rejected);
    let (file_clash, file_clash_reason) = checked.rejected.last().expect("the clash").clone();
    assert_eq!(file_clash, 17);
    assert!(file_clash_reason.contains("an earlier line of the file has the same email"), "{file_clash_reason}");
    let written = app.store.export_page(merchant.id, None, 10_000).await.expect("export").0;
    assert!(written.is_empty(), "a dry run wrote {written:?}");
    // The import then does what the dry run said.
    let imported = admin::import_customers(&app.app, merchant.id, &raw(&lines)).await.expect("import");
    assert_eq!((imported.imported, imported.skipped), (4, 1));
    assert_eq!(imported.rejected.len(), checked.rejected.len());
    assert!(imported.rejected.last().is_some_and(|(line, reason)| *line == 17 && reason.contains("email")));
    // And a dry run of the same file now finds everything there.
    let rerun = admin::import_customers_with(&app.app, merchant.id, &raw(&lines), dry).await.expect("dry run");
    assert_eq!((rerun.imported, rerun.skipped, rerun.rejected.len()), (0, 5, checked.rejected.len()));
}

async fn lines_that_are_not_utf8_or_too_long_are_refused_on_their_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let mut file = Vec::new();
    file.extend_from_slice(json!({"id": 1, "name": "Ann"}).to_string().as_bytes());
    file.extend_from_slice(b"\r\n{\"id\": 2, \"name\": \"\xff\xfe\"}\n");
    file.extend_from_slice(json!({"id": 3, "name": "x".repeat(admin::MAX_LINE_BYTES)}).to_string().as_bytes());
    file.extend_from_slice(b"\n   \n");
    file.extend_from_slice(json!({"id": 4, "name": "Dan"}).to_string().as_bytes());
    let mut rejected = Vec::new();
    let summary = admin::import_customers_from(
        &app.app,
        merchant.id,
        Box::new(std::io::Cursor::new(file)),
        ImportOptions::default(),
        &mut rejected,
    )
    .await
    .expect("import");
    assert_eq!(summary.imported, 2, "{rejected:?}");
    rejected.sort();
    assert_eq!(rejected.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [2, 3], "{rejected:?}");
    assert!(rejected[0].1.contains("not a customer record"), "{rejected:?}");
    assert!(rejected[1].1.contains("longer than 65536 bytes"), "{rejected:?}");
    assert_eq!(app.store.customer(merchant.id, 4).await.expect("read").map(|c| c.name), Some("Dan".into()));
}

async fn new_customers_get_ids_past_every_imported_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let lines: Vec<Value> =
        [5, 1000, 70].iter().map(|id| json!({"id": id, "email": format!("c{id}@example.com")})).collect();
    assert_eq!(import(&app, merchant.id, &lines).await.imported, 3);
    let next = app
        .create_customer(admin::CustomerInput {
            merchant: merchant.id,
            email: Some("new@example.com".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(next.id, 1001);
}

async fn an_export_imports_back_unchanged_and_its_secrets_still_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    // Customers of every kind: imported with Django hashes (one logged in since, so rehashed),
    // created here with a password and a PIN, a v2 profile and a Facebook ID.
    let password = cheap_hashes("password").into_iter().find(|h| h.hasher == "bcrypt_sha256").expect("bcrypt");
    let pin = cheap_hashes("pin").into_iter().find(|h| h.hasher == "scrypt").expect("scrypt");
    let lines = vec![
        json!({"id": 1, "email": "ann@example.com", "mobile": "081234567890", "member_id": "M1", "name": "Ann",
               "password": password.encoded, "pin": pin.encoded, "created_at": 1_600_000_000}),
        json!({"id": 2, "email": "bob@example.com", "password": password.encoded, "pin": pin.encoded,
               "facebook_id": "10150000000000002", "profile": {"location_id": 7, "latitude": -6.2, "longitude": 106.8}}),
    ];
    assert_eq!(import(&app, merchant.id, &lines).await.imported, 2);
    assert_eq!(validate_password(&app, &merchant, 2, &password.secret).await.status, 200);
    assert_eq!(validate_pin(&app, &merchant, 2, &pin.secret).await.status, 200);
    let carol = app
        .create_customer(admin::CustomerInput {
            merchant: merchant.id,
            email: Some("carol@example.com".into()),
            name: Some("Carol".into()),
            password: Some("carol-secret-1".into()),
            ..Default::default()
        })
        .await;
    let set = json!({"user": carol.id, "pin": "246810", "confirm_pin": "246810"});
    assert_eq!(app.post_as(&merchant, "/api/pin/set", &set).await.status, 200);

    let mut exported = Vec::new();
    assert_eq!(admin::export_customers(&app.app, merchant.id, &mut exported).await.expect("export"), 3);
    let exported = String::from_utf8(exported).expect("UTF-8");

    let fresh = spawn_app(backend).await;
    let same = fresh.create_merchant("Kopi").await;
    assert_eq!(same.id, merchant.id);
    let report = admin::import_customers(&fresh.app, same.id, &exported).await.expect("import");
    assert_eq!((report.imported, report.rejected.len()), (3, 0), "{:?}", report.rejected);
    let mut again = Vec::new();
    admin::export_customers(&fresh.app, same.id, &mut again).await.expect("export");
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&String::from_utf8(again).expect("UTF-8")), sorted(&exported), "the same lines");
    for id in [1, 2, carol.id] {
        assert_eq!(
            fresh.store.customer(same.id, id).await.expect("read"),
            app.store.customer(merchant.id, id).await.expect("read"),
            "customer {id}"
        );
    }
    // Passwords and PINs work in the new store: Django's (ann), rehashed (bob), ours (carol).
    for (id, password, pin) in [
        (1, password.secret.as_str(), pin.secret.as_str()),
        (2, &password.secret, &pin.secret),
        (carol.id, "carol-secret-1", "246810"),
    ] {
        assert_eq!(validate_password(&fresh, &same, id, password).await.status, 200, "customer {id}");
        assert_eq!(validate_pin(&fresh, &same, id, pin).await.status, 200, "customer {id}");
        assert_eq!(validate_pin(&fresh, &same, id, "999999").await.error_code(), "invalid_pin", "customer {id}");
    }
}

async fn a_rotated_key_keeps_working_for_its_grace_period_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let rotated = admin::rotate_api_key(&app.app, merchant.id, 3600).await.expect("rotate");
    assert_eq!((rotated.old_keys, rotated.old_keys_expire_at), (1, START + 3600));
    let new = TestMerchant { id: merchant.id, api_key: rotated.api_key.clone() };
    for key in [&merchant, &new] {
        assert_eq!(mobile_with_key(&app, &key.api_key).await.status, 200);
        let token = app.post("/api/token/", &json!({"token": key.api_key, "merchant": merchant.id}), &[]).await;
        assert_eq!(token.status, 200);
    }
    app.clock.set(START + 3600);
    assert_eq!(mobile_with_key(&app, &merchant.api_key).await.error_code(), "authentication_failed");
    let body = json!({"token": merchant.api_key, "user": 1});
    assert_eq!(app.post("/api/pin/unblock", &body, &[]).await.error_code(), "authentication_failed");
    let token = app.post("/api/token/", &json!({"token": merchant.api_key, "merchant": merchant.id}), &[]).await;
    assert_eq!(token.error_code(), "authentication_failed");
    assert_eq!(mobile_with_key(&app, &new.api_key).await.status, 200);
    // At once, and for an unknown merchant.
    let again = admin::rotate_api_key(&app.app, merchant.id, 0).await.expect("rotate");
    assert_eq!(mobile_with_key(&app, &new.api_key).await.error_code(), "authentication_failed");
    assert_eq!(mobile_with_key(&app, &again.api_key).await.status, 200);
    assert!(matches!(admin::rotate_api_key(&app.app, 999, 0).await, Err(admin::AdminError::NoSuchMerchant(999))));
    assert!(matches!(admin::rotate_api_key(&app.app, merchant.id, -1).await, Err(admin::AdminError::Invalid(_))));
}

/// The guide's order of steps, driven over HTTP: merchants with their old keys, customers with
/// Django password and PIN hashes, then the old system's token and key, and an imported PIN and
/// password, all work.
async fn the_whole_cutover_over_http(backend: Backend) {
    let app = legacy_app(backend).await;
    let (merchants, rejected) = import_merchants(&app, &merchant_lines()).await;
    assert_eq!((merchants.imported, rejected.len()), (2, 0));
    let password = cheap_hashes("password").into_iter().find(|h| h.hasher == "pbkdf2_sha256").expect("pbkdf2");
    let pin = cheap_hashes("pin").into_iter().find(|h| h.hasher == "argon2id").expect("argon2");
    let customers = vec![json!({"id": 5870, "email": "siti@example.com", "mobile": "081298765432",
                                "name": "Siti", "password": password.encoded, "pin": pin.encoded})];
    assert_eq!(import(&app, 1, &customers).await.imported, 1);

    let old_token = simplejwt().token("valid").to_string();
    let by_token = |path: &'static str, body: Value| {
        let (app, token) = (&app, old_token.clone());
        async move { app.post_bearer(&token, path, &body).await }
    };
    let by_key = |path: &'static str, body: Value| {
        let app = &app;
        async move { app.post(path, &body, &[("Authorization", &format!("Token {LEGACY_KEY_1}"))]).await }
    };
    // The old token, on a merchant route, and verified.
    let response = by_token("/api/pin/validate", json!({"user": "siti@example.com", "pin": pin.secret})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(verify(&app, &old_token).await.status, 200);
    // The old key: a password check, by mobile number; a wrong password is still wrong.
    let response =
        by_key("/api/auth/validate-password", json!({"user": "081298765432", "password": password.secret})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let response = by_key("/api/auth/validate-password", json!({"user": 5870, "password": "not-the-password"})).await;
    assert_eq!(response.error_code(), "invalid_password");
    // The old key buys a new token, which works like the old one.
    let token = app.post("/api/token/", &json!({"token": LEGACY_KEY_1, "merchant": 1}), &[]).await;
    let new_token = token.body["access_token"].as_str().expect("access token").to_string();
    let response = app.post_bearer(&new_token, "/api/pin/validate", &json!({"user": 5870, "pin": pin.secret})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    // Merchant 2's old key sees none of merchant 1's customers.
    let header = format!("Token {LEGACY_KEY_2}");
    let response =
        app.post("/api/pin/validate", &json!({"user": 5870, "pin": pin.secret}), &[("Authorization", &header)]).await;
    assert_eq!(response.error_code(), "invalid_user");
    // Both secrets now rest as argon2id.
    let (customer, pin_hash) = stored(&app, 1, 5870).await;
    for hash in [customer.password_hash.expect("password"), pin_hash.expect("PIN")] {
        assert!(hash.starts_with("$argon2id$v=19$m=19456"), "{hash}");
    }
}
