//! The one error type of the HTTP API and the one place that turns it into the error body (docs/api.md section 2).

use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::domain::otp::OtpError;
use crate::domain::pin::PinError;

/// Every `error_code` of docs/api.md section 2.2 that the service can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ParseError,
    Required,
    Invalid,
    InvalidUser,
    PinMismatch,
    InvalidPin,
    PinBlocked,
    PinNotSet,
    PinAlreadySet,
    InvalidOtp,
    OtpLimitExceeded,
    InvalidTemplateCode,
    NoDestination,
    InvalidPassword,
    PasswordNotSet,
    MismatchPassword,
    WeakPassword,
    TooManyAttempts,
    InvalidMobileNumber,
    NotAuthenticated,
    AuthenticationFailed,
    TokenNotValid,
    /// A unique value is taken (mobile app API v2 registration).
    Conflict,
    NotFound,
    MethodNotAllowed,
    UnsupportedMediaType,
    RequestTooLarge,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ParseError => "parse_error",
            Required => "required",
            Invalid => "invalid",
            InvalidUser => "invalid_user",
            PinMismatch => "pin_mismatch",
            InvalidPin => "invalid_pin",
            PinBlocked => "pin_blocked",
            PinNotSet => "pin_not_set",
            PinAlreadySet => "pin_already_set",
            InvalidOtp => "invalid_otp",
            OtpLimitExceeded => "otp_limit_exceeded",
            InvalidTemplateCode => "invalid_template_code",
            NoDestination => "no_destination",
            InvalidPassword => "invalid_password",
            PasswordNotSet => "password_not_set",
            MismatchPassword => "mismatch_password",
            WeakPassword => "weak_password",
            TooManyAttempts => "too_many_attempts",
            InvalidMobileNumber => "invalid_mobile_number",
            NotAuthenticated => "not_authenticated",
            AuthenticationFailed => "authentication_failed",
            TokenNotValid => "token_not_valid",
            Conflict => "conflict",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            UnsupportedMediaType => "unsupported_media_type",
            RequestTooLarge => "request_too_large",
            ServiceUnavailable => "service_unavailable",
            InternalError => "internal_error",
        }
    }

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            OtpLimitExceeded | TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            NotAuthenticated | AuthenticationFailed | TokenNotValid => StatusCode::UNAUTHORIZED,
            Conflict => StatusCode::CONFLICT,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error answered to the client. It carries only what the client may see; the cause of a
/// 500 or 503 is logged where it happens, never put in here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    /// The request field at fault, if any (`errors: {field: message}`).
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, field: None, message: message.into() }
    }

    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { code, field: Some(field.into()), message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn required(field: &str) -> Self {
        Self::field(ErrorCode::Required, field, "This field is required.")
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::field(ErrorCode::Invalid, field, message)
    }

    pub fn invalid_user(field: &str) -> Self {
        Self::field(ErrorCode::InvalidUser, field, "User not found.")
    }

    pub fn parse_error(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::ParseError, format!("JSON parse error - {what}"))
    }

    pub fn not_authenticated() -> Self {
        Self::new(ErrorCode::NotAuthenticated, "Authentication credentials were not provided.")
    }

    pub fn authentication_failed() -> Self {
        Self::new(ErrorCode::AuthenticationFailed, "Invalid token.")
    }

    pub fn token_not_valid() -> Self {
        Self::new(ErrorCode::TokenNotValid, "Token is invalid or expired")
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "Not found.")
    }

    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(ErrorCode::MethodNotAllowed, format!("Method \"{method}\" not allowed."))
    }

    pub fn unsupported_media_type(media_type: &str) -> Self {
        Self::new(ErrorCode::UnsupportedMediaType, format!("Unsupported media type \"{media_type}\" in request."))
    }

    pub fn request_too_large(limit: usize) -> Self {
        Self::new(ErrorCode::RequestTooLarge, format!("Request body is larger than {limit} bytes."))
    }

    pub fn service_unavailable() -> Self {
        Self::new(
            ErrorCode::ServiceUnavailable,
            "A service this request needs is unavailable. Nothing was changed; try again later.",
        )
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "A server error occurred.")
    }

    /// `"<field>: <message>"` for a field error, the message alone otherwise.
    pub fn detail(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// The error body of docs/api.md section 2.1.
    pub fn body(&self) -> Value {
        let mut errors = Map::new();
        if let Some(field) = &self.field {
            errors.insert(field.clone(), Value::String(self.message.clone()));
        }
        let detail = self.detail();
        let mut body = json!({
            "detail": detail,
            "errors": errors,
            "error_code": self.code.as_str(),
            "error_message": detail,
        });
        if self.code == ErrorCode::TokenNotValid {
            body["code"] = json!("token_not_valid");
        }
        body
    }
}

