//! Every job kind, once. The worker registers a consumer per kind through [`each_kind`]; the
//! operator API, the metrics and the configuration take the queue names from [`queues`]. Adding
//! a kind is its module plus one line in `each_kind`. This is the one module of the contract
//! that names kinds.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    canary,
    context::JobContext,
    email,
    kind::Kind,
    media::MediaKind,
    purge,
    queue::{EnqueueError, Priority},
    retry::RetryPolicy,
    thumbnail, transcode, video,
    webhooks::{self, Outcome},
};

/// Something done once per kind, with the kind's type (e.g. registering its consumer).
pub trait KindVisitor {
    /// Called once for every registered kind, in registration order.
    fn visit<K: Kind>(&mut self);
}

/// Visits every job kind.
pub fn each_kind(visitor: &mut impl KindVisitor) {
    visitor.visit::<email::EmailKind>();
    visitor.visit::<thumbnail::ThumbnailKind>();
    visitor.visit::<transcode::TranscodeKind>();
    visitor.visit::<video::ProbeKind>();
    visitor.visit::<video::encode::EncodeKind>();
    visitor.visit::<video::soundtrack::SoundtrackKind>();
    visitor.visit::<video::finalize::FinalizeKind>();
    visitor.visit::<purge::PurgeKind>();
    visitor.visit::<webhooks::WebhookKind>();
    visitor.visit::<canary::CanaryKind>();
}

/// How much of a media item's processing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processing {
    /// Everything its kind implies (an upload, a reprocess).
    Full,
    /// Only the thumbnails, whatever the item's kind (an audio item's come from its published
    /// transcode, a video's from its published poster): when the configured thumbnail formats
    /// changed.
    ThumbnailsOnly,
}

/// Enqueues, on the caller's transaction, the job that starts processing media item `media_id`
/// of `kind`: the one place that knows which kind of job a kind of media begins with.
pub async fn enqueue_processing(
    conn: &mut PgConnection,
    kind: MediaKind,
    processing: Processing,
    owner_id: Uuid,
    media_id: Uuid,
    priority: Priority,
) -> Result<Uuid, EnqueueError> {
    match (kind, processing) {
        (MediaKind::Video, Processing::Full) => video::enqueue(conn, owner_id, media_id, priority).await,
        (MediaKind::Audio, Processing::Full) => transcode::enqueue(conn, owner_id, media_id, priority).await,
        (MediaKind::Audio | MediaKind::Image | MediaKind::Video, _) => {
            thumbnail::enqueue(conn, owner_id, media_id, priority).await
        }
    }
}

/// Tells the kinds that act on media outcomes that job `job_id` settled on `media_id` with
/// `outcome` (after [`crate::settle`] recorded the item's fate): the email kind mails the owner
/// (unless the owner cancelled the job), the webhook kind delivers the events to the owner's
/// endpoints. Never fails; each listener logs its own errors.
pub async fn media_settled(ctx: &JobContext, job_id: Uuid, media_id: Uuid, outcome: Outcome, mail: bool) {
    if mail {
        email::media::notify_media_outcome_logged(ctx, job_id, media_id).await;
    }
    webhooks::notify_media_outcome_logged(ctx, job_id, media_id, outcome).await;
}

/// A registered queue and its kind's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueInfo {
    /// Queue name.
    pub name: &'static str,
    /// What its jobs do.
    pub about: &'static str,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// Default attempt time limit.
    pub timeout: Duration,
    /// Default jobs at once per worker process.
    pub concurrency: usize,
}

/// Every registered queue, in registration order: collected once, on first use (the API looks
/// queue names up per request, the metrics per scrape).
pub fn queues() -> &'static [QueueInfo] {
    static QUEUES: std::sync::LazyLock<Vec<QueueInfo>> = std::sync::LazyLock::new(collect_queues);
    &QUEUES
}

fn collect_queues() -> Vec<QueueInfo> {
    struct Collect(Vec<QueueInfo>);
    impl KindVisitor for Collect {
        fn visit<K: Kind>(&mut self) {
            self.0.push(QueueInfo {
                name: K::QUEUE,
                about: K::ABOUT,
                retry: K::RETRY,
                timeout: K::TIMEOUT,
                concurrency: K::CONCURRENCY,
            });
        }
    }
    let mut collect = Collect(Vec::new());
    each_kind(&mut collect);
    collect.0
}

/// Every registered queue name, in registration order.
pub fn queue_names() -> Vec<&'static str> {
    queues().iter().map(|q| q.name).collect()
}

/// The registered queue called `name`, if any.
pub fn queue(name: &str) -> Option<QueueInfo> {
    queues().iter().find(|q| q.name == name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_are_unique_lowercase_words() {
        let names = queue_names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
        for name in names {
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase()),
                "{name}: queue names become configuration keys and path segments"
            );
        }
    }
}
