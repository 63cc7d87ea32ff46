//! PIN rules (docs/api.md section 5): the format, and the lockout that follows from an atomically
//! reserved attempt.
//!
//! The lockout is reserve-first: before a PIN is checked, the check reserves one of the
//! `max_failures` attempts of the current window with a conditional write. A check that cannot
//! reserve is answered `pin_blocked` without looking at the PIN, so however many requests race,
//! no more than `max_failures` guesses are ever evaluated in one window. A right PIN gives the
//! attempt back (the count returns to zero); a wrong one keeps it.

pub const PIN_LENGTH: usize = 6;

/// Why a PIN was refused. The edge words it for the request field at fault
/// (`ApiError::from_pin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinError {
    /// The field is an empty string.
    Empty,
    /// Not six ASCII digits given as a string.
    Format,
    /// The confirmation does not repeat the PIN.
    Mismatch,
    /// The window's attempts are used up: the PIN was not evaluated.
    Blocked,
    /// A wrong PIN; `attempts_left` of the window remain (never zero: the last one blocks).
    Wrong {
        attempts_left: u32,
    },
    NotSet,
    AlreadySet,
}

/// A PIN is exactly six ASCII digits, given as a string.
pub fn check_format(value: &serde_json::Value) -> Result<String, PinError> {
    match value {
        serde_json::Value::String(pin) if pin.len() == PIN_LENGTH && pin.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(pin.clone())
        }
        serde_json::Value::String(pin) if pin.is_empty() => Err(PinError::Empty),
        _ => Err(PinError::Format),
    }
}

/// `confirm` must repeat `pin`.
pub fn check_confirmation(pin: &str, confirm: &str) -> Result<(), PinError> {
    if pin == confirm { Ok(()) } else { Err(PinError::Mismatch) }
}

/// A wrong PIN that used attempt number `count` of `max`: blocked once it used the last one.
pub fn wrong_pin(count: u32, max: u32) -> PinError {
    if count >= max { PinError::Blocked } else { PinError::Wrong { attempts_left: max - count } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_six_digit_strings_are_pins() {
        assert_eq!(check_format(&json!("012345")).ok().as_deref(), Some("012345"));
        assert_eq!(check_format(&json!("")), Err(PinError::Empty));
        for bad in [json!(123456), json!("12345"), json!("1234567"), json!("12345a"), json!(" 12345"), json!("١٢٣٤٥٦")]
        {
            assert_eq!(check_format(&bad), Err(PinError::Format), "{bad}");
        }
    }

    #[test]
    fn wrong_pins_count_down_then_block() {
        assert_eq!(wrong_pin(1, 3), PinError::Wrong { attempts_left: 2 });
        assert_eq!(wrong_pin(2, 3), PinError::Wrong { attempts_left: 1 });
        assert_eq!(wrong_pin(3, 3), PinError::Blocked);
        assert_eq!(check_confirmation("123456", "123457"), Err(PinError::Mismatch));
    }
}