/// The domain's errors as the API answers them: every code, field and message of a domain
/// refusal is written here.
impl ApiError {
    /// A PIN refusal for the request field `field` (the confirmation's field for `Mismatch`).
    /// `count_down`: whether a wrong PIN's message says how many attempts are left.
    pub fn from_pin(error: PinError, field: &str, count_down: bool) -> Self {
        match error {
            PinError::Empty => Self::required(field),
            PinError::Format => Self::invalid(field, "PIN must be a 6 digit string."),
            PinError::Mismatch => Self::field(ErrorCode::PinMismatch, field, "Confirmation PIN does not match"),
            PinError::Blocked => {
                Self::field(ErrorCode::PinBlocked, field, "PIN is blocked after too many failed attempts")
            }
            PinError::Wrong { attempts_left } if count_down => {
                Self::field(ErrorCode::InvalidPin, field, format!("Invalid PIN, {attempts_left} attempt(s) left"))
            }
            PinError::Wrong { .. } => Self::field(ErrorCode::InvalidPin, field, "Invalid PIN"),
            PinError::NotSet => Self::field(ErrorCode::PinNotSet, "user", "PIN has not been set."),
            PinError::AlreadySet => Self::field(ErrorCode::PinAlreadySet, "pin", "PIN has already been set."),
        }
    }

    /// An OTP refusal; `customer_field` is the request field that named the customer.
    pub fn from_otp(error: OtpError, customer_field: &str) -> Self {
        match error {
            OtpError::Invalid => Self::field(ErrorCode::InvalidOtp, "otp", "Invalid OTP"),
            OtpError::LimitExceeded => {
                Self::field(ErrorCode::OtpLimitExceeded, customer_field, "Too many OTP requests. Try again later.")
            }
        }
    }
}

impl From<OtpError> for ApiError {
    /// The code's own refusal (`invalid_otp`, on the `otp` field).
    fn from(error: OtpError) -> Self {
        Self::from_otp(error, "otp")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_error_body_matches_the_spec_example() {
        let error = ApiError::field(ErrorCode::InvalidPin, "pin", "Invalid PIN, 2 attempt(s) left");
        assert_eq!(
            error.body(),
            json!({"detail": "pin: Invalid PIN, 2 attempt(s) left",
                   "errors": {"pin": "Invalid PIN, 2 attempt(s) left"},
                   "error_code": "invalid_pin",
                   "error_message": "pin: Invalid PIN, 2 attempt(s) left"})
        );
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn error_without_field_has_empty_errors() {
        let body = ApiError::not_authenticated().body();
        assert_eq!(body["errors"], json!({}));
        assert_eq!(body["detail"], "Authentication credentials were not provided.");
        assert_eq!(body["error_message"], body["detail"]);
    }

    #[test]
    fn pin_errors_are_worded_as_before() {
        use crate::domain::pin::{check_format, wrong_pin};
        let wrong = |count, count_down| ApiError::from_pin(wrong_pin(count, 3), "pin", count_down);
        assert_eq!(wrong(1, true).detail(), "pin: Invalid PIN, 2 attempt(s) left");
        assert_eq!(wrong(2, true).detail(), "pin: Invalid PIN, 1 attempt(s) left");
        assert_eq!(wrong(3, true).code, ErrorCode::PinBlocked);
        assert_eq!(wrong(3, true).detail(), "pin: PIN is blocked after too many failed attempts");
        assert_eq!(ApiError::from_pin(wrong_pin(1, 3), "current_pin", false).detail(), "current_pin: Invalid PIN");
        let format = ApiError::from_pin(PinError::Format, "pin", true);
        assert_eq!((format.code, format.message.as_str()), (ErrorCode::Invalid, "PIN must be a 6 digit string."));
        let empty = check_format(&json!("")).map_err(|error| ApiError::from_pin(error, "pin", true));
        assert_eq!(empty, Err(ApiError::required("pin")));
        let mismatch = ApiError::from_pin(PinError::Mismatch, "confirm_pin", true);
        assert_eq!(mismatch.body()["errors"], json!({"confirm_pin": "Confirmation PIN does not match"}));
        assert_eq!(ApiError::from_pin(PinError::NotSet, "pin", true).detail(), "user: PIN has not been set.");
        assert_eq!(ApiError::from_pin(PinError::AlreadySet, "user", true).detail(), "pin: PIN has already been set.");
    }

    #[test]
    fn otp_errors_are_worded_as_before() {
        let invalid = ApiError::from(OtpError::Invalid);
        assert_eq!((invalid.code, invalid.detail()), (ErrorCode::InvalidOtp, "otp: Invalid OTP".to_string()));
        let limit = ApiError::from_otp(OtpError::LimitExceeded, "user");
        assert_eq!(limit.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limit.detail(), "user: Too many OTP requests. Try again later.");
    }

    #[test]
    fn token_not_valid_carries_code() {
        let body = ApiError::token_not_valid().body();
        assert_eq!(body["code"], "token_not_valid");
        assert_eq!(body["error_code"], "token_not_valid");
    }
}
