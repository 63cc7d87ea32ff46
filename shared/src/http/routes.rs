//! The route table: the one declaration of each function. A row says which path exists, which
//! function serves it, which handler answers and in which error shape, and what the function
//! is given besides its handler (`Needs`: ports, secrets, table access; the otp-dispatch
//! function, which has no path, is declared below the routes). Everything else follows or is
//! checked against this table:
//! - a function's `main.rs` is one call with its row (`shared::lambda::serve(&routes::X)`), and
//!   start-up builds exactly the declared ports and reads exactly the declared secrets;
//! - the local server mounts `ROUTES`, each route with only its declared ports and secrets;
//! - the DynamoDB integration tests fail a request whose table calls go beyond its row;
//! - `tests/tests/deployment.rs` checks `template.yaml` (functions, paths, secrets, IAM actions
//!   and `dynamodb:LeadingKeys`), `events/`, `docs/openapi.yaml`, `functions/` and the
//!   functions' cargo features against it.
//!
//! Adding a route: a row here, its handler, and what those checks then ask for.

use std::future::Future;
use std::pin::Pin;

use crate::app::App;
use crate::error::ApiError;
use crate::handlers;
use crate::http::{ApiRequest, Reply};
pub use crate::needs::{Needs, Port, Secret, TableAccess, TableAction};
use crate::needs::{Port::*, Secret::*, TableAction::*};
use crate::store::layout::CounterKind::{
    NetworkLoginFailures, NetworkRegistrations, NetworkResetRequests, OtpRequests, PasswordFailures, ResetEmails,
};
use crate::store::layout::Partition::{self, *};

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
    pub needs: Needs,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").field("path", &self.path).field("function", &self.function).finish()
    }
}

/// A function that serves no path: it is triggered by a queue.
#[derive(Debug)]
pub struct Worker {
    /// Its folder under `functions/` and its name in `template.yaml`.
    pub function: &'static str,
    pub needs: Needs,
}

/// Declares one `Route` static per route.
macro_rules! routes {
    ($($name:ident: $path:literal, $function:literal, $errors:ident, $handler:path, $needs:expr;)*) => {
        $(
            pub static $name: Route = Route {
                path: $path,
                function: $function,
                errors: ErrorStyle::$errors,
                handler: |app, request| Box::pin($handler(app, request)),
                needs: $needs,
            };
        )*

        /// Every route of the API.
        pub static ROUTES: &[&Route] = &[$(&$name),*];

        /// Each row's name and function, for the test that keeps them alike.
        #[cfg(test)]
        const ROW_NAMES: &[(&str, &str)] = &[$((stringify!($name), $function)),*];
    };
}

/// Partitions read by every merchant route that names a customer: the API key (unless the
/// merchant comes with a Bearer token), the customer and its unique-field claims.
const MERCHANT_LOOKUP: [Partition; 3] = [ApiKey, Customer, Unique];

