//! One module per route. Each exposes `handle(&App, ApiRequest) -> Result<Reply, ApiError>`
//! and documents its storage round trips.

pub mod token;
pub mod token_verify;
pub mod validate_mobile_number;
