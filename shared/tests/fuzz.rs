//! Property-based fuzzing of what parses untrusted input (issue 9): request bodies (JSON and the
//! form encoding of the v2 API), the typed field accessors, identifier resolution, mobile
//! numbers and JWT verification. cargo-fuzz needs a nightly toolchain, so proptest stands in,
//! with a fixed number of cases per target so every CI run does the same, bounded work.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Map, Value};
use shared::domain::identifier::{Lookup, lookup_plan};
use shared::domain::jwt::JwtKeys;
use shared::domain::mobile::{Region, parse_mobile};
use shared::error::ErrorCode;
use shared::http::body::Fields;

const NOW: i64 = 1_800_000_000;

fn cases(n: u32) -> Config {
    // Failures are reported with their minimal input, not written to the source tree.
    Config { cases: n, failure_persistence: Some(Box::new(FileFailurePersistence::Off)), ..Config::default() }
}

fn headers(content_type: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = content_type.and_then(|v| v.parse().ok()) {
        headers.insert(CONTENT_TYPE, value);
    }
    headers
}

/// Any JSON value, nested a few levels, with awkward strings and numbers.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[0-9+ -]{0,20}".prop_map(Value::String),
        "[a-zA-Z0-9.@_-]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_string())),
        Just(Some("application/json; charset=utf-8".to_string())),
        Just(Some("application/x-www-form-urlencoded".to_string())),
        Just(Some("text/plain".to_string())),
        "[ -~]{0,30}".prop_map(Some),
    ]
}

const PARSE_ERRORS: [ErrorCode; 2] = [ErrorCode::ParseError, ErrorCode::UnsupportedMediaType];

proptest! {
    #![proptest_config(cases(5_000))]

    /// Arbitrary bytes under any content type: fields or a parse/media-type error, never a panic.
    #[test]
    fn any_body_parses_or_is_refused_cleanly(body in prop::collection::vec(any::<u8>(), 0..512), kind in content_type()) {
        match Fields::parse(&headers(kind.as_deref()), &body) {
            Ok(_) => {}
            Err(error) => prop_assert!(PARSE_ERRORS.contains(&error.code), "{error:?}"),
        }
    }

    /// Any JSON object parses; anything else JSON is a parse error.
    #[test]
    fn json_bodies(value in json_value()) {
        let body = serde_json::to_vec(&value).expect("serialize");
        let parsed = Fields::parse(&headers(Some("application/json")), &body);
        match value {
            Value::Object(_) => prop_assert!(parsed.is_ok()),
            _ => prop_assert_eq!(parsed.map_err(|e| e.code), Err(ErrorCode::ParseError)),
        }
    }

    /// Form bodies (the v2 API): any percent-escapes and bytes; the first of a repeated field wins.
    #[test]
    fn form_bodies(pairs in prop::collection::vec(("[a-z%+&=]{1,6}", ".{0,12}"), 0..6), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let form = headers(Some("application/x-www-form-urlencoded"));
        let encoded = serde_urlencoded::to_string(&pairs).expect("encode");
        let fields = Fields::parse(&form, encoded.as_bytes()).expect("well-formed form parses");
        if let Some((name, value)) = pairs.first() {
            prop_assert_eq!(fields.value(name), Some(&Value::String(value.clone())), "first wins");
        }
        if let Err(error) = Fields::parse(&form, &raw) {
            prop_assert_eq!(error.code, ErrorCode::ParseError);
        }
    }

    /// The typed accessors over any value: a value, or `required`/`invalid`, never a panic.
    #[test]
    fn accessors(value in json_value()) {
        let mut map = Map::new();
        map.insert("f".into(), value);
        let fields = Fields::from_map(map);
        for result in [
            fields.text("f").map(|_| ()),
            fields.optional_text("f").map(|_| ()),
            fields.secret("f").map(|_| ()),
            fields.positive_integer("f").map(|n| assert!(n > 0)),
        ] {
            if let Err(error) = result {
                prop_assert!(matches!(error.code, ErrorCode::Required | ErrorCode::Invalid), "{error:?}");
            }
        }
    }

    /// Identifier resolution: never panics; emails lower-cased, IDs positive, one email lookup
    /// for a string with `@`.
    #[test]
    fn identifiers(value in json_value(), text in ".{0,40}") {
        let region = Region::parse("ID").expect("region");
        for value in [value, Value::String(text)] {
            let Ok(plan) = lookup_plan(&value, region) else { continue };
            for lookup in &plan {
                match lookup {
                    Lookup::Id(id) => prop_assert!(*id > 0),
                    Lookup::Email(email) => prop_assert_eq!(email, &email.to_lowercase()),
                    Lookup::Mobile(mobile) => prop_assert!(mobile.starts_with('+')),
                    Lookup::MemberId(member) => prop_assert!(!member.is_empty()),
                }
            }
            if let Value::String(text) = &value
                && text.contains('@')
                && !text.trim().is_empty()
            {
                prop_assert_eq!(plan.len(), 1);
                prop_assert!(matches!(plan[0], Lookup::Email(_)));
            }
        }
    }

    /// Mobile numbers: any text never panics; a result is E.164 and parses to itself.
    #[test]
    fn mobile_numbers(text in prop_oneof![".{0,40}", "[+0-9 ()-]{0,24}", "0?8[0-9]{8,12}"], region in prop_oneof![Just("ID"), Just("US"), Just("GB"), Just("SG")]) {
        let region = Region::parse(region).expect("region");
        if let Some(e164) = parse_mobile(&text, region) {
            prop_assert!(e164.starts_with('+'), "{e164}");
            let digits = &e164[1..];
            prop_assert!((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()), "{e164}");
            prop_assert_eq!(parse_mobile(&e164, region), Some(e164.clone()));
        }
    }
}

