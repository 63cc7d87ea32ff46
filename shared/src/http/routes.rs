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
    /// The SPEC error body.
    Api,
    /// The SPEC error body plus `"status": "invalid"`.
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

pub static TOKEN: Route = Route {
    path: "/api/token/",
    function: "token",
    errors: ErrorStyle::Api,
    handler: |app, request| Box::pin(handlers::token::handle(app, request)),
};

pub static TOKEN_VERIFY: Route = Route {
    path: "/api/token/verify/",
    function: "token-verify",
    errors: ErrorStyle::Api,
    handler: |app, request| Box::pin(handlers::token_verify::handle(app, request)),
};

pub static VALIDATE_MOBILE_NUMBER: Route = Route {
    path: "/api/auth/validate-mobile-number",
    function: "validate-mobile-number",
    errors: ErrorStyle::ApiWithStatus,
    handler: |app, request| Box::pin(handlers::validate_mobile_number::handle(app, request)),
};

/// Every route of the API.
pub static ROUTES: &[&Route] = &[&TOKEN, &TOKEN_VERIFY, &VALIDATE_MOBILE_NUMBER];

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
