//! Account enumeration (issue 9): an unknown user and a wrong password must not be told apart,
//! neither by the body's shape nor by time. Each route is measured over 200 tries of each kind,
//! interleaved in random order so that load on the machine hits both alike, and the medians are compared as a
//! ratio (no absolute time limit). Its own test binary, so other tests do not add noise.

use std::time::{Duration, Instant};

use integration_tests::app::{Backend, TestResponse, spawn_app_with};
use serde_json::{Value, json};
use shared::admin::CustomerInput;

const TRIES: usize = 200;
/// The medians may differ by at most 10%.
const MAX_RATIO: f64 = 1.10;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn keys(body: &Value) -> Vec<String> {
    body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// Times `unknown` and `wrong` alternately, checks their answers have the same status and body
/// keys, prints both medians and returns their ratio (slower over faster).
async fn compare<U, W, FU, FW>(route: &str, unknown: U, wrong: W) -> f64
where
    U: Fn() -> FU,
    W: Fn() -> FW,
    FU: std::future::Future<Output = TestResponse>,
    FW: std::future::Future<Output = TestResponse>,
{
    // Warm up both paths (the dummy hash is made on first use, connections open).
    let (first_unknown, first_wrong) = (unknown().await, wrong().await);
    assert_eq!(first_unknown.status, first_wrong.status, "{} / {}", first_unknown.text, first_wrong.text);
    assert_eq!(keys(&first_unknown.body), keys(&first_wrong.body), "same body shape");
    let (mut unknown_times, mut wrong_times) = (Vec::with_capacity(TRIES), Vec::with_capacity(TRIES));
    // The order of each pair is random, so neither kind always follows the other (a request
    // can leave work behind that slows the next one).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..TRIES {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let unknown_first = seed >> 63 == 1;
        for is_unknown in [unknown_first, !unknown_first] {
            let started = Instant::now();
            let response = if is_unknown { unknown().await } else { wrong().await };
            let elapsed = started.elapsed();
            if is_unknown {
                assert_eq!(response.status, first_unknown.status);
                unknown_times.push(elapsed);
            } else {
                assert_eq!(response.status, first_wrong.status);
                wrong_times.push(elapsed);
            }
        }
    }
    let (unknown_median, wrong_median) = (median(unknown_times), median(wrong_times));
    let ratio = unknown_median.max(wrong_median).as_secs_f64() / unknown_median.min(wrong_median).as_secs_f64();
    println!(
        "{route}: median unknown user {unknown_median:?}, wrong password {wrong_median:?}, ratio {ratio:.3} over {TRIES} tries each"
    );
    ratio
}

/// Both routes in one test, one after the other, so the two measurements do not compete. The
/// server's throttle is set out of reach (it would answer 429 quickly and spoil the comparison).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_takes_as_long_as_a_wrong_password() {
    let vars = [("STAMPS_PASSWORD_MAX_FAILURES", "100000"), ("STAMPS_V2_MERCHANT", "1")];
    let app = spawn_app_with(Backend::Sqlite, &vars).await;
    let merchant = app.create_merchant("Kopi").await;
    assert_eq!(merchant.id, 1, "the v2 merchant");
    app.create_customer(CustomerInput {
        merchant: merchant.id,
        email: Some("ann@example.com".into()),
        name: Some("Ann".into()),
        password: Some("secret-pass-1".into()),
        ..Default::default()
    })
    .await;

    let path = "/api/auth/validate-password";
    let unknown = json!({"user": "nobody@example.com", "password": "wrong-pass-1"});
    let wrong = json!({"user": "ann@example.com", "password": "wrong-pass-1"});
    let validate = compare(
        "validate-password",
        || app.post_as(&merchant, path, &unknown),
        || app.post_as(&merchant, path, &wrong),
    )
    .await;
    let path = "/api/v2/auth/login";
    let unknown = json!({"email": "nobody@example.com", "password": "wrong-pass-1"});
    let wrong = json!({"email": "ann@example.com", "password": "wrong-pass-1"});
    let login = compare("v2 login", || app.post(path, &unknown, &[]), || app.post(path, &wrong, &[])).await;
    assert!(validate <= MAX_RATIO, "validate-password medians differ by a factor {validate:.3}");
    assert!(login <= MAX_RATIO, "v2 login medians differ by a factor {login:.3}");
}
