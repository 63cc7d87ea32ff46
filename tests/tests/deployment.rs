//! The route table is the one declaration of a function: `template.yaml`, `events/`,
//! `docs/openapi.yaml`, the local server and `functions/` must have exactly its routes, and
//! each function in the template exactly what its row declares: its secrets, its table actions
//! and partition-key prefixes (`dynamodb:LeadingKeys`), its topic, Graph API and SES identity,
//! its cargo features. The template is also checked for what deploying it depends on: the
//! environment under the stack's KMS key that only the functions decrypt, the secrets as
//! dynamic references, and the table, topic and queues the code expects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use integration_tests::app::{Backend, spawn_app};
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use shared::http::ROUTES;
use shared::http::routes::{self, DELIVERY_EVENTS, Needs, OTP_DISPATCH, Port, Secret};

/// The one function with no HTTP route: it consumes the OTP queue.
const DISPATCH: &str = OTP_DISPATCH.function;
/// The function with no HTTP route that records SES's delivery events from its queue.
const RECORDER: &str = DELIVERY_EVENTS.function;
/// The support console's function.
const CONSOLE: &str = routes::SUPPORT_CONSOLE.function;

/// The declaration of the function named `function`.
fn needs(function: &str) -> &'static Needs {
    routes::functions()
        .find(|(name, _)| *name == function)
        .map(|(_, needs)| needs)
        .unwrap_or_else(|| panic!("{function} is not in the route table"))
}

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

    /// The `Allow` statements that grant an action of `service`, with those actions (without
    /// the service prefix). No action may be a wildcard.
    fn grants(&self, service: &str) -> Vec<(&Yaml, BTreeSet<String>)> {
        let prefix = format!("{service}:");
        self.statements()
            .into_iter()
            .filter(|statement| str_at(statement, &["Effect"]) == Some("Allow"))
            .filter_map(|statement| {
                let actions: BTreeSet<String> = actions(statement)
                    .into_iter()
                    .filter_map(|action| action.strip_prefix(&prefix).map(str::to_string))
                    .collect();
                for action in &actions {
                    assert!(!action.contains('*'), "{}: wildcard action {service}:{action}", self.id);
                }
                (!actions.is_empty()).then_some((statement, actions))
            })
            .collect()
    }
}

/// A statement's actions, one or a list.
fn actions(statement: &Yaml) -> Vec<String> {
    match statement.get("Action") {
        Some(Yaml::String(action)) => vec![action.clone()],
        Some(Yaml::Sequence(list)) => list.iter().filter_map(Yaml::as_str).map(str::to_string).collect(),
        other => panic!("unexpected Action {other:?}"),
    }
}

/// A string list, or one string.
fn strings(value: &Yaml) -> BTreeSet<String> {
    match value {
        Yaml::String(one) => BTreeSet::from([one.clone()]),
        Yaml::Sequence(list) => {
            list.iter().map(|v| v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}")).to_string()).collect()
        }
        other => panic!("expected a string or a list of strings, got {other:?}"),
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
            let binary = str_at(resource, &["Metadata", "BuildProperties", "Binary"]).expect("Binary").to_string();
            let properties = resource.get("Properties").cloned().expect("Properties");
            Function { id, binary, properties }
        })
        .collect()
}

/// The package scripts/build-function.sh builds for a function's logical ID.
fn package_of_logical_id(id: &str) -> String {
    let output = std::process::Command::new(root().join("scripts/build-function.sh"))
        .args(["--package-of", id])
        .output()
        .expect("scripts/build-function.sh");
    assert!(output.status.success(), "build-function.sh --package-of {id}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
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

/// Built by the Makefile (scripts/build-function.sh) from the source tree, which finds the
/// package from the logical ID alone: the binary each Metadata names must be the one it builds.
#[test]
fn sam_build_builds_each_function_from_its_logical_id() {
    let template = yaml("template.yaml");
    assert_eq!(str_at(&template, &["Globals", "Function", "CodeUri"]), Some("."), "the Makefile is at the root");
    for function in template_functions() {
        let (id, resource) = (&function.id, resource(&template, &function.id));
        assert_eq!(str_at(resource, &["Metadata", "BuildMethod"]), Some("makefile"), "{id}");
        assert_eq!(package_of_logical_id(id), function.binary, "{id}: the build script would build another package");
        assert_eq!(function.properties.get("CodeUri"), None, "{id}: built from the source tree (the Globals' CodeUri)");
    }
}

#[test]
fn every_function_has_the_memory_size_its_route_declares() {
    let template = yaml("template.yaml");
    let global = template.get("Globals").and_then(|g| g.get("Function")).and_then(|f| f.get("MemorySize"));
    assert_eq!(global, None, "each function's MemorySize is its own, from the route table");
    for function in template_functions() {
        let memory = function.properties.get("MemorySize").and_then(Yaml::as_u64);
        let declared = u64::from(needs(&function.binary).memory_mb);
        assert_eq!(memory, Some(declared), "{}: MemorySize against its route's memory_mb", function.id);
    }
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
                        other => panic!("{id}: {other} is not a queue worker"),
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
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.path.to_string(), route.function.to_string()))
        .chain(
            routes::CONSOLE_PATHS.iter().map(|path| (path.to_string(), routes::SUPPORT_CONSOLE.function.to_string())),
        )
        .collect();
    assert_eq!(http_routes, expected);
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
/// not `regex`: vendor/phonenumber/PATCHED.md, change 7). A function links the client of each
/// port its route declares and no other: the ones without a port link no AWS client and no TLS
/// at all, only the functions that deliver OTPs link SNS or SES.
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
        let needs = needs(&function);
        // No port: no outgoing call at all, so no TLS.
        for package in ["rustls", "ring", "hyper-rustls"] {
            assert_eq!(linked.contains(package), !needs.ports.is_empty(), "{function} and {package}");
        }
        assert_eq!(linked.contains("aws-sdk-dynamodb"), needs.has(Port::Store), "{function} and DynamoDB");
        let sns = needs.has(Port::Publisher) || needs.has(Port::Sms);
        assert_eq!(linked.contains("aws-sdk-sns"), sns, "{function} and SNS");
        assert_eq!(linked.contains("aws-sdk-sesv2"), needs.has(Port::Email), "{function} and SES");
    }
}

