//! Account enumeration (issues 9 and 20): an unknown user and a known one must not be told
//! apart, neither by the body's shape nor by time: a wrong password against an unknown user
//! (validate-password, v2 login), a reset request for a customer's email against any other
//! (v2 forgot_password). Each route is measured on both stores over 200 pairs of adjacent
//! requests, one of each kind in random order, and compared as a ratio (the median of the
//! pairs' ratios; no absolute time limit). Its own test binary, so other tests do not add
//! noise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::app::{Backend, TestApp, TestResponse, spawn_app_publishing_with, spawn_app_with};
use integration_tests::moto::DeliveryRig;
use serde_json::{Value, json};
use shared::admin::CustomerInput;
use shared::delivery::sns::SnsPublisher;

const TRIES: usize = 200;
/// The two kinds may differ by at most 10% (the median of the pairs' ratios).
const MAX_RATIO: f64 = 1.10;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn keys(body: &Value) -> Vec<String> {
    body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// Times `unknown` and `wrong` (the known user) in adjacent pairs, checks their answers have
/// the same status and body keys, and returns the ratio between them (slower over faster): the
/// median over the pairs of each pair's ratio. Two requests a few milliseconds apart meet the
/// same load, so a burst of load on the machine (other builds, moto) slows both of a pair and
/// cancels out, where it would move one kind's overall median and not the other's. Half the
/// pairs start with each kind, in random order, so that neither kind always follows the other
/// (a request can leave work behind that slows the next one). Between two requests it also
/// waits for the deliveries the first one started (the local server dispatches in-process,
/// where AWS runs a function of its own): what is compared is the route's own work.
async fn compare<U, W, FU, FW>(app: &TestApp, route: &str, unknown: U, wrong: W) -> f64
where
    U: Fn() -> FU,
    W: Fn() -> FW,
    FU: std::future::Future<Output = TestResponse>,
    FW: std::future::Future<Output = TestResponse>,
{
    // Warm up both paths (the dummy hash is made on first use, connections open).
    let (first_unknown, first_wrong) = (unknown().await, wrong().await);
    app.publisher.settle().await;
    assert_eq!(first_unknown.status, first_wrong.status, "{} / {}", first_unknown.text, first_wrong.text);
    assert_eq!(keys(&first_unknown.body), keys(&first_wrong.body), "same body shape");
    let (mut unknown_times, mut wrong_times) = (Vec::with_capacity(TRIES), Vec::with_capacity(TRIES));
    let mut pair_ratios = Vec::with_capacity(TRIES);
    for unknown_first in balanced_order() {
        let mut pair = [Duration::ZERO; 2];
        for is_unknown in [unknown_first, !unknown_first] {
            let started = Instant::now();
            let response = if is_unknown { unknown().await } else { wrong().await };
            let elapsed = started.elapsed();
            app.publisher.settle().await;
            let expected = if is_unknown { first_unknown.status } else { first_wrong.status };
            assert_eq!(response.status, expected, "{}", response.text);
            pair[usize::from(!is_unknown)] = elapsed;
        }
        unknown_times.push(pair[0]);
        wrong_times.push(pair[1]);
        pair_ratios.push(pair[0].as_secs_f64() / pair[1].as_secs_f64());
    }
    pair_ratios.sort_by(f64::total_cmp);
    let paired = pair_ratios[pair_ratios.len() / 2];
    let ratio = paired.max(1.0 / paired);
    let (unknown_median, wrong_median) = (median(unknown_times), median(wrong_times));
    println!(
        "{route}: median unknown user {unknown_median:?}, known user {wrong_median:?}; \
         median ratio within pairs {paired:.3} over {TRIES} pairs"
    );
    ratio
}

/// `TRIES` pair orders, half of them starting with the unknown user, shuffled (a fixed seed, so
/// runs are comparable).
fn balanced_order() -> Vec<bool> {
    let mut order: Vec<bool> = (0..TRIES).map(|i| i % 2 == 0).collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..order.len()).rev() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from((seed >> 33) % (i as u64 + 1)).unwrap_or(0);
        order.swap(i, j);
    }
    order
}

/// Every route on both stores, one measurement after the other so that no two compete (the
/// stores' own speeds differ, which is why each pair is timed on one store). The server's
/// password throttle and per-IP windows are set out of reach: a quick 429 would spoil the
/// comparison.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_takes_as_long_as_a_known_one() {
    let mut failures = Vec::new();
    for backend in [Backend::Sqlite, Backend::DynamoDb] {
        for (route, ratio) in measure(backend).await {
            if ratio > MAX_RATIO {
                failures.push(format!("{backend:?} {route}: medians differ by a factor {ratio:.3}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// The ratios of one store: validate-password and v2 login (unknown user against a wrong
/// password), v2 forgot_password (unknown email against a customer's).
///
/// As deployed: on DynamoDB the events go to SNS (on moto; the dispatch function is not run,
/// as on AWS it runs apart from the route), locally into the in-process dispatcher.
async fn measure(backend: Backend) -> Vec<(&'static str, f64)> {
    let vars = [("STAMPS_PASSWORD_MAX_FAILURES", "100000"), ("STAMPS_V2_MERCHANT", "1")];
    let app = match backend {
        Backend::Sqlite => spawn_app_with(backend, &vars).await,
        Backend::DynamoDb => {
            let rig = DeliveryRig::new().await;
            let sns = SnsPublisher::new(rig.sns.clone(), rig.topic_arn.clone());
            spawn_app_publishing_with(backend, Arc::new(sns), &vars).await
        }
    };
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
        &app,
        "validate-password",
        || app.post_as(&merchant, path, &unknown),
        || app.post_as(&merchant, path, &wrong),
    )
    .await;
    let path = "/api/v2/auth/login";
    let unknown = json!({"email": "nobody@example.com", "password": "wrong-pass-1"});
    let wrong = json!({"email": "ann@example.com", "password": "wrong-pass-1"});
    let login = compare(&app, "v2 login", || app.post(path, &unknown, &[]), || app.post(path, &wrong, &[])).await;
    let path = "/api/v2/auth/forgot_password";
    let unknown = json!({"email": "nobody@example.com"});
    let known = json!({"email": "ann@example.com"});
    let forgot =
        compare(&app, "v2 forgot_password", || app.post(path, &unknown, &[]), || app.post(path, &known, &[])).await;
    vec![("validate-password", validate), ("v2 login", login), ("v2 forgot_password", forgot)]
}
