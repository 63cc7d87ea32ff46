//! What each function is asked in the benchmark: its sample event from `events/` with the body
//! rewritten so that every invocation, cold or warm, takes the route's successful path (a
//! fresh OTP for each reset, a fresh email for each registration, PINs and passwords changed
//! back and forth), against a table prepared here. Whatever an event needs beforehand (an OTP,
//! a v2 key, a reset token) is made in-process before the invocation, outside its timing.

use std::path::Path;
use std::sync::{Arc, Mutex};

use integration_tests::app::{HASH_KEY, JWT_KID, JWT_SECRET};
use integration_tests::moto::{self, DeliveryRig};
use serde_json::{Map, Value, json};
use shared::App;
use shared::admin::{self, CustomerInput, TemplateInput};
use shared::config::Config;
use shared::delivery::reset_link::{RESET_TOKEN_TTL_SECS, ResetLinks};
use shared::http::{ApiRequest, Route, routes};

pub const PASSWORD: &str = "violet-otter-kettle";
pub const OTHER_PASSWORD: &str = "amber-heron-lantern";
pub const PIN: &str = "135790";
pub const OTHER_PIN: &str = "246801";
/// The events of a function's second binary (a `--compare` one, another memory size's) are
/// numbered from here, its third's from twice this..., so that their new customers, emails and
/// phone numbers differ from the first binary's (the harness makes fewer per binary).
pub const COPY_NUMBERS: usize = 5_000;
/// The binaries of one function a run may have: registration phone numbers end with the event's
/// number, in 5 digits.
pub const MAX_COPIES: usize = 100_000 / COPY_NUMBERS;

/// The argon2id hashes (hashes or verifications, at the configured parameters) one invocation
/// of `function` runs on its path here: a PIN or password checked, a new one stored, or both
/// (`baseline-dynamo-hash`: its one hash before its GetItem). OTPs, reset tokens and keys are
/// keyed hashes (HMAC), not argon2.
pub fn argon2_hashes(function: &str) -> u32 {
    match function {
        "change-password" | "pin-change" | "pin-reset-with-password" => 2,
        "baseline-dynamo-hash"
        | "pin-reset"
        | "pin-set"
        | "pin-validate"
        | "reset-password-with-otp"
        | "set-password"
        | "v2-login"
        | "v2-register"
        | "v2-reset-password"
        | "validate-password" => 1,
        _ => 0,
    }
}

/// Whether the events of `function` must be made round by round: an OTP or reset token is good
/// only until the next one is requested for its customer, and for 10 minutes. So these events
/// rotate over `FRESH_CUSTOMERS` customers, and each round's are made just before the round
/// (`main::warm_round`). Other events are all made before the timed invocations. Either way,
/// making one (a key put in the store, a customer created, an OTP requested) does not run the
/// harness's own code on the two cores just before the invocation it is for.
pub fn made_per_round(function: &str) -> bool {
    matches!(function, "pin-reset" | "reset-password-with-otp" | "v2-reset-password")
}

/// The customers the events of a `made_per_round` function rotate over: at least a round's
/// invocations, so that no OTP of a round is replaced before it is used.
pub const FRESH_CUSTOMERS: usize = 50;

/// One customer per function, so no function's runs change what another one finds.
#[derive(Clone)]
struct Customer {
    id: u64,
    email: String,
    mobile: String,
}

