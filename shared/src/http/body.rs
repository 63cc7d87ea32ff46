//! Request bodies: JSON objects and form-urlencoded, both read into one map of fields, and the
//! typed accessors every handler uses. Identifiers and emails are trimmed; secrets (passwords,
//! PINs, OTPs, keys) are taken exactly as sent.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use crate::error::ApiError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Map<String, Value>);

enum MediaType {
    Json,
    Form,
}

fn media_type(headers: &HeaderMap, body: &[u8]) -> Result<MediaType, ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        // No declared type: read a body as JSON, the API's own format.
        return Ok(if body.is_empty() { MediaType::Form } else { MediaType::Json });
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(MediaType::Json),
        "application/x-www-form-urlencoded" => Ok(MediaType::Form),
        _ => Err(ApiError::unsupported_media_type(text)),
    }
}

impl Fields {
    /// Parses a body by its `Content-Type`: `415` for other media types, `parse_error` for
    /// malformed JSON or JSON that is not an object. An empty body has no fields.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Fields, ApiError> {
        match media_type(headers, body)? {
            MediaType::Json => {
                if body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Fields::default());
                }
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(map)) => Ok(Fields(map)),
                    Ok(_) => Err(ApiError::parse_error("expected a JSON object")),
                    Err(error) => Err(ApiError::parse_error(error)),
                }
            }
            MediaType::Form => {
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
                    ApiError::new(crate::error::ErrorCode::ParseError, "Form parse error - malformed body")
                })?;
                let mut map = Map::new();
                for (name, value) in pairs {
                    // The first occurrence of a repeated field wins.
                    map.entry(name).or_insert(Value::String(value));
                }
                Ok(Fields(map))
            }
        }
    }

    pub fn from_map(map: Map<String, Value>) -> Fields {
        Fields(map)
    }

    /// The raw value, `None` when absent or null.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    /// A required string, trimmed (for identifiers, emails, codes).
    pub fn text(&self, name: &str) -> Result<String, ApiError> {
        self.optional_text(name)?.ok_or_else(|| ApiError::required(name))
    }

    /// An optional string, trimmed; blank counts as absent.
    pub fn optional_text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let trimmed = s.trim();
                Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
            }
            Some(_) => Err(ApiError::invalid(name, "Not a valid string.")),
        }
    }

    /// A required secret (password, PIN, OTP, key): a string, taken exactly as sent.
    pub fn secret(&self, name: &str) -> Result<String, ApiError> {
        match self.value(name) {
            None => Err(ApiError::required(name)),
            Some(Value::String(s)) if s.is_empty() => Err(ApiError::required(name)),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(ApiError::invalid(name, "Not a valid string.")),
        }
    }

    /// A required positive integer, given as a JSON integer or a string of digits. A JSON number
    /// with a zero fraction (`7.0`, what some JSON encoders write for a float) is that integer,
    /// as JSON Schema's `integer` says and Django REST framework takes it.
    pub fn positive_integer(&self, name: &str) -> Result<u64, ApiError> {
        let invalid = || ApiError::invalid(name, "A valid integer is required.");
        match self.value(name) {
            None => Err(ApiError::required(name)),
            Some(Value::Number(n)) => {
                n.as_u64().or_else(|| n.as_f64().and_then(integral)).filter(|n| *n > 0).ok_or_else(invalid)
            }
            Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::required(name)),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(invalid),
            Some(_) => Err(invalid()),
        }
    }

    /// The first of `names` that is present, with its name.
    pub fn first_of<'a>(&self, names: &[&'a str]) -> Option<(&'a str, &Value)> {
        names.iter().find_map(|name| self.value(name).map(|value| (*name, value)))
    }
}

/// The integer an integral float is, when a `u64` holds it.
fn integral(value: f64) -> Option<u64> {
    // 2^64 is exact in f64; every integral float below it converts without saturating.
    (value.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&value)).then_some(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).expect("header"));
        headers
    }

    #[test]
    fn json_and_form_give_the_same_fields() {
        let json = Fields::parse(&headers("application/json"), br#"{"user": "a@b.c", "pin": "123456"}"#);
        let form = Fields::parse(&headers("application/x-www-form-urlencoded"), b"user=a%40b.c&pin=123456");
        assert_eq!(json, form);
    }

    #[test]
    fn seed_curl_example_is_a_clean_parse_error() {
        let body = br#"{"user": "a", "pin": "123456", "confirm_pin", "654321"}"#;
        let error = Fields::parse(&headers("application/json"), body).expect_err("malformed");
        assert_eq!(error.code.as_str(), "parse_error");
        assert!(error.message.starts_with("JSON parse error - "), "{}", error.message);
    }

    #[test]
    fn non_object_json_is_a_parse_error() {
        for body in [&b"[1,2]"[..], b"\"text\"", b"42", b"null"] {
            let error = Fields::parse(&headers("application/json"), body).expect_err("not an object");
            assert_eq!(error.code.as_str(), "parse_error");
        }
    }

    #[test]
    fn other_media_types_are_415() {
        let error = Fields::parse(&headers("text/plain"), b"hi").expect_err("415");
        assert_eq!(error.status().as_u16(), 415);
        assert!(Fields::parse(&headers("application/json; charset=utf-8"), b"{}").is_ok());
    }

    #[test]
    fn accessors_check_types_and_trim_only_non_secrets() {
        let fields = Fields::from_map(
            json!({"user": "  a@b.c ", "pin": " 1234 ", "n": 5, "s": "7", "bad": true})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        assert_eq!(fields.text("user").ok().as_deref(), Some("a@b.c"));
        assert_eq!(fields.secret("pin").ok().as_deref(), Some(" 1234 "));
        assert_eq!(fields.text("missing").expect_err("required").code.as_str(), "required");
        assert_eq!(fields.text("n").expect_err("wrong type").code.as_str(), "invalid");
        assert_eq!(fields.secret("n").expect_err("wrong type").code.as_str(), "invalid");
        assert_eq!(fields.positive_integer("n").ok(), Some(5));
        assert_eq!(fields.positive_integer("s").ok(), Some(7));
        assert_eq!(fields.positive_integer("bad").expect_err("bool").code.as_str(), "invalid");
    }

    #[test]
    fn a_number_with_a_zero_fraction_is_an_integer() {
        let fields = Fields::parse(
            &headers("application/json"),
            br#"{"a": 7.0, "b": 1310769842.0, "c": 7.5, "d": 0.0, "e": -3.0, "f": 1e30}"#,
        )
        .expect("JSON");
        assert_eq!(fields.positive_integer("a").ok(), Some(7));
        assert_eq!(fields.positive_integer("b").ok(), Some(1_310_769_842));
        for name in ["c", "d", "e", "f"] {
            assert_eq!(fields.positive_integer(name).expect_err(name).code.as_str(), "invalid", "{name}");
        }
    }
}
