//! Support for the integration tests: a server per test over its own store, and the AWS
//! side (moto) for the DynamoDB, SNS, SES and SQS tests.

pub mod app;
pub mod jwt;
pub mod moto;
