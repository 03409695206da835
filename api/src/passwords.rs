//! Password hashing (argon2id) with a bounded number of hashes at once.
//!
//! An argon2 hash is deliberately expensive (19 MiB and tens of milliseconds of a core), so an
//! unauthenticated route that hashes is an amplifier: without a bound, a burst of logins would
//! put up to 512 of them on tokio's blocking pool at once. [`Passwords`] lets
//! `VEZA_PASSWORD_HASH_CONCURRENCY` run; the rest wait up to `VEZA_PASSWORD_HASH_WAIT_MS`, then
//! get 503 with `Retry-After` (`hashing-busy`).

use std::{sync::Arc, time::Duration};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;

/// Seconds a client is told to wait when every hashing slot stayed busy.
const BUSY_RETRY_AFTER_SECONDS: u64 = 2;

/// Hashes and checks passwords, at most `concurrency` at a time.
#[derive(Clone)]
pub struct Passwords {
    slots: Arc<Semaphore>,
    wait: Duration,
    /// A real hash checked when a login names an unknown address, so that answer takes as long
    /// as a wrong password.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// Hashing with `concurrency` slots and `wait` for a free one; computes the dummy hash.
    pub async fn new(concurrency: u32, wait: Duration) -> Result<Self, ApiError> {
        let slots = Arc::new(Semaphore::new(usize::try_from(concurrency.max(1)).unwrap_or(1)));
        let dummy_hash = hash_blocking("not a real password".to_owned()).await?;
        Ok(Self {
            slots,
            wait,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _slot = self.slot().await?;
        hash_blocking(password).await
    }

    /// Checks `password` against `hash`; `None` checks it against the dummy hash (and is false).
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let _slot = self.slot().await?;
        let matches = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|err| err.to_string())?;
            Ok::<bool, String>(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        Ok(known && matches)
    }

    async fn slot(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it like a full one all the same.
            Ok(Err(_)) | Err(_) => {
                tracing::warn!("every password hashing slot stayed busy: answered 503");
                Err(ApiError::busy(
                    "hashing-busy",
                    "too many sign-ins at once; try again in a moment",
                    BUSY_RETRY_AFTER_SECONDS,
                ))
            }
        }
    }
}

async fn hash_blocking(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}
