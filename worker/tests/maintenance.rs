//! The maintenance tasks against a real Postgres and a real storage folder, through `run_once`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, time::Duration};

use bytes::Bytes;
use sqlx::PgPool;
use uuid::Uuid;
use veza_e2e::{
    TestDatabase,
    servers::{self, S3Server},
};
use veza_jobs::{
    email::{self, EmailJob},
    media::{self, MediaKind, NewMedia},
    queue::Priority,
    reprocess::{self, Reprocess},
    storage::{Storage, StorageConfig},
    thumbnail::{self, Format},
    transcode,
};
use veza_worker::maintenance::{
    claim_tick,
    orphans::{Orphans, OrphansReport},
    prune::{Prune, PruneReport},
    repair::{Repair, RepairReport},
};

async fn database() -> PgPool {
    let db = TestDatabase::create().await;
    let pool = veza_jobs::db::connect(&db.url, 5).await.unwrap();
    veza_jobs::db::migrate(&pool).await.unwrap();
    pool
}

/// Orphans younger than this are kept.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// Object storage in `bucket` of the S3-compatible server `s3`.
fn s3_storage(s3: &S3Server, bucket: &str) -> Storage {
    Storage::open(&StorageConfig::S3 {
        endpoint: Some(s3.endpoint.clone()),
        bucket: bucket.to_owned(),
        region: "us-east-1".to_owned(),
        access_key_id: servers::S3_ACCESS_KEY_ID.to_owned(),
        secret_access_key: servers::S3_SECRET_ACCESS_KEY.to_owned(),
    })
    .unwrap()
}

/// Object storage in the folder `root`.
fn fs_storage(root: &Path) -> Storage {
    Storage::open(&StorageConfig::Fs {
        root: root.to_path_buf(),
    })
    .unwrap()
}

async fn user(pool: &PgPool) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("insert into users (id, email, password_hash) values ($1, $2, 'x')")
        .bind(id)
        .bind(format!("{id}@example.com"))
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn audio_item(pool: &PgPool, owner: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let mut conn = pool.acquire().await.unwrap();
    media::insert(
        &mut conn,
        &NewMedia {
            id,
            owner_id: owner,
            kind: MediaKind::Audio,
            original_key: &Storage::original_key(id),
            original_filename: None,
            content_type: "audio/x-wav",
            size_bytes: 10,
            sha256: "00",
        },
    )
    .await
    .unwrap();
    id
}

async fn publish(pool: &PgPool, media_id: Uuid, generation: &str, version: Option<i32>, keys: &[&str]) {
    sqlx::query(
        "update media set status = 'ready', playback_generation = $2, playback_pipeline_version = $3 where id = $1",
    )
    .bind(media_id)
    .bind(generation)
    .bind(version)
    .execute(pool)
    .await
    .unwrap();
    for key in keys {
        sqlx::query(
            "insert into outputs (id, media_id, kind, generation, name, object_key, content_type, size_bytes)
             values ($1, $2, 'hls-segment', $3, $4, $4, 'audio/mp4', 1)",
        )
        .bind(Uuid::now_v7())
        .bind(media_id)
        .bind(generation)
        .bind(*key)
        .execute(pool)
        .await
        .unwrap();
    }
}

