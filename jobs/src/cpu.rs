//! The bounded pool that CPU-heavy work runs on (decoding, encoding, resizing).
//!
//! Handlers are async and share the runtime's few threads with heartbeats, claims and storage
//! I/O; a transcode that encoded on one of them would stall all of that. So CPU work goes to
//! blocking threads, and at most `threads` such tasks run at once in a worker process
//! (`VEZA_CPU_THREADS`, default the number of cores): a burst of uploads queues here instead of
//! oversubscribing the cores, while the job slots stay free to heartbeat and be cancelled.
//!
//! Work that splits (the rungs of a ladder) asks for more than one slot with
//! [`CpuPool::spawn_wide`]: it gets the slots that are free when it starts, never waits for more,
//! and [`crate::fan_out`] spreads its work over them.
//!
//! The pool also bounds memory. A wide task declares what it will hold (a video chunk: its
//! encoders' lookahead, hundreds of MiB at 1080p) and waits until that much of the worker's
//! budget (`VEZA_MEMORY_BUDGET_MIB`) is free before it takes a thread, so two 1080p chunks never
//! encode side by side on a worker whose budget fits one, while small ones still pair up. A task
//! that declares more than the whole budget runs alone instead of never.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// A cheap-to-clone handle on the pool.
#[derive(Debug, Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
    /// One permit per MiB of the memory budget.
    memory: Arc<Semaphore>,
    memory_mib: u32,
}

/// The task panicked; the panic is contained and reported as this error.
#[derive(Debug, thiserror::Error)]
#[error("the task crashed: {0}")]
pub struct CpuTaskCrashed(String);

impl CpuPool {
    /// A pool running at most `threads` tasks at once (at least one).
    pub fn new(threads: usize) -> Self {
        Self::with_memory_budget(threads, UNBOUNDED_MIB)
    }

    /// A pool running at most `threads` tasks at once whose wide tasks together declare at most
    /// `memory_mib` MiB (at least one).
    pub fn with_memory_budget(threads: usize, memory_mib: u32) -> Self {
        let memory_mib = memory_mib.clamp(1, UNBOUNDED_MIB);
        Self {
            permits: Arc::new(Semaphore::new(threads.max(1))),
            memory: Arc::new(Semaphore::new(memory_mib as usize)),
            memory_mib,
        }
    }

    /// A pool with one thread per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Runs `work` on a blocking thread once a slot is free; the future resolves to its result.
    /// The work is queued at once: it starts (when a slot is free) whether or not the future is
    /// polled, so a caller can meanwhile consume what the work streams to it.
    pub fn spawn<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, CpuTaskCrashed>> + Send + 'static {
        let permits = Arc::clone(&self.permits);
        let task = tokio::spawn(async move {
            let permit = permits
                .acquire_owned()
                .await
                .map_err(|_| CpuTaskCrashed("the pool is closed".into()))?;
            tokio::task::spawn_blocking(move || {
                let _slot = permit;
                work()
            })
            .await
            .map_err(|err| CpuTaskCrashed(err.to_string()))
        });
        async move { task.await.map_err(|err| CpuTaskCrashed(err.to_string()))? }
    }

    /// Like [`Self::spawn`], but `work` may use up to `most` threads and holds `memory_mib` MiB.
    /// It first waits until that much of the memory budget is free (all of it, when it declares
    /// more), then for its own slot; it then also takes whichever slots are free at that moment
    /// (never waiting for them), holds memory and slots until it ends, and is told how many
    /// threads it has (at least one). Memory is taken before any slot and spare slots after the
    /// task's own, so two wide tasks can never wait on each other.
    pub fn spawn_wide<T: Send + 'static>(
        &self,
        most: usize,
        memory_mib: u32,
        work: impl FnOnce(usize) -> T + Send + 'static,
    ) -> impl Future<Output = Result<T, CpuTaskCrashed>> + Send + 'static {
        let permits = Arc::clone(&self.permits);
        let memory = Arc::clone(&self.memory);
        let declared = memory_mib.min(self.memory_mib);
        let task = tokio::spawn(async move {
            let reserved = memory
                .acquire_many_owned(declared)
                .await
                .map_err(|_| CpuTaskCrashed("the pool is closed".into()))?;
            let mut slots = vec![
                Arc::clone(&permits)
                    .acquire_owned()
                    .await
                    .map_err(|_| CpuTaskCrashed("the pool is closed".into()))?,
            ];
            while slots.len() < most {
                match Arc::clone(&permits).try_acquire_owned() {
                    Ok(spare) => slots.push(spare),
                    Err(_) => break,
                }
            }
            tokio::task::spawn_blocking(move || {
                let threads = slots.len();
                let _held = (slots, reserved);
                work(threads)
            })
            .await
            .map_err(|err| CpuTaskCrashed(err.to_string()))
        });
        async move { task.await.map_err(|err| CpuTaskCrashed(err.to_string()))? }
    }
}

