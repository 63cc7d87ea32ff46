//! How the `user` field (also `identifier`, `email`) names a customer (docs/api.md section 1.3).

use serde_json::Value;

use crate::domain::mobile::{Region, parse_mobile};

/// One way to look a customer up, tried in the order `lookup_plan` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Id(u64),
    /// Lowercased.
    Email(String),
    /// E.164.
    Mobile(String),
    MemberId(String),
}

/// What the field held, when it can name a customer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAnIdentifier {
    /// Blank, null or absent.
    Missing,
    /// A boolean, array or object.
    WrongType,
}

/// The largest customer ID: the stores allocate IDs from 1 upwards and SQLite keeps them as
/// signed 64-bit integers, so a larger number names no customer (on either store).
pub const MAX_ID: u64 = i64::MAX as u64;

/// A customer ID, if `id` can be one.
pub fn customer_id(id: u64) -> Option<u64> {
    (1..=MAX_ID).contains(&id).then_some(id)
}

/// The lookups to try, in order; the first that finds a customer wins. An empty plan means
/// the value cannot name any customer (e.g. a negative number).
pub fn lookup_plan(value: &Value, region: Region) -> Result<Vec<Lookup>, NotAnIdentifier> {
    match value {
        Value::Null => Err(NotAnIdentifier::Missing),
        Value::Number(n) => Ok(n.as_u64().and_then(customer_id).map(Lookup::Id).into_iter().collect()),
        Value::String(text) => {
            let text = text.trim();
            if text.is_empty() {
                return Err(NotAnIdentifier::Missing);
            }
            Ok(text_plan(text, region))
        }
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(NotAnIdentifier::WrongType),
    }
}

fn text_plan(text: &str, region: Region) -> Vec<Lookup> {
    if text.contains('@') {
        return vec![Lookup::Email(normalize_email(text))];
    }
    let digits = text.strip_prefix('+').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let mut plan = Vec::with_capacity(3);
        if let Some(e164) = parse_mobile(text, region) {
            plan.push(Lookup::Mobile(e164));
        }
        plan.push(Lookup::MemberId(text.to_string()));
        if !text.starts_with('+')
            && let Some(id) = text.parse::<u64>().ok().and_then(customer_id)
        {
            plan.push(Lookup::Id(id));
        }
        return plan;
    }
    vec![Lookup::MemberId(text.to_string())]
}

/// Emails are unique and matched case-insensitively: stored and compared lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible address: one `@`, something before it, a dotted domain, no spaces. Whether it
/// exists is for the mail server to say.
pub fn looks_like_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(value: Value) -> Result<Vec<Lookup>, NotAnIdentifier> {
        lookup_plan(&value, Region::parse("ID").expect("region"))
    }

    #[test]
    fn integer_is_the_primary_key() {
        assert_eq!(plan(json!(42)), Ok(vec![Lookup::Id(42)]));
        assert_eq!(plan(json!(-1)), Ok(vec![]));
        assert_eq!(plan(json!(1.5)), Ok(vec![]));
        assert_eq!(plan(json!(MAX_ID)), Ok(vec![Lookup::Id(MAX_ID)]));
        assert_eq!(plan(json!(MAX_ID + 1)), Ok(vec![]));
        assert_eq!(plan(json!(u64::MAX)), Ok(vec![]));
        assert_eq!(plan(json!((MAX_ID + 1).to_string())), Ok(vec![Lookup::MemberId((MAX_ID + 1).to_string())]));
    }

    #[test]
    fn string_with_at_is_a_case_insensitive_email() {
        assert_eq!(plan(json!(" Ann@Example.COM ")), Ok(vec![Lookup::Email("ann@example.com".into())]));
    }

    #[test]
    fn digits_try_mobile_then_member_id_then_primary_key() {
        assert_eq!(
            plan(json!("081234567890")),
            Ok(vec![
                Lookup::Mobile("+6281234567890".into()),
                Lookup::MemberId("081234567890".into()),
                Lookup::Id(81_234_567_890),
            ])
        );
        assert_eq!(plan(json!("17")), Ok(vec![Lookup::MemberId("17".into()), Lookup::Id(17)]));
        assert_eq!(
            plan(json!("+6281234567890")),
            Ok(vec![Lookup::Mobile("+6281234567890".into()), Lookup::MemberId("+6281234567890".into())])
        );
    }

    #[test]
    fn other_strings_are_member_ids() {
        assert_eq!(plan(json!("M-001")), Ok(vec![Lookup::MemberId("M-001".into())]));
    }

    #[test]
    fn blanks_and_wrong_types_are_refused() {
        assert_eq!(plan(json!("  ")), Err(NotAnIdentifier::Missing));
        assert_eq!(plan(json!(null)), Err(NotAnIdentifier::Missing));
        assert_eq!(plan(json!(true)), Err(NotAnIdentifier::WrongType));
        assert_eq!(plan(json!({"id": 1})), Err(NotAnIdentifier::WrongType));
    }
}
