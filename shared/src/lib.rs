//! stamps-auth: the library every binary is built on.
//!
//! - `domain`: pure rules (tokens, hashing, identifiers, mobile numbers); time and randomness
//!   are parameters.
//! - `store`: the storage port and its adapters (DynamoDB, SQLite).
//! - `http`: body parsing, credentials, the route table and the error mapping.
//! - `handlers`: one module per route.

pub mod app;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod http;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod logging;
pub mod store;

pub use app::App;
pub use error::{ApiError, ErrorCode};
