//! Support for the integration tests: a server per test over its own store, and the AWS
//! side (moto) for the DynamoDB, SNS, SES and SQS tests.

pub mod app;
pub mod fault_proxy;
pub mod jwt;
pub mod moto;
pub mod runtime_api;

/// An HTTP client for the tests. reqwest's TLS is compiled in through shared's `facebook`
/// feature and needs a crypto provider installed before any client is built.
pub fn http_client() -> reqwest::Client {
    shared::facebook::install_crypto_provider();
    reqwest::Client::new()
}
