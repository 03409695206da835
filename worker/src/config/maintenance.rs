//! The maintenance section: whether this worker runs the periodic tasks, their schedules, the
//! retention of finished jobs, the orphans' grace and the repair batch.

use std::{str::FromStr, time::Duration};

use serde::Deserialize;

/// Periodic maintenance settings.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// Whether this worker runs the periodic tasks (`VEZA_MAINTENANCE`, default true).
    pub enabled: bool,
    /// Repair schedule (`VEZA_REPAIR_SCHEDULE`, cron with seconds, default every 15 minutes).
    pub repair_schedule: cron::Schedule,
    /// Prune schedule (`VEZA_PRUNE_SCHEDULE`, default hourly on the hour).
    pub prune_schedule: cron::Schedule,
    /// Orphan cleanup schedule (`VEZA_ORPHANS_SCHEDULE`, default hourly at half past).
    pub orphans_schedule: cron::Schedule,
    /// How long finished jobs stay queryable (`VEZA_JOB_RETENTION_SECONDS`, default 7 days).
    pub job_retention: Duration,
    /// Objects younger than this are never deleted as orphans (`VEZA_ORPHAN_GRACE_SECONDS`,
    /// default 24 h; must exceed every job timeout).
    pub orphan_grace: Duration,
    /// Items repair looks at per run (`VEZA_REPAIR_BATCH`, default 100).
    pub repair_batch: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawMaintenance {
    #[serde(default = "defaults::maintenance")]
    maintenance: bool,
    #[serde(default = "defaults::repair_schedule")]
    repair_schedule: String,
    #[serde(default = "defaults::prune_schedule")]
    prune_schedule: String,
    #[serde(default = "defaults::orphans_schedule")]
    orphans_schedule: String,
    #[serde(default = "defaults::job_retention_seconds")]
    pub(super) job_retention_seconds: u64,
    #[serde(default = "defaults::orphan_grace_seconds")]
    orphan_grace_seconds: u64,
    #[serde(default = "defaults::repair_batch")]
    repair_batch: i64,
}

mod defaults {
    pub fn maintenance() -> bool {
        true
    }
    pub fn repair_schedule() -> String {
        "0 */15 * * * *".to_owned()
    }
    pub fn prune_schedule() -> String {
        "0 0 * * * *".to_owned()
    }
    pub fn orphans_schedule() -> String {
        "0 30 * * * *".to_owned()
    }
    pub fn job_retention_seconds() -> u64 {
        7 * 24 * 3600
    }
    pub fn orphan_grace_seconds() -> u64 {
        24 * 3600
    }
    pub fn repair_batch() -> i64 {
        100
    }
}

impl RawMaintenance {
    /// The section, or `None` with problems added to `problems`. The orphans' grace must be
    /// longer than `longest_timeout` (any queue's), or a generation still being written could be
    /// deleted.
    pub(super) fn validate(
        self,
        longest_timeout: Duration,
        problems: &mut Vec<String>,
    ) -> Option<MaintenanceConfig> {
        let mut schedule = |name: &str, expression: &str| {
            cron::Schedule::from_str(expression)
                .map_err(|err| {
                    problems.push(format!(
                        "{name} is not a cron schedule (`sec min hour day month weekday`): {err}"
                    ))
                })
                .ok()
        };
        let repair_schedule = schedule("VEZA_REPAIR_SCHEDULE", &self.repair_schedule);
        let prune_schedule = schedule("VEZA_PRUNE_SCHEDULE", &self.prune_schedule);
        let orphans_schedule = schedule("VEZA_ORPHANS_SCHEDULE", &self.orphans_schedule);
        let longest = longest_timeout.as_secs();
        if self.orphan_grace_seconds <= longest {
            problems.push(format!(
                "VEZA_ORPHAN_GRACE_SECONDS ({}) must be longer than the longest job timeout ({longest} s), \
                 or a generation still being written could be deleted",
                self.orphan_grace_seconds
            ));
        }
        if self.repair_batch < 1 {
            problems.push("VEZA_REPAIR_BATCH must be at least 1".into());
        }
        Some(MaintenanceConfig {
            enabled: self.maintenance,
            repair_schedule: repair_schedule?,
            prune_schedule: prune_schedule?,
            orphans_schedule: orphans_schedule?,
            job_retention: Duration::from_secs(self.job_retention_seconds),
            orphan_grace: Duration::from_secs(self.orphan_grace_seconds),
            repair_batch: self.repair_batch,
        })
    }
}