/// The features a function's `Cargo.toml` asks of `shared`.
fn shared_features(function: &str) -> BTreeSet<String> {
    let path = root().join("functions").join(function).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let line = text.lines().find(|line| line.starts_with("shared = ")).unwrap_or_else(|| panic!("{function}: shared"));
    let list = line.split_once("features = [").and_then(|(_, rest)| rest.split_once(']')).map(|(list, _)| list);
    list.unwrap_or_default()
        .split(',')
        .map(|feature| feature.trim().trim_matches('"').to_string())
        .filter(|feature| !feature.is_empty())
        .collect()
}

/// A function is built with the features of its declared ports and no other (start-up refuses a
/// declared port whose feature is missing; a feature no port uses only adds size).
#[test]
fn each_function_is_built_with_exactly_the_features_of_its_ports() {
    for function in function_folders() {
        let needs = needs(&function);
        let runtime: &[&str] = match function.as_str() {
            DISPATCH => &["lambda-sqs", "render"],
            RECORDER => &["lambda-sqs"],
            CONSOLE => &["lambda", "console"],
            _ => &["lambda"],
        };
        let expected: BTreeSet<String> =
            runtime.iter().copied().chain(needs.ports.iter().map(|port| port.feature())).map(str::to_string).collect();
        assert_eq!(shared_features(&function), expected, "functions/{function}/Cargo.toml");
    }
}

/// A function's `main.rs` is one call with its row of the route table.
fn serves_its_row(function: &str) -> bool {
    let path = root().join("functions").join(function).join("src/main.rs");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let row = function.to_uppercase().replace('-', "_");
    let (runtime, serve) = match function {
        DISPATCH => ("lambda_sqs", "serve"),
        RECORDER => ("lambda_ses", "serve"),
        CONSOLE => ("lambda", "serve_console"),
        _ => ("lambda", "serve"),
    };
    text.contains(&format!("shared::{runtime}::{serve}(&shared::http::routes::{row}).await"))
}

/// Where a route or function appears, by place; and the report of what some places lack.
fn compare(what: &str, places: &BTreeMap<&str, BTreeSet<String>>) -> Vec<String> {
    let all: BTreeSet<&String> = places.values().flatten().collect();
    let mut missing = Vec::new();
    for item in all {
        let lacking: Vec<&str> =
            places.iter().filter(|(_, set)| !set.contains(item)).map(|(place, _)| *place).collect();
        if !lacking.is_empty() {
            missing.push(format!("{what} {item} is missing from {}", lacking.join(", ")));
        }
    }
    missing
}

