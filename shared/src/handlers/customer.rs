//! Finding the customer a request names (docs/api.md section 1.3), among the calling merchant's only.

use crate::App;
use crate::domain::identifier::{Lookup, NotAnIdentifier, lookup_plan};
use crate::error::ApiError;
use crate::http::body::Fields;
use crate::store::{Customer, UniqueField};

/// The customer that `fields[field]` names. Unknown, or a customer of another merchant:
/// `invalid_user` with the request's field name. Storage: 1 read by primary key, 2 by email,
/// mobile or member ID (plus one per earlier miss for strings of digits).
pub async fn resolve(app: &App, merchant_id: u64, fields: &Fields, field: &str) -> Result<Customer, ApiError> {
    let value = fields.value(field).ok_or_else(|| ApiError::required(field))?;
    let plan = lookup_plan(value, app.config.default_region).map_err(|reason| match reason {
        NotAnIdentifier::Missing => ApiError::required(field),
        NotAnIdentifier::WrongType => ApiError::invalid(field, "Must be an integer or a string."),
    })?;
    let store = app.store()?;
    for lookup in plan {
        let found = match &lookup {
            Lookup::Id(id) => store.customer(merchant_id, *id).await?,
            Lookup::Email(email) => store.customer_by(merchant_id, UniqueField::Email, email).await?,
            Lookup::Mobile(mobile) => store.customer_by(merchant_id, UniqueField::Mobile, mobile).await?,
            Lookup::MemberId(member) => store.customer_by(merchant_id, UniqueField::MemberId, member).await?,
        };
        if let Some(customer) = found {
            return Ok(customer);
        }
    }
    Err(ApiError::invalid_user(field))
}
