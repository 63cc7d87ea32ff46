//! `App`: everything a handler needs, built once at start-up. A Lambda function's `App` holds
//! exactly what its route declares (`needs`): the declared ports, always present, and the
//! declared secrets, taken from configuration (start-up stops when a required one is missing);
//! secrets it does not declare are withheld (unusable, see `needs::Secret`). The local server
//! holds everything, generates missing keys once and keeps them in its store so tokens survive a
//! restart, and runs each route on `restricted_to` its needs.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::delivery::EventPublisher;
use crate::domain::jwt::JwtKeys;
use crate::domain::password::HashError;
use crate::domain::secrets::{HashKey, RandomUnavailable};
use crate::error::ApiError;
use crate::facebook::FacebookVerifier;
use crate::hashing::SecretHasher;
use crate::needs::{Needs, Port, Presence, Secret};
use crate::random::{OsRandom, random_hex};
use crate::store::{AdminStore, Operator, Setup, Store, StoreError};

pub struct App {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// Present exactly when the route declares `Port::Store` (the ports below likewise).
    pub store: Option<Arc<dyn Store>>,
    /// Schema and sequences, for operator commands; `None` in a Lambda function.
    pub setup: Option<Arc<dyn Setup>>,
    /// Imports, exports and key rotation, for operator commands; `None` in a Lambda function.
    pub operator: Option<Arc<dyn Operator>>,
    /// Where OTP events go; `None` for functions that publish none.
    pub publisher: Option<Arc<dyn EventPublisher>>,
    /// Checks Facebook tokens (mobile app API v2 only).
    pub facebook: Option<Arc<dyn FacebookVerifier>>,
    pub jwt: JwtKeys,
    pub hash_key: HashKey,
    pub hasher: SecretHasher,
    /// Where each answer's metrics go: EMF on standard output in a function, the local
    /// server's registry, or nowhere (operator commands, until `with_metrics`).
    pub metrics: crate::metrics::Sink,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A declared port could not be built.
    #[error("{0}")]
    Port(String),
}

/// The adapters a function's start-up built, before `App::for_needs` checks them against its
/// route.
#[derive(Default)]
pub struct Ports {
    pub store: Option<Arc<dyn Store>>,
    pub publisher: Option<Arc<dyn EventPublisher>>,
    pub facebook: Option<Arc<dyn FacebookVerifier>>,
}

const LOCAL_JWT_SETTING: &str = "local_jwt_secret";
const LOCAL_HASH_KEY_SETTING: &str = "local_hash_key";
const LOCAL_KID: &str = "local";

impl App {
    /// With every store operation and every secret (the CLI, the tests): the JWT keys and the
    /// hash key must be configured.
    pub fn from_config(config: Config, store: Option<Arc<dyn AdminStore>>) -> Result<App, StartError> {
        let jwt = config.jwt_keys.clone().ok_or_else(|| {
            ConfigError("STAMPS_JWT_KEYS is not set: the service needs its signing keys (kid:secret,...)".into())
        })?;
        let hash_key = config
            .hash_key
            .clone()
            .ok_or_else(|| ConfigError("STAMPS_HASH_KEY is not set: the service needs the hashing key".into()))?;
        let jwt = with_legacy_key(jwt, &config);
        let hasher = SecretHasher::new(config.password_pepper.clone())?;
        Ok(App {
            config,
            clock: Arc::new(SystemClock),
            setup: store.clone().map(|store| store as Arc<dyn Setup>),
            operator: store.clone().map(|store| store as Arc<dyn Operator>),
            store: store.map(|store| store as Arc<dyn Store>),
            publisher: None,
            facebook: None,
            jwt,
            hash_key: HashKey::new(hash_key),
            hasher,
            metrics: crate::metrics::Sink::Discard,
        })
    }