routes! {
    // Signs tokens, verifies none: no legacy key.
    TOKEN: "/api/token/", "token", Api, handlers::token::handle, Needs {
        memory_mb: 1024,
        ports: &[Store],
        secrets: &[JwtKeys, HashKey],
        table: TableAccess { actions: &[GetItem], partitions: &[ApiKey] },
    };
    // No merchant credentials and no storage: the token's signature and claims only (a token
    // without `kid`, of the replaced system, with the legacy key).
    TOKEN_VERIFY: "/api/token/verify/", "token-verify", Api, handlers::token_verify::handle, Needs {
        memory_mb: 512,
        ports: &[],
        secrets: &[JwtKeys, JwtLegacyKey],
        table: TableAccess::NONE,
    };
    // An API key is checked by its MAC (a forged one costs no read), then by its record: revoked,
    // rotated and imported keys are known only there. A Bearer token needs no read.
    VALIDATE_MOBILE_NUMBER: "/api/auth/validate-mobile-number", "validate-mobile-number", ApiWithStatus,
        handlers::validate_mobile_number::handle, Needs {
        memory_mb: 1769,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey],
        table: TableAccess { actions: &[GetItem], partitions: &[ApiKey] },
    };
    // Deletes the OTP request counter.
    RESET_OTP_LIMIT: "/api/auth/reset-otp-limit", "reset-otp-limit", ApiWithStatus, handlers::otp_limit::handle, Needs {
        memory_mb: 512,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey],
        table: TableAccess {
            actions: &[GetItem, DeleteItem],
            partitions: &[ApiKey, Customer, Unique, Counter(OtpRequests)],
        },
    };
    // Takes and gives back a throttle place (update, or put of a new window); a rehash updates
    // the password and deletes reset codes in one transaction.
    VALIDATE_PASSWORD: "/api/auth/validate-password", "validate-password", Api, handlers::password::validate, Needs {
        memory_mb: 1024,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem, DeleteItem],
            partitions: &[ApiKey, Customer, Unique, Counter(PasswordFailures)],
        },
    };
    // As validate-password, then the new hash with reset codes deleted, in one transaction.
    CHANGE_PASSWORD: "/api/auth/change-password", "change-password", Api, handlers::password::change, Needs {
        memory_mb: 1769,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem, DeleteItem],
            partitions: &[ApiKey, Customer, Unique, Counter(PasswordFailures)],
        },
    };
    // The new hash with reset codes deleted, in one transaction; then the history event.
    SET_PASSWORD: "/api/auth/set-password", "set-password", Api, handlers::password::set, Needs {
        memory_mb: 1024,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess { actions: &[GetItem, PutItem, UpdateItem, DeleteItem], partitions: &MERCHANT_LOOKUP },
    };
    // Reads the template; counts the request and puts the code in one transaction; gives the
    // place back (update) if publishing fails.
    REQUEST_OTP_FOR_PASSWORD_RESET: "/api/auth/request-otp-for-password-reset", "request-otp-for-password-reset",
        Api, handlers::password::request_otp_for_reset, Needs {
        memory_mb: 256,
        ports: &[Store, Publisher],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem],
            partitions: &[ApiKey, Merchant, Customer, Unique, Counter(OtpRequests)],
        },
    };
    // Uses a try of the code (update); deletes the codes and updates the password in one
    // transaction.
    RESET_PASSWORD_WITH_OTP: "/api/auth/reset-password-with-otp", "reset-password-with-otp", Api,
        handlers::password::reset_with_otp, Needs {
        memory_mb: 1024,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess { actions: &[GetItem, PutItem, UpdateItem, DeleteItem], partitions: &MERCHANT_LOOKUP },
    };
    PIN_SET: "/api/pin/set", "pin-set", Api, handlers::pin::set, Needs {
        memory_mb: 1024,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess { actions: &[GetItem, PutItem], partitions: &MERCHANT_LOOKUP },
    };
    // Reserves an attempt and clears failures (updates); puts the new PIN.
    PIN_CHANGE: "/api/pin/change", "pin-change", Api, handlers::pin::change, Needs {
        memory_mb: 1024,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess { actions: &[GetItem, PutItem, UpdateItem], partitions: &MERCHANT_LOOKUP },
    };
    // Reserves an attempt and clears failures (updates); a rehash puts the PIN.
    PIN_VALIDATE: "/api/pin/validate", "pin-validate", Api, handlers::pin::validate, Needs {
        memory_mb: 1024,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess { actions: &[GetItem, PutItem, UpdateItem], partitions: &MERCHANT_LOOKUP },
    };
    // Clears the failures (update) and puts the history event.
    PIN_UNBLOCK: "/api/pin/unblock", "pin-unblock", Api, handlers::pin::unblock, Needs {
        memory_mb: 256,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey],
        table: TableAccess { actions: &[GetItem, PutItem, UpdateItem], partitions: &MERCHANT_LOOKUP },
    };
    PIN_REQUEST_OTP_FOR_RESET: "/api/pin/request-otp-for-reset", "pin-request-otp-for-reset", Api,
        handlers::pin::request_otp_for_reset, Needs {
        memory_mb: 128,
        ports: &[Store, Publisher],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem],
            partitions: &[ApiKey, Merchant, Customer, Unique, Counter(OtpRequests)],
        },
    };
    // Uses a try of the code (update); deletes the code and puts the PIN in one transaction.
    PIN_RESET: "/api/pin/reset", "pin-reset", Api, handlers::pin::reset, Needs {
        memory_mb: 1769,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess { actions: &[GetItem, PutItem, UpdateItem, DeleteItem], partitions: &MERCHANT_LOOKUP },
    };
    // The password check of validate-password, then puts the PIN.
    PIN_RESET_WITH_PASSWORD: "/api/pin/reset-with-password", "pin-reset-with-password", Api,
        handlers::pin::reset_with_password, Needs {
        memory_mb: 1024,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey, PasswordPepper],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem, DeleteItem],
            partitions: &[ApiKey, Customer, Unique, Counter(PasswordFailures)],
        },
    };
    // No merchant credentials: no JWT keys. The password check of validate-password (or, with
    // fb_token, the Facebook claim), then puts the app key.
    // The network's window of failed logins (update, or put to restart it); the password check
    // of validate-password (or, with fb_token, a read of the Facebook claim); then the app key,
    // put in a transaction with a condition check of the customer's key generation.
    V2_LOGIN: "/api/v2/auth/login", "v2-login", V2, handlers::v2::login, Needs {
        memory_mb: 1769,
        ports: &[Store, Facebook],
        secrets: &[HashKey, PasswordPepper, FacebookAppSecret],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem, DeleteItem, ConditionCheckItem],
            partitions: &[Customer, Unique, Counter(PasswordFailures), Counter(NetworkLoginFailures), AppKey],
        },
    };
    // The network's window of registrations; reads the merchant; allocates the customer ID
    // (update); puts the customer, its claims and its app key in one transaction.
    V2_REGISTER: "/api/v2/auth/register", "v2-register", V2, handlers::v2::register, Needs {
        memory_mb: 1769,
        ports: &[Store, Facebook],
        secrets: &[HashKey, PasswordPepper, FacebookAppSecret],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem],
            partitions: &[Merchant, Sequence, Customer, Unique, Counter(NetworkRegistrations), AppKey],
        },
    };
    // Only the network's window of reset requests (and its give-back), then the event:
    // otp-dispatch looks the email up, so the route's work is the same for every email.
    V2_FORGOT_PASSWORD: "/api/v2/auth/forgot_password", "v2-forgot-password", V2, handlers::v2::forgot_password, Needs {
        memory_mb: 256,
        ports: &[Store, Publisher],
        secrets: &[HashKey],
        table: TableAccess { actions: &[PutItem, UpdateItem], partitions: &[Counter(NetworkResetRequests)] },
    };
    // As reset-password-with-otp, for the reset token; the transaction also revokes the app keys
    // (the customer's key generation) and may delete an unproven Facebook claim.
    V2_RESET_PASSWORD: "/api/v2/auth/reset_password", "v2-reset-password", V2, handlers::v2::reset_password, Needs {
        memory_mb: 1769,
        ports: &[Store],
        secrets: &[HashKey, PasswordPepper],
        table: TableAccess { actions: &[GetItem, PutItem, UpdateItem, DeleteItem], partitions: &[Customer, Unique] },
    };
    // Deletes the app key (the delete returns the old item: no read needed), then puts the
    // logout's history event under the key's customer.
    V2_LOGOUT: "/api/v2/auth/logout", "v2-logout", V2, handlers::v2::logout, Needs {
        memory_mb: 256,
        ports: &[Store],
        secrets: &[HashKey],
        table: TableAccess { actions: &[PutItem, DeleteItem], partitions: &[Customer, AppKey] },
    };
    // Reads the customer, its PIN, its two counters and its deliveries.
    CUSTOMER_STATUS: "/api/auth/customer-status", "customer-status", Api, handlers::support::customer_status, Needs {
        memory_mb: 128,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey],
        table: TableAccess {
            actions: &[GetItem],
            partitions: &[ApiKey, Customer, Unique, Counter(PasswordFailures), Counter(OtpRequests)],
        },
    };
    // Reads the customer; queries its events.
    CUSTOMER_EVENTS: "/api/auth/customer-events", "customer-events", Api, handlers::support::customer_events, Needs {
        memory_mb: 128,
        ports: &[Store],
        secrets: &[JwtKeys, JwtLegacyKey, HashKey],
        table: TableAccess { actions: &[GetItem, Query], partitions: &MERCHANT_LOOKUP },
    };
}

