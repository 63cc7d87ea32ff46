//! Support for the integration tests: a server per test over its own store, and the AWS
//! side (moto) for the DynamoDB, SNS, SES and SQS tests.

pub mod app;
pub mod fault_proxy;
pub mod graph;
pub mod jwt;
pub mod moto;
pub mod runtime_api;
pub mod tls_proxy;

/// An HTTP client for the tests (plain HTTP to loopback servers).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::new()
}