/// A route exists everywhere or nowhere: in the route table, `template.yaml`, `events/`,
/// `docs/openapi.yaml`, the local server (it answers the path, where an unknown one is 404) and
/// `functions/` (a package whose `main.rs` serves its row). Paths are compared where a place
/// names paths, functions where it names functions.
#[tokio::test]
async fn a_route_is_in_every_place_or_in_none() {
    let template = template_functions();
    let events: BTreeMap<String, Json> = std::fs::read_dir(root().join("events"))
        .expect("events/")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().strip_suffix(".json")?.to_string();
            let text = std::fs::read_to_string(entry.path()).expect("event");
            let event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{name}.json: {e}"));
            Some((name, event))
        })
        .collect();
    let openapi = yaml("docs/openapi.yaml");
    let documented: BTreeSet<String> = openapi
        .get("paths")
        .and_then(Yaml::as_mapping)
        .expect("paths")
        .keys()
        .filter_map(Yaml::as_str)
        .map(str::to_string)
        .collect();
    // The console's paths are its own (checked by `the_template_has_exactly_the_route_table`):
    // no API route, OpenAPI path or JSON answer.
    let template_paths: BTreeSet<String> = template
        .iter()
        .filter(|function| function.binary != CONSOLE)
        .flat_map(|function| function.properties.get("Events").and_then(Yaml::as_mapping).into_iter().flatten())
        .filter(|(_, event)| str_at(event, &["Type"]) == Some("HttpApi"))
        .filter_map(|(_, event)| str_at(event, &["Properties", "Path"]).map(str::to_string))
        .collect();
    let event_paths: BTreeSet<String> = events
        .iter()
        .filter(|(name, _)| *name != CONSOLE)
        .filter_map(|(_, event)| event["rawPath"].as_str())
        .map(str::to_string)
        .collect();
    let table_paths: BTreeSet<String> = ROUTES.iter().map(|route| route.path.to_string()).collect();

    // The local server, asked every path any place names (and two no place does).
    let server = spawn_app(Backend::Sqlite).await;
    let candidates: BTreeSet<String> = [&table_paths, &template_paths, &event_paths, &documented]
        .into_iter()
        .flatten()
        .cloned()
        .chain(["/api/nothing-here".to_string(), "/api/token".to_string()])
        .collect();
    let mut served = BTreeSet::new();
    for path in candidates {
        let response = server.send("OPTIONS", &path, None, Vec::new(), &[]).await;
        match response.status {
            200 => assert_eq!(response.header("allow"), Some("POST, OPTIONS"), "{path}"),
            404 => continue,
            other => panic!("OPTIONS {path}: {other}"),
        }
        served.insert(path);
    }
    let paths = BTreeMap::from([
        ("the route table", table_paths),
        ("template.yaml", template_paths),
        ("events/", event_paths),
        ("docs/openapi.yaml", documented),
        ("the local server", served),
    ]);

    let mut table_functions = route_functions();
    table_functions.insert(DISPATCH.to_string());
    table_functions.insert(RECORDER.to_string());
    table_functions.insert(CONSOLE.to_string());
    let folders: BTreeSet<String> = function_folders().into_iter().filter(|f| serves_its_row(f)).collect();
    let functions = BTreeMap::from([
        ("the route table", table_functions),
        ("template.yaml", template.iter().map(|f| f.binary.clone()).collect()),
        ("events/", events.keys().cloned().collect()),
        ("functions/", folders),
    ]);
    let mut missing = compare("path", &paths);
    missing.extend(compare("function", &functions));
    assert!(missing.is_empty(), "a route must be in every place or in none:\n{}", missing.join("\n"));
    // The places that pair paths and functions pair them alike.
    for route in ROUTES {
        assert_eq!(events[route.function]["rawPath"], route.path, "events/{}.json", route.function);
    }
}

/// The variables of a function's environment, Globals included.
fn environment(template: &Yaml, function: &Function) -> BTreeSet<String> {
    let globals = template.get("Globals").and_then(|g| g.get("Function")).and_then(|f| f.get("Environment"));
    [globals, function.properties.get("Environment")]
        .into_iter()
        .flatten()
        .filter_map(|environment| environment.get("Variables").and_then(Yaml::as_mapping))
        .flat_map(|variables| variables.keys().filter_map(Yaml::as_str).map(str::to_string))
        .collect()
}

/// Issue 20, item 1: each function holds the secrets its route declares and no other, as
/// dynamic references (never a parameter value); no secret is in Globals.
#[test]
fn each_function_gets_exactly_its_declared_secrets() {
    let template = yaml("template.yaml");
    let globals = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .expect("Globals.Function.Environment.Variables");
    for secret in Secret::ALL {
        assert!(globals.get(secret.env_var()).is_none(), "{}: not in Globals", secret.env_var());
    }
    for function in template_functions() {
        let declared: BTreeSet<&str> = needs(&function.binary).secrets.iter().map(|s| s.env_var()).collect();
        let given: BTreeSet<&str> =
            Secret::ALL.iter().map(|secret| secret.env_var()).filter(|name| function.env(name).is_some()).collect();
        assert_eq!(given, declared, "{}: secrets", function.id);
        for name in given {
            let value = function.env(name).expect("variable");
            let branches = match intrinsic(value) {
                Some((tag, Yaml::Sequence(branches))) if tag == "If" && branches.len() == 3 => branches,
                _ => panic!("{name}: a generated or a given secret, chosen by a condition: {value:?}"),
            };
            for branch in &branches[1..] {
                if intrinsic_str(branch, "Ref") == Some("AWS::NoValue") {
                    continue;
                }
                let text = intrinsic_str(branch, "Sub").unwrap_or_else(|| panic!("{name}: {branch:?}"));
                assert!(
                    text.contains("{{resolve:secretsmanager:") && text.ends_with(":SecretString}}"),
                    "{name}: {text}"
                );
            }
        }
    }
    // No secret is ever a parameter value: parameters only name secrets.
    let parameters = template.get("Parameters").and_then(Yaml::as_mapping).expect("Parameters");
    for (name, _) in parameters {
        let name = name.as_str().expect("name");
        let lower = name.to_lowercase();
        if lower.contains("secret") || lower.contains("key") || lower.contains("pepper") {
            assert!(
                name.ends_with("SecretArn") || name == "SecretsRevision" || name == "KeyAdministratorArns",
                "{name} would hold a secret"
            );
        }
    }
    let store = globals.get("STAMPS_STORE").and_then(|v| intrinsic_str(v, "Sub"));
    assert_eq!(store, Some("dynamodb:${Table}"));
    for name in ["STAMPS_DEFAULT_REGION", "STAMPS_V2_MERCHANT"] {
        assert!(globals.get(name).is_some(), "{name}");
    }
}

