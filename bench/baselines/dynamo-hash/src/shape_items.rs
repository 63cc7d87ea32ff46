//! What the baselines making a route's exact calls (`baseline-dynamo-hash` with `BENCH_SHAPE`,
//! `baseline-dynamo-sns`, which includes this file by path) share: their items' keys and
//! values, and the read of a route-like item the harness's workload writes (`BENCH`/`*-SHAPE`,
//! `bench/coldstart/src/workload.rs`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// An HMAC-SHA256 in hex, as the project stores an app key's, a token's or an OTP's.
pub const SECRET_HASH: &str = "5f0d6e3b1c2a4f7e9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddcc";

pub fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

pub fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

/// The key of the item `BENCH`/`sk`.
pub fn key(sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), s("BENCH")), ("sk".to_string(), s(sk))])
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(0))
}

/// Reads the route-like item `BENCH`/`sk`, so that the SDK parses as much as the route's read
/// does: whether it was there.
pub async fn read_fixture(client: &aws_sdk_dynamodb::Client, table: &str, sk: &str) -> bool {
    let read = client.get_item().table_name(table).set_key(Some(key(sk))).send().await;
    read.is_ok_and(|output| output.item.is_some())
}
