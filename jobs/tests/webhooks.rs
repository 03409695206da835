//! The webhook kind's handler against a real database and real HTTP on loopback: a success
//! resets the endpoint's failure count, a delivery that runs out of attempts counts against its
//! endpoint and the fifth in a row disables it, and nothing is sent to a disabled endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use veza_e2e::{TestDatabase, servers::free_port};
use veza_jobs::{
    context::{JobContext, JobRun, KindSettings},
    error::JobError,
    kind::Kind,
    lease::Lease,
    mailer::{Mailer, MailerConfig},
    storage::{Storage, StorageConfig},
    webhooks::{DISABLE_AFTER, WebhookJob, WebhookKind, WebhookSettings},
};

struct World {
    ctx: JobContext,
    pool: PgPool,
    user: Uuid,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let db = TestDatabase::create().await;
    let pool = veza_jobs::db::connect(&db.url, 4).await.unwrap();
    veza_jobs::db::migrate(&pool).await.unwrap();
    let user = Uuid::now_v7();
    sqlx::query("insert into users (id, email, password_hash) values ($1, 'ada@example.com', 'x')")
        .bind(user)
        .execute(&pool)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = JobContext {
        pool: pool.clone(),
        storage: Storage::open(&StorageConfig::Fs {
            root: dir.path().join("objects"),
        })
        .unwrap(),
        mailer: Mailer::open(&MailerConfig::Outbox(dir.path().join("outbox"))).unwrap(),
        cpu: veza_jobs::cpu::CpuPool::per_core(),
        scratch_dir: dir.path().join("scratch"),
        settings: KindSettings::default().with(WebhookSettings {
            allow_private: true,
            timeout: Duration::from_secs(5),
        }),
    };
    World {
        ctx,
        pool,
        user,
        _dir: dir,
    }
}

/// An endpoint at `url` with `failures` deaths in a row, and a pending delivery to it that has
/// had `attempts` attempts; the delivery's id.
async fn delivery(world: &World, url: &str, failures: i32, attempts: i32) -> (Uuid, Uuid) {
    let (endpoint, delivery) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "insert into webhook_endpoints (id, user_id, url, events, secret, consecutive_failures)
         values ($1, $2, $3, '{job.failed}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', $4)",
    )
    .bind(endpoint)
    .bind(world.user)
    .bind(url)
    .bind(failures)
    .execute(&world.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into webhook_deliveries (id, endpoint_id, event_type, body, attempts)
         values ($1, $2, 'job.failed', '{}', $3)",
    )
    .bind(delivery)
    .bind(endpoint)
    .bind(attempts)
    .execute(&world.pool)
    .await
    .unwrap();
    (endpoint, delivery)
}

async fn send(world: &World, delivery: Uuid) -> Result<(), JobError> {
    let run = JobRun {
        id: Uuid::now_v7(),
        lease: Lease::new(Uuid::now_v7(), "test-worker"),
        cancel: CancellationToken::new(),
    };
    WebhookKind::handle(
        &world.ctx,
        &run,
        WebhookJob {
            delivery_id: delivery,
        },
    )
    .await
}

async fn endpoint_state(world: &World, endpoint: Uuid) -> (i32, Option<String>) {
    sqlx::query_as("select consecutive_failures, disabled_reason from webhook_endpoints where id = $1")
        .bind(endpoint)
        .fetch_one(&world.pool)
        .await
        .unwrap()
}

async fn delivery_state(world: &World, delivery: Uuid) -> (String, i32) {
    sqlx::query_as("select status, attempts from webhook_deliveries where id = $1")
        .bind(delivery)
        .fetch_one(&world.pool)
        .await
        .unwrap()
}

/// A receiver answering every request with `status`; counts the requests it got.
async fn receiver(status: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (url, count)
}

#[tokio::test]
async fn a_success_resets_the_endpoints_failures() {
    let world = world().await;
    let (url, count) = receiver("204 No Content").await;
    let (endpoint, delivery) = delivery(&world, &url, 3, 0).await;
    send(&world, delivery).await.unwrap();
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        delivery_state(&world, delivery).await,
        ("delivered".to_owned(), 1)
    );
    assert_eq!(endpoint_state(&world, endpoint).await, (0, None));
}

#[tokio::test]
async fn the_last_attempt_of_a_failing_delivery_counts_and_the_fifth_death_disables_the_endpoint() {
    let world = world().await;
    let (url, count) = receiver("503 Service Unavailable").await;
    let last = i32::try_from(WebhookKind::RETRY.max_attempts).unwrap();

    // Not the last attempt: it stays pending for its retry, the endpoint is not blamed yet.
    let (endpoint, early) = delivery(&world, &url, DISABLE_AFTER - 1, 0).await;
    let err = send(&world, early).await.unwrap_err();
    assert_eq!(err.code(), "webhook-failed");
    assert!(err.is_retryable());
    assert_eq!(delivery_state(&world, early).await, ("pending".to_owned(), 1));
    assert_eq!(endpoint_state(&world, endpoint).await.0, DISABLE_AFTER - 1);

    // The last attempt: the delivery dies, and it is the endpoint's fifth death in a row.
    sqlx::query("update webhook_deliveries set attempts = $2 where id = $1")
        .bind(early)
        .bind(last - 1)
        .execute(&world.pool)
        .await
        .unwrap();
    send(&world, early).await.unwrap_err();
    assert_eq!(delivery_state(&world, early).await, ("failed".to_owned(), last));
    let (failures, reason) = endpoint_state(&world, endpoint).await;
    assert_eq!(failures, DISABLE_AFTER);
    assert_eq!(reason.as_deref(), Some("deliveries failed 5 times in a row"));
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);

    // Disabled: the next delivery is not sent, for good.
    let next = Uuid::now_v7();
    sqlx::query(
        "insert into webhook_deliveries (id, endpoint_id, event_type, body) values ($1, $2, 'job.failed', '{}')",
    )
    .bind(next)
    .bind(endpoint)
    .execute(&world.pool)
    .await
    .unwrap();
    let err = send(&world, next).await.unwrap_err();
    assert_eq!(err.code(), "webhook-endpoint-disabled");
    assert!(!err.is_retryable());
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "nothing was sent"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried_and_a_deleted_one_is_not_called() {
    let world = world().await;
    let (endpoint, delivery) =
        delivery(&world, &format!("http://127.0.0.1:{}/hook", free_port()), 0, 0).await;
    let err = send(&world, delivery).await.unwrap_err();
    assert_eq!(err.code(), "webhook-failed");
    assert!(err.is_retryable(), "connection refused is worth retrying");
    sqlx::query("delete from webhook_endpoints where id = $1")
        .bind(endpoint)
        .execute(&world.pool)
        .await
        .unwrap();
    send(&world, delivery).await.unwrap();
}
