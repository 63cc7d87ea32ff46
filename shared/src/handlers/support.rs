//! What a merchant's support sees of a customer (docs/api.md section 11): the security state
//! (`customer-status`) and the security history (`customer-events`). Merchant credentials as on
//! every merchant route; another merchant's customer is `invalid_user`. The work is done by
//! `status::customer_status` and `history::page`, which the CLI calls too.

use serde_json::{Value, json};

use crate::App;
use crate::error::ApiError;
use crate::handlers::{begin, customer};
use crate::history::{self, DEFAULT_LIMIT, MAX_LIMIT};
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};
use crate::status;

/// `POST /api/auth/customer-status` `{user}`. Storage: the customer lookup, then 4 reads in
/// parallel.
pub async fn customer_status(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    let customer = customer::resolve(app, merchant_id, &fields, "user").await?;
    let status = status::customer_status(app, &customer).await?;
    let mut body = serde_json::to_value(&status).map_err(|error| {
        tracing::error!(%error, "could not encode a customer's status");
        ApiError::internal()
    })?;
    body["status"] = json!("ok");
    Ok(Reply::ok(body))
}

/// `limit`: an integer from 1 to `MAX_LIMIT`, `DEFAULT_LIMIT` when absent.
pub fn limit(fields: &Fields) -> Result<u32, ApiError> {
    if !fields.has("limit") {
        return Ok(DEFAULT_LIMIT);
    }
    let invalid = || ApiError::invalid("limit", format!("Must be an integer from 1 to {MAX_LIMIT}."));
    let limit = fields.positive_integer("limit").map_err(|_| invalid())?;
    u32::try_from(limit).ok().filter(|limit| *limit <= MAX_LIMIT).ok_or_else(invalid)
}

/// `before`: the `next` of an earlier page, or absent.
pub fn before(fields: &Fields) -> Result<Option<String>, ApiError> {
    match fields.optional_text("before")? {
        Some(before) if !history::is_id(&before) => {
            Err(ApiError::invalid("before", "Must be the \"next\" value of an earlier page."))
        }
        before => Ok(before),
    }
}

/// `POST /api/auth/customer-events` `{user, limit?, before?}`: the history, newest first.
/// Storage: the customer lookup, 1 query.
pub async fn customer_events(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("user") {
        return Err(ApiError::required("user"));
    }
    let (limit, before) = (limit(&fields)?, before(&fields)?);
    let customer = customer::resolve(app, merchant_id, &fields, "user").await?;
    let page = history::page(app, merchant_id, customer.id, limit, before.as_deref()).await?;
    let events: Vec<Value> = page.events.iter().map(history::to_json).collect();
    Ok(Reply::ok(json!({"status": "ok", "user": customer.id, "events": events, "next": page.next})))
}
