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
//! `succeeded` took 48–105 ms for 7 of them and 574–746 ms for 3 with the 1 s interval alone;
//! 58–111 ms for all 10 with `VEZA_POLL_INTERVAL_MS=100`. Before this strategy the next wake-up
//! was the heartbeat, 5 s. So for a short while after one of its jobs finished ([`Finishes`],
//! recorded by the worker's runner), a consumer polls every [`AFTER_FINISH_POLL`]: the buffered
//! acknowledgement is flushed within a few tens of milliseconds, at the price of a few empty
//! fetches per finished job. With it, the same 10 uploads: 42–73 ms, all of them.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{PollSnapshot, PollStrategy};
use futures::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

/// How often a consumer polls right after one of its jobs finished…
pub const AFTER_FINISH_POLL: Duration = Duration::from_millis(20);
/// …and for how long.
pub const AFTER_FINISH_WINDOW: Duration = Duration::from_millis(200);

/// When a queue's jobs last finished in this process (any ending: each leaves an
/// acknowledgement for apalis to flush). Clones share it.
#[derive(Clone)]
pub struct Finishes {
    origin: Instant,
    /// Milliseconds after `origin`, plus one; 0 means never.
    last: Arc<AtomicU64>,
}

impl Default for Finishes {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            last: Arc::default(),
        }
    }
}

impl Finishes {
    /// A job of the queue finished now.
    pub fn record(&self) {
        let millis = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last.store(millis + 1, Ordering::Relaxed);
    }

    /// When the last job finished, if one did.
    fn last(&self) -> Option<Instant> {
        match self.last.load(Ordering::Relaxed) {
            0 => None,
            millis => Some(self.origin + Duration::from_millis(millis - 1)),
        }
    }
}

/// A consumer's wake-up strategy: insert notifications, drained; a fallback poll; quick polls
/// after a job finished. A clone (a restarted consumer's) starts its own listener and timer.
pub struct Wakeups<S> {
    notifications: S,
    idle_poll: Duration,
    finishes: Finishes,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S: Clone> Clone for Wakeups<S> {
    fn clone(&self) -> Self {
        Self {
            notifications: self.notifications.clone(),
            idle_poll: self.idle_poll,
            finishes: self.finishes.clone(),
            timer: None,
        }
    }
}

impl<S> Wakeups<S> {
    /// Wakes on each batch of `notifications`, every `idle_poll`, and every
    /// [`AFTER_FINISH_POLL`] within [`AFTER_FINISH_WINDOW`] of the last of `finishes`.
    pub fn new(notifications: S, idle_poll: Duration, finishes: Finishes) -> Self {
        Self {
            notifications,
            idle_poll,
            finishes,
            timer: None,
        }
    }

    /// When the consumer should next look for work without being told to.
    fn next_poll(&self, now: Instant) -> Instant {
        match self.finishes.last() {
            Some(finished) if now < finished + AFTER_FINISH_WINDOW => now + AFTER_FINISH_POLL,
            _ => now + self.idle_poll,
        }
    }
}

impl<S: Stream + Unpin> PollStrategy for Wakeups<S> {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut notified = false;
        // Until the stream is pending (the waker is then registered for the next one) or gone
        // (the listener's connection failed; the consumer restarts with a new one).
        while let Poll::Ready(Some(_)) = self.notifications.poll_next_unpin(cx) {
            notified = true;
        }
        if notified {
            cx.waker().wake_by_ref();
        }
        let now = Instant::now();
        let next = self.next_poll(now);
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
        // A job just finished: bring a far timer forward.
        if timer.deadline() > next {
            timer.as_mut().reset(next);
        }
        let tick = timer.as_mut().poll(cx).is_ready();
        if tick {
            timer.as_mut().reset(next);
            // Polled once after the reset, so that it holds this waker.
            let _ = timer.as_mut().poll(cx);
        }
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

    #[tokio::test]
    async fn a_notification_after_a_drained_poll_wakes_the_consumer() {
        let (tx, rx) = mpsc::unbounded();
        assert!(woken_by_a_later_notification(
            &mut Wakeups::new(rx, NEVER, Finishes::default()),
            &tx
        ));
    }

    /// Why [`Wakeups`] exists: apalis's stream strategy loses this wake-up. When this fails,
    /// apalis has fixed it and `Wakeups` may go back to `with_pubsub()` plus an interval.
    #[tokio::test]
    async fn apalis_stream_strategy_loses_that_wakeup() {
        let (tx, rx) = mpsc::unbounded();
        assert!(!woken_by_a_later_notification(&mut StreamStrategy::new(rx), &tx));
    }

    #[tokio::test]
    async fn taking_notifications_asks_for_one_more_poll() {
        let (tx, rx) = mpsc::unbounded();
        let mut wakeups = Wakeups::new(rx, NEVER, Finishes::default());
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

    #[tokio::test]
    async fn a_closed_listener_leaves_the_interval_and_does_not_spin() {
        let (tx, rx) = mpsc::unbounded::<u32>();
        drop(tx);
        let mut wakeups = Wakeups::new(rx, NEVER, Finishes::default());
        let wakes = Arc::new(Wakes::default());
        let waker = waker(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(wakeups.poll_drive(&mut cx, &PollSnapshot::new()).is_pending());
        assert_eq!(wakes.count(), 0);
    }

    #[tokio::test]
    async fn the_interval_wakes_an_idle_consumer() {
        let (_tx, rx) = mpsc::unbounded::<u32>();
        let mut wakeups = Wakeups::new(rx, Duration::from_millis(20), Finishes::default());
        let woke = tokio::time::timeout(
            Duration::from_secs(10),
            futures::future::poll_fn(|cx| wakeups.poll_drive(cx, &PollSnapshot::new())),
        )
        .await;
        assert_eq!(woke, Ok(Some(())), "no wake-up from the interval alone");
    }

    /// Whether `wakeups` asks for a poll within `within`.
    async fn wakes_within(wakeups: &mut Wakeups<mpsc::UnboundedReceiver<u32>>, within: Duration) -> bool {
        let poll = futures::future::poll_fn(|cx| wakeups.poll_drive(cx, &PollSnapshot::new()));
        tokio::time::timeout(within, poll).await.is_ok()
    }

    #[tokio::test]
    async fn a_finished_job_brings_the_next_poll_forward_for_a_while() {
        let (_tx, rx) = mpsc::unbounded::<u32>();
        let finishes = Finishes::default();
        let mut wakeups = Wakeups::new(rx, NEVER, finishes.clone());
        assert!(
            !wakes_within(&mut wakeups, Duration::from_millis(300)).await,
            "idle: nothing to do"
        );
        finishes.record();
        assert!(
            wakes_within(&mut wakeups, Duration::from_secs(10)).await,
            "a job finished: its acknowledgement may be waiting"
        );
        tokio::time::sleep(AFTER_FINISH_WINDOW * 2).await;
        // One tick may still be due from the window; after it, back to the idle period.
        let _ = wakes_within(&mut wakeups, Duration::from_millis(50)).await;
        assert!(
            !wakes_within(&mut wakeups, Duration::from_millis(300)).await,
            "idle again"
        );
    }
}
