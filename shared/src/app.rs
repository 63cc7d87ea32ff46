//! `App`: everything a handler needs, built once at start-up. Lambda functions take their keys
//! from configuration and refuse to start without them; the local server generates missing
//! keys once and keeps them in its store so tokens survive a restart.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::delivery::EventPublisher;
use crate::domain::jwt::JwtKeys;
use crate::domain::password::{HashError, SecretHasher};
use crate::domain::secrets::{HashKey, RandomUnavailable, random_hex};
use crate::error::ApiError;
use crate::store::{AdminStore, Setup, Store, StoreError};

pub struct App {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// `None` for functions that touch no storage.
    pub store: Option<Arc<dyn Store>>,
    /// Schema and sequences, for operator commands; `None` in a Lambda function.
    pub setup: Option<Arc<dyn Setup>>,
    /// Where OTP events go; `None` for functions that publish none.
    pub publisher: Option<Arc<dyn EventPublisher>>,
    /// Checks Facebook tokens (mobile app API v2 only).
    pub facebook: Option<Arc<dyn crate::facebook::FacebookVerifier>>,
    pub jwt: JwtKeys,
    pub hash_key: HashKey,
    pub hasher: SecretHasher,
    /// Where each answer's metrics go: EMF on standard output in a function, the local
    /// server's registry, or nowhere (operator commands).
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
}

const LOCAL_JWT_SETTING: &str = "local_jwt_secret";
const LOCAL_HASH_KEY_SETTING: &str = "local_hash_key";
const LOCAL_KID: &str = "local";

impl App {
    /// With every store operation (the CLI, the tests); keys as for `for_function`. Metrics
    /// go nowhere until `with_metrics`.
    pub fn from_config(config: Config, store: Option<Arc<dyn AdminStore>>) -> Result<App, StartError> {
        let setup = store.clone().map(|store| store as Arc<dyn Setup>);
        let app = App::for_function(config, store.map(|store| store as Arc<dyn Store>))?;
        Ok(App { setup, metrics: crate::metrics::Sink::Discard, ..app })
    }

    /// For a Lambda function: `STAMPS_JWT_KEYS` and `STAMPS_HASH_KEY` must be configured;
    /// metrics are written as EMF records on standard output.
    pub fn for_function(config: Config, store: Option<Arc<dyn Store>>) -> Result<App, StartError> {
        let jwt = config.jwt_keys.clone().ok_or_else(|| {
            ConfigError("STAMPS_JWT_KEYS is not set: a function needs its signing keys (kid:secret,...)".into())
        })?;
        let hash_key = config
            .hash_key
            .clone()
            .ok_or_else(|| ConfigError("STAMPS_HASH_KEY is not set: a function needs the hashing key".into()))?;
        let hasher = SecretHasher::new(config.password_pepper.clone())?;
        Ok(App {
            config,
            clock: Arc::new(SystemClock),
            store,
            setup: None,
            publisher: None,
            facebook: None,
            jwt,
            hash_key: HashKey::new(hash_key),
            hasher,
            metrics: crate::metrics::Sink::Emf,
        })
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

    /// The store, for handlers that need one.
    pub fn store(&self) -> Result<&dyn Store, ApiError> {
        self.store.as_deref().ok_or_else(|| {
            tracing::error!("a handler that needs storage runs in a function built without it");
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

    /// The event publisher, for routes that deliver OTPs.
    pub fn publisher(&self) -> Result<&dyn EventPublisher, ApiError> {
        self.publisher.as_deref().ok_or_else(|| {
            tracing::error!("a route that publishes OTP events runs without a publisher (STAMPS_OTP_TOPIC_ARN?)");
            ApiError::service_unavailable()
        })
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
