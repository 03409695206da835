//! One stream of work items, many consumers that each need every item in order (the rungs of a
//! ladder: every decoded frame goes to every rung's encoder), spread over the threads a
//! [`crate::cpu::CpuPool::spawn_wide`] task was given.
//!
//! A consumer's state is not shared: each consumer lives on one thread for the whole run, so an
//! encoder sees its frames in order. The consumers are grouped onto the threads by their
//! declared cost, the dearest first onto the least loaded thread, so one 1080p rung does not
//! share a thread with the rest of the ladder when a second thread is there. The producer runs
//! on the calling thread and stays at most [`QUEUED`] items ahead of the slowest thread, so
//! memory stays bounded whatever the speeds. With one thread everything runs inline, with no
//! channel and no extra thread: a task never uses more cores than the slots it holds.

use std::sync::{Arc, mpsc};

/// Items waiting per thread: enough to keep a thread busy while the producer decodes the next.
const QUEUED: usize = 2;

/// Runs `produce`, which hands items to the `deliver` function it is given (`false` back means
/// a consumer failed: stop producing). Every item reaches `consume` once for each consumer, in
/// the order produced. `costs` (one per consumer) balances the consumers over `threads`.
///
/// A consumer's error wins over the producer's result (a producer that stopped because
/// `deliver` said `false` returns whatever it likes); otherwise the producer's result comes back
/// with the consumers, in their original order. A panic in a consumer is re-raised here.
pub fn fan_out<T, C, R, E>(
    threads: usize,
    consumers: Vec<C>,
    costs: &[u64],
    consume: impl Fn(&mut C, &T) -> Result<(), E> + Sync,
    produce: impl FnOnce(&mut dyn FnMut(Arc<T>) -> bool) -> Result<R, E>,
) -> Result<(R, Vec<C>), E>
where
    T: Send + Sync,
    C: Send,
    E: Send,
{
    let groups = balance(costs, consumers.len(), threads);
    if groups.len() <= 1 {
        return inline(consumers, consume, produce);
    }
    let mut slots: Vec<Option<C>> = consumers.into_iter().map(Some).collect();
    let grouped: Vec<Vec<(usize, C)>> = groups
        .iter()
        .map(|group| {
            group
                .iter()
                .filter_map(|&index| slots.get_mut(index)?.take().map(|consumer| (index, consumer)))
                .collect()
        })
        .collect();
    let consume = &consume;
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(grouped.len());
        let mut lanes = Vec::with_capacity(grouped.len());
        for mut group in grouped {
            let (tx, rx) = mpsc::sync_channel::<Arc<T>>(QUEUED);
            senders.push(tx);
            lanes.push(scope.spawn(move || {
                for item in rx {
                    for (_, consumer) in &mut group {
                        if let Err(err) = consume(consumer, &item) {
                            return (group, Some(err));
                        }
                    }
                }
                (group, None)
            }));
        }
        let produced =
            produce(&mut |item: Arc<T>| senders.iter().all(|tx| tx.send(Arc::clone(&item)).is_ok()));
        // Closing the channels ends the threads once they have consumed what is queued.
        drop(senders);
        let mut back = Vec::new();
        let mut failure = None;
        for lane in lanes {
            match lane.join() {
                Ok((group, err)) => {
                    back.extend(group);
                    failure = failure.or(err);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        if let Some(err) = failure {
            return Err(err);
        }
        back.sort_by_key(|(index, _)| *index);
        produced.map(|result| (result, back.into_iter().map(|(_, consumer)| consumer).collect()))
    })
}

/// One thread: each item goes through every consumer before the producer goes on.
fn inline<T, C, R, E>(
    mut consumers: Vec<C>,
    consume: impl Fn(&mut C, &T) -> Result<(), E>,
    produce: impl FnOnce(&mut dyn FnMut(Arc<T>) -> bool) -> Result<R, E>,
) -> Result<(R, Vec<C>), E> {
    let mut failure = None;
    let produced = produce(&mut |item: Arc<T>| {
        if failure.is_some() {
            return false;
        }
        for consumer in &mut consumers {
            if let Err(err) = consume(consumer, &item) {
                failure = Some(err);
                return false;
            }
        }
        true
    });
    match failure {
        Some(err) => Err(err),
        None => produced.map(|result| (result, consumers)),
    }
}

/// Consumer indices per thread (no empty group): the dearest consumer first, each onto the
/// thread with the least cost so far. A missing cost counts as 1.
fn balance(costs: &[u64], consumers: usize, threads: usize) -> Vec<Vec<usize>> {
    let threads = threads.clamp(1, consumers.max(1));
    let cost = |index: usize| costs.get(index).copied().unwrap_or(1);
    let mut order: Vec<usize> = (0..consumers).collect();
    order.sort_by_key(|&index| std::cmp::Reverse(cost(index)));
    let mut groups: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); threads];
    for index in order {
        if let Some(lightest) = groups.iter_mut().min_by_key(|(load, _)| *load) {
            lightest.0 += cost(index);
            lightest.1.push(index);
        }
    }
    groups
        .into_iter()
        .map(|(_, group)| group)
        .filter(|group| !group.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Each consumer records what it saw; the producer hands out 0..n.
    fn run(threads: usize, consumers: usize, n: u32) -> Result<(u32, Vec<Vec<u32>>), String> {
        let seen = vec![Vec::new(); consumers];
        let costs: Vec<u64> = (1..=consumers as u64).collect();
        fan_out(
            threads,
            seen,
            &costs,
            |seen: &mut Vec<u32>, item: &u32| {
                seen.push(*item);
                Ok(())
            },
            |deliver| {
                for item in 0..n {
                    if !deliver(Arc::new(item)) {
                        return Err("stopped".to_owned());
                    }
                }
                Ok(n)
            },
        )
    }

    #[test]
    fn every_consumer_sees_every_item_in_order_on_any_number_of_threads() {
        for threads in [1, 2, 3, 8] {
            let (produced, seen) = run(threads, 4, 500).unwrap();
            assert_eq!(produced, 500);
            assert_eq!(seen.len(), 4);
            for consumer in seen {
                assert_eq!(consumer, (0..500).collect::<Vec<_>>(), "{threads} threads");
            }
        }
    }

    #[test]
    fn a_consumer_error_stops_the_producer_and_is_what_comes_back() {
        for threads in [1, 2] {
            let result = fan_out(
                threads,
                vec![0u32, 0u32],
                &[1, 1],
                |count: &mut u32, item: &u32| {
                    *count += 1;
                    if *item == 10 {
                        Err(format!("bad item {item}"))
                    } else {
                        Ok(())
                    }
                },
                |deliver| {
                    for item in 0..1_000_000u32 {
                        if !deliver(Arc::new(item)) {
                            return Err("the producer stopped".to_owned());
                        }
                    }
                    Ok(())
                },
            );
            assert_eq!(result.err().as_deref(), Some("bad item 10"), "{threads} threads");
        }
    }

    #[test]
    fn the_dearest_consumer_gets_a_thread_of_its_own() {
        // A 1080p, 720p and 360p AV1 rung and a 720p H.264 rung, by pixels.
        let costs = [2_073_600, 921_600, 230_400, 230_400];
        let groups = balance(&costs, 4, 2);
        assert_eq!(groups, vec![vec![0], vec![1, 2, 3]]);
        assert_eq!(balance(&costs, 4, 1), vec![vec![0, 1, 2, 3]]);
        assert_eq!(balance(&costs, 4, 9).len(), 4);
        assert_eq!(balance(&[], 0, 4), Vec::<Vec<usize>>::new());
    }
}