pub struct Workload {
    /// The environment of every function process.
    pub env: Vec<(String, String)>,
    app: App,
    api_key: String,
    merchant: u64,
    access_token: String,
    customers: Mutex<Vec<(String, Customer)>>,
    next_customer: Mutex<u64>,
    run: String,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The form or JSON encoding of `fields`, as `content_type` says.
fn encode(content_type: &str, fields: &Map<String, Value>) -> String {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> =
            fields.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    } else {
        Value::Object(fields.clone()).to_string()
    }
}

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl Workload {
    /// A fresh table on moto with merchant 1 (also the v2 merchant) and its `reset` template,
    /// the SNS topic and SES sender of the delivering functions, and the functions' env.
    pub async fn prepare() -> Workload {
        let rig = DeliveryRig::new().await;
        let (store, _) = moto::dynamo_store_counted().await;
        let table = store.table().to_string();
        put_shape_fixtures(&table).await;
        let store: Arc<dyn shared::store::AdminStore> = store;
        let mut env: Vec<(String, String)> = [
            ("STAMPS_STORE", format!("dynamodb:{table}")),
            ("STAMPS_JWT_KEYS", format!("{JWT_KID}:{JWT_SECRET}")),
            ("STAMPS_HASH_KEY", HASH_KEY.to_string()),
            ("STAMPS_OTP_TOPIC_ARN", rig.topic_arn.clone()),
            ("STAMPS_EMAIL_FROM", rig.sender.clone()),
            ("STAMPS_V2_MERCHANT", "1".to_string()),
            // Thousands of OTP requests for one customer: the daily limit would answer 429.
            ("STAMPS_OTP_REQUESTS_PER_WINDOW", "1000000".to_string()),
            // Likewise reset emails, and every invocation comes from the sample event's address.
            ("STAMPS_V2_RESET_EMAILS_PER_WINDOW", "1000000".to_string()),
            ("STAMPS_V2_IP_LOGIN_FAILURES_PER_WINDOW", "1000000".to_string()),
            ("STAMPS_V2_IP_REGISTRATIONS_PER_WINDOW", "1000000".to_string()),
            ("STAMPS_V2_IP_RESET_REQUESTS_PER_WINDOW", "1000000".to_string()),
            // And each hash timed by the function itself, which the harness subtracts, and each
            // request's handler time (`shared::http::respond`).
            ("RUST_LOG", format!("warn,{}=debug,shared::http=info", shared::hashing::TIMING_TARGET)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let lookup = env.clone();
        let config = Config::from_lookup(|name| lookup.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("benchmark configuration");
        let app = App::from_config(config, Some(store)).expect("app");
        let (merchant, api_key) = admin::create_merchant(&app, "Bench").await.expect("merchant");
        assert_eq!(merchant.id, 1, "a fresh table's first merchant");
        let template = TemplateInput {
            merchant: merchant.id,
            code: "reset".into(),
            subject: Some("Your code".into()),
            text: Some("Hi {{ name }}, your code is {{ otp }}".into()),
            sms: Some("{{ otp }} is your code".into()),
            ..Default::default()
        };
        admin::put_template(&app, template).await.expect("template");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or_default())
            .unwrap_or_default();
        let access_token = app.jwt.issue(merchant.id, now, 86_400, &shared::random::OsRandom).expect("access token");

        env.extend(
            [
                ("BENCH_TABLE", table),
                ("BENCH_TOPIC_ARN", rig.topic_arn.clone()),
                ("AWS_ENDPOINT_URL", moto::url()),
                ("AWS_REGION", "us-east-1".to_string()),
                ("AWS_ACCESS_KEY_ID", "testing".to_string()),
                ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
        );
        let run = shared::random::random_hex::<4>().expect("random");
        Workload {
            env,
            app,
            api_key,
            merchant: merchant.id,
            access_token,
            customers: Mutex::default(),
            next_customer: Mutex::new(0),
            run,
        }
    }

    /// The customer of `function`, made (with a password and a PIN) on first use.
    async fn customer(&self, function: &str) -> Customer {
        if let Some((_, customer)) = lock(&self.customers).iter().find(|(f, _)| f == function) {
            return customer.clone();
        }
        let customer = self.new_customer(function, true).await;
        lock(&self.customers).push((function.to_string(), customer.clone()));
        customer
    }

    /// A new customer named `name`, with a mobile number, and a password and a PIN if `secrets`.
    async fn new_customer(&self, name: &str, secrets: bool) -> Customer {
        let n = {
            let mut next = lock(&self.next_customer);
            *next += 1;
            *next
        };
        let input = CustomerInput {
            merchant: self.merchant,
            email: Some(format!("{name}@example.com")),
            mobile: Some(format!("0812{n:08}")),
            name: Some("Ann".into()),
            password: secrets.then(|| PASSWORD.into()),
            ..Default::default()
        };
        let made =
            admin::create_customer(&self.app, input).await.unwrap_or_else(|e| panic!("customer {name} n={n}: {e:?}"));
        let customer = Customer {
            id: made.id,
            email: format!("{name}@example.com"),
            mobile: made.mobile.clone().unwrap_or_default(),
        };
        if secrets {
            let body = json!({"user": customer.email, "pin": PIN, "confirm_pin": PIN});
            let (status, answer) = self.call(&routes::PIN_SET, body).await;
            assert_eq!(status, 200, "PIN of {name}: {answer}");
        }
        customer
    }

    /// `route` run in-process, with the merchant's API key.
    async fn call(&self, route: &Route, body: Value) -> (u16, Value) {
        let mut headers = http::HeaderMap::new();
        let auth = format!("Token {}", self.api_key);
        headers.insert("authorization", auth.parse().expect("header"));
        headers.insert("content-type", "application/json".parse().expect("header"));
        let body = bytes::Bytes::from(body.to_string());
        let request = ApiRequest { method: http::Method::POST, headers, body, source_ip: None };
        let answer = shared::http::respond(&self.app, route, request).await;
        (answer.status().as_u16(), serde_json::from_str(answer.body()).unwrap_or(Value::Null))
    }

    /// A fresh v2 app key of `customer`, made and stored as a login makes and stores it.
    async fn app_key(&self, customer: u64) -> String {
        let (key, record) =
            shared::handlers::v2::new_key(&self.app, self.merchant, customer, None, 0).expect("app key");
        assert!(self.app.store().expect("store").put_app_key(&record).await.expect("app key"), "generation 0");
        key
    }

    /// A live v2 reset token of `customer`, stored as the dispatcher stores the one it emails.
    async fn reset_token(&self, customer: u64) -> String {
        let store = self.app.store().expect("store");
        let customer = store.customer(self.merchant, customer).await.expect("read").expect("customer");
        let links = ResetLinks::from_config(&self.app.config).expect("hash key");
        let token = ResetLinks::new_token(customer.id).expect("random");
        let now = self.app.clock.now();
        let stored = links.store(store, &customer, &token, now + RESET_TOKEN_TTL_SECS, now).await.expect("token");
        assert!(stored, "the reset email limit is out of reach");
        token
    }

    async fn otp(&self, route: &Route, body: Value) -> String {
        let (status, answer) = self.call(route, body).await;
        assert_eq!(status, 200, "{}: {answer}", route.path);
        answer["otp"].as_str().expect("otp").to_string()
    }

    /// The sample event of `function` (its file in `events/`), as it is.
    pub fn sample(function: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../events/{function}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The `i`-th event for `function` (for a baseline: `token-verify`'s, whose answer the
    /// baselines ignore), for its `copy`-th binary (0, or 1 for a `--compare` binary).
    pub async fn event(&self, function: &str, copy: usize, i: usize) -> Value {
        if function.starts_with("baseline-") {
            return Workload::sample("token-verify");
        }
        // A second binary of the same function (`--compare`) gets customers and numbers of its
        // own: two processes changing one customer's password in turn would fail each other.
        let key = if copy == 0 { function.to_string() } else { format!("{function}-{copy}") };
        let i = i + copy * COPY_NUMBERS;
        let mut event = Workload::sample(function);
        if function == "otp-dispatch" {
            return self.dispatch_event(event, &key, i).await;
        }
        if function == "delivery-events" {
            // SES's delivery and bounce events as they arrive (the sample batch): each records an
            // outcome for the customer its tags name.
            return event;
        }
        if function == "support-console" {
            // The sign-in page: the console's start-up and one rendered page, no store call.
            event["rawPath"] = json!("/console");
            event["requestContext"]["http"]["path"] = json!("/console");
            event["rawQueryString"] = json!("");
            if let Some(fields) = event.as_object_mut() {
                for field in ["cookies", "queryStringParameters", "pathParameters"] {
                    fields.remove(field);
                }
            }
            return event;
        }
        if event["headers"].get("authorization").is_some() {
            event["headers"]["authorization"] = json!(format!("Token {}", self.api_key));
        }
        let content_type = event["headers"]["content-type"].as_str().unwrap_or("application/json").to_string();
        let flip = i % 2 == 1;
        let (password, new_password) = if flip { (OTHER_PASSWORD, PASSWORD) } else { (PASSWORD, OTHER_PASSWORD) };
        let (pin, new_pin) = if flip { (OTHER_PIN, PIN) } else { (PIN, OTHER_PIN) };
        let body = match function {
            "token" => json!({"token": self.api_key, "merchant": self.merchant}),
            "token-verify" => json!({"access_token": self.access_token}),
            "validate-mobile-number" => json!({"mobile_number": "081234567890"}),
            "v2-register" => json!({
                "email": format!("reg-{}-{i}@example.com", self.run), "password": PASSWORD, "name": "Budi",
                "id_location": "7", "phone": format!("0822{:03}{:05}", u16::from_str_radix(&self.run[..4], 16).unwrap_or_default() % 1_000,
                    i % 100_000),
            }),
            // A PIN is set once: each invocation gets a new customer without one.
            "pin-set" => {
                let customer = self.new_customer(&format!("{key}-{}-{i}", self.run), false).await;
                json!({"user": customer.email, "pin": PIN, "confirm_pin": PIN})
            }
            _ => {
                let owner = if made_per_round(function) { format!("{key}-{}", i % FRESH_CUSTOMERS) } else { key };
                let customer = self.customer(&owner).await;
                let user = customer.email.clone();
                match function {
                    "reset-otp-limit" => json!({"user": customer.mobile}),
                    "validate-password" => json!({"user": user, "password": PASSWORD}),
                    "change-password" => json!({"user": user, "old_password": password, "new_password": new_password}),
                    "set-password" => json!({"email": user, "new_password": PASSWORD}),
                    "request-otp-for-password-reset" => {
                        json!({"identifier": user, "type": "email", "template_code": "reset"})
                    }
                    "reset-password-with-otp" => {
                        let request = json!({"identifier": user, "type": "email"});
                        let otp = self.otp(&routes::REQUEST_OTP_FOR_PASSWORD_RESET, request).await;
                        json!({"identifier": user, "otp": otp, "new_password": PASSWORD,
                               "confirm_new_password": PASSWORD})
                    }
                    "pin-change" => {
                        json!({"user": user, "current_pin": pin, "new_pin": new_pin, "confirm_new_pin": new_pin})
                    }
                    "pin-validate" => json!({"user": user, "pin": PIN}),
                    "pin-unblock" => json!({"user": user}),
                    "customer-status" => json!({"user": user}),
                    "customer-events" => json!({"user": user, "limit": 20}),
                    "pin-request-otp-for-reset" => json!({"user": user, "type": "sms", "template_code": "reset"}),
                    "pin-reset" => {
                        let otp =
                            self.otp(&routes::PIN_REQUEST_OTP_FOR_RESET, json!({"user": user, "type": "sms"})).await;
                        json!({"user": user, "otp": otp, "pin": PIN, "confirm_pin": PIN})
                    }
                    "pin-reset-with-password" => {
                        json!({"user": user, "password": PASSWORD, "pin": PIN, "confirm_pin": PIN})
                    }
                    "v2-login" => json!({"email": user, "password": PASSWORD, "gcm_id": "APA91bEx4mpl3"}),
                    // A key put in the store as a login would: a login here would run an argon2
                    // hash in this process just before each timed logout, and its 19 MiB sweep
                    // slowed the timed logout (bench/results/2026-12-01-full-cpu-plain-http.md).
                    "v2-logout" => json!({"key": self.app_key(customer.id).await}),
                    "v2-forgot-password" => json!({"email": user}),
                    "v2-reset-password" => {
                        json!({"token": self.reset_token(customer.id).await, "password": PASSWORD})
                    }
                    other => panic!("no workload for {other}: add one to bench/coldstart/src/workload.rs"),
                }
            }
        };
        event["body"] = json!(encode(&content_type, &fields(body)));
        event
    }

    /// The sample SQS batch with one fresh `otp.requested` event for the function's customer.
    async fn dispatch_event(&self, mut event: Value, key: &str, i: usize) -> Value {
        let customer = self.customer(key).await;
        let mut body: Value =
            serde_json::from_str(event["Records"][0]["body"].as_str().unwrap_or("{}")).expect("sample message body");
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        body["event_id"] = json!(format!("{}{:024x}", self.run, i));
        body["merchant_id"] = json!(self.merchant);
        body["customer_id"] = json!(customer.id);
        body["destination"] = json!(customer.email);
        body["requested_at"] = json!(now);
        body["expires_at"] = json!(now + 600);
        event["Records"][0]["body"] = json!(body.to_string());
        event["Records"][0]["messageId"] = json!(format!("bench-{i}"));
        event
    }
}

/// The items `baseline-dynamo-hash` and `baseline-dynamo-sns` read in the routes' shapes
/// (`BENCH`/`*-SHAPE`), with the attributes the store writes for each: an API key's, an
/// identifier's claim, a customer, its PIN, a template and a merchant.
async fn put_shape_fixtures(table: &str) {
    use aws_sdk_dynamodb::types::AttributeValue::{M, N, S};
    let client = aws_sdk_dynamodb::Client::new(&moto::sdk_config().await);
    let hasher = shared::hashing::SecretHasher::new(None).expect("hasher");
    let number = |n: &str| N(n.to_string());
    let fixtures = [
        ("APIKEY-SHAPE", vec![("merchant_id", number("1"))]),
        ("UNIQUE-SHAPE", vec![("customer_id", number("1"))]),
        (
            "CUSTOMER-SHAPE",
            vec![
                ("id", number("1")),
                ("merchant_id", number("1")),
                ("name", S("Budi".into())),
                ("email", S("shape@example.com".into())),
                ("mobile", S("+6282200000001".into())),
                ("password_hash", S(hasher.hash(PASSWORD).expect("hash"))),
                ("profile", M([("location_id".to_string(), number("7"))].into())),
                ("created_at", number("1767225600")),
            ],
        ),
        (
            "PIN-SHAPE",
            vec![
                ("pin_hash", S(hasher.hash(PIN).expect("hash"))),
                ("failures", number("0")),
                ("failures_expire_at", number("0")),
            ],
        ),
        (
            "TEMPLATE-SHAPE",
            vec![
                ("merchant_id", number("1")),
                ("code", S("reset".into())),
                ("subject", S("Your code".into())),
                ("text", S("Hi {{ name }}, your code is {{ otp }}".into())),
                ("sms", S("{{ otp }} is your code".into())),
            ],
        ),
        (
            "MERCHANT-SHAPE",
            vec![("id", number("1")), ("name", S("Bench".into())), ("created_at", number("1767225600"))],
        ),
    ];
    for (sk, attributes) in fixtures {
        let key = [("pk", S("BENCH".into())), ("sk", S(sk.into()))];
        client
            .put_item()
            .table_name(table)
            .set_item(Some(key.into_iter().chain(attributes).map(|(name, value)| (name.to_string(), value)).collect()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("the shape fixture {sk}: {e}"));
    }
}