/// Whether the IAM action pattern `pattern` (`kms:Create*`) covers `action` (`kms:CreateGrant`).
fn covers(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    match pattern.split_once('*') {
        None => pattern == action,
        Some((head, tail)) => {
            action.starts_with(head) && (tail.is_empty() || covers(&format!("*{tail}")[1..], &action[head.len()..]))
        }
    }
}

/// Issue 20, item 1: the functions' environment is encrypted with a key the stack creates,
/// rotated yearly; `kms:Decrypt` is the functions' roles' (through Lambda) and the optional
/// readers', and nobody else's; the account's IAM administers the key but cannot use it, and
/// gets encryption and grants only through Lambda.
#[test]
fn the_environment_is_encrypted_with_the_stacks_key_that_only_the_functions_decrypt() {
    let template = yaml("template.yaml");
    let globals = template.get("Globals").and_then(|g| g.get("Function")).expect("Globals.Function");
    let key_arn = globals.get("KmsKeyArn").and_then(|k| intrinsic_str(k, "GetAtt"));
    assert_eq!(key_arn, Some("FunctionEnvironmentKey.Arn"));
    let functions = template_functions();
    for function in &functions {
        assert!(function.properties.get("KmsKeyArn").is_none(), "{}: the stack's key, from Globals", function.id);
    }
    let key = resource(&template, "FunctionEnvironmentKey");
    assert_eq!(str_at(key, &["Type"]), Some("AWS::KMS::Key"));
    let properties = key.get("Properties").expect("Properties");
    assert_eq!(properties.get("EnableKeyRotation").and_then(Yaml::as_bool), Some(true));
    let statements = properties.get("KeyPolicy").and_then(|p| p.get("Statement")).and_then(Yaml::as_sequence);
    let via_lambda = |statement: &Yaml| {
        let via = statement.get("Condition").and_then(|c| c.get("StringEquals")).and_then(|c| c.get("kms:ViaService"));
        via.and_then(|v| intrinsic_str(v, "Sub")) == Some("lambda.${AWS::Region}.amazonaws.com")
    };
    let roles: BTreeSet<String> = functions.iter().map(|f| format!("{}Role.Arn", f.id)).collect();
    let mut decrypting_roles = BTreeSet::new();
    let mut readers = false;
    for statement in statements.expect("KeyPolicy.Statement") {
        // The optional readers: `!If [HasKeyAdministrators, statement, !Ref AWS::NoValue]`.
        let statement = match intrinsic(statement) {
            Some((tag, Yaml::Sequence(branches))) if tag == "If" && branches.len() == 3 => {
                assert_eq!(branches[0].as_str(), Some("HasKeyAdministrators"));
                assert_eq!(intrinsic_str(&branches[2], "Ref"), Some("AWS::NoValue"));
                let principal = branches[1].get("Principal").and_then(|p| p.get("AWS")).expect("Principal");
                assert_eq!(intrinsic_str(principal, "Ref"), Some("KeyAdministratorArns"));
                assert_eq!(actions(&branches[1]), ["kms:Decrypt"]);
                assert!(via_lambda(&branches[1]), "the readers decrypt through Lambda only");
                readers = true;
                continue;
            }
            _ => statement,
        };
        assert_eq!(str_at(statement, &["Effect"]), Some("Allow"), "{statement:?}");
        let granted = actions(statement);
        let principal = statement.get("Principal").and_then(|p| p.get("AWS")).expect("an AWS principal");
        let gives = |action: &str| granted.iter().any(|pattern| covers(pattern, action));
        let account = intrinsic_str(principal, "Sub") == Some("arn:${AWS::Partition}:iam::${AWS::AccountId}:root");
        if account {
            for use_ in ["kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:Sign"] {
                assert!(!gives(use_), "the account's IAM gets {use_}: {granted:?}");
            }
            if gives("kms:Encrypt") || gives("kms:CreateGrant") {
                assert_eq!(granted.len(), 1, "encryption and grants each in a statement of its own: {granted:?}");
                assert!(via_lambda(statement), "{granted:?} only through Lambda");
            }
            if gives("kms:CreateGrant") {
                let for_aws = statement
                    .get("Condition")
                    .and_then(|c| c.get("Bool"))
                    .and_then(|b| b.get("kms:GrantIsForAWSResource"));
                assert_eq!(for_aws.and_then(Yaml::as_bool), Some(true), "grants only for Lambda's own use");
            }
        } else {
            assert_eq!(granted, ["kms:Decrypt"], "{principal:?}");
            assert!(via_lambda(statement), "the functions' roles decrypt through Lambda only");
            let principals = principal.as_sequence().expect("a list of roles");
            for role in principals {
                decrypting_roles
                    .insert(intrinsic_str(role, "GetAtt").unwrap_or_else(|| panic!("{role:?}")).to_string());
            }
        }
    }
    assert_eq!(decrypting_roles, roles, "kms:Decrypt for every function's role, and no other");
    assert!(readers, "the optional readers statement");
}

