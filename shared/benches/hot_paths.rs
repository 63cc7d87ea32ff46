//! The pure code on every request's path, and argon2 through the project against the crate
//! called directly at the same parameters. `cargo bench -p shared`.

use std::hint::black_box;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde_json::json;
use shared::domain::identifier::lookup_plan;
use shared::domain::jwt::JwtKeys;
use shared::domain::mobile::{Region, parse_mobile};
use shared::domain::password::{ITERATIONS, MEMORY_KIB, PARALLELISM};
use shared::domain::policy::check_new_password;
use shared::error::{ApiError, ErrorCode};
use shared::hashing::SecretHasher;
use shared::http::body::Fields;
use shared::http::{ErrorStyle, error_response};

const NOW: i64 = 1_800_000_000;

fn parsing(c: &mut Criterion) {
    let mut json_headers = HeaderMap::new();
    json_headers.insert(CONTENT_TYPE, "application/json".parse().expect("header"));
    let mut form_headers = HeaderMap::new();
    form_headers.insert(CONTENT_TYPE, "application/x-www-form-urlencoded".parse().expect("header"));
    let json_body = br#"{"user": "ann@example.com", "pin": "135790", "confirm_pin": "135790"}"#;
    let form_body = b"email=shcode%40example.com&password=rahasia-sekali-9&name=shcode&id_location=7";
    c.bench_function("parse JSON body", |b| b.iter(|| Fields::parse(black_box(&json_headers), black_box(json_body))));
    c.bench_function("parse form body", |b| b.iter(|| Fields::parse(black_box(&form_headers), black_box(form_body))));
    c.bench_function("parse malformed JSON + error response", |b| {
        b.iter(|| {
            let error = Fields::parse(&json_headers, black_box(b"{\"user\": ")).expect_err("malformed");
            error_response(ErrorStyle::Api, &error)
        })
    });
    let error = ApiError::field(ErrorCode::InvalidPin, "pin", "Invalid PIN, 2 attempt(s) left");
    c.bench_function("error response", |b| b.iter(|| error_response(ErrorStyle::Api, black_box(&error))));
}

fn tokens(c: &mut Criterion) {
    let keys = JwtKeys::parse("k1:a-secret-of-at-least-thirty-two-bytes!!,k0:b-secret-of-at-least-thirty-two-bytes!!")
        .expect("keys");
    let token = keys.issue(1, NOW, 86_400, &shared::random::OsRandom).expect("token");
    c.bench_function("JWT issue", |b| b.iter(|| keys.issue(black_box(1), NOW, 86_400, &shared::random::OsRandom)));
    c.bench_function("JWT verify", |b| b.iter(|| keys.verify(black_box(&token), NOW)));
}

fn identifiers(c: &mut Criterion) {
    let region = Region::parse("ID").expect("region");
    let values = [json!(42), json!("Ann@Example.com"), json!("081234567890"), json!("M-001")];
    c.bench_function("identifier lookup plan (4 kinds)", |b| {
        b.iter(|| values.iter().map(|v| lookup_plan(black_box(v), region).map(|p| p.len()).unwrap_or(0)).sum::<usize>())
    });
    c.bench_function("mobile number parse", |b| b.iter(|| parse_mobile(black_box("0812-3456-7890"), region)));
}

/// A new password checked against the policy: a strong one searches the whole common list.
fn policy(c: &mut Criterion) {
    let email = Some("ann@example.com");
    c.bench_function("new password policy (strong)", |b| {
        b.iter(|| check_new_password(black_box("violet-otter-kettle"), email))
    });
    c.bench_function("new password policy (common)", |b| b.iter(|| check_new_password(black_box("Password1"), email)));
}

fn hashing(c: &mut Criterion) {
    let hasher = SecretHasher::new(None).expect("hasher");
    let stored = hasher.hash("violet-otter-kettle").expect("hash");
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("params");
    let direct = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    let mut group = c.benchmark_group("argon2id m=19456 t=2 p=1");
    group.sample_size(20);
    group.bench_function("verify via SecretHasher", |b| {
        b.iter(|| hasher.verify(black_box("violet-otter-kettle"), &stored))
    });
    group.bench_function("verify via argon2 crate", |b| {
        b.iter(|| {
            let parsed = PasswordHash::new(&stored).expect("PHC");
            direct.verify_password(black_box(b"violet-otter-kettle"), &parsed).is_ok()
        })
    });
    // How the handlers call it: on tokio's blocking pool, off the request's thread.
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    group.bench_function("verify via SecretHasher::verify_blocking (tokio)", |b| {
        b.iter(|| {
            runtime.block_on(hasher.verify_blocking(black_box("violet-otter-kettle").into(), Some(stored.clone())))
        })
    });
    group.bench_function("hash via SecretHasher", |b| b.iter(|| hasher.hash(black_box("violet-otter-kettle"))));
    group.bench_function("hash via argon2 crate", |b| {
        b.iter(|| direct.hash_password(black_box(b"violet-otter-kettle"), &salt).map(|h| h.to_string()))
    });
    group.finish();
}

criterion_group!(benches, parsing, tokens, identifiers, policy, hashing);
criterion_main!(benches);