    /// A Lambda function's `App`: exactly the ports and secrets its route declares. A declared
    /// port missing from `ports`, or a required secret missing from `config`, stops start-up;
    /// ports and secrets it does not declare are dropped and withheld.
    pub fn for_needs(function: &str, needs: &Needs, mut config: Config, ports: Ports) -> Result<App, StartError> {
        for secret in Secret::ALL.iter().copied() {
            if !needs.knows(secret) {
                config.withhold(secret);
            } else if secret.presence() == Presence::Required && !config.has(secret) {
                return Err(not_set(secret, function).into());
            }
        }
        let store = take(needs, ports.store, Port::Store, function)?;
        let publisher = take(needs, ports.publisher, Port::Publisher, function)?;
        // The one optional port: without a Facebook app configured, the function starts and
        // its Facebook paths answer 503 (its password paths work).
        let facebook = ports.facebook.filter(|_| needs.has(Port::Facebook));
        let jwt = with_legacy_key(config.jwt_keys.clone().unwrap_or_else(JwtKeys::withheld), &config);
        let hash_key = match &config.hash_key {
            Some(key) => HashKey::new(key.clone()),
            None => HashKey::withheld(&OsRandom)?,
        };
        let hasher = SecretHasher::new(config.password_pepper.clone())?;
        let hasher = if needs.knows(Secret::PasswordPepper) { hasher } else { hasher.withheld() };
        Ok(App {
            config,
            clock: Arc::new(SystemClock),
            store,
            setup: None,
            operator: None,
            publisher,
            facebook,
            jwt,
            hash_key,
            hasher,
            metrics: crate::metrics::Sink::Emf,
        })
    }

    /// This `App` with only what `needs` declares, as a Lambda function of that route would have
    /// it: for the local server, which runs every route in one process.
    pub fn restricted_to(&self, needs: &Needs) -> App {
        let mut config = self.config.clone();
        let mut jwt = self.jwt.clone();
        let mut hash_key = self.hash_key.clone();
        let mut hasher = self.hasher.clone();
        let mut facebook = self.facebook.clone().filter(|_| needs.has(Port::Facebook));
        for secret in Secret::ALL.iter().copied().filter(|secret| !needs.knows(*secret)) {
            config.withhold(secret);
            match secret {
                Secret::JwtKeys => jwt = JwtKeys::withheld(),
                Secret::JwtLegacyKey => jwt = jwt.without_legacy_key(),
                Secret::HashKey => hash_key = self.hash_key.withheld_here(),
                Secret::PasswordPepper => hasher = self.hasher.withheld(),
                Secret::FacebookAppSecret => facebook = None,
            }
        }
        App {
            config,
            clock: Arc::clone(&self.clock),
            store: self.store.clone().filter(|_| needs.has(Port::Store)),
            setup: None,
            operator: None,
            publisher: self.publisher.clone().filter(|_| needs.has(Port::Publisher)),
            facebook,
            jwt,
            hash_key,
            hasher,
            metrics: self.metrics.clone(),
        }
    }

