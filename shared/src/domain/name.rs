//! A customer's name: it is rendered into emails and SMS sent from the merchant's identity
//! (`{{ name }}`), so it is bounded in length and may not carry control characters (a line
//! break would start a new line of the message, a bidirectional override would reorder what
//! the reader sees).

/// The longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadName {
    TooLong,
    ControlCharacter,
}

/// Checks a name as given (callers trim it first).
pub fn check_name(name: &str) -> Result<(), BadName> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(BadName::TooLong);
    }
    if name.chars().any(is_forbidden) {
        return Err(BadName::ControlCharacter);
    }
    Ok(())
}

/// C0 and C1 controls and DEL, line and paragraph separators, and the bidirectional
/// embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_any_script_up_to_the_limit_pass() {
        for name in ["Ann", "Budi Santoso", "Ñandú O'Brien-Løvås", "山田 太郎", "عبد الله", &"é".repeat(100)]
        {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn long_names_and_control_characters_are_refused() {
        assert_eq!(check_name(&"a".repeat(101)), Err(BadName::TooLong));
        for name in
            ["Ann\nBcc: x", "Ann\r", "Ann\t", "A\u{0}", "A\u{7f}", "A\u{85}", "A\u{2028}", "A\u{202e}b", "A\u{2066}"]
        {
            assert_eq!(check_name(name), Err(BadName::ControlCharacter), "{name:?}");
        }
    }
}
