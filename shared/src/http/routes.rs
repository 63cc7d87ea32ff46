//! The route table: the one place that says which paths exist, which function serves each, and
//! which handler answers. The local server mounts `ROUTES`; each Lambda function serves one
//! `Route`; `template.yaml`, `events/` and the docs are checked against this table by a test.

use std::future::Future;
use std::pin::Pin;

use crate::app::App;
use crate::error::ApiError;
use crate::handlers;
use crate::http::{ApiRequest, Reply};

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send + 'a>>;
pub type Handler = for<'a> fn(&'a App, ApiRequest) -> HandlerFuture<'a>;

/// The shape of a route's error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// The error body of docs/api.md section 2.1.
    Api,
    /// That error body plus `"status": "invalid"`.
    ApiWithStatus,
    /// `{"status": 0, "error": "..."}` of the mobile app API v2.
    V2,
}

pub struct Route {
    /// The exact path (all routes are `POST`).
    pub path: &'static str,
    /// The function's name: its folder under `functions/` and its name in `template.yaml`.
    pub function: &'static str,
    pub errors: ErrorStyle,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").field("path", &self.path).field("function", &self.function).finish()
    }
}

/// Declares one `Route` static per route.
macro_rules! routes {
    ($($name:ident: $path:literal, $function:literal, $errors:ident, $handler:path;)*) => {
        $(
            pub static $name: Route = Route {
                path: $path,
                function: $function,
                errors: ErrorStyle::$errors,
                handler: |app, request| Box::pin($handler(app, request)),
            };
        )*

        /// Every route of the API.
        pub static ROUTES: &[&Route] = &[$(&$name),*];
    };
}

routes! {
    TOKEN: "/api/token/", "token", Api, handlers::token::handle;
    TOKEN_VERIFY: "/api/token/verify/", "token-verify", Api, handlers::token_verify::handle;
    VALIDATE_MOBILE_NUMBER: "/api/auth/validate-mobile-number", "validate-mobile-number", ApiWithStatus,
        handlers::validate_mobile_number::handle;
    RESET_OTP_LIMIT: "/api/auth/reset-otp-limit", "reset-otp-limit", ApiWithStatus, handlers::otp_limit::handle;
    VALIDATE_PASSWORD: "/api/auth/validate-password", "validate-password", Api, handlers::password::validate;
    CHANGE_PASSWORD: "/api/auth/change-password", "change-password", Api, handlers::password::change;
    SET_PASSWORD: "/api/auth/set-password", "set-password", Api, handlers::password::set;
    REQUEST_OTP_FOR_PASSWORD_RESET: "/api/auth/request-otp-for-password-reset", "request-otp-for-password-reset",
        Api, handlers::password::request_otp_for_reset;
    RESET_PASSWORD_WITH_OTP: "/api/auth/reset-password-with-otp", "reset-password-with-otp", Api,
        handlers::password::reset_with_otp;
    PIN_SET: "/api/pin/set", "pin-set", Api, handlers::pin::set;
    PIN_CHANGE: "/api/pin/change", "pin-change", Api, handlers::pin::change;
    PIN_VALIDATE: "/api/pin/validate", "pin-validate", Api, handlers::pin::validate;
    PIN_UNBLOCK: "/api/pin/unblock", "pin-unblock", Api, handlers::pin::unblock;
    PIN_REQUEST_OTP_FOR_RESET: "/api/pin/request-otp-for-reset", "pin-request-otp-for-reset", Api,
        handlers::pin::request_otp_for_reset;
    PIN_RESET: "/api/pin/reset", "pin-reset", Api, handlers::pin::reset;
    PIN_RESET_WITH_PASSWORD: "/api/pin/reset-with-password", "pin-reset-with-password", Api,
        handlers::pin::reset_with_password;
    V2_LOGIN: "/api/v2/auth/login", "v2-login", V2, handlers::v2::login;
    V2_REGISTER: "/api/v2/auth/register", "v2-register", V2, handlers::v2::register;
    V2_FORGOT_PASSWORD: "/api/v2/auth/forgot_password", "v2-forgot-password", V2, handlers::v2::forgot_password;
    V2_RESET_PASSWORD: "/api/v2/auth/reset_password", "v2-reset-password", V2, handlers::v2::reset_password;
    V2_LOGOUT: "/api/v2/auth/logout", "v2-logout", V2, handlers::v2::logout;
    CUSTOMER_STATUS: "/api/auth/customer-status", "customer-status", Api, handlers::support::customer_status;
    CUSTOMER_EVENTS: "/api/auth/customer-events", "customer-events", Api, handlers::support::customer_events;
}

/// The route with exactly this path.
pub fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().copied().find(|route| route.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_functions_are_unique_and_only_token_routes_end_in_slash() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert_ne!(a.path, b.path);
                assert_ne!(a.function, b.function);
            }
            assert!(a.path.starts_with("/api/"));
            assert_eq!(a.path.ends_with('/'), a.path.starts_with("/api/token/"), "{}", a.path);
        }
    }

    #[test]
    fn find_is_exact() {
        assert!(find("/api/token/").is_some());
        assert!(find("/api/token").is_none());
        assert!(find("/api/token/verify").is_none());
    }
}
