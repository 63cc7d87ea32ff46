//! Operator actions shared by the CLI and the tests: merchants (created, imported with their
//! keys, keys rotated), customers (one at a time, imported at scale, exported), and message
//! templates, with the same validation the API applies.

mod import;
mod merchants;

pub use import::{
    CustomerLine, ImportOptions, ImportProgress, ImportReport, ImportSummary, MAX_LINE_BYTES, export_customers,
    import_customers, import_customers_from, import_customers_with,
};
pub use merchants::{MIN_IMPORTED_KEY_BYTES, RotatedKey, import_merchants_from, rotate_api_key};

use crate::App;
use crate::domain::identifier::normalize_email;
use crate::domain::legacy_hash;
use crate::domain::mobile::parse_mobile;
use crate::domain::name::{BadName, MAX_NAME_CHARS, check_name};
use crate::domain::secrets::ApiKey;
use crate::store::{Customer, Merchant, NewCustomer, Sequence, StoreError, Template};

/// Why an operator action was refused, in one line.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("merchant {0} does not exist")]
    NoSuchMerchant(u64),
    #[error("merchant {merchant} already has a customer with this {field}")]
    Duplicate { merchant: u64, field: &'static str },
    #[error("customer ID {0} is already taken")]
    IdTaken(u64),
    #[error("{0}")]
    Failed(String),
}

fn failed(error: impl std::fmt::Display) -> AdminError {
    AdminError::Failed(error.to_string())
}

/// A new merchant and its API key (shown only this once; the store keeps a keyed hash).
pub async fn create_merchant(app: &App, name: &str) -> Result<(Merchant, String), AdminError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::Invalid("the merchant name must not be blank".into()));
    }
    let store = app.store().map_err(failed)?;
    let id = app.setup().map_err(failed)?.next_id(Sequence::Merchant).await.map_err(failed)?;
    let api_key = ApiKey::generate(&crate::random::OsRandom, &app.hash_key, id).map_err(failed)?;
    let merchant = Merchant { id, name: name.to_string(), created_at: app.clock.now() };
    store.create_merchant(&merchant, &ApiKey::stored_hash(&app.hash_key, &api_key)).await.map_err(failed)?;
    Ok((merchant, api_key))
}

async fn require_merchant(app: &App, merchant: u64) -> Result<(), AdminError> {
    match app.store().map_err(failed)?.merchant(merchant).await.map_err(failed)? {
        Some(_) => Ok(()),
        None => Err(AdminError::NoSuchMerchant(merchant)),
    }
}

/// A customer as an operator describes it; blank values count as absent.
#[derive(Debug, Clone, Default)]
pub struct CustomerInput {
    pub id: Option<u64>,
    pub merchant: u64,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub member_id: Option<String>,
    pub name: Option<String>,
    /// A password in clear, hashed here.
    pub password: Option<String>,
    /// A hash to keep as it is: Django's formats or an argon2id PHC string.
    pub password_hash: Option<String>,
}

fn present(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The customer `input` describes, validated as the API would: name (bounded: it is
/// rendered into messages), email shape, mobile number (stored in E.164), password hash format.
async fn new_customer(app: &App, input: CustomerInput) -> Result<NewCustomer, AdminError> {
    let name = present(input.name).unwrap_or_default();
    check_name(&name).map_err(|bad| {
        AdminError::Invalid(match bad {
            BadName::TooLong => format!("the name is longer than {MAX_NAME_CHARS} characters"),
            BadName::ControlCharacter => "the name contains control characters".to_string(),
        })
    })?;
    let email = present(input.email).map(|email| normalize_email(&email));
    if let Some(email) = &email
        && !looks_like_email(email)
    {
        return Err(AdminError::Invalid(format!("{email:?} is not a valid email address")));
    }
    let mobile = match present(input.mobile) {
        None => None,
        Some(text) => Some(
            parse_mobile(&text, app.config.default_region)
                .ok_or_else(|| AdminError::Invalid(format!("{text:?} is not a valid mobile phone number")))?,
        ),
    };
    let password_hash = match (input.password, present(input.password_hash)) {
        (Some(_), Some(_)) => return Err(AdminError::Invalid("give a password or a password hash, not both".into())),
        (Some(password), None) => Some(app.hasher.hash_blocking(password).await.map_err(failed)?),
        (None, Some(hash)) => {
            legacy_hash::check_importable(&hash).map_err(|e| AdminError::Invalid(format!("password: {e}")))?;
            Some(hash)
        }
        (None, None) => None,
    };
    Ok(NewCustomer {
        id: input.id,
        merchant_id: input.merchant,
        name,
        email,
        mobile,
        member_id: present(input.member_id),
        password_hash,
        created_at: app.clock.now(),
        ..NewCustomer::default()
    })
}

fn creation_error(error: StoreError, merchant: u64, id: Option<u64>) -> AdminError {
    match error {
        StoreError::Duplicate(field) => AdminError::Duplicate { merchant, field: field.as_str() },
        StoreError::AlreadyExists => AdminError::IdTaken(id.unwrap_or_default()),
        other => failed(other),
    }
}

pub async fn create_customer(app: &App, input: CustomerInput) -> Result<Customer, AdminError> {
    require_merchant(app, input.merchant).await?;
    let (merchant, id) = (input.merchant, input.id);
    let new = new_customer(app, input).await?;
    app.store().map_err(failed)?.create_customer(new, None).await.map_err(|e| creation_error(e, merchant, id))
}

/// A template as an operator gives it; absent parts stay absent.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    pub merchant: u64,
    pub code: String,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub sms: Option<String>,
}

/// Stores (or replaces) a merchant's template after checking that every part renders.
pub async fn put_template(app: &App, input: TemplateInput) -> Result<Template, AdminError> {
    require_merchant(app, input.merchant).await?;
    let code = input.code.trim().to_string();
    let valid_code = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !valid_code {
        return Err(AdminError::Invalid("a template code is 1-64 letters, digits, '_', '-' or '.'".into()));
    }
    let template = Template {
        merchant_id: input.merchant,
        code,
        subject: present(input.subject),
        text: present(input.text),
        html: present(input.html),
        sms: present(input.sms),
        updated_at: app.clock.now(),
    };
    if template.subject.is_none() && template.sms.is_none() {
        return Err(AdminError::Invalid("a template needs an email subject (with a body) or an SMS text".into()));
    }
    if template.subject.is_some() && template.text.is_none() && template.html.is_none() {
        return Err(AdminError::Invalid("an email template needs a text or HTML body".into()));
    }
    #[cfg(feature = "render")]
    crate::delivery::render::validate(&template).map_err(|e| AdminError::Invalid(e.to_string()))?;
    app.store().map_err(failed)?.put_template(&template).await.map_err(failed)?;
    Ok(template)
}

pub async fn templates(app: &App, merchant: u64) -> Result<Vec<Template>, AdminError> {
    require_merchant(app, merchant).await?;
    app.store().map_err(failed)?.templates(merchant).await.map_err(failed)
}

pub use crate::domain::identifier::looks_like_email;

#[cfg(test)]
mod tests {
    use super::looks_like_email;

    #[test]
    fn email_shape() {
        assert!(looks_like_email("ann@example.com"));
        assert!(!looks_like_email("ann"));
        assert!(!looks_like_email("@example.com"));
        assert!(!looks_like_email("ann@example"));
        assert!(!looks_like_email("a b@example.com"));
    }
}