/// The support console (docs/console.md): HTML pages for GET and POST on every path under
/// `/console/`, answered by `console::Console`, not by `http::respond` (so it is not in
/// `ROUTES`, whose rows are JSON `POST` routes of the API; the handler here is never called).
/// Sessions: put, read, delete; sign-in failures per client network (as v2 logins); what its
/// pages show and do: a customer's lookup and status, its events (query), the PIN unblock
/// (update, event put), the OTP limit reset (delete), a reset code (the request count and the
/// code, as the request-otp routes, and the event published), and the templates (read,
/// query, put after reading the merchant).
pub static SUPPORT_CONSOLE: Route = Route {
    path: "/console/",
    function: "support-console",
    errors: ErrorStyle::Api,
    handler: |_, _| Box::pin(async { Err(ApiError::not_found()) }),
    needs: Needs {
        memory_mb: 1769,
        ports: &[Store, Publisher],
        secrets: &[HashKey],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem, DeleteItem, Query],
            partitions: &[
                ApiKey,
                Merchant,
                Customer,
                Unique,
                Counter(PasswordFailures),
                Counter(OtpRequests),
                Counter(NetworkLoginFailures),
                Session,
            ],
        },
    },
};

/// The console's paths on the HTTP API: its start and everything under it.
pub const CONSOLE_PATHS: &[&str] = &["/console", "/console/{proxy+}"];

