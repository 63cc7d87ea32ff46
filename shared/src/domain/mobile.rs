//! Mobile numbers: parsed with libphonenumber's rules, accepted only when of mobile type, kept
//! and sent in E.164 (`081234567890` → `+6281234567890` with the default region `ID`).

use phonenumber::country::Id;
use phonenumber::{Mode, Type};

/// A region (ISO 3166 alpha-2) used to read numbers written without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(Id);

impl Region {
    pub fn parse(code: &str) -> Option<Region> {
        code.trim().to_ascii_uppercase().parse::<Id>().ok().map(Region)
    }
}

/// The E.164 form of `text` when it is a valid mobile number, else `None`.
pub fn parse_mobile(text: &str, region: Region) -> Option<String> {
    let text = text.trim();
    // libphonenumber's own limit; longer input is never a phone number.
    if text.is_empty() || text.len() > 250 {
        return None;
    }
    let number = phonenumber::parse(Some(region.0), text).ok()?;
    if !number.is_valid() {
        return None;
    }
    match number.number_type(&phonenumber::metadata::DATABASE) {
        Type::Mobile | Type::FixedLineOrMobile => Some(number.format().mode(Mode::E164).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Region {
        Region::parse("ID").expect("ID is a region")
    }

    #[test]
    fn indonesian_local_number_becomes_e164() {
        assert_eq!(parse_mobile("081234567890", id()).as_deref(), Some("+6281234567890"));
        assert_eq!(parse_mobile(" +62 812-3456-7890 ", id()).as_deref(), Some("+6281234567890"));
    }

    #[test]
    fn fixed_lines_and_garbage_are_not_mobile_numbers() {
        // Jakarta landline.
        assert_eq!(parse_mobile("0215551234", id()), None);
        assert_eq!(parse_mobile("12345", id()), None);
        assert_eq!(parse_mobile("hello", id()), None);
        assert_eq!(parse_mobile("", id()), None);
        assert_eq!(parse_mobile(&"9".repeat(300), id()), None);
    }

    #[test]
    fn other_countries_with_plus_prefix() {
        assert_eq!(parse_mobile("+447911123456", id()).as_deref(), Some("+447911123456"));
    }
}
