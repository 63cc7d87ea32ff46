//! The real function binaries, run as Lambda runs them: each process polls a Runtime API on
//! loopback (`integration_tests::runtime_api`), gets API Gateway HTTP API events shaped like
//! `events/`, and talks to DynamoDB, SNS and SES on moto. Drives the main flows: token, PIN
//! set/validate/lockout, OTP reset with delivery, password reset, v2 login and reset through
//! the emailed token, the dispatch of SQS batches, and the per-source-IP windows. The binaries are built by `scripts/test.sh` (`cargo build --bins`) before
//! the tests run; a missing one fails the test with the command to build it.

use std::path::PathBuf;
use std::sync::Arc;

use integration_tests::app::{HASH_KEY, JWT_KID, JWT_KID_OLD, JWT_SECRET, JWT_SECRET_OLD, test_config};
use integration_tests::graph;
use integration_tests::moto::{self, DeliveryRig};
use integration_tests::runtime_api::{InvokeError, Outcome, RuntimeApi, http_answer, http_event};
use integration_tests::tls_proxy::TlsProxy;
use serde_json::{Value, json};
use shared::App;
use shared::admin::{self, CustomerInput};

/// The folder of the binaries this test was built with (`target/debug`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` first", path.display());
    path
}

struct World {
    rig: DeliveryRig,
    env: Vec<(String, String)>,
    merchant_id: u64,
    api_key: String,
    app: Arc<App>,
}

