//! What every job handler gets: the pool, the store, the mailer, the CPU pool, the scratch
//! folder, and its kind's settings.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{cpu::CpuPool, lease::Lease, mailer::Mailer, storage::Storage};

/// One attempt of one job: its id, the lease that fences what it publishes, and the token that
/// asks it to stop (checked at the handler's checkpoints).
#[derive(Debug, Clone)]
pub struct JobRun {
    /// The job id (the same for every attempt).
    pub id: Uuid,
    /// The worker's hold on the job.
    pub lease: Lease,
    /// Cancelled when the attempt must stop early.
    pub cancel: CancellationToken,
}

/// Shared, cheap-to-clone handles for job handlers: the platform's resources, and each kind's
/// own settings by type.
#[derive(Clone)]
pub struct JobContext {
    /// Postgres.
    pub pool: PgPool,
    /// Object storage.
    pub storage: Storage,
    /// Email transport.
    pub mailer: Mailer,
    /// Where decoding and encoding run, bounded.
    pub cpu: CpuPool,
    /// This worker's folder for temporary local copies of originals.
    pub scratch_dir: PathBuf,
    /// Each kind's settings.
    pub settings: KindSettings,
}

/// Each kind's own settings, by type: a kind reads its own with [`KindSettings::get`], and the
/// contract knows none of them. The worker puts in every kind's settings from its
/// configuration at start.
#[derive(Clone, Default)]
pub struct KindSettings(Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl KindSettings {
    /// These settings with `settings` put in (replacing any of the same type).
    #[must_use]
    pub fn with<T: Any + Send + Sync>(mut self, settings: T) -> Self {
        Arc::make_mut(&mut self.0).insert(TypeId::of::<T>(), Arc::new(settings));
        self
    }

    /// The settings of type `T`; its defaults when none were put in (a test or a tool that sets
    /// up only the kind it exercises).
    pub fn get<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|settings| Arc::clone(settings).downcast::<T>().ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Knobs(u32);

    #[test]
    fn settings_are_found_by_type_and_default_when_absent() {
        let settings = KindSettings::default().with(Knobs(7)).with(String::from("x"));
        assert_eq!(*settings.get::<Knobs>(), Knobs(7));
        assert_eq!(*settings.get::<String>(), "x");
        assert_eq!(*KindSettings::default().get::<Knobs>(), Knobs(0));
    }
}