async fn set_queue(pool: &PgPool, job: Uuid, status: &str, attempts: i32, done_ago_seconds: f64) {
    sqlx::query(
        "update apalis.jobs set status = $2, attempts = $3, done_at = now() - make_interval(secs => $4)
          where id = veza_task_id($1)",
    )
    .bind(job)
    .bind(status)
    .bind(attempts)
    .bind(done_ago_seconds)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_tick_is_claimed_by_exactly_one_of_many_workers() {
    let pool = database().await;
    let tick = chrono::Utc::now();
    let claims = (0..8).map(|i| {
        let pool = pool.clone();
        tokio::spawn(async move {
            claim_tick(&pool, "prune", tick, &format!("worker-{i}"))
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for claim in claims {
        won += usize::from(claim.await.unwrap());
    }
    assert_eq!(won, 1);
    assert!(
        claim_tick(&pool, "prune", tick + chrono::Duration::seconds(1), "worker-0")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn prune_forgets_finished_jobs_past_the_retention_and_keeps_the_rest() {
    let pool = database().await;
    let owner = user(&pool).await;
    let mut jobs = Vec::new();
    for _ in 0..5 {
        let mut conn = pool.acquire().await.unwrap();
        let job = EmailJob::Welcome {
            user_id: owner,
            to: "a@example.com".into(),
        };
        jobs.push(email::enqueue(&mut conn, owner, &job).await.unwrap());
    }
    let hours = 3600.0;
    set_queue(&pool, jobs[0], "Done", 1, 2.0 * hours).await; // old, done → pruned
    set_queue(&pool, jobs[1], "Killed", 1, 2.0 * hours).await; // old, dead → pruned
    set_queue(&pool, jobs[2], "Done", 1, 60.0).await; // recent → kept
    set_queue(&pool, jobs[3], "Failed", 1, 2.0 * hours).await; // waiting for a retry → kept
    // jobs[4] is still pending → kept

    let prune = Prune {
        pool: pool.clone(),
        retention: Duration::from_secs(3600),
    };
    assert_eq!(
        prune.run_once().await.unwrap(),
        PruneReport { jobs: 2, ..nothing() }
    );
    let left: Vec<Uuid> = sqlx::query_scalar("select id from jobs order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, jobs[2..].to_vec());
    let queue_rows: i64 = sqlx::query_scalar("select count(*) from apalis.jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(queue_rows, 3);
    assert_eq!(prune.run_once().await.unwrap(), nothing());
}

fn nothing() -> PruneReport {
    PruneReport {
        jobs: 0,
        ticks: 0,
        tokens: 0,
        attempts: 0,
        deliveries: 0,
        idempotency_keys: 0,
        resumable_uploads: 0,
    }
}

/// The one text column `sql` selects, in its order.
async fn left_of(pool: &PgPool, sql: &'static str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
}

#[tokio::test]
async fn prune_forgets_spent_tokens_old_attempts_the_delivery_log_of_pruned_jobs_and_old_uploads() {
    let pool = database().await;
    let owner = user(&pool).await;
    // Tokens: (hash, used this long ago, expires in) — negative means in the past.
    for (hash, used_ago, expires_in) in [
        ("used-long-ago", Some(7200.0), 3600.0),
        ("expired-long-ago", None, -7200.0),
        ("unused", None, 3600.0),
        ("used-just-now", Some(60.0), 3600.0),
        ("expired-just-now", None, -60.0),
    ] {
        sqlx::query(
            "insert into account_tokens (token_hash, user_id, purpose, expires_at, used_at)
             values ($1, $2, 'verify-email', now() + make_interval(secs => $3),
                     now() - make_interval(secs => $4))",
        )
        .bind(hash)
        .bind(owner)
        .bind(expires_in)
        .bind(used_ago)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (subject, ago) in [("old", 7200.0), ("recent", 60.0)] {
        sqlx::query(
            "insert into request_attempts (action, subject, attempted_at)
             values ('register', $1, now() - make_interval(secs => $2))",
        )
        .bind(subject)
        .bind(ago)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Deliveries: of a pruned job long ago, of a job that still exists, of a pruned job recently.
    let mut conn = pool.acquire().await.unwrap();
    let job = EmailJob::Welcome {
        user_id: owner,
        to: "a@example.com".into(),
    };
    let live_job = email::enqueue(&mut conn, owner, &job).await.unwrap();
    for (recipient, job_id, ago) in [
        ("gone-old@example.com", Uuid::now_v7(), 7200.0),
        ("live@example.com", live_job, 7200.0),
        ("gone-recent@example.com", Uuid::now_v7(), 60.0),
    ] {
        sqlx::query(
            "insert into email_deliveries (job_id, recipient, template, category, outcome, created_at)
             values ($1, $2, 'welcome', 'notification', 'sent', now() - make_interval(secs => $3))",
        )
        .bind(job_id)
        .bind(recipient)
        .bind(ago)
        .execute(&pool)
        .await
        .unwrap();
    }

    // Upload idempotency keys live 24 hours, whatever the retention.
    let item = audio_item(&pool, owner).await;
    for (key, ago) in [("day-old", 86_401.0), ("hour-old", 3_601.0)] {
        sqlx::query(
            "insert into upload_idempotency_keys (user_id, key, media_id, sha256, size_bytes, response, created_at)
             values ($1, $2, $3, 'ab', 1, '{}', now() - make_interval(secs => $4))",
        )
        .bind(owner)
        .bind(key)
        .bind(item)
        .bind(ago)
        .execute(&pool)
        .await
        .unwrap();
    }

    // Resumable uploads go a day after they expire, with the space they held.
    for (expired_ago, reservation) in [(2.0 * 86_400.0, Uuid::now_v7()), (3_600.0, Uuid::now_v7())] {
        sqlx::query(
            "insert into upload_reservations (id, user_id, bytes, expires_at) values ($1, $2, 10, now())",
        )
        .bind(reservation)
        .bind(owner)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into resumable_uploads (id, user_id, length, reservation_id, expires_at)
             values ($1, $2, 10, $3, now() - make_interval(secs => $4))",
        )
        .bind(Uuid::now_v7())
        .bind(owner)
        .bind(reservation)
        .bind(expired_ago)
        .execute(&pool)
        .await
        .unwrap();
    }

    let prune = Prune {
        pool: pool.clone(),
        retention: Duration::from_secs(3600),
    };
    let report = prune.run_once().await.unwrap();
    assert_eq!(
        report,
        PruneReport {
            tokens: 2,
            attempts: 1,
            deliveries: 1,
            idempotency_keys: 1,
            resumable_uploads: 1,
            ..nothing()
        }
    );
    let left: i64 = sqlx::query_scalar(
        "select count(*) from resumable_uploads join upload_reservations r on r.id = reservation_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 1, "the recently expired upload and its reservation stay");
    let reservations: i64 = sqlx::query_scalar("select count(*) from upload_reservations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reservations, 1);
    assert_eq!(
        left_of(&pool, "select key from upload_idempotency_keys").await,
        ["hour-old"]
    );
    assert_eq!(
        left_of(&pool, "select token_hash from account_tokens order by token_hash").await,
        ["expired-just-now", "unused", "used-just-now"]
    );
    assert_eq!(
        left_of(&pool, "select subject from request_attempts").await,
        ["recent"]
    );
    assert_eq!(
        left_of(&pool, "select recipient from email_deliveries order by recipient").await,
        ["gone-recent@example.com", "live@example.com"]
    );
    assert_eq!(prune.run_once().await.unwrap(), nothing());
}

#[tokio::test]
async fn orphans_deletes_only_old_objects_that_nothing_refers_to_upload_parts_included() {
    let dir = tempfile::tempdir().unwrap();
    orphans_scenario(fs_storage(&dir.path().join("objects"))).await;
}

#[tokio::test]
async fn orphans_on_s3_lists_the_bucket_and_deletes_the_same_objects() {
    let s3 = S3Server::start("veza-orphans").await;
    orphans_scenario(s3_storage(&s3, "veza-orphans")).await;
}

/// Objects of every kind the orphan sweep meets, old (written first) and young (written after
/// the grace period has passed for the old ones), in `storage`; the sweep must delete exactly
/// the old orphans.
async fn orphans_scenario(storage: Storage) {
    let pool = database().await;
    let owner = user(&pool).await;
    let item = audio_item(&pool, owner).await;
    publish(&pool, item, "published-gen", Some(1), &[]).await;
    let mut conn = pool.acquire().await.unwrap();
    let running_job = transcode::enqueue(&mut conn, owner, item, Priority::Normal)
        .await
        .unwrap();
    drop(conn);
    let gone = Uuid::now_v7();
    let young = Uuid::now_v7();

    let keep = [
        format!("media/{item}/hls/published-gen/index.m3u8"),
        format!("media/{item}/hls/{running_job}/segment-00000.m4s"),
        Storage::original_key(item),
        format!("media/{young}/hls/g/index.m3u8"),
    ];
    let delete = [
        format!("media/{item}/hls/old-gen/index.m3u8"),
        format!("media/{gone}/thumbnails/g/160.jpg"),
        Storage::original_key(gone),
    ];
    let mut young_keys: Vec<String> = Vec::new();
    for key in keep.iter().chain(&delete) {
        if key.contains(&young.to_string()) {
            young_keys.push(key.clone());
        } else {
            storage.put_bytes(key, Bytes::from_static(b"x")).await.unwrap();
        }
    }
    // Resumable uploads: one in progress (its recorded part kept, a part never recorded
    // deleted, a young one spared), one complete, one that no longer exists.
    let (in_progress, complete, vanished) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (id, media) in [(in_progress, None), (complete, Some(item))] {
        sqlx::query(
            "insert into resumable_uploads (id, user_id, length, received, reservation_id, media_id, expires_at)
             values ($1, $2, 10, 1, $3, $4, now() + interval '1 hour')",
        )
        .bind(id)
        .bind(owner)
        .bind(Uuid::now_v7())
        .bind(media)
        .execute(&pool)
        .await
        .unwrap();
    }
    let recorded_part = veza_jobs::resumable::part_key(in_progress, 0);
    sqlx::query(
        "insert into resumable_upload_parts (upload_id, start_at, size, object_key) values ($1, 0, 1, $2)",
    )
    .bind(in_progress)
    .bind(&recorded_part)
    .execute(&pool)
    .await
    .unwrap();
    let young_part = veza_jobs::resumable::part_key(in_progress, 1);
    let stale_parts = [
        veza_jobs::resumable::part_key(in_progress, 1),
        veza_jobs::resumable::part_key(complete, 0),
        veza_jobs::resumable::part_key(vanished, 0),
    ];
    for key in stale_parts.iter().chain([&recorded_part, &young_part]) {
        if *key == young_part {
            young_keys.push(key.clone());
        } else {
            storage.put_bytes(key, Bytes::from_static(b"x")).await.unwrap();
        }
    }
    // Object ages come from the store's own clock (a file's mtime, S3's LastModified), so the
    // old ones are made old by waiting out the grace period before the young ones are written.
    tokio::time::sleep(ORPHAN_GRACE + Duration::from_millis(1500)).await;
    for key in &young_keys {
        storage.put_bytes(key, Bytes::from_static(b"x")).await.unwrap();
    }
    let keep: Vec<String> = keep.into_iter().chain([recorded_part, young_part]).collect();
    let delete: Vec<String> = delete.into_iter().chain(stale_parts).collect();

    let orphans = Orphans {
        pool: pool.clone(),
        storage: storage.clone(),
        grace: ORPHAN_GRACE,
    };
    let report = orphans.run_once().await.unwrap();
    assert_eq!(
        report,
        OrphansReport {
            scanned: 12,
            deleted: 6,
            too_young: 2
        }
    );
    for key in &keep {
        assert!(storage.exists(key).await.unwrap(), "{key} must be kept");
    }
    for key in &delete {
        assert!(!storage.exists(key).await.unwrap(), "{key} must be deleted");
    }
}

#[tokio::test]
async fn repair_reprocesses_items_with_missing_or_outdated_outputs_once() {
    let dir = tempfile::tempdir().unwrap();
    repair_scenario(fs_storage(&dir.path().join("objects"))).await;
}

#[tokio::test]
async fn repair_on_s3_finds_the_same_missing_outputs_in_the_bucket() {
    let s3 = S3Server::start("veza-repair").await;
    repair_scenario(s3_storage(&s3, "veza-repair")).await;
}

/// Three published items in `storage`, one whole, one missing an output, one made by an older
/// pipeline: repair reprocesses the last two, once.
async fn repair_scenario(storage: Storage) {
    let pool = database().await;
    let owner = user(&pool).await;
    let healthy = audio_item(&pool, owner).await;
    let missing = audio_item(&pool, owner).await;
    let outdated = audio_item(&pool, owner).await;
    storage
        .put_bytes("healthy/segment", Bytes::from_static(b"x"))
        .await
        .unwrap();
    publish(
        &pool,
        healthy,
        "g",
        Some(transcode::PIPELINE_VERSION),
        &["healthy/segment"],
    )
    .await;
    publish(
        &pool,
        missing,
        "g",
        Some(transcode::PIPELINE_VERSION),
        &["missing/segment"],
    )
    .await;
    publish(&pool, outdated, "g", None, &[]).await;

    let repair = Repair {
        pool: pool.clone(),
        storage,
        batch: 10,
        thumbnail_formats: vec![Format::Jpeg, Format::Webp],
    };
    let report = repair.run_once().await.unwrap();
    assert_eq!(
        report,
        RepairReport {
            checked: 3,
            outdated: 1,
            missing: 1,
            reformatted: 0,
            enqueued: 2
        }
    );
    let queued: Vec<Uuid> =
        sqlx::query_scalar("select media_id from jobs where kind = 'transcode' order by media_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut expected = vec![missing, outdated];
    expected.sort();
    assert_eq!(queued, expected);

    // Their reprocesses are still waiting: the next run adds none.
    assert_eq!(repair.run_once().await.unwrap().enqueued, 0);
}

/// Publishes a thumbnail generation of `media_id` with one stored JPEG and one WebP.
async fn publish_thumbnails(pool: &PgPool, storage: &Storage, media_id: Uuid) {
    sqlx::query(
        "update media set status = 'ready', thumbnail_generation = 't', thumbnail_pipeline_version = $2
          where id = $1",
    )
    .bind(media_id)
    .bind(thumbnail::PIPELINE_VERSION)
    .execute(pool)
    .await
    .unwrap();
    for (name, content_type) in [("160.jpg", "image/jpeg"), ("160.webp", "image/webp")] {
        let key = Storage::output_key(media_id, "thumbnails", "t", name);
        storage.put_bytes(&key, Bytes::from_static(b"x")).await.unwrap();
        sqlx::query(
            "insert into outputs (id, media_id, kind, generation, name, object_key, content_type, size_bytes)
             values ($1, $2, 'thumbnail', 't', $3, $4, $5, 1)",
        )
        .bind(Uuid::now_v7())
        .bind(media_id)
        .bind(name)
        .bind(&key)
        .bind(content_type)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn repair_gives_items_thumbnails_in_newly_configured_formats_once() {
    let pool = database().await;
    let dir = tempfile::tempdir().unwrap();
    let storage = fs_storage(&dir.path().join("objects"));
    let owner = user(&pool).await;
    // An audio item, current in every way, with JPEG and WebP thumbnails.
    let audio = audio_item(&pool, owner).await;
    publish(&pool, audio, "g", Some(transcode::PIPELINE_VERSION), &[]).await;
    publish_thumbnails(&pool, &storage, audio).await;
    // An audio item never thumbnailed: nothing to compare, nothing to do.
    let bare = audio_item(&pool, owner).await;
    publish(&pool, bare, "g", Some(transcode::PIPELINE_VERSION), &[]).await;

    let repair = |formats: Vec<Format>| Repair {
        pool: pool.clone(),
        storage: storage.clone(),
        batch: 10,
        thumbnail_formats: formats,
    };
    let same = repair(vec![Format::Webp, Format::Jpeg]).run_once().await.unwrap();
    assert_eq!((same.checked, same.reformatted, same.enqueued), (2, 0, 0));

    let with_avif = repair(vec![Format::Jpeg, Format::Webp, Format::Avif]);
    let report = with_avif.run_once().await.unwrap();
    assert_eq!(
        report,
        RepairReport {
            checked: 2,
            outdated: 0,
            missing: 0,
            reformatted: 1,
            enqueued: 1
        }
    );
    // Only the thumbnails are made again: a thumbnail job, not a transcode, for the audio item.
    let queued: Vec<(String, Uuid)> =
        sqlx::query_as("select kind, media_id from jobs where media_id is not null order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(queued, [("thumbnail".to_owned(), audio)]);
    // Its job is still waiting: the next run adds none.
    assert_eq!(with_avif.run_once().await.unwrap().enqueued, 0);
}

#[tokio::test]
async fn an_upload_is_claimed_before_the_repair_tasks_reprocessing_queued_ahead_of_it() {
    let pool = database().await;
    let owner = user(&pool).await;
    let (stale, fresh) = (audio_item(&pool, owner).await, audio_item(&pool, owner).await);
    let mut conn = pool.acquire().await.unwrap();
    // The repair task queues its reprocess first; an upload arrives after it.
    let Reprocess::Queued(background) = reprocess::reprocess(&mut conn, stale, None, Priority::Background)
        .await
        .unwrap()
    else {
        panic!("the repair reprocess was not queued")
    };
    let upload = transcode::enqueue(&mut conn, owner, fresh, Priority::Interactive)
        .await
        .unwrap();
    sqlx::query(
        "insert into apalis.workers (id, worker_type, storage_name, layers, last_seen)
         values ('w', 'transcode', 'test', '', now())",
    )
    .execute(&pool)
    .await
    .unwrap();

    // apalis's own claim function, as a worker with one free slot calls it.
    let claim = |pool: PgPool| async move {
        let id: String = sqlx::query_scalar("select id from apalis.get_jobs('w', 'transcode', 1)")
            .fetch_one(&pool)
            .await
            .unwrap();
        veza_jobs::task_ids::job_id(&id).unwrap()
    };
    assert_eq!(claim(pool.clone()).await, upload);
    assert_eq!(claim(pool.clone()).await, background);
}
