//! What a function needs besides its handler, as the route table declares it: the ports its
//! start-up builds, the secrets it is given, and what it may do to the table. Start-up builds
//! exactly these (and stops, saying which is missing, when one cannot be built); the local
//! server runs each route with exactly these; `template.yaml` gives each function exactly these
//! secrets and permissions (`tests/tests/deployment.rs`); and the integration tests on DynamoDB
//! fail any request whose table calls go beyond its route's `TableAccess`.

use crate::store::layout::Partition;

/// An adapter a function's start-up builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Port {
    /// The store: DynamoDB, the table of `STAMPS_STORE=dynamodb:TABLE`.
    Store,
    /// Publishes OTP events to the SNS topic `STAMPS_OTP_TOPIC_ARN`.
    Publisher,
    /// Checks Facebook tokens with the Graph API at `STAMPS_FACEBOOK_GRAPH_URL`.
    Facebook,
    /// Sends email through SES from `STAMPS_EMAIL_FROM`.
    Email,
    /// Sends SMS through SNS (sender ID `STAMPS_SMS_SENDER_ID`, optional).
    Sms,
}

impl Port {
    /// The cargo feature of `shared` that links the port's adapter.
    pub const fn feature(self) -> &'static str {
        match self {
            Port::Store => "dynamodb",
            Port::Publisher | Port::Sms => "sns",
            Port::Facebook => "facebook",
            Port::Email => "ses",
        }
    }

    /// The settings the deployment gives a function with this port.
    pub const fn env_vars(self) -> &'static [&'static str] {
        match self {
            Port::Store => &["STAMPS_STORE"],
            Port::Publisher => &["STAMPS_OTP_TOPIC_ARN"],
            Port::Facebook => &["STAMPS_FACEBOOK_GRAPH_URL", "STAMPS_FACEBOOK_APP_ID"],
            Port::Email => &["STAMPS_EMAIL_FROM"],
            Port::Sms => &["STAMPS_SMS_SENDER_ID"],
        }
    }
}

/// Whether start-up may go on without a declared secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Start-up stops without it.
    Required,
    /// A deployment may have none (e.g. no pepper); the function then runs without.
    Optional,
}

/// Declares `Secret`: one line per secret, its environment variable and whether a function
/// that declares it may start without it. Adding a secret is one line here; the compiler then
/// asks how `Config` and `App` hold it back from functions that do not declare it.
macro_rules! secrets {
    ($($(#[$doc:meta])* $name:ident = $var:literal, $presence:ident;)*) => {
        /// A secret a function may be given (through its environment, encrypted with the
        /// stack's KMS key). A function is given only the secrets its route declares; the
        /// others are withheld: not read at start-up, and unusable if a handler reaches for
        /// one (a missing declaration fails loudly, never silently with a wrong key).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Secret {
            $($(#[$doc])* $name,)*
        }

        impl Secret {
            pub const ALL: &'static [Secret] = &[$(Secret::$name),*];

            /// The environment variable that holds it.
            pub const fn env_var(self) -> &'static str {
                match self {
                    $(Secret::$name => $var,)*
                }
            }

            pub const fn presence(self) -> Presence {
                match self {
                    $(Secret::$name => Presence::$presence,)*
                }
            }
        }
    };
}

secrets! {
    /// The HS256 keys of access tokens (`kid:secret,...`): issuing them, and merchant
    /// authentication by Bearer token.
    JwtKeys = "STAMPS_JWT_KEYS", Required;
    /// The replaced system's token key (the raw secret, e.g. Django's `SECRET_KEY`): verifies
    /// tokens without `kid` until they expire, never signs. Declared by every route that
    /// verifies tokens; off when unset.
    JwtLegacyKey = "STAMPS_JWT_LEGACY_KEY", Optional;
    /// The key of every keyed hash: API keys (also their storage-free check), OTPs, app keys,
    /// reset tokens, unknown-identifier counters.
    HashKey = "STAMPS_HASH_KEY", Required;
    /// The pepper of password and PIN hashes: declared by every route that hashes or checks a
    /// password or PIN (a deployment may have none).
    PasswordPepper = "STAMPS_PASSWORD_PEPPER", Optional;
    /// The Facebook app's secret (with `STAMPS_FACEBOOK_APP_ID`): `appsecret_proof` and
    /// `debug_token` on Graph calls. Without it, Facebook sign-in answers 503.
    FacebookAppSecret = "STAMPS_FACEBOOK_APP_SECRET", Optional;
}

impl Secret {
    /// The secret whose environment variable is `name`.
    pub fn from_env_var(name: &str) -> Option<Secret> {
        Secret::ALL.iter().copied().find(|secret| secret.env_var() == name)
    }
}

/// A DynamoDB action, as IAM names it (`dynamodb:<name>`). A transaction needs the action of
/// each of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableAction {
    GetItem,
    PutItem,
    UpdateItem,
    DeleteItem,
    ConditionCheckItem,
    Query,
}

impl TableAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            TableAction::GetItem => "GetItem",
            TableAction::PutItem => "PutItem",
            TableAction::UpdateItem => "UpdateItem",
            TableAction::DeleteItem => "DeleteItem",
            TableAction::ConditionCheckItem => "ConditionCheckItem",
            TableAction::Query => "Query",
        }
    }
}

/// What a function may do to the table: these actions, on items of these partitions only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableAccess {
    pub actions: &'static [TableAction],
    pub partitions: &'static [Partition],
}

impl TableAccess {
    pub const NONE: TableAccess = TableAccess { actions: &[], partitions: &[] };

    /// Whether `action` on the item with partition key `pk` is allowed.
    pub fn allows(&self, action: TableAction, pk: &str) -> bool {
        self.actions.contains(&action) && self.partitions.iter().any(|partition| partition.holds(pk))
    }
}

/// Everything a function is given besides its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The function's `MemorySize` in the template, and so its share of a CPU (one vCPU at
    /// 1,769 MB): the size chosen from its memory/latency curve (BENCHMARKS.md).
    pub memory_mb: u32,
    pub ports: &'static [Port],
    pub secrets: &'static [Secret],
    pub table: TableAccess,
}

impl Needs {
    pub fn has(&self, port: Port) -> bool {
        self.ports.contains(&port)
    }

    pub fn knows(&self, secret: Secret) -> bool {
        self.secrets.contains(&secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_by_their_variable() {
        for secret in Secret::ALL {
            assert_eq!(Secret::from_env_var(secret.env_var()), Some(*secret));
        }
        assert_eq!(Secret::from_env_var("STAMPS_STORE"), None);
    }

    #[test]
    fn table_access_needs_the_action_and_the_partition() {
        let access = TableAccess { actions: &[TableAction::GetItem], partitions: &[Partition::ApiKey] };
        assert!(access.allows(TableAction::GetItem, "APIKEY#ab"));
        assert!(!access.allows(TableAction::PutItem, "APIKEY#ab"));
        assert!(!access.allows(TableAction::GetItem, "CUSTOMER#1#2"));
        assert!(!TableAccess::NONE.allows(TableAction::GetItem, "APIKEY#ab"));
    }
}
