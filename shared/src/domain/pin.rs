//! PIN rules (docs/api.md section 5): the format, and the lockout that follows from an atomically
//! reserved attempt.
//!
//! The lockout is reserve-first: before a PIN is checked, the check reserves one of the
//! `max_failures` attempts of the current window with a conditional write. A check that cannot
//! reserve is answered `pin_blocked` without looking at the PIN, so however many requests race,
//! no more than `max_failures` guesses are ever evaluated in one window. A right PIN gives the
//! attempt back (the count returns to zero); a wrong one keeps it.

use crate::error::{ApiError, ErrorCode};

pub const PIN_LENGTH: usize = 6;

/// A PIN is exactly six ASCII digits, given as a string.
pub fn check_format(field: &str, value: &serde_json::Value) -> Result<String, ApiError> {
    match value {
        serde_json::Value::String(pin) if pin.len() == PIN_LENGTH && pin.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(pin.clone())
        }
        serde_json::Value::String(pin) if pin.is_empty() => Err(ApiError::required(field)),
        _ => Err(ApiError::invalid(field, "PIN must be a 6 digit string.")),
    }
}

/// `confirm` must repeat `pin`.
pub fn check_confirmation(pin: &str, confirm: &str, confirm_field: &str) -> Result<(), ApiError> {
    if pin == confirm {
        Ok(())
    } else {
        Err(ApiError::field(ErrorCode::PinMismatch, confirm_field, "Confirmation PIN does not match"))
    }
}

pub fn blocked(field: &str) -> ApiError {
    ApiError::field(ErrorCode::PinBlocked, field, "PIN is blocked after too many failed attempts")
}

/// The answer to a wrong PIN that used attempt number `count` of `max`.
pub fn wrong_pin(field: &str, count: u32, max: u32, with_attempts_left: bool) -> ApiError {
    if count >= max {
        return blocked(field);
    }
    let message = if with_attempts_left {
        format!("Invalid PIN, {} attempt(s) left", max - count)
    } else {
        "Invalid PIN".to_string()
    };
    ApiError::field(ErrorCode::InvalidPin, field, message)
}

pub fn not_set() -> ApiError {
    ApiError::field(ErrorCode::PinNotSet, "user", "PIN has not been set.")
}

pub fn already_set() -> ApiError {
    ApiError::field(ErrorCode::PinAlreadySet, "pin", "PIN has already been set.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_six_digit_strings_are_pins() {
        assert_eq!(check_format("pin", &json!("012345")).ok().as_deref(), Some("012345"));
        for bad in [json!(123456), json!("12345"), json!("1234567"), json!("12345a"), json!(" 12345"), json!("١٢٣٤٥٦")]
        {
            let error = check_format("pin", &bad).expect_err("refused");
            assert_eq!(error.code, ErrorCode::Invalid, "{bad}");
            assert_eq!(error.message, "PIN must be a 6 digit string.");
        }
    }

    #[test]
    fn wrong_pin_messages_count_down_then_block() {
        assert_eq!(wrong_pin("pin", 1, 3, true).detail(), "pin: Invalid PIN, 2 attempt(s) left");
        assert_eq!(wrong_pin("pin", 2, 3, true).detail(), "pin: Invalid PIN, 1 attempt(s) left");
        assert_eq!(wrong_pin("pin", 3, 3, true).code, ErrorCode::PinBlocked);
        assert_eq!(wrong_pin("current_pin", 1, 3, false).detail(), "current_pin: Invalid PIN");
    }
}