/// The prefix patterns of a `dynamodb:LeadingKeys` condition for `needs`.
fn leading_keys(needs: &Needs) -> BTreeSet<String> {
    needs.table.partitions.iter().map(|partition| format!("{}*", partition.prefix())).collect()
}

/// Issue 20, item 6: each function may call on the table exactly the actions its route
/// declares, on items whose partition key starts with one of its declared prefixes.
#[test]
fn each_function_gets_exactly_its_declared_table_access() {
    for function in template_functions() {
        let needs = needs(&function.binary);
        let grants = function.grants("dynamodb");
        let declared: BTreeSet<String> = needs.table.actions.iter().map(|a| a.as_str().to_string()).collect();
        if declared.is_empty() {
            assert!(grants.is_empty(), "{}: no table access", function.id);
            if needs.ports.is_empty() {
                assert!(function.properties.get("Policies").is_none(), "{} needs no permissions at all", function.id);
            }
            continue;
        }
        assert_eq!(grants.len(), 1, "{}: one table statement", function.id);
        let (statement, actions) = &grants[0];
        assert_eq!(*actions, declared, "{}: table actions", function.id);
        let target = statement.get("Resource").expect("Resource");
        assert_eq!(intrinsic_str(target, "GetAtt"), Some("Table.Arn"), "{}: the table itself, no index", function.id);
        let condition = statement.get("Condition").and_then(Yaml::as_mapping).expect("Condition");
        assert_eq!(condition.len(), 1, "{}: {condition:?}", function.id);
        let like = statement.get("Condition").and_then(|c| c.get("ForAllValues:StringLike")).expect("StringLike");
        assert_eq!(like.as_mapping().map(|m| m.len()), Some(1), "{}", function.id);
        let keys = like.get("dynamodb:LeadingKeys").map(strings).expect("dynamodb:LeadingKeys");
        assert_eq!(keys, leading_keys(needs), "{}: partition-key prefixes", function.id);
    }
}