    /// For the local server and the CLI: keys not configured are generated once and kept in
    /// the store (said once in the log).
    pub async fn local(mut config: Config, store: Arc<dyn AdminStore>) -> Result<App, StartError> {
        if config.jwt_keys.is_none() {
            let secret = stored_secret(store.as_ref(), LOCAL_JWT_SETTING).await?;
            let keys = JwtKeys::from_pairs(vec![(LOCAL_KID.to_string(), secret.into_bytes())])
                .map_err(|e| ConfigError(format!("stored JWT key: {e}")))?;
            config.jwt_keys = Some(keys);
        }
        if config.hash_key.is_none() {
            config.hash_key = Some(stored_secret(store.as_ref(), LOCAL_HASH_KEY_SETTING).await?.into_bytes());
        }
        App::from_config(config, Some(store))
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> App {
        self.clock = clock;
        self
    }

    pub fn with_publisher(mut self, publisher: Arc<dyn EventPublisher>) -> App {
        self.publisher = Some(publisher);
        self
    }

    pub fn with_metrics(mut self, metrics: crate::metrics::Sink) -> App {
        self.metrics = metrics;
        self
    }

    pub fn with_facebook(mut self, facebook: Arc<dyn crate::facebook::FacebookVerifier>) -> App {
        self.facebook = Some(facebook);
        self
    }

    /// Facebook's Graph API as configured; no verifier when no Facebook app is configured.
    #[cfg(feature = "facebook")]
    pub fn with_graph_api(mut self) -> App {
        self.facebook = crate::facebook::GraphApi::from_config(&self.config)
            .map(|graph| Arc::new(graph) as Arc<dyn crate::facebook::FacebookVerifier>);
        self
    }

    /// The store, for handlers that need one.
    pub fn store(&self) -> Result<&dyn Store, ApiError> {
        self.store.as_deref().ok_or_else(|| {
            tracing::error!("a handler uses the store, which its route does not declare (Port::Store)");
            ApiError::internal()
        })
    }

    /// Schema and sequences, for operator commands.
    pub fn setup(&self) -> Result<&dyn Setup, ApiError> {
        self.setup.as_deref().ok_or_else(|| {
            tracing::error!("an operator command runs on an App without the store's setup");
            ApiError::internal()
        })
    }

    /// Imports, exports and key rotation, for operator commands.
    pub fn operator(&self) -> Result<Arc<dyn Operator>, ApiError> {
        self.operator.clone().ok_or_else(|| {
            tracing::error!("an operator command runs on an App without the store's bulk calls");
            ApiError::internal()
        })
    }

    /// The event publisher, for routes that deliver OTPs.
    pub fn publisher(&self) -> Result<&dyn EventPublisher, ApiError> {
        self.publisher.as_deref().ok_or_else(|| {
            tracing::error!("a handler publishes OTP events, which its route does not declare (Port::Publisher)");
            ApiError::service_unavailable()
        })
    }
}

/// `jwt` verifying tokens without `kid` with the legacy key, when one is configured (and not
/// withheld); a weak setting is warned about here, at start-up.
fn with_legacy_key(jwt: JwtKeys, config: &Config) -> JwtKeys {
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    match &config.jwt_legacy_key {
        Some(legacy) => jwt.with_legacy_key(legacy),
        None => jwt,
    }
}

/// A required secret is missing: start-up stops with this message.
fn not_set(secret: Secret, function: &str) -> ConfigError {
    ConfigError(format!(
        "{} is not set: {function} needs it (its route declares {secret:?} in shared/src/http/routes.rs)",
        secret.env_var()
    ))
}

/// The port `port` of `function`: present when declared, which start-up must have built.
fn take<T: ?Sized>(
    needs: &Needs,
    built: Option<Arc<T>>,
    port: Port,
    function: &str,
) -> Result<Option<Arc<T>>, StartError> {
    match (needs.has(port), built) {
        (true, None) => Err(StartError::Port(format!("{function} declares {port:?}, which start-up did not build"))),
        (true, built) => Ok(built),
        (false, _) => Ok(None),
    }
}

async fn stored_secret(store: &dyn AdminStore, name: &str) -> Result<String, StartError> {
    let candidate = random_hex::<32>()?;
    let value = store.setting_or_insert(name, &candidate).await?;
    if value == candidate {
        tracing::warn!(setting = name, "no key configured: generated one and kept it in the store");
    }
    Ok(value)
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                ApiError::service_unavailable()
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> ApiError {
        tracing::error!(%error, "hashing failed");
        ApiError::internal()
    }
}

impl From<RandomUnavailable> for ApiError {
    fn from(error: RandomUnavailable) -> ApiError {
        tracing::error!(%error, "random source failed");
        ApiError::internal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secrets::Purpose;
    use crate::needs::TableAccess;

    const JWT: &str = "k1:a-secret-of-at-least-thirty-two-bytes!!";
    const HASH_KEY: &str = "a-hash-key-of-at-least-thirty-two-bytes";

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())).expect("valid")
    }

    fn needs(ports: &'static [Port], secrets: &'static [Secret]) -> Needs {
        Needs { memory_mb: 128, ports, secrets, table: TableAccess::NONE }
    }

    #[test]
    fn the_legacy_key_verifies_only_where_the_route_declares_it() {
        use crate::domain::jwt::tests::encode_raw;
        let legacy = "a-short-django-secret";
        let all = config(&[("STAMPS_JWT_KEYS", JWT), ("STAMPS_HASH_KEY", HASH_KEY), ("STAMPS_JWT_LEGACY_KEY", legacy)]);
        let now = 1_800_000_000;
        let claims = serde_json::json!({"token_type": "access", "exp": now + 60, "iat": now, "jti": "00",
                                        "user_id": 7, "merchant_user_id": 7});
        let without_kid = encode_raw(&serde_json::json!({"alg": "HS256", "typ": "JWT"}), &claims, legacy.as_bytes());

        let verifying = needs(&[], &[Secret::JwtKeys, Secret::JwtLegacyKey]);
        let signing = needs(&[], &[Secret::JwtKeys]);
        let app = App::for_needs("token-verify", &verifying, all.clone(), Ports::default()).expect("app");
        assert_eq!(app.jwt.verify(&without_kid, now).map(|claims| claims.merchant_user_id), Ok(7));
        let app = App::for_needs("token", &signing, all.clone(), Ports::default()).expect("app");
        assert!(!app.config.has(Secret::JwtLegacyKey));
        assert!(app.jwt.verify(&without_kid, now).is_err());

        // The local server: the same.
        let full = App::from_config(all, None).expect("app");
        assert!(full.restricted_to(&verifying).jwt.verify(&without_kid, now).is_ok());
        assert!(full.restricted_to(&signing).jwt.verify(&without_kid, now).is_err());
    }

    #[test]
    fn a_function_gets_its_declared_secrets_and_no_other() {
        let all = config(&[("STAMPS_JWT_KEYS", JWT), ("STAMPS_HASH_KEY", HASH_KEY), ("STAMPS_PASSWORD_PEPPER", "p")]);
        let full = App::from_config(all.clone(), None).expect("app");
        let token = full.jwt.issue(7, 1_800_000_000, 60, &OsRandom).expect("token");

        let app = App::for_needs("v2-logout", &needs(&[], &[Secret::HashKey]), all, Ports::default()).expect("app");
        assert!(!app.config.has(Secret::JwtKeys) && !app.config.has(Secret::PasswordPepper));
        assert_eq!(app.jwt.verify(&token, 1_800_000_000).err(), Some(crate::domain::jwt::TokenRejected::Withheld));
        assert!(matches!(app.hasher.hash("secret"), Err(HashError::Withheld)));
        let parts: [&[u8]; 1] = [b"key"];
        assert_eq!(app.hash_key.hash(Purpose::V2Key, &parts), full.hash_key.hash(Purpose::V2Key, &parts));

        // The same route served locally: the same withholding.
        let local = full.restricted_to(&needs(&[], &[Secret::HashKey]));
        assert!(local.jwt.verify(&token, 1_800_000_000).is_err());
        assert!(matches!(local.hasher.hash("secret"), Err(HashError::Withheld)));
        let other = full.restricted_to(&needs(&[], &[Secret::JwtKeys]));
        assert_ne!(other.hash_key.hash(Purpose::V2Key, &parts), full.hash_key.hash(Purpose::V2Key, &parts));
        assert!(other.jwt.verify(&token, 1_800_000_000).is_ok());
    }

    #[test]
    fn a_missing_required_secret_or_declared_port_stops_start_up() {
        let only_jwt = config(&[("STAMPS_JWT_KEYS", JWT)]);
        let declared = needs(&[], &[Secret::JwtKeys, Secret::HashKey]);
        let error = App::for_needs("token", &declared, only_jwt.clone(), Ports::default()).err().expect("refused");
        assert!(error.to_string().starts_with("configuration: STAMPS_HASH_KEY is not set: token needs it"), "{error}");
        // An optional secret may be absent.
        let pepper = needs(&[], &[Secret::JwtKeys, Secret::PasswordPepper]);
        assert!(App::for_needs("x", &pepper, only_jwt.clone(), Ports::default()).is_ok());
        let store = needs(&[Port::Store], &[Secret::JwtKeys]);
        let error = App::for_needs("pin-set", &store, only_jwt, Ports::default()).err().expect("refused");
        assert!(error.to_string().contains("pin-set declares Store"), "{error}");
    }
}
