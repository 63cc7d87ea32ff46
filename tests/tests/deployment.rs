//! The route table is the one source of truth: `template.yaml`, `events/`, `functions/` and
//! `docs/openapi.yaml` must say exactly what it says — every route, nothing extra. The
//! template is also checked for what deploying it depends on: each function's permissions are
//! the ones its storage calls need, the secrets are dynamic references, and the table, topic
//! and queues match what the code expects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use shared::http::ROUTES;

/// The functions with no HTTP route: one consumes the OTP queue, the other SES's delivery
/// events.
const DISPATCH: &str = "otp-dispatch";
const RECORDER: &str = "delivery-events";

/// The DynamoDB actions each function needs, from the store calls its handler makes (see
/// `shared/src/store/dynamodb.rs`: a read is `GetItem`; a transaction needs the action of each
/// of its parts; no function queries, scans or checks a condition on its own). Changing a
/// handler's storage calls means changing this table and `template.yaml` together.
const DYNAMODB_ACTIONS: &[(&str, &[&str])] = &[
    ("token", &["GetItem"]),
    ("token-verify", &[]),
    ("validate-mobile-number", &[]),
    ("reset-otp-limit", &["GetItem", "DeleteItem"]),
    // Routes that record a customer's security event put it (docs/api.md section 11.3); the
    // resets put two at once (BatchWriteItem).
    ("validate-password", &["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
    ("change-password", &["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
    ("set-password", &["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
    ("request-otp-for-password-reset", &["GetItem", "PutItem", "UpdateItem"]),
    ("reset-password-with-otp", &["GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]),
    ("pin-set", &["GetItem", "PutItem"]),
    ("pin-change", &["GetItem", "PutItem", "UpdateItem"]),
    ("pin-validate", &["GetItem", "PutItem", "UpdateItem"]),
    ("pin-unblock", &["GetItem", "PutItem", "UpdateItem"]),
    ("pin-request-otp-for-reset", &["GetItem", "PutItem", "UpdateItem"]),
    ("pin-reset", &["GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]),
    ("pin-reset-with-password", &["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
    ("v2-login", &["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
    ("v2-register", &["GetItem", "PutItem", "UpdateItem"]),
    ("v2-forgot-password", &["GetItem", "PutItem", "UpdateItem"]),
    ("v2-reset-password", &["GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]),
    ("v2-logout", &["DeleteItem"]),
    ("customer-status", &["GetItem"]),
    ("customer-events", &["GetItem", "Query"]),
    // Templates and deliveries read; delivery marks claimed (conditional put) and given back
    // (delete); the outcome's event put and the customer's deliveries updated.
    (DISPATCH, &["GetItem", "PutItem", "UpdateItem", "DeleteItem"]),
    // The event put, the customer's deliveries updated.
    (RECORDER, &["PutItem", "UpdateItem"]),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn str_at<'a>(value: &'a Yaml, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |value, key| value.get(*key)).and_then(Yaml::as_str)
}

/// A CloudFormation short-form function (`!Ref X`, `!GetAtt X.Arn`, `!If [...]`): its name
/// without the `!` and its argument.
fn intrinsic(value: &Yaml) -> Option<(String, &Yaml)> {
    match value {
        Yaml::Tagged(tagged) => Some((tagged.tag.to_string().trim_start_matches('!').to_string(), &tagged.value)),
        _ => None,
    }
}

/// `value` when it is `!<name> <argument>` with a string argument.
fn intrinsic_str<'a>(value: &'a Yaml, name: &str) -> Option<&'a str> {
    match intrinsic(value) {
        Some((tag, argument)) if tag == name => argument.as_str(),
        _ => None,
    }
}

/// One `AWS::Serverless::Function` of the template.
struct Function {
    id: String,
    binary: String,
    properties: Yaml,
}

impl Function {
    fn env(&self, name: &str) -> Option<&Yaml> {
        self.properties.get("Environment").and_then(|e| e.get("Variables")).and_then(|v| v.get(name))
    }

    /// Every statement of the function's inline policies.
    fn statements(&self) -> Vec<&Yaml> {
        let Some(policies) = self.properties.get("Policies") else {
            return Vec::new();
        };
        let policies = policies.as_sequence().unwrap_or_else(|| panic!("{}: Policies is a list", self.id));
        policies
            .iter()
            .flat_map(|policy| {
                let statements = policy.get("Statement").and_then(Yaml::as_sequence);
                statements.unwrap_or_else(|| panic!("{}: inline policies only, not {policy:?}", self.id))
            })
            .collect()
    }

    /// The actions the function's `Allow` statements grant on `resource` (a predicate).
    fn allowed(&self, service: &str, resource: impl Fn(&Yaml) -> bool) -> BTreeSet<String> {
        let mut actions = BTreeSet::new();
        for statement in self.statements() {
            if str_at(statement, &["Effect"]) != Some("Allow") {
                continue;
            }
            let listed: Vec<&str> = match statement.get("Action") {
                Some(Yaml::String(action)) => vec![action.as_str()],
                Some(Yaml::Sequence(list)) => list.iter().filter_map(Yaml::as_str).collect(),
                other => panic!("{}: unexpected Action {other:?}", self.id),
            };
            for action in listed.into_iter().filter(|a| a.starts_with(&format!("{service}:"))) {
                assert!(!action.contains('*'), "{}: wildcard action {action}", self.id);
                let target = statement.get("Resource").unwrap_or_else(|| panic!("{}: no Resource", self.id));
                assert!(resource(target), "{}: {action} on {target:?}", self.id);
                actions.insert(action.trim_start_matches(&format!("{service}:")).to_string());
            }
        }
        actions
    }
}

fn template_functions() -> Vec<Function> {
    let template = yaml("template.yaml");
    let resources = template.get("Resources").and_then(Yaml::as_mapping).expect("Resources");
    resources
        .iter()
        .filter(|(_, resource)| str_at(resource, &["Type"]) == Some("AWS::Serverless::Function"))
        .map(|(id, resource)| {
            let id = id.as_str().expect("logical ID").to_string();
            assert_eq!(str_at(resource, &["Metadata", "BuildMethod"]), Some("rust-cargolambda"), "{id}");
            let binary = str_at(resource, &["Metadata", "BuildProperties", "Binary"]).expect("Binary").to_string();
            let properties = resource.get("Properties").cloned().expect("Properties");
            let code = format!("functions/{binary}");
            assert_eq!(str_at(&properties, &["CodeUri"]), Some(code.as_str()), "{id}: built from its own package");
            Function { id, binary, properties }
        })
        .collect()
}

fn resource<'a>(template: &'a Yaml, id: &str) -> &'a Yaml {
    template.get("Resources").and_then(|r| r.get(id)).unwrap_or_else(|| panic!("resource {id}"))
}

fn function_folders() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

fn route_functions() -> BTreeSet<String> {
    ROUTES.iter().map(|route| route.function.to_string()).collect()
}

/// How a function's `main.rs` builds its dependencies (`shared::lambda::*_app*`).
fn main_rs(function: &str) -> String {
    let path = root().join("functions").join(function).join("src/main.rs");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_function_folder_is_a_route_or_the_dispatcher_and_nothing_else() {
    let mut expected = route_functions();
    expected.insert(DISPATCH.to_string());
    expected.insert(RECORDER.to_string());
    assert_eq!(function_folders(), expected);
}

#[test]
fn the_template_has_exactly_the_route_table() {
    let functions = template_functions();
    let binaries: Vec<&str> = functions.iter().map(|f| f.binary.as_str()).collect();
    let unique: BTreeSet<String> = binaries.iter().map(|b| b.to_string()).collect();
    assert_eq!(unique.len(), binaries.len(), "a binary deployed twice: {binaries:?}");
    assert_eq!(unique, function_folders(), "template functions vs functions/");

    let mut http_routes = BTreeSet::new();
    for function in &functions {
        let id = &function.id;
        let events = function.properties.get("Events").and_then(Yaml::as_mapping).expect("Events");
        for (_, event) in events {
            match str_at(event, &["Type"]) {
                Some("HttpApi") => {
                    let path = str_at(event, &["Properties", "Path"]).expect("Path").to_string();
                    // ANY: the function itself answers OPTIONS and a 405 error body to other methods.
                    assert_eq!(str_at(event, &["Properties", "Method"]), Some("ANY"), "{id}");
                    let api = event.get("Properties").and_then(|p| p.get("ApiId")).expect("ApiId");
                    assert_eq!(intrinsic_str(api, "Ref"), Some("Api"), "{id}: on the stack's HTTP API");
                    http_routes.insert((path, function.binary.clone()));
                }
                Some("SQS") => {
                    let expected_queue = match function.binary.as_str() {
                        DISPATCH => "OtpQueue.Arn",
                        RECORDER => "DeliveryEventsQueue.Arn",
                        other => panic!("{id}: {other} has a queue"),
                    };
                    let properties = event.get("Properties").expect("Properties");
                    let queue = properties.get("Queue").expect("Queue");
                    assert_eq!(intrinsic_str(queue, "GetAtt"), Some(expected_queue), "{id}");
                    let types = properties.get("FunctionResponseTypes").and_then(Yaml::as_sequence);
                    assert_eq!(
                        types.map(|s| s.iter().filter_map(Yaml::as_str).collect::<Vec<_>>()),
                        Some(vec!["ReportBatchItemFailures"]),
                        "partial batch responses"
                    );
                }
                other => panic!("{id}: unexpected event type {other:?}"),
            }
        }
    }
    let expected: BTreeSet<(String, String)> =
        ROUTES.iter().map(|route| (route.path.to_string(), route.function.to_string())).collect();
    assert_eq!(http_routes, expected);
}

#[test]
fn each_function_gets_the_table_actions_it_uses_and_no_other() {
    let listed: BTreeSet<String> = DYNAMODB_ACTIONS.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(listed, function_folders(), "DYNAMODB_ACTIONS names every function");
    let on_table = |target: &Yaml| intrinsic_str(target, "GetAtt") == Some("Table.Arn");
    for function in template_functions() {
        let expected: BTreeSet<String> = DYNAMODB_ACTIONS
            .iter()
            .find(|(name, _)| *name == function.binary)
            .map(|(_, actions)| actions.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default();
        assert_eq!(function.allowed("dynamodb", on_table), expected, "{}", function.id);
        if expected.is_empty() {
            assert!(function.properties.get("Policies").is_none(), "{} needs no permissions at all", function.id);
        }
    }
}

#[test]
fn storage_free_functions_are_the_ones_built_without_storage() {
    for function in template_functions() {
        let stateless = main_rs(&function.binary).contains("stateless_app()");
        let no_table = DYNAMODB_ACTIONS.iter().any(|(name, actions)| *name == function.binary && actions.is_empty());
        assert_eq!(stateless, no_table, "{}: main.rs and the permissions disagree", function.id);
    }
}

/// The packages a function links, as it is built for deployment (alone, with only its own
/// features): `cargo tree` on its package.
fn linked_packages(function: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(root())
        .args(["tree", "--locked", "-e", "normal", "--prefix", "none", "--format", "{p}", "-p", function])
        .output()
        .expect("cargo tree");
    assert!(output.status.success(), "cargo tree -p {function}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Size and start-up (BENCHMARKS.md): no function links aws-lc (the SDK's default TLS), HTTP/2,
/// the SDK's credential chain (and the STS client it brings), a second HTTP client or a second
/// regex engine (phone numbers are matched with `regex-lite`, which the AWS SDK links anyway,
/// not `regex`: vendor/phonenumber/PATCHED.md, change 7); the storage-free ones link no AWS client and no TLS at all, and only the functions that
/// deliver OTPs link SNS or SES.
#[test]
fn functions_link_only_the_clients_they_use() {
    let never = [
        "aws-lc-sys",
        "aws-lc-rs",
        "h2",
        "aws-config",
        "aws-sdk-sts",
        "aws-smithy-http-client",
        "reqwest",
        "regex",
        "regex-syntax",
        "regex-automata",
    ];
    for function in function_folders() {
        let linked = linked_packages(&function);
        for package in never {
            assert!(!linked.contains(package), "{function} links {package}");
        }
        let stateless = main_rs(&function).contains("stateless_app()");
        for package in ["aws-sdk-dynamodb", "rustls", "ring", "hyper-rustls"] {
            assert_eq!(linked.contains(package), !stateless, "{function} and {package}");
        }
        let publishes = main_rs(&function).contains("with_events") || function == DISPATCH;
        assert_eq!(linked.contains("aws-sdk-sns"), publishes, "{function} and SNS");
        assert_eq!(linked.contains("aws-sdk-sesv2"), function == DISPATCH, "{function} and SES");
    }
}

#[test]
fn only_functions_that_publish_otp_events_know_the_topic_and_may_publish_to_it() {
    let template = yaml("template.yaml");
    for function in template_functions() {
        let publishes = main_rs(&function.binary).contains("dynamodb_app_with_events()");
        let topic_env = function.env("STAMPS_OTP_TOPIC_ARN").and_then(|v| intrinsic_str(v, "Ref"));
        let on_topic = |target: &Yaml| intrinsic_str(target, "Ref") == Some("OtpTopic");
        if function.binary == DISPATCH {
            // SMS goes to phone numbers, which have no ARN: allowed on "*", denied on topics.
            let sns = function.allowed("sns", |target| target.as_str() == Some("*"));
            assert_eq!(sns, BTreeSet::from(["Publish".to_string()]));
            let denies_topics = function.statements().iter().any(|s| {
                str_at(s, &["Effect"]) == Some("Deny")
                    && s.get("Resource")
                        .and_then(|r| intrinsic_str(r, "Sub"))
                        .is_some_and(|r| r.ends_with(":sns:*:*:*"))
            });
            assert!(denies_topics, "otp-dispatch must not be able to publish to topics");
            assert!(function.allowed("ses", |_| true).contains("SendEmail"));
            for name in ["STAMPS_EMAIL_FROM", "STAMPS_SMS_SENDER_ID"] {
                assert!(function.env(name).is_some(), "otp-dispatch needs {name}");
            }
            continue;
        }
        assert!(function.allowed("ses", |_| true).is_empty(), "{}: no SES", function.id);
        if publishes {
            assert_eq!(topic_env, Some("OtpTopic"), "{}: STAMPS_OTP_TOPIC_ARN", function.id);
            assert_eq!(function.allowed("sns", on_topic), BTreeSet::from(["Publish".to_string()]), "{}", function.id);
        } else {
            assert!(topic_env.is_none(), "{}: does not publish", function.id);
            assert!(function.allowed("sns", |_| true).is_empty(), "{}: no SNS", function.id);
        }
        let facebook = main_rs(&function.binary).contains("dynamodb_app_with_facebook()");
        let graph = function.env("STAMPS_FACEBOOK_GRAPH_URL").and_then(|v| intrinsic_str(v, "Ref"));
        assert_eq!(graph.is_some(), facebook, "{}: STAMPS_FACEBOOK_GRAPH_URL", function.id);
    }
    assert_eq!(str_at(resource(&template, "OtpTopic"), &["Type"]), Some("AWS::SNS::Topic"));
}

#[test]
fn secrets_reach_the_functions_as_dynamic_references_only() {
    let template = yaml("template.yaml");
    let variables = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .expect("Globals.Function.Environment.Variables");
    for name in ["STAMPS_JWT_KEYS", "STAMPS_HASH_KEY", "STAMPS_PASSWORD_PEPPER"] {
        let value = variables.get(name).unwrap_or_else(|| panic!("{name}"));
        let branches = match intrinsic(value) {
            Some((tag, Yaml::Sequence(branches))) if tag == "If" && branches.len() == 3 => branches,
            _ => panic!("{name}: a generated or a given secret, chosen by a condition: {value:?}"),
        };
        for branch in &branches[1..] {
            if intrinsic_str(branch, "Ref") == Some("AWS::NoValue") {
                continue;
            }
            let text = intrinsic_str(branch, "Sub").unwrap_or_else(|| panic!("{name}: {branch:?}"));
            assert!(text.contains("{{resolve:secretsmanager:") && text.contains(":SecretString}}"), "{name}: {text}");
        }
    }
    // No secret is ever a parameter value: parameters only name secrets.
    let parameters = template.get("Parameters").and_then(Yaml::as_mapping).expect("Parameters");
    for (name, _) in parameters {
        let name = name.as_str().expect("name");
        let lower = name.to_lowercase();
        if lower.contains("secret") || lower.contains("key") || lower.contains("pepper") {
            assert!(name.ends_with("SecretArn") || name == "SecretsRevision", "{name} would hold a secret");
        }
    }
    let store = variables.get("STAMPS_STORE").and_then(|v| intrinsic_str(v, "Sub"));
    assert_eq!(store, Some("dynamodb:${Table}"));
    for name in ["STAMPS_DEFAULT_REGION", "STAMPS_V2_MERCHANT"] {
        assert!(variables.get(name).is_some(), "{name}");
    }
}

#[test]
fn the_table_has_the_keys_and_ttl_of_the_store() {
    let template = yaml("template.yaml");
    let table = resource(&template, "Table");
    assert_eq!(str_at(table, &["Type"]), Some("AWS::DynamoDB::Table"));
    assert_eq!(str_at(table, &["DeletionPolicy"]), Some("Retain"));
    assert_eq!(str_at(table, &["UpdateReplacePolicy"]), Some("Retain"));
    let properties = table.get("Properties").expect("Properties");
    let keys: Vec<(&str, &str)> = properties
        .get("KeySchema")
        .and_then(Yaml::as_sequence)
        .expect("KeySchema")
        .iter()
        .map(|k| (str_at(k, &["AttributeName"]).expect("name"), str_at(k, &["KeyType"]).expect("type")))
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
    for attribute in properties.get("AttributeDefinitions").and_then(Yaml::as_sequence).expect("definitions") {
        assert_eq!(str_at(attribute, &["AttributeType"]), Some("S"), "{attribute:?}");
    }
    assert_eq!(str_at(properties, &["TimeToLiveSpecification", "AttributeName"]), Some("ttl"));
    assert_eq!(str_at(properties, &["BillingMode"]), Some("PAY_PER_REQUEST"));
    let pitr = properties.get("PointInTimeRecoverySpecification").and_then(|p| p.get("PointInTimeRecoveryEnabled"));
    assert_eq!(pitr.and_then(Yaml::as_bool), Some(true));
}

#[test]
fn the_otp_queue_outlasts_the_dispatch_function_and_parks_failures() {
    let template = yaml("template.yaml");
    let dispatch = template_functions().into_iter().find(|f| f.binary == DISPATCH).expect("otp-dispatch");
    let timeout = dispatch.properties.get("Timeout").and_then(Yaml::as_u64).expect("dispatch Timeout");
    let queue = resource(&template, "OtpQueue").get("Properties").expect("Properties");
    let visibility = queue.get("VisibilityTimeout").and_then(Yaml::as_u64).expect("VisibilityTimeout");
    assert!(visibility >= 6 * timeout, "visibility {visibility} s < 6 x {timeout} s");
    let redrive = queue.get("RedrivePolicy").expect("RedrivePolicy");
    let dlq = redrive.get("deadLetterTargetArn").expect("deadLetterTargetArn");
    assert_eq!(intrinsic_str(dlq, "GetAtt"), Some("OtpDeadLetterQueue.Arn"));
    let receives = redrive.get("maxReceiveCount").and_then(Yaml::as_u64).expect("maxReceiveCount");
    assert!((2..=10).contains(&receives), "maxReceiveCount {receives}");
    // The dispatcher tells a failure on the last receive (dead-lettered) from one to retry.
    let told = dispatch.env("STAMPS_DISPATCH_MAX_RECEIVES").and_then(Yaml::as_str).and_then(|v| v.parse::<u64>().ok());
    assert_eq!(told, Some(receives), "STAMPS_DISPATCH_MAX_RECEIVES is the queue's maxReceiveCount");

    let subscription = resource(&template, "OtpSubscription").get("Properties").expect("Properties");
    assert_eq!(subscription.get("TopicArn").and_then(|v| intrinsic_str(v, "Ref")), Some("OtpTopic"));
    assert_eq!(subscription.get("Endpoint").and_then(|v| intrinsic_str(v, "GetAtt")), Some("OtpQueue.Arn"));
    let policy = serde_yaml_ng::to_string(resource(&template, "OtpQueuePolicy")).expect("yaml");
    assert!(policy.contains("sqs:SendMessage") && policy.contains("aws:SourceArn"), "{policy}");
}

#[test]
fn events_has_one_valid_sample_per_function() {
    let files: BTreeSet<String> = std::fs::read_dir(root().join("events"))
        .expect("events/")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = function_folders().iter().map(|f| format!("{f}.json")).collect();
    assert_eq!(files, expected);
    for route in ROUTES {
        let file = format!("events/{}.json", route.function);
        let text = std::fs::read_to_string(root().join(&file)).expect("event");
        let event: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event["version"], "2.0", "{file}: HTTP API payload 2.0");
        assert_eq!(event["rawPath"], route.path, "{file}");
        assert_eq!(event["requestContext"]["http"]["path"], route.path, "{file}");
        assert_eq!(event["requestContext"]["http"]["method"], "POST", "{file}");
        assert_eq!(event["routeKey"], format!("ANY {}", route.path), "{file}: the template's route");
        assert!(event["body"].is_string(), "{file}");
    }
    let text = std::fs::read_to_string(root().join("events/otp-dispatch.json")).expect("event");
    let event: Json = serde_json::from_str(&text).expect("otp-dispatch.json");
    let records = event["Records"].as_array().expect("Records");
    assert!(!records.is_empty());
    for record in records {
        assert_eq!(record["eventSource"], "aws:sqs");
        let body = record["body"].as_str().expect("body");
        shared::delivery::dispatch::parse_event(body).expect("the body is an otp.requested event");
    }
    let text = std::fs::read_to_string(root().join("events/delivery-events.json")).expect("event");
    let event: Json = serde_json::from_str(&text).expect("delivery-events.json");
    let records = event["Records"].as_array().expect("Records");
    assert!(!records.is_empty());
    for record in records {
        let body = record["body"].as_str().expect("body");
        let outcome = shared::delivery::ses_events::parse(body).expect("an SES event");
        assert!(outcome.is_some(), "the sample is about one of our codes: {body}");
    }
}

/// The SES events reach the recorder: the dispatcher sends through the configuration set, whose
/// destination is the topic that feeds the recorder's queue (raw), whose failures are parked.
#[test]
fn ses_events_reach_the_delivery_events_function() {
    let template = yaml("template.yaml");
    let dispatch = template_functions().into_iter().find(|f| f.binary == DISPATCH).expect("otp-dispatch");
    let set = dispatch.env("STAMPS_SES_CONFIGURATION_SET").expect("STAMPS_SES_CONFIGURATION_SET");
    assert_eq!(intrinsic_str(set, "Ref"), Some("SesConfigurationSet"));
    assert_eq!(str_at(resource(&template, "SesConfigurationSet"), &["Type"]), Some("AWS::SES::ConfigurationSet"));
    let sends = serde_yaml_ng::to_string(&dispatch.properties).expect("yaml");
    assert!(sends.contains("configuration-set/${SesConfigurationSet}"), "SendEmail allowed on the set");

    let destination = resource(&template, "SesEventDestination").get("Properties").expect("Properties");
    assert_eq!(destination.get("ConfigurationSetName").and_then(|v| intrinsic_str(v, "Ref")), Some("SesConfigurationSet"));
    let event_destination = destination.get("EventDestination").expect("EventDestination");
    let types: BTreeSet<&str> = event_destination
        .get("MatchingEventTypes")
        .and_then(Yaml::as_sequence)
        .expect("MatchingEventTypes")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(types, BTreeSet::from(["delivery", "bounce", "complaint"]));
    let topic = event_destination.get("SnsDestination").and_then(|d| d.get("TopicARN")).expect("TopicARN");
    assert_eq!(intrinsic_str(topic, "Ref"), Some("DeliveryEventsTopic"));
    let policy = serde_yaml_ng::to_string(resource(&template, "DeliveryEventsTopicPolicy")).expect("yaml");
    assert!(policy.contains("ses.amazonaws.com") && policy.contains("sns:Publish"), "{policy}");

    let subscription = resource(&template, "DeliveryEventsSubscription").get("Properties").expect("Properties");
    assert_eq!(subscription.get("TopicArn").and_then(|v| intrinsic_str(v, "Ref")), Some("DeliveryEventsTopic"));
    assert_eq!(subscription.get("Endpoint").and_then(|v| intrinsic_str(v, "GetAtt")), Some("DeliveryEventsQueue.Arn"));
    let queue = resource(&template, "DeliveryEventsQueue").get("Properties").expect("Properties");
    let dlq = queue.get("RedrivePolicy").and_then(|r| r.get("deadLetterTargetArn")).expect("deadLetterTargetArn");
    assert_eq!(intrinsic_str(dlq, "GetAtt"), Some("DeliveryEventsDeadLetterQueue.Arn"));
    let recorder = template_functions().into_iter().find(|f| f.binary == RECORDER).expect("delivery-events");
    let timeout = recorder.properties.get("Timeout").and_then(Yaml::as_u64).expect("Timeout");
    let visibility = queue.get("VisibilityTimeout").and_then(Yaml::as_u64).expect("VisibilityTimeout");
    assert!(visibility >= 6 * timeout, "visibility {visibility} s < 6 x {timeout} s");
}

/// The functions' EMF metric records are INFO lines of Lambda's JSON log format
/// (shared/src/metrics/emf.rs): a stricter application log level would drop them.
#[test]
fn no_log_level_drops_the_metric_records() {
    let template = yaml("template.yaml");
    let logging = template.get("Globals").and_then(|g| g.get("Function")).and_then(|f| f.get("LoggingConfig"));
    assert_eq!(logging.and_then(|l| l.get("LogFormat")).and_then(Yaml::as_str), Some("JSON"));
    let level = logging.and_then(|l| l.get("ApplicationLogLevel")).and_then(Yaml::as_str);
    assert!(matches!(level, None | Some("TRACE" | "DEBUG" | "INFO")), "ApplicationLogLevel {level:?}");
    for function in template_functions() {
        let level = function.properties.get("LoggingConfig").and_then(|l| l.get("ApplicationLogLevel"));
        assert!(level.and_then(Yaml::as_str).is_none_or(|l| matches!(l, "TRACE" | "DEBUG" | "INFO")), "{}", function.id);
    }
}

#[test]
fn the_openapi_document_describes_exactly_the_routes() {
    let document = yaml("docs/openapi.yaml");
    assert!(str_at(&document, &["openapi"]).is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1");
    let paths = document.get("paths").and_then(Yaml::as_mapping).expect("paths");
    let documented: BTreeSet<String> = paths.keys().filter_map(Yaml::as_str).map(str::to_string).collect();
    let expected: BTreeSet<String> = ROUTES.iter().map(|route| route.path.to_string()).collect();
    assert_eq!(documented, expected);
    for (path, item) in paths {
        let operations: Vec<&str> = item.as_mapping().expect("path item").keys().filter_map(Yaml::as_str).collect();
        assert_eq!(operations, ["post"], "{path:?}: every route is POST");
        let post = item.get("post").expect("post");
        let content = post.get("requestBody").and_then(|b| b.get("content")).expect("requestBody.content");
        for media in ["application/json", "application/x-www-form-urlencoded"] {
            assert!(content.get(media).is_some(), "{path:?}: {media} body");
        }
        let responses = post.get("responses").and_then(Yaml::as_mapping).expect("responses");
        let codes: Vec<&str> = responses.keys().filter_map(Yaml::as_str).collect();
        assert!(codes.contains(&"200") && codes.iter().any(|c| c.starts_with('4')), "{path:?}: {codes:?}");
    }
}