/// The other ports: the OTP topic (publish to it, nothing else), the Graph API, and the
/// dispatch function's SES identity (only `EmailFrom`) and direct SMS.
#[test]
fn each_function_gets_exactly_its_declared_ports() {
    let template = yaml("template.yaml");
    for function in template_functions() {
        let needs = needs(&function.binary);
        let environment = environment(&template, &function);
        for port in [Port::Publisher, Port::Facebook, Port::Email, Port::Sms] {
            for name in port.env_vars() {
                assert_eq!(environment.contains(*name), needs.has(port), "{}: {name}", function.id);
            }
        }
        for name in Port::Store.env_vars() {
            assert!(!needs.has(Port::Store) || environment.contains(*name), "{}: {name}", function.id);
        }
        let topic = function.env("STAMPS_OTP_TOPIC_ARN").and_then(|v| intrinsic_str(v, "Ref"));
        assert_eq!(topic.is_some(), needs.has(Port::Publisher), "{}", function.id);
        let graph = function.env("STAMPS_FACEBOOK_GRAPH_URL").and_then(|v| intrinsic_str(v, "Ref"));
        assert_eq!(graph, needs.has(Port::Facebook).then_some("FacebookGraphUrl"), "{}", function.id);

        let mut sns = Vec::new();
        for (statement, actions) in function.grants("sns") {
            assert_eq!(actions, BTreeSet::from(["Publish".to_string()]), "{}", function.id);
            sns.push(statement.get("Resource").expect("Resource"));
        }
        let on_topic = sns.iter().any(|r| intrinsic_str(r, "Ref") == Some("OtpTopic"));
        let on_phones = sns.iter().any(|r| r.as_str() == Some("*"));
        assert_eq!(on_topic, needs.has(Port::Publisher), "{}: sns:Publish on the topic", function.id);
        assert_eq!(on_phones, needs.has(Port::Sms), "{}: direct SMS", function.id);
        assert_eq!(sns.len(), usize::from(on_topic) + usize::from(on_phones), "{}: {sns:?}", function.id);
        if needs.has(Port::Sms) {
            // SMS goes to phone numbers, which have no ARN: allowed on "*", denied on topics.
            let denies_topics = function.statements().iter().any(|s| {
                str_at(s, &["Effect"]) == Some("Deny")
                    && s.get("Resource")
                        .and_then(|r| intrinsic_str(r, "Sub"))
                        .is_some_and(|r| r.ends_with(":sns:*:*:*"))
            });
            assert!(denies_topics, "{}: must not be able to publish to topics", function.id);
        }

        let ses = function.grants("ses");
        assert_eq!(!ses.is_empty(), needs.has(Port::Email), "{}: SES", function.id);
        for (statement, actions) in ses {
            assert_eq!(actions, BTreeSet::from(["SendEmail".to_string()]), "{}", function.id);
            let from =
                statement.get("Condition").and_then(|c| c.get("StringEquals")).and_then(|c| c.get("ses:FromAddress"));
            assert_eq!(
                from.and_then(|f| intrinsic_str(f, "Ref")),
                Some("EmailFrom"),
                "{}: only from EmailFrom",
                function.id
            );
            let resources = statement.get("Resource").and_then(Yaml::as_sequence).expect("the identities");
            let address = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${EmailFrom}";
            assert_eq!(intrinsic_str(&resources[0], "Sub"), Some(address));
            let domain = serde_yaml_ng::to_string(&resources[1]).expect("yaml");
            assert!(domain.contains("identity/${EmailDomain}") && domain.contains("EmailFrom"), "{domain}");
            // Sending through the configuration set is authorized on the set too.
            let set =
                "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${SesConfigurationSet}";
            assert_eq!(resources.get(2).and_then(|r| intrinsic_str(r, "Sub")), Some(set));
            assert_eq!(resources.len(), 3, "the address, its domain and the configuration set, no other identity");
        }
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
    let text = std::fs::read_to_string(root().join("events/support-console.json")).expect("event");
    let event: Json = serde_json::from_str(&text).expect("console.json");
    assert_eq!(event["version"], "2.0", "events/support-console.json: HTTP API payload 2.0");
    assert_eq!(event["routeKey"], format!("ANY {}", routes::CONSOLE_PATHS[1]), "events/support-console.json");
    assert!(event["rawPath"].as_str().is_some_and(|path| path.starts_with(shared::console::PREFIX)));
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
    assert_eq!(
        destination.get("ConfigurationSetName").and_then(|v| intrinsic_str(v, "Ref")),
        Some("SesConfigurationSet")
    );
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
        assert!(
            level.and_then(Yaml::as_str).is_none_or(|l| matches!(l, "TRACE" | "DEBUG" | "INFO")),
            "{}",
            function.id
        );
    }
}

/// A metric an alarm watches: namespace, name and dimensions (a value is the plain string, or
/// `Ref X` / `GetAtt X.Attr` for an intrinsic).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watched {
    namespace: String,
    name: String,
    dimensions: BTreeMap<String, String>,
}

/// One `AWS::CloudWatch::Alarm`: its ID, properties and the metrics it watches (one, or those
/// of its metric math).
struct Alarm {
    id: String,
    properties: Yaml,
    watched: Vec<Watched>,
}