fn keys() -> JwtKeys {
    JwtKeys::parse("k1:a-secret-of-at-least-thirty-two-bytes!!,k0:b-secret-of-at-least-thirty-two-bytes!!")
        .expect("keys")
}

proptest! {
    #![proptest_config(cases(10_000))]

    /// Arbitrary strings are never accepted as tokens.
    #[test]
    fn arbitrary_tokens_are_refused(token in prop_oneof![".{0,300}", "[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{1,200}\\.[A-Za-z0-9_-]{0,60}"]) {
        prop_assert!(keys().verify(&token, NOW).is_err());
    }

    /// Any change to a valid token (a flipped bit, a cut, a swapped or duplicated segment,
    /// inserted bytes) makes it invalid, unless the change left it byte for byte the same.
    #[test]
    fn mutated_tokens_are_refused(position in any::<prop::sample::Index>(), bit in 0u8..8, cut in any::<prop::sample::Index>(), insert in ".{1,8}", kind in 0u8..5) {
        let keys = keys();
        let token = keys.issue(7, NOW, 3600, &shared::random::OsRandom).expect("token");
        prop_assert!(keys.verify(&token, NOW).is_ok());
        let bytes = token.as_bytes();
        let mutated: Vec<u8> = match kind {
            0 => {
                let mut copy = bytes.to_vec();
                let i = position.index(copy.len());
                copy[i] ^= 1 << bit;
                copy
            }
            1 => bytes[..cut.index(bytes.len())].to_vec(),
            2 => {
                let parts: Vec<&str> = token.split('.').collect();
                format!("{}.{}.{}", parts[1], parts[0], parts[2]).into_bytes()
            }
            3 => {
                let parts: Vec<&str> = token.split('.').collect();
                format!("{}.{}.{}.{}", parts[0], parts[1], parts[1], parts[2]).into_bytes()
            }
            _ => {
                let mut copy = bytes.to_vec();
                let i = position.index(copy.len() + 1);
                copy.splice(i..i, insert.bytes());
                copy
            }
        };
        let Ok(mutated) = String::from_utf8(mutated) else { return Ok(()) };
        if mutated != token {
            // Base64url's last character can carry unused bits: flipping only those decodes to
            // the same signature. The claims and header cannot change that way.
            if let Ok(claims) = keys.verify(&mutated, NOW) {
                prop_assert_eq!(claims.merchant_user_id, 7);
                prop_assert_eq!(mutated.len(), token.len(), "only a same-length re-encoding can verify: {}", mutated);
            }
        }
    }
}
