//! The request of `baseline-dynamo-get`: one GetItem of the benchmark item and its answer. Also
//! run by `baseline-dynamo-hash` after its hash (included there by path), so that the two
//! baselines differ by the hash alone.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Response};

/// Reads the item `BENCH`/`BENCH` of `table`: 200 `{"found":true}`, or 503 if the call failed.
pub async fn answer(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Response<Body>, Error> {
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("BENCH".into()))
        .key("sk", AttributeValue::S("BENCH".into()))
        .send()
        .await;
    let status = if item.is_ok() { 200 } else { 503 };
    let body = Body::Text(format!("{{\"found\":{}}}", item.is_ok()));
    Ok(Response::builder().status(status).body(body)?)
}