impl Alarm {
    fn watches(&self, namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> bool {
        let dimensions: BTreeMap<String, String> =
            dimensions.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.watched.iter().any(|w| w.namespace == namespace && w.name == name && w.dimensions == dimensions)
    }
}

fn dimension_value(value: &Yaml) -> String {
    match intrinsic(value) {
        Some((tag, argument)) => format!("{tag} {}", argument.as_str().unwrap_or_else(|| panic!("{value:?}"))),
        None => value.as_str().unwrap_or_else(|| panic!("dimension value {value:?}")).to_string(),
    }
}

fn watched(metric: &Yaml) -> Watched {
    let dimensions = metric
        .get("Dimensions")
        .and_then(Yaml::as_sequence)
        .map(|list| {
            list.iter()
                .map(|d| {
                    (str_at(d, &["Name"]).expect("Name").to_string(), dimension_value(d.get("Value").expect("Value")))
                })
                .collect()
        })
        .unwrap_or_default();
    Watched {
        namespace: str_at(metric, &["Namespace"]).expect("Namespace").to_string(),
        name: str_at(metric, &["MetricName"]).expect("MetricName").to_string(),
        dimensions,
    }
}

fn template_alarms(template: &Yaml) -> Vec<Alarm> {
    let resources = template.get("Resources").and_then(Yaml::as_mapping).expect("Resources");
    resources
        .iter()
        .filter(|(_, resource)| str_at(resource, &["Type"]) == Some("AWS::CloudWatch::Alarm"))
        .map(|(id, resource)| {
            let id = id.as_str().expect("logical ID").to_string();
            let properties = resource.get("Properties").cloned().expect("Properties");
            let watched = match properties.get("Metrics").and_then(Yaml::as_sequence) {
                Some(queries) => queries
                    .iter()
                    .filter_map(|query| query.get("MetricStat").and_then(|stat| stat.get("Metric")))
                    .map(watched)
                    .collect(),
                None => vec![watched(&properties)],
            };
            Alarm { id, properties, watched }
        })
        .collect()
}

/// Item 2 of issue 22: every function and every queue has its alarms, every route its 5xx rate
/// and p99 latency, and the table, SES and the attack counters theirs; each notifies the alarm
/// topic; the dashboard shows every alarm and function. The alarms are generated by
/// scripts/gen-alarms.py, which must have nothing left to write.
#[test]
fn every_function_and_queue_has_its_alarms() {
    let template = yaml("template.yaml");
    let alarms = template_alarms(&template);
    let find = |what: &str, test: &dyn Fn(&Alarm) -> bool| -> Vec<String> {
        let found: Vec<String> = alarms.iter().filter(|a| test(a)).map(|a| a.id.clone()).collect();
        assert!(!found.is_empty(), "no alarm on {what}");
        found
    };
    let service = ("Service", shared::metrics::SERVICE);

    for alarm in &alarms {
        let topic = |key: &str| {
            let actions = alarm.properties.get(key).and_then(Yaml::as_sequence).expect(key);
            actions.iter().map(|a| intrinsic_str(a, "Ref").unwrap_or("?").to_string()).collect::<Vec<_>>()
        };
        assert_eq!(topic("AlarmActions"), ["AlarmTopic"], "{}", alarm.id);
        assert_eq!(topic("OKActions"), ["AlarmTopic"], "{}", alarm.id);
        assert_eq!(str_at(&alarm.properties, &["TreatMissingData"]), Some("notBreaching"), "{}", alarm.id);
        assert!(alarm.properties.get("Threshold").is_some(), "{}", alarm.id);
        // Our own metrics: names the code emits, with one of the dimension sets it emits them by.
        for w in alarm.watched.iter().filter(|w| w.namespace == shared::metrics::NAMESPACE) {
            let metric = shared::metrics::Metric::ALL
                .into_iter()
                .find(|m| m.name() == w.name)
                .unwrap_or_else(|| panic!("{}: no metric {}", alarm.id, w.name));
            let keys: BTreeSet<&str> = w.dimensions.keys().map(String::as_str).collect();
            let emitted =
                metric.dimension_sets().iter().any(|set| set.iter().map(|d| d.name()).collect::<BTreeSet<_>>() == keys);
            assert!(emitted, "{}: {} is not emitted with dimensions {keys:?}", alarm.id, w.name);
            assert_eq!(w.dimensions.get("Service").map(String::as_str), Some(shared::metrics::SERVICE), "{}", alarm.id);
        }
    }

    for function in template_functions() {
        let name = format!("Ref {}", function.id);
        for metric in ["Errors", "Throttles"] {
            find(&format!("{} {metric}", function.id), &|a| {
                a.watches("AWS/Lambda", metric, &[("FunctionName", &name)])
            });
        }
    }
    for route in ROUTES {
        let function = ("Function", route.function);
        let rate = find(&format!("{} 5xx", route.function), &|a| {
            ["2xx", "4xx", "5xx"]
                .iter()
                .all(|class| a.watches("StampsAuth", "Requests", &[service, function, ("StatusClass", class)]))
        });
        for id in rate {
            let alarm = alarms.iter().find(|a| a.id == id).expect("alarm");
            assert_eq!(
                intrinsic_str(alarm.properties.get("Threshold").expect("Threshold"), "Ref"),
                Some("ServerErrorRateAlarmPercent")
            );
        }
        find(&format!("{} p99 latency", route.function), &|a| {
            a.watches("StampsAuth", "Latency", &[service, function])
                && str_at(&a.properties, &["ExtendedStatistic"]) == Some("p99")
        });
    }

    // Every queue either is a dead-letter queue (any message in it is an alarm) or feeds a
    // function (its oldest message's age is).
    let resources = template.get("Resources").and_then(Yaml::as_mapping).expect("Resources");
    let queues: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| str_at(r, &["Type"]) == Some("AWS::SQS::Queue"))
        .filter_map(|(id, _)| id.as_str())
        .collect();
    assert!(queues.len() >= 4, "{queues:?}");
    let text = serde_yaml_ng::to_string(&template).expect("yaml");
    for queue in queues {
        let properties = resource(&template, queue).get("Properties").expect("Properties");
        let name = format!("GetAtt {queue}.QueueName");
        let is_dead_letter = resources.iter().any(|(_, r)| {
            let target =
                r.get("Properties").and_then(|p| p.get("RedrivePolicy")).and_then(|p| p.get("deadLetterTargetArn"));
            target.and_then(|t| intrinsic_str(t, "GetAtt")) == Some(format!("{queue}.Arn").as_str())
        });
        if is_dead_letter {
            let alarms_on = find(&format!("{queue} messages"), &|a| {
                a.watches("AWS/SQS", "ApproximateNumberOfMessagesVisible", &[("QueueName", &name)])
            });
            for id in alarms_on {
                let alarm = alarms.iter().find(|a| a.id == id).expect("alarm");
                assert_eq!(
                    alarm.properties.get("Threshold").and_then(Yaml::as_u64),
                    Some(1),
                    "{id}: the first message"
                );
            }
        } else {
            assert!(properties.get("RedrivePolicy").is_some(), "{queue}: a queue that is no DLQ parks its failures");
            assert!(text.contains(&format!("Queue: !GetAtt {queue}.Arn")), "{queue} feeds a function");
            find(&format!("{queue} age"), &|a| {
                a.watches("AWS/SQS", "ApproximateAgeOfOldestMessage", &[("QueueName", &name)])
            });
        }
    }