async fn world() -> World {
    let rig = DeliveryRig::new().await;
    let (store, _) = moto::dynamo_store_counted().await;
    let table = store.table().to_string();
    let store_url = format!("dynamodb:{table}");
    let store: Arc<dyn shared::store::AdminStore> = store;
    let app = Arc::new(App::from_config(test_config(&[("STAMPS_STORE", &store_url)]), Some(store)).expect("app"));
    let (merchant, api_key) = admin::create_merchant(&app, "Kopi").await.expect("merchant");
    let env = [
        ("STAMPS_STORE", store_url),
        ("STAMPS_JWT_KEYS", format!("{JWT_KID}:{JWT_SECRET},{JWT_KID_OLD}:{JWT_SECRET_OLD}")),
        ("STAMPS_HASH_KEY", HASH_KEY.to_string()),
        ("STAMPS_OTP_TOPIC_ARN", rig.topic_arn.clone()),
        ("STAMPS_EMAIL_FROM", rig.sender.clone()),
        ("STAMPS_V2_MERCHANT", merchant.id.to_string()),
        ("STAMPS_SES_CONFIGURATION_SET", "stamps-test".to_string()),
        ("AWS_ENDPOINT_URL", moto::url()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("RUST_LOG", "info".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    World { rig, env, merchant_id: merchant.id, api_key, app }
}

/// One function process for the test's lifetime.
async fn function(world: &World, name: &str) -> RuntimeApi {
    let mut api = RuntimeApi::start().await.expect("runtime API");
    api.spawn(&binary(name), &world.env).expect("start the function");
    api
}

/// The function's answer to `event`; a missing answer fails the test with the function's
/// start-up error and last output.
async fn invoke(api: &mut RuntimeApi, event: Value) -> Value {
    match api.invoke(event).await.and_then(Outcome::into_response) {
        Ok(response) => response,
        Err(error) => panic!("{error}"),
    }
}

/// Invokes an HTTP function with a JSON body and the merchant's API key.
async fn call(api: &mut RuntimeApi, world: &World, path: &str, body: Value) -> (u16, Value) {
    let auth = format!("Token {}", world.api_key);
    let event = http_event(path, "application/json", &body.to_string(), &[("authorization", &auth)]);
    let response = invoke(api, event).await;
    http_answer(&response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_binaries_serve_the_main_flows_through_the_runtime_api() {
    let world = world().await;
    let customer = admin::create_customer(
        &world.app,
        CustomerInput {
            merchant: world.merchant_id,
            email: Some("ann@example.com".into()),
            mobile: Some("081234567890".into()),
            name: Some("Ann".into()),
            password: Some("secret-pass-1".into()),
            ..Default::default()
        },
    )
    .await
    .expect("customer");
    admin::put_template(
        &world.app,
        admin::TemplateInput {
            merchant: world.merchant_id,
            code: "reset".into(),
            subject: Some("Your code".into()),
            text: Some("Hi {{ name }}, your code is {{ otp }}".into()),
            sms: Some("{{ otp }} is your code".into()),
            ..Default::default()
        },
    )
    .await
    .expect("template");

    // Token: issued by one binary, accepted by another (no storage), and as a credential.
    let mut token = function(&world, "token").await;
    let (status, body) =
        call(&mut token, &world, "/api/token/", json!({"token": world.api_key, "merchant": world.merchant_id})).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().expect("access token").to_string();
    let mut verify = function(&world, "token-verify").await;
    assert_eq!(call(&mut verify, &world, "/api/token/verify/", json!({"access_token": access})).await.0, 200);
    assert_eq!(call(&mut verify, &world, "/api/token/verify/", json!({"access_token": "x.y.z"})).await.0, 401);
    // A method other than POST gets the 405 error body, from the function itself.
    let mut get = http_event("/api/token/verify/", "application/json", "", &[]);
    get["requestContext"]["http"]["method"] = json!("GET");
    let (status, body) = http_answer(&invoke(&mut verify, get).await);
    assert_eq!((status, body["error_code"].clone()), (405, json!("method_not_allowed")));

    // Mobile numbers, parsed by the binary as deployed, with the phone patterns on `regex-lite`
    // as `build.rs` translated them (vendor/phonenumber/PATCHED.md, change 7): punctuation, an
    // extension, another country.
    let mut mobile = function(&world, "validate-mobile-number").await;
    for (number, e164) in [
        ("081234567890", "+6281234567890"),
        ("(0812) 3456.7890 ext. 12", "+6281234567890"),
        ("+44 7911 123456", "+447911123456"),
    ] {
        let (status, body) =
            call(&mut mobile, &world, "/api/auth/validate-mobile-number", json!({"mobile_number": number})).await;
        assert_eq!((status, body), (200, json!({"status": "ok", "mobile_number": e164})), "{number}");
    }
    let landline = json!({"mobile_number": "0215551234"});
    assert_eq!(call(&mut mobile, &world, "/api/auth/validate-mobile-number", landline).await.0, 400);

    // PIN: set, validate, lockout after three wrong PINs, then the right PIN is refused.
    let user = json!(customer.id);
    let mut pin_set = function(&world, "pin-set").await;
    let (status, body) =
        call(&mut pin_set, &world, "/api/pin/set", json!({"user": user, "pin": "135790", "confirm_pin": "135790"}))
            .await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let mut pin_validate = function(&world, "pin-validate").await;
    let validate = json!({"user": user, "pin": "135790"});
    assert_eq!(call(&mut pin_validate, &world, "/api/pin/validate", validate.clone()).await.0, 200);
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (_, body) =
            call(&mut pin_validate, &world, "/api/pin/validate", json!({"user": user, "pin": "000000"})).await;
        codes.push(body["error_code"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(codes, ["invalid_pin", "invalid_pin", "pin_blocked"]);
    let (_, body) = call(&mut pin_validate, &world, "/api/pin/validate", validate.clone()).await;
    assert_eq!(body["error_code"], "pin_blocked", "while blocked the right PIN does not get through");

    // OTP reset with delivery: the request publishes to SNS, the queue feeds the dispatcher.
    let mut request = function(&world, "pin-request-otp-for-reset").await;
    let body = json!({"user": user, "type": "email", "template_code": "reset"});
    let (status, body) = call(&mut request, &world, "/api/pin/request-otp-for-reset", body).await;
    assert_eq!(status, 200, "{body}");
    let otp = body["otp"].as_str().expect("otp").to_string();
    let mut dispatch = function(&world, "otp-dispatch").await;
    let mut batch = world.rig.receive_batch().await;
    assert_eq!(batch["Records"].as_array().map(Vec::len), Some(1), "{batch}");
    // One poisoned message beside it: only that one is reported.
    let poisoned = json!({"messageId": "poisoned", "body": "{\"type\": \"otp.requested\", \"version\": 1}",
                          "eventSource": "aws:sqs", "attributes": {"ApproximateReceiveCount": "1"}});
    batch["Records"].as_array_mut().expect("records").push(poisoned);
    let answer = invoke(&mut dispatch, batch).await;
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "poisoned"}]}));
    // moto keeps every test's mail: only this rig's sender counts.
    let emails: Vec<Value> = moto::emails_to("ann@example.com")
        .await
        .into_iter()
        .filter(|email| email["source"] == world.rig.sender.as_str())
        .collect();
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(emails[0].to_string().contains(&format!("your code is {otp}")), "{}", emails[0]);
    let mut reset = function(&world, "pin-reset").await;
    let body = json!({"user": user, "otp": otp, "pin": "246801", "confirm_pin": "246801"});
    assert_eq!(call(&mut reset, &world, "/api/pin/reset", body).await.0, 200);
    let validate = json!({"user": user, "pin": "246801"});
    assert_eq!(call(&mut pin_validate, &world, "/api/pin/validate", validate).await.0, 200, "unblocked by the reset");

    // Password reset with a code.
    let mut request = function(&world, "request-otp-for-password-reset").await;
    let body = json!({"identifier": "ann@example.com", "type": "sms"});
    let (_, body) = call(&mut request, &world, "/api/auth/request-otp-for-password-reset", body).await;
    let otp = body["otp"].as_str().expect("otp").to_string();
    let mut reset = function(&world, "reset-password-with-otp").await;
    let body = json!({"identifier": "ann@example.com", "otp": otp, "new_password": "amber-heron-lantern",
                      "confirm_new_password": "amber-heron-lantern"});
    assert_eq!(call(&mut reset, &world, "/api/auth/reset-password-with-otp", body).await.0, 200);
    let mut validate = function(&world, "validate-password").await;
    let body = json!({"user": "ann@example.com", "password": "amber-heron-lantern"});
    assert_eq!(call(&mut validate, &world, "/api/auth/validate-password", body).await.0, 200);

    // v2: register and log in, form-encoded as the seed's curl examples.
    let mut register = function(&world, "v2-register").await;
    let form = "email=budi%40example.com&password=rahasia-sekali-9&name=Budi&id_location=7";
    let event = http_event("/api/v2/auth/register", "application/x-www-form-urlencoded", form, &[]);
    let (status, body) = http_answer(&invoke(&mut register, event).await);
    assert_eq!((status, body["status"].clone()), (200, json!(1)), "{body}");
    let mut login = function(&world, "v2-login").await;
    let form = "email=budi%40example.com&password=rahasia-sekali-9";
    let event = http_event("/api/v2/auth/login", "application/x-www-form-urlencoded", form, &[]);
    let (status, body) = http_answer(&invoke(&mut login, event).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"].as_str().map(str::len), Some(40));
    let form = "email=budi%40example.com&password=wrong";
    let event = http_event("/api/v2/auth/login", "application/x-www-form-urlencoded", form, &[]);
    let (status, body) = http_answer(&invoke(&mut login, event).await);
    assert_eq!((status, body), (401, json!({"status": 0, "error": "Your password is invalid."})));

    // v2 reset: the route publishes the request, the dispatch function looks the email up,
    // issues the token and emails it; the token resets the password and revokes the keys.
    let mut forgot = function(&world, "v2-forgot-password").await;
    let event = http_event("/api/v2/auth/forgot_password", "application/json", r#"{"email": "budi@example.com"}"#, &[]);
    assert_eq!(http_answer(&invoke(&mut forgot, event).await).0, 200);
    let answer = invoke(&mut dispatch, world.rig.receive_batch().await).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let emails: Vec<Value> = moto::emails_to("budi@example.com")
        .await
        .into_iter()
        .filter(|email| email["source"] == world.rig.sender.as_str())
        .collect();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let text = emails[0]["body"].as_str().expect("body");
    let token = text.split("reset your password: <b>").nth(1).and_then(|t| t.split('<').next()).expect("token");
    let mut reset = function(&world, "v2-reset-password").await;
    let body = json!({"token": token, "password": "brand-new-pass-7"}).to_string();
    let event = http_event("/api/v2/auth/reset_password", "application/json", &body, &[]);
    assert_eq!(http_answer(&invoke(&mut reset, event).await).0, 200);
    let form = "email=budi%40example.com&password=brand-new-pass-7";
    let event = http_event("/api/v2/auth/login", "application/x-www-form-urlencoded", form, &[]);
    assert_eq!(http_answer(&invoke(&mut login, event).await).0, 200);
}

/// The per-source-IP windows read the address API Gateway puts in the event
/// (`requestContext.http.sourceIp`): one address fills its window, another is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_source_ip_has_its_own_window() {
    let world = world().await;
    let mut env = world.env.clone();
    env.push(("STAMPS_V2_IP_RESET_REQUESTS_PER_WINDOW".into(), "2".into()));
    let mut forgot = RuntimeApi::start().await.expect("runtime API");
    forgot.spawn(&binary("v2-forgot-password"), &env).expect("start the function");
    let from = |ip: &str| {
        let mut event =
            http_event("/api/v2/auth/forgot_password", "application/json", r#"{"email": "ann@example.com"}"#, &[]);
        event["requestContext"]["http"]["sourceIp"] = json!(ip);
        event
    };
    let mut statuses = Vec::new();
    for ip in ["198.51.100.7", "198.51.100.7", "198.51.100.7", "2001:db8:1:2::1", "2001:db8:1:2::99", "2001:db8:1:2::5"]
    {
        statuses.push(http_answer(&invoke(&mut forgot, from(ip)).await).0);
    }
    // Two per window: three from one IPv4 address, three from one IPv6 /64.
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    let (status, body) = http_answer(&invoke(&mut forgot, from("198.51.100.8")).await);
    assert_eq!(
        (status, body),
        (200, json!({"status": 1, "message": "Profile detail and reset password has been sent to your email."}))
    );
    let (status, body) = http_answer(&invoke(&mut forgot, from("198.51.100.7")).await);
    assert_eq!(
        (status, body),
        (429, json!({"status": 0, "error": "Too many requests from your network. Try again later."}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_gets_an_answer_from_its_binary() {
    let world = world().await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for route in shared::http::ROUTES {
        let text = std::fs::read_to_string(root.join(format!("events/{}.json", route.function))).expect("event");
        let event: Value = serde_json::from_str(&text).expect("JSON");
        let mut api = function(&world, route.function).await;
        let outcome = api.invoke(event).await.and_then(Outcome::into_response);
        let (status, body) = http_answer(&outcome.unwrap_or_else(|e| panic!("{}: {e}", route.function)));
        // The samples name customers and keys this fresh table does not have: any documented answer
        // will do, but never a 5xx.
        assert!((200..500).contains(&status), "{}: {status} {body}", route.function);
        assert!(body.is_object(), "{}: {body}", route.function);
    }
}

/// Lambda reports a process that exits during init as `Runtime.ExitError`, with its log: the
/// function must exit (not serve with a half-built configuration) and say why. What it needs
/// is what its row of the route table declares, and nothing more.
#[tokio::test]
async fn a_function_without_its_keys_exits_at_start_up_saying_why() {
    let world = world().await;
    for (function, path, missing, says) in [
        ("token", "/api/token/", "STAMPS_JWT_KEYS", "STAMPS_JWT_KEYS is not set: token needs it"),
        ("v2-logout", "/api/v2/auth/logout", "STAMPS_HASH_KEY", "STAMPS_HASH_KEY is not set: v2-logout needs it"),
        (
            "pin-request-otp-for-reset",
            "/api/pin/request-otp-for-reset",
            "STAMPS_OTP_TOPIC_ARN",
            "STAMPS_OTP_TOPIC_ARN is not set: pin-request-otp-for-reset declares Publisher",
        ),
        // Functions take AWS credentials and region from the environment only.
        ("token", "/api/token/", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"),
        ("token", "/api/token/", "AWS_REGION", "AWS_REGION is not set"),
    ] {
        let env: Vec<(String, String)> = world.env.iter().filter(|(name, _)| name != missing).cloned().collect();
        let mut api = RuntimeApi::start().await.expect("runtime API");
        api.spawn(&binary(function), &env).expect("start the function");
        let event = http_event(path, "application/json", "{}", &[]);
        match api.invoke(event).await {
            Err(InvokeError::Exited { status, logs, .. }) => {
                assert!(status.is_some_and(|s| !s.success()), "{function} without {missing}: {status:?}");
                assert!(logs.iter().any(|line| line.contains(says)), "{function} without {missing}: {logs:?}");
            }
            other => panic!("without {missing}, expected {function} to exit, got {other:?}"),
        }
    }
    // A secret the route does not declare is not needed (nor read): v2-logout has no JWT keys.
    let env: Vec<(String, String)> = world.env.iter().filter(|(name, _)| name != "STAMPS_JWT_KEYS").cloned().collect();
    let mut logout = RuntimeApi::start().await.expect("runtime API");
    logout.spawn(&binary("v2-logout"), &env).expect("start the function");
    let form = format!("key={}", "0".repeat(40));
    let event = http_event("/api/v2/auth/logout", "application/x-www-form-urlencoded", &form, &[]);
    let (status, body) = http_answer(&invoke(&mut logout, event).await);
    assert_eq!((status, body), (401, json!({"status": 0, "error": "Your key is invalid."})));
}

/// The v2 functions check Facebook tokens with the app they are configured with: a token of
/// our app registers and signs in, another app's token of the same Facebook user does not.
/// A Graph URL that is not https, or half an app, stops them at start-up, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v2_functions_check_facebook_tokens_against_the_configured_app() {
    let world = world().await;
    let graph_url = graph::spawn_graph(std::time::Duration::ZERO).await;
    let mut env = world.env.clone();
    env.extend(graph::app_vars(&graph_url).into_iter().map(|(name, value)| (name.to_string(), value)));
    let form = |fields: &[(&str, &str)]| serde_urlencoded::to_string(fields).expect("form");
    let mut api = RuntimeApi::start().await.expect("runtime API");
    api.spawn(&binary("v2-register"), &env).expect("start v2-register");
    for (token, status) in [("other-app-token", 401), ("good-token", 200)] {
        let body = form(&[
            ("email", "fb@example.com"),
            ("password", "rahasia-sekali-9"),
            ("name", "fb"),
            ("id_location", "3"),
            ("fb_token", token),
        ]);
        let event = http_event("/api/v2/auth/register", "application/x-www-form-urlencoded", &body, &[]);
        let (answered, body) = http_answer(&invoke(&mut api, event).await);
        assert_eq!(answered, status, "register with {token}: {body}");
    }
    let mut api = RuntimeApi::start().await.expect("runtime API");
    api.spawn(&binary("v2-login"), &env).expect("start v2-login");
    for (token, status) in [("other-app-token", 401), ("good-token", 200)] {
        let body = form(&[("fb_token", token), ("fb_uid", "1001")]);
        let event = http_event("/api/v2/auth/login", "application/x-www-form-urlencoded", &body, &[]);
        let (answered, body) = http_answer(&invoke(&mut api, event).await);
        assert_eq!(answered, status, "login with {token}: {body}");
    }

    for (name, value, says) in [
        ("STAMPS_FACEBOOK_GRAPH_URL", "http://graph.facebook.com", "must be reached over https://"),
        ("STAMPS_FACEBOOK_APP_SECRET", "", "STAMPS_FACEBOOK_APP_ID is set but STAMPS_FACEBOOK_APP_SECRET is not"),
    ] {
        let mut bad = env.clone();
        bad.push((name.to_string(), value.to_string()));
        let mut api = RuntimeApi::start().await.expect("runtime API");
        api.spawn(&binary("v2-login"), &bad).expect("start v2-login");
        let event = http_event("/api/v2/auth/login", "application/x-www-form-urlencoded", "", &[]);
        match api.invoke(event).await {
            Err(InvokeError::Exited { status, logs, .. }) => {
                assert!(status.is_some_and(|s| !s.success()), "{name}: {status:?}");
                assert!(logs.iter().any(|line| line.contains(says)), "{name}: {logs:?}");
                assert!(!logs.iter().any(|line| line.contains(graph::APP_SECRET)), "{name}: the secret in {logs:?}");
            }
            other => panic!("with {name}={value:?}, expected v2-login to exit, got {other:?}"),
        }
    }
}

/// DynamoDB is reached over HTTPS in production. Here a TLS endpoint on loopback stands in
/// front of moto with a certificate from a CA of its own: a function told to trust that CA
/// (`SSL_CERT_FILE`, read where the SDK loads the system's roots) completes real handshakes
/// through its rustls-with-ring client and answers; the same function trusting only the
/// system's roots refuses the certificate and answers 503, having changed nothing.
#[tokio::test]
async fn functions_reach_dynamodb_over_verified_tls() {
    let world = world().await;
    let proxy = TlsProxy::start(&moto::url()).await;
    let over_tls = |trust: Option<&std::path::Path>| {
        let mut env: Vec<(String, String)> =
            world.env.iter().filter(|(name, _)| name != "AWS_ENDPOINT_URL").cloned().collect();
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), proxy.url().to_string()));
        if let Some(ca) = trust {
            env.push(("SSL_CERT_FILE".into(), ca.display().to_string()));
        }
        env
    };
    let body = json!({"token": world.api_key, "merchant": world.merchant_id});

    let mut trusting = RuntimeApi::start().await.expect("runtime API");
    trusting.spawn(&binary("token"), &over_tls(Some(proxy.ca_file()))).expect("start the function");
    for _ in 0..3 {
        let (status, answer) = call(&mut trusting, &world, "/api/token/", body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["access_token"].is_string(), "{answer}");
    }
    let (completed, refused) = proxy.handshakes();
    assert!(completed >= 1, "no TLS handshake completed");
    assert_eq!(refused, 0, "the trusting function refused the certificate");

    let mut strict = RuntimeApi::start().await.expect("runtime API");
    strict.spawn(&binary("token"), &over_tls(None)).expect("start the function");
    let (status, answer) = call(&mut strict, &world, "/api/token/", body).await;
    assert_eq!((status, answer["error_code"].clone()), (503, json!("service_unavailable")), "{answer}");
    let (after, refused) = proxy.handshakes();
    assert_eq!(after, completed, "a handshake completed with an untrusted certificate");
    assert!(refused >= 1, "the untrusting function never tried the proxy");
}

/// The deployed `validate-mobile-number` checks an API key as every other route does: a key
/// written with its merchant ID zero-padded is not the key that was issued; a rotated or
/// revoked key is refused (not accepted on its MAC tag alone); a key imported from the old
/// system (no tag) is accepted.
#[tokio::test]
async fn validate_mobile_number_refuses_padded_rotated_and_revoked_keys_and_takes_imported_ones() {
    let world = world().await;
    let mut mobile = function(&world, "validate-mobile-number").await;
    let path = "/api/auth/validate-mobile-number";
    let body = json!({"mobile_number": "081234567890"});
    let mut answer_to = async |key: &str| {
        let auth = format!("Token {key}");
        let event = http_event(path, "application/json", &body.to_string(), &[("authorization", &auth)]);
        let (status, answer) = http_answer(&invoke(&mut mobile, event).await);
        (status, answer["error_code"].as_str().unwrap_or_default().to_string())
    };
    let refused = (401, "authentication_failed".to_string());
    assert_eq!(answer_to(&world.api_key).await.0, 200);
    assert_eq!(answer_to(&format!("00{}", world.api_key)).await, refused, "zero-padded merchant ID");

    // A key of the old system, imported: no tag, known by its record.
    let legacy = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
    let line = json!({"merchant_id": 900, "name": "Old Shop", "api_key": legacy}).to_string();
    let mut rejected = Vec::new();
    let summary = admin::import_merchants_from(&world.app, Box::new(std::io::Cursor::new(line)), &mut rejected)
        .await
        .expect("import");
    assert_eq!((summary.imported, rejected.len()), (1, 0), "{rejected:?}");
    assert_eq!(answer_to(legacy).await.0, 200);
    assert_eq!(answer_to("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4c").await, refused);

    // Rotated at once: the old key is refused, the new one works.
    let rotated = admin::rotate_api_key(&world.app, world.merchant_id, 0).await.expect("rotate");
    assert_eq!(answer_to(&world.api_key).await, refused, "rotated key");
    assert_eq!(answer_to(&rotated.api_key).await.0, 200);

    // Revoked: the key's record deleted from the table.
    let hash = shared::domain::secrets::ApiKey::stored_hash(
        &shared::domain::secrets::HashKey::new(HASH_KEY.as_bytes().to_vec()),
        &rotated.api_key,
    );
    let table = world.env.iter().find(|(k, _)| k == "STAMPS_STORE").map(|(_, v)| v.trim_start_matches("dynamodb:"));
    let client = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    client
        .delete_item()
        .table_name(table.expect("table"))
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("APIKEY#{hash}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("APIKEY".into()))
        .send()
        .await
        .expect("delete the key record");
    assert_eq!(answer_to(&rotated.api_key).await, refused, "revoked key");
}

/// The EMF records (`_aws` JSON lines) a function has written so far, once `count` of them are
/// there: the output is read from the process's pipe as it comes.
async fn emf_records(api: &RuntimeApi, count: usize) -> Vec<Value> {
    let mut records = Vec::new();
    for _ in 0..100 {
        records = api
            .logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|value| value.get("_aws").is_some())
            .collect();
        if records.len() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    records
}

/// Checks one record as CloudWatch reads it (the EMF specification): a namespace and metric
/// definitions under `_aws`, each metric a number at the top level, each dimension a string.
fn check_emf(record: &Value, function: &str) {
    assert!(record["_aws"]["Timestamp"].as_u64().is_some(), "{record}");
    assert_eq!(record["Service"], "stamps-auth", "{record}");
    assert_eq!(record["Function"], function, "{record}");
    let directives = record["_aws"]["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert!(!directives.is_empty(), "{record}");
    for directive in directives {
        assert_eq!(directive["Namespace"], "StampsAuth", "{record}");
        for set in directive["Dimensions"].as_array().expect("Dimensions") {
            for dimension in set.as_array().expect("a dimension set") {
                let name = dimension.as_str().expect("dimension name");
                assert!(record[name].is_string(), "dimension {name} has no value: {record}");
            }
        }
        for metric in directive["Metrics"].as_array().expect("Metrics") {
            let name = metric["Name"].as_str().expect("metric name");
            assert!(record[name].is_number(), "metric {name} has no value: {record}");
            assert!(matches!(metric["Unit"].as_str(), Some("Count" | "Milliseconds")), "{record}");
        }
    }
}

/// The dimension sets of `metric` in `record`.
fn dimensions(record: &Value, metric: &str) -> Value {
    record["_aws"]["CloudWatchMetrics"]
        .as_array()
        .and_then(|directives| {
            directives.iter().find(|d| d["Metrics"].as_array().is_some_and(|m| m.iter().any(|m| m["Name"] == metric)))
        })
        .map(|directive| directive["Dimensions"].clone())
        .unwrap_or(Value::Null)
}

fn sum(records: &[Value], metric: &str) -> f64 {
    records.iter().filter_map(|record| record[metric].as_f64()).sum()
}

/// issue 22 item 1: the real pin-validate binary writes one EMF record per answer, on its
/// standard output as Lambda captures it, with the names, dimensions and values of what it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_writes_emf_records_of_what_it_did() {
    let world = world().await;
    let customer = admin::create_customer(
        &world.app,
        CustomerInput { merchant: world.merchant_id, email: Some("emf@example.com".into()), ..Default::default() },
    )
    .await
    .expect("customer");
    let user = json!(customer.id);
    let mut pin_set = function(&world, "pin-set").await;
    let body = json!({"user": user, "pin": "135790", "confirm_pin": "135790"});
    assert_eq!(call(&mut pin_set, &world, "/api/pin/set", body).await.0, 200);
    let mut validate = function(&world, "pin-validate").await;
    let mut statuses = Vec::new();
    for pin in ["135790", "000000", "000000", "000000", "135790"] {
        statuses.push(call(&mut validate, &world, "/api/pin/validate", json!({"user": user, "pin": pin})).await.0);
    }
    assert_eq!(statuses, [200, 400, 400, 400, 400]);

    let records = emf_records(&validate, 5).await;
    assert_eq!(records.len(), 5, "one record per answer: {records:#?}");
    for record in &records {
        check_emf(record, "pin-validate");
        assert_eq!(record["Requests"], 1.0);
        assert!(record["Latency"].as_f64().is_some_and(|ms| ms > 0.0), "{record}");
        assert_eq!(dimensions(record, "Requests"), json!([["Service", "Function", "StatusClass"]]));
        assert_eq!(dimensions(record, "Latency"), json!([["Service", "Function"]]));
    }
    let classes: Vec<&str> = records.iter().map(|r| r["StatusClass"].as_str().unwrap_or_default()).collect();
    assert_eq!(classes, ["2xx", "4xx", "4xx", "4xx", "4xx"]);
    // Once per process: the first answer.
    assert_eq!(records[0]["ColdStart"], 1.0);
    assert_eq!(sum(&records, "ColdStart"), 1.0);
    // Three wrong PINs evaluated, the third blocking; the fifth refused without evaluation.
    let failures: Vec<f64> = records.iter().map(|r| r["PinFailures"].as_f64().unwrap_or(0.0)).collect();
    assert_eq!(failures, [0.0, 1.0, 1.0, 1.0, 0.0]);
    let blocks: Vec<f64> = records.iter().map(|r| r["PinBlocks"].as_f64().unwrap_or(0.0)).collect();
    assert_eq!(blocks, [0.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(dimensions(&records[1], "PinFailures"), json!([["Service"], ["Service", "Function"]]));
    // A record is one line that Lambda's JSON log format keeps as it is.
    let lines: Vec<String> = validate.logs().into_iter().filter(|line| line.contains("\"_aws\"")).collect();
    assert!(lines.iter().all(|line| line.starts_with('{') && line.ends_with('}')), "{lines:?}");

    // pin-set's one record: a 2xx and its cold start, no domain counter.
    let set = emf_records(&pin_set, 1).await;
    assert_eq!(set.len(), 1);
    check_emf(&set[0], "pin-set");
    assert_eq!((set[0]["StatusClass"].clone(), set[0]["ColdStart"].clone()), (json!("2xx"), json!(1.0)));
    assert!(set[0].get("PinFailures").is_none());
}

/// issue 22 item 3, end to end on moto: a code emailed by the real dispatch binary is recorded
/// as sent; SES's delivery and bounce events for it (in the format SES publishes for a
/// configuration set, with the message tags the dispatcher sent) go through an SNS topic and an
/// SQS queue to the real delivery-events binary, which records them once however often the
/// queue hands them over, and suppresses the bounced address: the next request to deliver to it
/// is `no_destination`. (moto 5.2.1's SES v2 accepts the configuration set and the tags but
/// publishes no event for them; its SES v1 simulator only publishes canned notifications,
/// without tags, to identity notification topics. So the test publishes the events itself.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ses_events_reach_the_recorder_and_suppress_a_bounced_address() {
    let world = world().await;
    let customer = admin::create_customer(
        &world.app,
        CustomerInput {
            merchant: world.merchant_id,
            email: Some("cici@example.com".into()),
            name: Some("Cici".into()),
            ..Default::default()
        },
    )
    .await
    .expect("customer");
    admin::put_template(
        &world.app,
        admin::TemplateInput {
            merchant: world.merchant_id,
            code: "reset".into(),
            subject: Some("Your code".into()),
            text: Some("Your code is {{ otp }}".into()),
            ..Default::default()
        },
    )
    .await
    .expect("template");
    let request_body = json!({"user": customer.id, "type": "email", "template_code": "reset"});
    let mut request = function(&world, "pin-request-otp-for-reset").await;
    let (status, body) = call(&mut request, &world, "/api/pin/request-otp-for-reset", request_body.clone()).await;
    assert_eq!(status, 200, "{body}");

    // The dispatcher sends it and records the outcome.
    let batch = world.rig.receive_batch().await;
    let event_id = {
        let body: Value = serde_json::from_str(batch["Records"][0]["body"].as_str().expect("body")).expect("event");
        body["event_id"].as_str().expect("event_id").to_string()
    };
    let mut dispatch = function(&world, "otp-dispatch").await;
    assert_eq!(invoke(&mut dispatch, batch).await, json!({"batchItemFailures": []}));
    let sent = emf_records(&dispatch, 1).await;
    let email = sent.iter().find(|r| r["Channel"] == "email").expect("an email record");
    check_emf(email, "otp-dispatch");
    assert_eq!(email["DeliveriesSent"], 1.0);
    assert_eq!(dimensions(email, "DeliveriesSent"), json!([["Service", "Function"], ["Service", "Channel"]]));
    let state = shared::status::customer_status(&world.app, &customer).await.expect("status");
    assert_eq!(state.delivery.last.as_ref().map(|last| last.outcome.as_str()), Some("sent"));

    // SES reports delivery, then a hard bounce, through the configuration set's topic.
    let (topic, queue) = world.rig.topic_to_queue("ses-events").await;
    let mail = json!({
        "timestamp": "2027-01-15T08:00:00.000Z", "source": world.rig.sender, "messageId": "ses-message-1",
        "destination": ["cici@example.com"],
        "tags": {"ses:configuration-set": ["stamps"], "stamps_merchant": [world.merchant_id.to_string()],
                 "stamps_customer": [customer.id.to_string()], "stamps_event": [event_id]}
    });
    let delivered = json!({"eventType": "Delivery", "mail": mail,
        "delivery": {"timestamp": "2027-01-15T08:00:01.000Z", "recipients": ["cici@example.com"], "smtpResponse": "250 ok"}});
    let bounced = json!({"eventType": "Bounce", "mail": mail,
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "timestamp": "2027-01-15T08:00:02.500Z",
                   "bouncedRecipients": [{"emailAddress": "cici@example.com"}], "feedbackId": "f-1"}});
    for event in [&delivered, &bounced] {
        world.rig.sns.publish().topic_arn(&topic).message(event.to_string()).send().await.expect("published");
    }
    let batch = world.rig.receive_batch_from(&queue).await;
    assert_eq!(batch["Records"].as_array().map(Vec::len), Some(2), "{batch}");
    let mut recorder = function(&world, "delivery-events").await;
    assert_eq!(invoke(&mut recorder, batch.clone()).await, json!({"batchItemFailures": []}));
    // The queue hands the same messages over again: nothing is recorded twice.
    assert_eq!(invoke(&mut recorder, batch).await, json!({"batchItemFailures": []}));
    let records = emf_records(&recorder, 2).await;
    for record in &records {
        check_emf(record, "delivery-events");
    }
    assert_eq!(sum(&records, "DeliveryBounces"), 2.0, "counted per message handed over");
    assert_eq!(
        dimensions(records.iter().find(|r| r.get("DeliveryBounces").is_some()).expect("bounces"), "DeliveryBounces"),
        json!([["Service"]])
    );

    let page = shared::history::page(&world.app, world.merchant_id, customer.id, 100, None).await.expect("history");
    let kinds: Vec<&str> = page.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["otp_bounced", "otp_delivered", "otp_sent", "otp_requested"], "{:#?}", page.events);
    assert!(page.events[..3].iter().all(|e| e.message_id.as_deref() == Some(event_id.as_str())));
    assert_eq!((page.events[0].route.as_str(), page.events[0].outcome.as_str()), ("delivery-events", "bounced"));
    assert_eq!(page.events[2].route, "otp-dispatch");
    let state = shared::status::customer_status(&world.app, &customer).await.expect("status");
    assert_eq!(state.delivery.last.as_ref().map(|last| last.outcome.as_str()), Some("bounced"));
    assert_eq!(state.delivery.suppressed.iter().map(|s| s.address.as_str()).collect::<Vec<_>>(), ["cici@example.com"]);

    // The merchant asks to email the bounced address again: refused, saying why.
    let (status, body) = call(&mut request, &world, "/api/pin/request-otp-for-reset", request_body).await;
    assert_eq!((status, body["error_code"].clone()), (400, json!("no_destination")), "{body}");
    assert!(body.to_string().contains("bounced"), "{body}");
}

/// A console request as API Gateway sends it: `method`, `path?query`, the cookie header.
fn console_event(method: &str, path: &str, query: &str, cookie: Option<&str>, form: &str) -> Value {
    let headers: Vec<(&str, &str)> = cookie.map(|cookie| ("cookie", cookie)).into_iter().collect();
    let mut event = http_event(path, "application/x-www-form-urlencoded", form, &headers);
    event["rawQueryString"] = json!(query);
    event["requestContext"]["http"]["method"] = json!(method);
    event["routeKey"] = json!("ANY /console/{proxy+}");
    event
}

/// The `name=value` of each cookie the answer sets (payload 2.0 puts them in `cookies`).
fn set_cookies(response: &Value) -> Vec<String> {
    let listed = response["cookies"].as_array().into_iter().flatten().filter_map(Value::as_str);
    let header = response["headers"]["set-cookie"].as_str().into_iter();
    listed.chain(header).filter_map(|cookie| cookie.split(';').next()).map(str::to_string).collect()
}

/// The support console's binary: signs in with the API key (a session item on DynamoDB), shows
/// a customer, and its cookies are `Secure` off loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_binary_signs_in_and_shows_a_customer() {
    let world = world().await;
    let ann = admin::create_customer(
        &world.app,
        CustomerInput {
            merchant: world.merchant_id,
            email: Some("ann@example.com".into()),
            name: Some("Ann Console".into()),
            ..CustomerInput::default()
        },
    )
    .await
    .expect("customer");
    let mut api = function(&world, shared::http::routes::SUPPORT_CONSOLE.function).await;

    let start = invoke(&mut api, console_event("GET", "/console", "", None, "")).await;
    assert_eq!(start["statusCode"], 200, "{start}");
    let page = start["body"].as_str().unwrap_or_default().to_string();
    let marker = "name=\"csrf\" value=\"";
    let token = page.split(marker).nth(1).and_then(|rest| rest.split('"').next()).expect("the form's token");
    let sign_in_cookie = set_cookies(&start).into_iter().next().expect("the sign-in cookie");
    let raw = start.to_string();
    assert!(raw.contains("Secure"), "not on loopback: Secure cookies: {raw}");

    let form = format!("csrf={token}&api_key={}", world.api_key);
    let signed = invoke(&mut api, console_event("POST", "/console/sign-in", "", Some(&sign_in_cookie), &form)).await;
    assert_eq!(signed["statusCode"], 303, "{signed}");
    let session = set_cookies(&signed)
        .into_iter()
        .find(|cookie| cookie.starts_with("stamps_console="))
        .expect("the session cookie");

    let query = format!("id={}", ann.id);
    let customer = invoke(&mut api, console_event("GET", "/console/customer", &query, Some(&session), "")).await;
    assert_eq!(customer["statusCode"], 200, "{customer}");
    assert!(customer["body"].as_str().unwrap_or_default().contains("Ann Console"));
}