/// Delivers the events of the SQS queue: reads templates; claims delivery marks (conditional
/// put) and, when a send fails, gives them back (delete). For a v2 reset request it looks the
/// email up (claim and customer reads) and stores the token under the customer's reset-email
/// counter (a transaction; update to give the place back), hashed with the hash key.
pub static OTP_DISPATCH: Worker = Worker {
    function: "otp-dispatch",
    needs: Needs {
        memory_mb: 128,
        ports: &[Store, Email, Sms],
        secrets: &[HashKey],
        table: TableAccess {
            actions: &[GetItem, PutItem, UpdateItem, DeleteItem],
            partitions: &[Merchant, Customer, Unique, Counter(ResetEmails), Delivery],
        },
    },
};

/// Records SES's delivery, bounce and complaint events from its SQS queue: puts each event in
/// its customer's history and updates the customer's deliveries (last outcome, suppressed
/// addresses). No secret.
pub static DELIVERY_EVENTS: Worker = Worker {
    function: "delivery-events",
    needs: Needs {
        memory_mb: 512,
        ports: &[Store],
        secrets: &[],
        table: TableAccess { actions: &[PutItem, UpdateItem], partitions: &[Customer] },
    },
};

/// Every function, route or not: its name and its needs.
pub fn functions() -> impl Iterator<Item = (&'static str, &'static Needs)> {
    ROUTES.iter().map(|route| (route.function, &route.needs)).chain([
        (SUPPORT_CONSOLE.function, &SUPPORT_CONSOLE.needs),
        (OTP_DISPATCH.function, &OTP_DISPATCH.needs),
        (DELIVERY_EVENTS.function, &DELIVERY_EVENTS.needs),
    ])
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
    fn each_row_is_named_after_its_function() {
        for (name, function) in ROW_NAMES {
            assert_eq!(*name, function.to_uppercase().replace('-', "_"));
        }
        assert_eq!(OTP_DISPATCH.function, "otp-dispatch");
        assert_eq!(DELIVERY_EVENTS.function, "delivery-events");
    }

    #[test]
    fn declarations_are_consistent() {
        for (function, needs) in functions() {
            // A table access without the store, or the store without a table access, is a typo.
            assert_eq!(needs.has(Port::Store), !needs.table.actions.is_empty(), "{function}");
            assert_eq!(needs.table.actions.is_empty(), needs.table.partitions.is_empty(), "{function}");
            for (i, port) in needs.ports.iter().enumerate() {
                assert!(!needs.ports[i + 1..].contains(port), "{function}: {port:?} twice");
            }
            for (i, secret) in needs.secrets.iter().enumerate() {
                assert!(!needs.secrets[i + 1..].contains(secret), "{function}: {secret:?} twice");
            }
        }
    }

    #[test]
    fn every_route_that_verifies_tokens_knows_the_legacy_key_and_no_other() {
        for route in ROUTES {
            // Every route given the JWT keys verifies Bearer tokens, except the one that signs.
            let verifies = route.needs.knows(JwtKeys) && route.function != "token";
            assert_eq!(route.needs.knows(JwtLegacyKey), verifies, "{}", route.function);
        }
        assert!(!OTP_DISPATCH.needs.knows(JwtLegacyKey));
    }

    #[test]
    fn find_is_exact() {
        assert!(find("/api/token/").is_some());
        assert!(find("/api/token").is_none());
        assert!(find("/api/token/verify").is_none());
    }
}