    // The table: throttles and system errors of every operation the store makes.
    let mut operations: BTreeSet<&str> = routes::functions()
        .flat_map(|(_, needs)| needs.table.actions.iter().map(|action| action.as_str()))
        .map(|action| if action == "ConditionCheckItem" { "TransactWriteItems" } else { action })
        .collect();
    operations.insert("TransactWriteItems");
    for metric in ["ThrottledRequests", "SystemErrors"] {
        find(&format!("table {metric}"), &|a| {
            operations
                .iter()
                .all(|op| a.watches("AWS/DynamoDB", metric, &[("TableName", "Ref Table"), ("Operation", op)]))
        });
    }

    // SES: the account's rates, alarmed below the levels at which AWS reviews the account.
    let parameters = template.get("Parameters").expect("Parameters");
    for (metric, review) in [("Reputation.BounceRate", 0.05), ("Reputation.ComplaintRate", 0.001)] {
        for id in find(metric, &|a| a.watches("AWS/SES", metric, &[])) {
            let alarm = alarms.iter().find(|a| a.id == id).expect("alarm");
            let parameter =
                intrinsic_str(alarm.properties.get("Threshold").expect("Threshold"), "Ref").expect("a parameter");
            let bound =
                |key: &str| parameters.get(parameter).and_then(|p| p.get(key)).and_then(Yaml::as_f64).expect(key);
            assert!(bound("Default") < review && bound("MaxValue") < review, "{parameter}: below {review}");
        }
    }
    // An attack under way: PIN blocks, password throttles across the service.
    for metric in ["PinBlocks", "PasswordThrottles"] {
        find(metric, &|a| a.watches("StampsAuth", metric, &[service]));
    }

    // The topic, and its optional e-mail subscription.
    assert_eq!(str_at(resource(&template, "AlarmTopic"), &["Type"]), Some("AWS::SNS::Topic"));
    let subscription = resource(&template, "AlarmEmailSubscription");
    assert_eq!(str_at(subscription, &["Condition"]), Some("HasAlarmEmail"));
    assert_eq!(str_at(subscription, &["Properties", "Protocol"]), Some("email"));
    assert_eq!(
        subscription.get("Properties").and_then(|p| p.get("Endpoint")).and_then(|e| intrinsic_str(e, "Ref")),
        Some("AlarmEmail")
    );
    assert_eq!(str_at(parameters, &["AlarmEmail", "Default"]), Some(""));

    // One dashboard: every alarm, every function, every route's figures; valid JSON.
    let body =
        resource(&template, "Dashboard").get("Properties").and_then(|p| p.get("DashboardBody")).expect("DashboardBody");
    let body = intrinsic_str(body, "Sub").expect("DashboardBody: !Sub");
    for alarm in &alarms {
        assert!(body.contains(&format!("\"${{{}.Arn}}\"", alarm.id)), "the dashboard lacks {}", alarm.id);
    }
    for function in template_functions() {
        assert!(body.contains(&format!("\"${{{}}}\"", function.id)), "the dashboard lacks {}", function.id);
    }
    for route in ROUTES {
        assert!(
            body.contains(&format!("\"Function\", \"{}\"", route.function)),
            "the dashboard lacks {}",
            route.function
        );
    }
    let substituted: String = {
        let mut out = String::new();
        let mut rest = body;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            out.push('0');
            rest = &rest[end + 1..];
        }
        out + rest
    };
    let parsed: Json = serde_json::from_str(&substituted).expect("the dashboard body is JSON");
    assert!(parsed["widgets"].as_array().is_some_and(|w| !w.is_empty()));

    let check = std::process::Command::new("python3")
        .arg(root().join("scripts/gen-alarms.py"))
        .arg("--check")
        .output()
        .expect("python3 runs scripts/gen-alarms.py");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}