/// A worker's memory budget unless configured (`VEZA_MEMORY_BUDGET_MIB`), MiB: one chunk of the
/// default 1080p ladder (about 1.1 GiB declared) at a time, two of a 720p source's.
pub const DEFAULT_MEMORY_BUDGET_MIB: u32 = 1280;

/// The budget of a pool built without one: far more than any machine has, and within what a
/// semaphore can count.
const UNBOUNDED_MIB: u32 = 1 << 30;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn never_runs_more_tasks_at_once_than_its_threads() {
        let pool = CpuPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.spawn(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        // A blocking thread of the pool, not the runtime: sleeping is the work.
                        #[allow(clippy::disallowed_methods)]
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn spawned_work_starts_before_its_result_is_awaited() {
        let pool = CpuPool::new(1);
        let (tx, rx) = std::sync::mpsc::channel();
        let result = pool.spawn(move || tx.send(1).is_ok());
        // The work runs although nobody polls `result` yet (a streaming caller reads first).
        let got = tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(10)))
            .await
            .unwrap();
        assert_eq!(got.ok(), Some(1));
        assert!(result.await.unwrap());
    }

    #[tokio::test]
    async fn a_wide_task_takes_the_free_slots_and_gives_them_back() {
        let pool = CpuPool::new(3);
        assert_eq!(pool.spawn_wide(8, 0, |threads| threads).await.unwrap(), 3);
        assert_eq!(pool.spawn_wide(2, 0, |threads| threads).await.unwrap(), 2);
        // One slot busy: a wide task gets the other two, and does not wait for the third.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let busy = pool.spawn(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().ok();
        });
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        assert_eq!(pool.spawn_wide(8, 0, |threads| threads).await.unwrap(), 2);
        release_tx.send(()).unwrap();
        busy.await.unwrap();
        assert_eq!(pool.spawn_wide(8, 0, |threads| threads).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn wide_tasks_wait_for_memory_and_one_over_the_budget_runs_alone() {
        let pool = CpuPool::with_memory_budget(4, 1000);
        // The tasks running now, and a condition variable to wait for company on.
        let running = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
        let most = Arc::new(AtomicUsize::new(0));
        // Each task waits (up to 5 s) until `company` tasks run, then works 20 ms.
        let run = |mib: u32, company: usize| {
            let (running, most) = (running.clone(), most.clone());
            pool.spawn_wide(1, mib, move |_| {
                let (count, changed) = &*running;
                let mut now = count.lock().unwrap();
                *now += 1;
                most.fetch_max(*now, Ordering::SeqCst);
                changed.notify_all();
                let (now, _) = changed
                    .wait_timeout_while(now, std::time::Duration::from_secs(5), |now| *now < company)
                    .unwrap();
                drop(now);
                // A blocking thread of the pool, not the runtime: sleeping is the work.
                #[allow(clippy::disallowed_methods)]
                std::thread::sleep(std::time::Duration::from_millis(20));
                *count.lock().unwrap() -= 1;
            })
        };
        // 600 MiB each: only one fits at a time although four threads are free.
        let tasks = [run(600, 1), run(600, 1), run(600, 1)];
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        // 400 MiB each: two at once, never three.
        let tasks = [run(400, 2), run(400, 2), run(400, 2), run(400, 2)];
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        // More than the whole budget: it runs (alone) rather than never.
        assert!(run(5000, 1).await.is_ok());
    }

    #[tokio::test]
    async fn a_panicking_task_is_an_error_and_frees_its_slot() {
        let pool = CpuPool::new(1);
        let crashed = pool.spawn(|| panic!("boom")).await;
        assert!(crashed.is_err());
        assert_eq!(pool.spawn(|| 7).await.unwrap(), 7);
    }
}
