//! Which queues this worker serves and how, derived from the job registry: every registered
//! queue has `VEZA_{QUEUE}_CONCURRENCY` and `VEZA_{QUEUE}_TIMEOUT_SECONDS` (defaults from its
//! kind), and `VEZA_QUEUES` names the queues a worker consumes (default: all), so heavy
//! encoders and light mail workers can be scaled apart. `VEZA_MAINTENANCE=false` keeps the
//! periodic tasks (repair, prune, orphans) off a worker.

use std::time::Duration;

use figment::Figment;
use veza_jobs::{registry, retry::RetryPolicy};

/// How this worker runs one registered queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePlan {
    /// Queue name.
    pub name: &'static str,
    /// Whether this worker consumes it (`VEZA_QUEUES`).
    pub served: bool,
    /// Jobs at once (`VEZA_{QUEUE}_CONCURRENCY`).
    pub concurrency: usize,
    /// Longest attempt (`VEZA_{QUEUE}_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// Attempts and backoff (its kind's).
    pub retry: RetryPolicy,
}

/// Every registered queue with this worker's settings for it.
#[derive(Debug, Clone)]
pub struct Placement {
    /// In registration order.
    pub queues: Vec<QueuePlan>,
}

impl Placement {
    /// Reads the per-queue keys from `figment` (the worker's merged configuration) and the list
    /// of served queues (`VEZA_QUEUES`: comma-separated names, or unset for all), adding every
    /// problem to `problems`.
    pub fn read(figment: &Figment, served: Option<&str>, problems: &mut Vec<String>) -> Self {
        let registered = registry::queues();
        let served: Option<Vec<String>> = served.map(|list| {
            list.split(',')
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty())
                .collect()
        });
        if let Some(names) = &served {
            for name in names {
                if registry::queue(name).is_none() {
                    problems.push(format!(
                        "VEZA_QUEUES names `{name}`, which is not a queue; the queues are {}",
                        registry::queue_names().join(", ")
                    ));
                }
            }
            if names.is_empty() {
                problems.push("VEZA_QUEUES is empty; unset it to serve every queue".into());
            }
        }
        let queues = registered
            .iter()
            .map(|queue| {
                let concurrency = number(figment, queue.name, "concurrency", problems)
                    .map_or(queue.concurrency, |n| usize::try_from(n).unwrap_or(usize::MAX));
                let timeout = number(figment, queue.name, "timeout_seconds", problems)
                    .map_or(queue.timeout, Duration::from_secs);
                QueuePlan {
                    name: queue.name,
                    served: served
                        .as_ref()
                        .is_none_or(|names| names.iter().any(|n| n == queue.name)),
                    concurrency,
                    timeout,
                    retry: queue.retry,
                }
            })
            .collect();
        Self { queues }
    }

    /// The queues this worker consumes.
    pub fn served(&self) -> impl Iterator<Item = &QueuePlan> {
        self.queues.iter().filter(|q| q.served)
    }

    /// The plan of `queue`, when it is registered.
    pub fn get(&self, queue: &str) -> Option<&QueuePlan> {
        self.queues.iter().find(|q| q.name == queue)
    }

    /// The longest attempt time limit of any queue (served here or not: the fleet shares the
    /// storage that orphan cleanup looks at).
    pub fn longest_timeout(&self) -> Duration {
        self.queues.iter().map(|q| q.timeout).max().unwrap_or_default()
    }
}

/// `VEZA_{QUEUE}_{SETTING}` as a positive whole number, when set.
fn number(figment: &Figment, queue: &str, setting: &str, problems: &mut Vec<String>) -> Option<u64> {
    // Environment keys arrive lower-cased without the `VEZA_` prefix (`email_concurrency`).
    let key = format!("{queue}_{setting}");
    let env_name = format!("VEZA_{}", key.to_ascii_uppercase());
    let value = figment.find_value(&key).ok()?;
    match value.deserialize::<u64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            problems.push(format!("{env_name} must be a whole number of at least 1"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use figment::providers::{Format, Toml};

    fn read(toml: &str, served: Option<&str>) -> (Placement, Vec<String>) {
        let mut problems = Vec::new();
        let figment = Figment::new().merge(Toml::string(toml));
        (Placement::read(&figment, served, &mut problems), problems)
    }

    #[test]
    fn every_registered_queue_is_served_with_its_kinds_defaults_unless_configured() {
        let (placement, problems) = read("", None);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(placement.queues.len(), registry::queues().len());
        for (plan, queue) in placement.queues.iter().zip(registry::queues()) {
            assert_eq!(plan.name, queue.name);
            assert!(plan.served);
            assert_eq!(plan.concurrency, queue.concurrency);
            assert_eq!(plan.timeout, queue.timeout);
        }
    }

    #[test]
    fn queues_and_their_settings_come_from_the_configuration() {
        let (placement, problems) = read(
            "email_concurrency = 9\ntranscode_timeout_seconds = 7\n",
            Some("email, Transcode"),
        );
        assert!(problems.is_empty(), "{problems:?}");
        let (email, transcode) = (veza_jobs::email::QUEUE, veza_jobs::transcode::QUEUE);
        let served: Vec<&str> = placement.served().map(|q| q.name).collect();
        assert_eq!(served, [email, transcode]);
        assert_eq!(placement.get(email).unwrap().concurrency, 9);
        assert_eq!(placement.get(transcode).unwrap().timeout, Duration::from_secs(7));
    }

    #[test]
    fn unknown_queues_and_zero_settings_are_refused_by_name() {
        let (_, problems) = read("canary_concurrency = 0\n", Some("email,chat"));
        assert!(
            problems.iter().any(|p| p.starts_with("VEZA_QUEUES names `chat`")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("VEZA_CANARY_CONCURRENCY must be")),
            "{problems:?}"
        );
    }
}
