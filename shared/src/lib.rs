//! stamps-auth: the library every binary is built on.
//!
//! - `domain`: pure rules (tokens, hashing, identifiers, mobile numbers, PINs, OTPs,
//!   passwords); time and randomness are parameters.
//! - `store`: the storage port and its adapters (DynamoDB, SQLite).
//! - `delivery`: the OTP event, its ports (publisher, email, SMS) and adapters (SNS, SES,
//!   local outbox), and the dispatch rules.
//! - `http`: body parsing, credentials, the route table (each function's one declaration:
//!   path, handler and `needs`) and the error mapping.
//! - `startup`: a function's ports, built from its declaration.
//! - `hashing`, `random`: the adapters behind the domain's hashing policy (argon2's blocking
//!   pool, working memory and timing) and its randomness (the operating system's source).
//! - `handlers`: the routes.
//! - `metrics`, `history`, `status`: what operators and support see (EMF metrics, a customer's
//!   security history and state).
//!
//! Each adapter is behind a cargo feature, so a function links only the clients it uses.

pub mod admin;
pub mod app;
#[cfg(feature = "aws")]
pub mod aws;
pub mod clock;
pub mod config;
#[cfg(feature = "console")]
pub mod console;
pub mod context;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod facebook;
pub mod handlers;
pub mod hashing;
pub mod history;
pub mod http;
#[cfg(feature = "https")]
pub mod https;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(all(feature = "lambda-sqs", feature = "aws"))]
pub mod lambda_ses;
#[cfg(all(feature = "lambda-sqs", feature = "render"))]
pub mod lambda_sqs;
pub mod logging;
pub mod metrics;
pub mod needs;
pub mod random;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "lambda-sqs")]
pub mod sqs_batches;
pub mod startup;
pub mod status;
pub mod store;

pub use app::App;
pub use error::{ApiError, ErrorCode};
