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
    resolve_with(app, merchant_id, fields, field, false).await
}

/// `resolve` where a miss by email, mobile or member ID costs the calls of a hit (on DynamoDB
/// 2 reads either way; see `Customers::customer_by_evenly`), for the password checks, whose
/// answers must not tell by their cost whether the customer exists. (Strings of digits can
/// name a customer several ways, first hit wins: their cost still depends on which way hits.)
pub async fn resolve_evenly(app: &App, merchant_id: u64, fields: &Fields, field: &str) -> Result<Customer, ApiError> {
    resolve_with(app, merchant_id, fields, field, true).await
}

async fn resolve_with(
    app: &App,
    merchant_id: u64,
    fields: &Fields,
    field: &str,
    evenly: bool,
) -> Result<Customer, ApiError> {
    let value = fields.value(field).ok_or_else(|| ApiError::required(field))?;
    let plan = lookup_plan(value, app.config.default_region).map_err(|reason| match reason {
        NotAnIdentifier::Missing => ApiError::required(field),
        NotAnIdentifier::WrongType => ApiError::invalid(field, "Must be an integer or a string."),
    })?;
    let store = app.store()?;
    for lookup in plan {
        let (unique, value) = match &lookup {
            Lookup::Id(id) => match store.customer(merchant_id, *id).await? {
                Some(customer) => return Ok(customer),
                None => continue,
            },
            Lookup::Email(email) => (UniqueField::Email, email),
            Lookup::Mobile(mobile) => (UniqueField::Mobile, mobile),
            Lookup::MemberId(member) => (UniqueField::MemberId, member),
        };
        let found = match evenly {
            true => store.customer_by_evenly(merchant_id, unique, value).await?,
            false => store.customer_by(merchant_id, unique, value).await?,
        };
        if let Some(customer) = found {
            return Ok(customer);
        }
    }
    Err(ApiError::invalid_user(field))
}
