//! Retry policy: how many attempts a job kind gets and how long it waits between them.
//!
//! Retries are scheduled in the database (the job's `run_at` moves into the future), never slept
//! in the process: the worker slot is free while a job waits for its next attempt.

use std::time::Duration;

/// Attempts and exponential backoff of one job kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: usize,
    /// Delay before the second attempt; it doubles with each further one.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based): `base × 2^(attempt-1)`, capped,
    /// then scaled by `jitter` ∈ [0, 1] into its upper half ("equal jitter"), so that jobs that
    /// failed together do not retry together and no delay is shorter than half its nominal value.
    pub fn delay(&self, attempt: usize, jitter: f64) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(30);
        let nominal = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        nominal.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// The same policy with another base delay (capped at least at the new base).
    pub fn with_base(self, base: Duration) -> Self {
        Self {
            base,
            cap: self.cap.max(base),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base: Duration::from_secs(2),
        cap: Duration::from_secs(30),
    };

    #[test]
    fn delay_doubles_per_attempt_up_to_the_cap() {
        let full: Vec<u64> = (1..=6).map(|a| POLICY.delay(a, 1.0).as_secs()).collect();
        assert_eq!(full, vec![2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn jitter_keeps_the_delay_within_the_upper_half() {
        assert_eq!(POLICY.delay(3, 0.0), Duration::from_secs(4));
        assert_eq!(POLICY.delay(3, 0.5), Duration::from_secs(6));
        assert_eq!(POLICY.delay(3, 7.0), Duration::from_secs(8), "jitter is clamped");
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        assert_eq!(POLICY.delay(usize::MAX, 1.0), Duration::from_secs(30));
    }
}
