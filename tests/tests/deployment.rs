//! The route table is the one source of truth: `template.yaml`, `events/`, `functions/` and
//! `docs/openapi.yaml` must say exactly what it says — every route, nothing extra.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use shared::http::ROUTES;

/// The one function with no HTTP route: it consumes the OTP queue.
const DISPATCH: &str = "otp-dispatch";

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

/// Every `AWS::Serverless::Function` of the template: (logical ID, properties, binary).
fn template_functions() -> Vec<(String, Yaml, String)> {
    let template = yaml("template.yaml");
    let resources = template.get("Resources").and_then(Yaml::as_mapping).expect("Resources");
    resources
        .iter()
        .filter(|(_, resource)| str_at(resource, &["Type"]) == Some("AWS::Serverless::Function"))
        .map(|(id, resource)| {
            let id = id.as_str().expect("logical ID").to_string();
            assert_eq!(str_at(resource, &["Metadata", "BuildMethod"]), Some("rust-cargolambda"), "{id}");
            let binary = str_at(resource, &["Metadata", "BuildProperties", "Binary"]).expect("Binary").to_string();
            (id, resource.get("Properties").cloned().expect("Properties"), binary)
        })
        .collect()
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

#[test]
fn every_function_folder_is_a_route_or_the_dispatcher_and_nothing_else() {
    let mut expected = route_functions();
    expected.insert(DISPATCH.to_string());
    assert_eq!(function_folders(), expected);
}

#[test]
fn the_template_has_exactly_the_route_table() {
    let functions = template_functions();
    let binaries: Vec<&str> = functions.iter().map(|(_, _, binary)| binary.as_str()).collect();
    let unique: BTreeSet<String> = binaries.iter().map(|b| b.to_string()).collect();
    assert_eq!(unique.len(), binaries.len(), "a binary deployed twice: {binaries:?}");
    assert_eq!(unique, function_folders(), "template functions vs functions/");

    let mut http_routes = BTreeSet::new();
    for (id, properties, binary) in &functions {
        let events = properties.get("Events").and_then(Yaml::as_mapping).expect("Events");
        for (_, event) in events {
            match str_at(event, &["Type"]) {
                Some("HttpApi") => {
                    let path = str_at(event, &["Properties", "Path"]).expect("Path").to_string();
                    // ANY: the function itself answers OPTIONS and a SPEC 405 to other methods.
                    assert_eq!(str_at(event, &["Properties", "Method"]), Some("ANY"), "{id}");
                    http_routes.insert((path, binary.clone()));
                }
                Some("SQS") => {
                    assert_eq!(binary, DISPATCH, "{id}");
                    let types = event.get("Properties").and_then(|p| p.get("FunctionResponseTypes"));
                    assert_eq!(
                        types
                            .and_then(Yaml::as_sequence)
                            .map(|s| s.iter().filter_map(Yaml::as_str).collect::<Vec<_>>()),
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
fn storage_free_functions_get_no_permissions_and_token_only_reads() {
    for (id, properties, binary) in template_functions() {
        let policies = properties.get("Policies");
        match binary.as_str() {
            "token-verify" | "validate-mobile-number" => assert!(policies.is_none(), "{id} needs no permissions"),
            "token" => {
                let text = serde_yaml_ng::to_string(&policies).expect("yaml");
                assert!(text.contains("dynamodb:GetItem"), "{text}");
                for write in ["PutItem", "UpdateItem", "DeleteItem"] {
                    assert!(!text.contains(write), "{id} only reads: {text}");
                }
            }
            _ => assert!(policies.is_some(), "{id} has no policy"),
        }
    }
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
        assert!(operations.contains(&"post"), "{path:?}: {operations:?}");
        let post = item.get("post").expect("post");
        assert!(post.get("requestBody").is_some(), "{path:?}");
        let responses = post.get("responses").and_then(Yaml::as_mapping).expect("responses");
        let codes: Vec<&str> = responses.keys().filter_map(Yaml::as_str).collect();
        assert!(codes.contains(&"200") && codes.iter().any(|c| c.starts_with('4')), "{path:?}: {codes:?}");
    }
}
