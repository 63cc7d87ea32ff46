//! The request of `baseline-dynamo-get`: one GetItem of the benchmark item and its answer. Also
//! run by `baseline-dynamo-hash` after its hash (included there by path), so that the two
//! baselines differ by the hash alone.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Response};

/// Reads the item `BENCH`/`BENCH` of `table`: whether the call succeeded.
pub async fn get(client: &aws_sdk_dynamodb::Client, table: &str) -> bool {
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("BENCH".into()))
        .key("sk", AttributeValue::S("BENCH".into()))
        .send()
        .await;
    item.is_ok()
}

/// Reads the item `count` times in a row, stopping at the first failed call: whether all
/// succeeded.
#[allow(dead_code)] // only `baseline-dynamo-hash` makes calls before its answer
pub async fn get_times(client: &aws_sdk_dynamodb::Client, table: &str, count: usize) -> bool {
    for _ in 0..count {
        if !get(client, table).await {
            return false;
        }
    }
    true
}

/// 200 `{"found":true}`, or 503 `{"found":false}` if a call failed.
pub fn reply(found: bool) -> Result<Response<Body>, Error> {
    let status = if found { 200 } else { 503 };
    let body = Body::Text(format!("{{\"found\":{found}}}"));
    Ok(Response::builder().status(status).body(body)?)
}

/// Reads the item and answers whether that worked.
pub async fn answer(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Response<Body>, Error> {
    reply(get(client, table).await)
}
