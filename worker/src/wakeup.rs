//! When a queue consumer looks for work: whenever an insert is announced (LISTEN/NOTIFY), and
//! at a fixed interval as the fallback.
//!
//! apalis-postgres's own `with_pubsub()` polls the notification stream once per fetch and
//! ignores the result. When that poll takes a notification and the fetch after it comes back
//! empty — another consumer claimed the rows, or the fetch began before the insert committed —
//! the consumer parks with its waker no longer registered on the stream, and the notifications
//! that follow wake nobody: it sleeps until its next heartbeat. Measured with `just bench-queue`
//! on 2026-11-26: one round of the two-process drain of 20,000 jobs took 5.2 s instead of 1 s.
//! [`Wakeups`] drains every notification that is ready, so each poll ends with the waker
//! registered, and asks for one more poll after taking any, so that a fetch which began before
//! the announced commit is followed by one that sees it.
//!
//! The interval (`VEZA_POLL_INTERVAL_MS`, default 1 s) wakes a consumer for what no notification
//! announces: a retry whose run-at has come, inserts made while the listener was reconnecting,
//! and acknowledgements apalis left buffered. The last is another race inside apalis-core's
//! `Persisted`: it flushes finished jobs' acknowledgements only when polled in its ready state,
//! and after an empty fetch it parks without looking at them; a job that finishes while such a
//! fetch is in flight stays `Running` in the database until the consumer's next wake-up. Seen
//! here (debug build, one worker, 10 PNG uploads each polled every 5 ms, 2026-11-26): upload to
//! `succeeded` took 48–105 ms for 7 of them and 574–746 ms for 3 with the default 1 s interval;
//! 58–111 ms for all 10 with `VEZA_POLL_INTERVAL_MS=100`. Before this strategy the next wake-up
//! was the heartbeat, 5 s.

use std::{
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{IntervalStrategy, PollSnapshot, PollStrategy};
use futures::{Stream, StreamExt};

/// A consumer's wake-up strategy: insert notifications, drained, and a fallback interval.
/// A clone (a restarted consumer's) starts its own listener and timer.
#[derive(Clone)]
pub struct Wakeups<S> {
    notifications: S,
    fallback: IntervalStrategy,
}

impl<S> Wakeups<S> {
    /// Wakes on each batch of `notifications` and every `fallback`.
    pub fn new(notifications: S, fallback: Duration) -> Self {
        Self {
            notifications,
            fallback: IntervalStrategy::new(fallback),
        }
    }
}

impl<S: Stream + Unpin> PollStrategy for Wakeups<S> {
    fn poll_drive(&mut self, cx: &mut Context<'_>, snapshot: &PollSnapshot) -> Poll<Option<()>> {
        let mut notified = false;
        // Until the stream is pending (the waker is then registered for the next one) or gone
        // (the listener's connection failed; the consumer restarts with a new one).
        while let Poll::Ready(Some(_)) = self.notifications.poll_next_unpin(cx) {
            notified = true;
        }
        if notified {
            cx.waker().wake_by_ref();
        }
        // Polled every time, so its timer stays armed whatever the notifications did.
        let tick = self.fallback.poll_drive(cx, snapshot).is_ready();
        if notified || tick {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use apalis::prelude::StreamStrategy;
    use futures::{
        channel::mpsc,
        task::{ArcWake, waker},
    };
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl ArcWake for Wakes {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Wakes {
        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    const NEVER: Duration = Duration::from_secs(3600);

    /// Two notifications queued, one poll, then a third insert: the consumer must be woken.
    fn woken_by_a_later_notification(
        strategy: &mut impl PollStrategy,
        tx: &mpsc::UnboundedSender<u32>,
    ) -> bool {
        let wakes = Arc::new(Wakes::default());
        let waker = waker(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        tx.unbounded_send(1).unwrap();
        tx.unbounded_send(2).unwrap();
        assert!(strategy.poll_drive(&mut cx, &PollSnapshot::new()).is_ready());
        // The fetch found nothing (say another worker took the rows); the consumer parks.
        let before = wakes.count();
        tx.unbounded_send(3).unwrap();
        wakes.count() > before
    }

    #[test]
    fn a_notification_after_a_drained_poll_wakes_the_consumer() {
        let (tx, rx) = mpsc::unbounded();
        assert!(woken_by_a_later_notification(&mut Wakeups::new(rx, NEVER), &tx));
    }

    /// Why [`Wakeups`] exists: apalis's stream strategy loses this wake-up. When this fails,
    /// apalis has fixed it and `Wakeups` may go back to `with_pubsub()` plus an interval.
    #[test]
    fn apalis_stream_strategy_loses_that_wakeup() {
        let (tx, rx) = mpsc::unbounded();
        assert!(!woken_by_a_later_notification(&mut StreamStrategy::new(rx), &tx));
    }

    #[test]
    fn taking_notifications_asks_for_one_more_poll() {
        let (tx, rx) = mpsc::unbounded();
        let mut wakeups = Wakeups::new(rx, NEVER);
        let wakes = Arc::new(Wakes::default());
        let waker = waker(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(wakeups.poll_drive(&mut cx, &PollSnapshot::new()).is_pending());
        assert_eq!(wakes.count(), 0, "nothing announced, nothing to do");
        tx.unbounded_send(1).unwrap();
        let after_send = wakes.count();
        assert!(wakeups.poll_drive(&mut cx, &PollSnapshot::new()).is_ready());
        assert_eq!(
            wakes.count(),
            after_send + 1,
            "a fetch after the drained notification"
        );
        assert!(wakeups.poll_drive(&mut cx, &PollSnapshot::new()).is_pending());
    }

    #[test]
    fn a_closed_listener_leaves_the_interval_and_does_not_spin() {
        let (tx, rx) = mpsc::unbounded::<u32>();
        drop(tx);
        let mut wakeups = Wakeups::new(rx, NEVER);
        let wakes = Arc::new(Wakes::default());
        let waker = waker(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(wakeups.poll_drive(&mut cx, &PollSnapshot::new()).is_pending());
        assert_eq!(wakes.count(), 0);
    }

    #[tokio::test]
    async fn the_interval_wakes_an_idle_consumer() {
        let (_tx, rx) = mpsc::unbounded::<u32>();
        let mut wakeups = Wakeups::new(rx, Duration::from_millis(20));
        let woke = tokio::time::timeout(
            Duration::from_secs(10),
            futures::future::poll_fn(|cx| wakeups.poll_drive(cx, &PollSnapshot::new())),
        )
        .await;
        assert_eq!(woke, Ok(Some(())), "no wake-up from the interval alone");
    }
}
