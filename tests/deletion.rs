//! Deletion end to end, through crashes: real binaries, real Postgres, real storage. A media
//! item is deleted while a killed worker still holds its reprocess, and the purge itself is
//! SIGKILLed while it runs (waiting for that reprocess to stop); an account is deleted and its
//! purge SIGKILLed while it waits for the farewell email. Once the purge job succeeds,
//! nothing of the item (or the account) is left in storage or in the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use veza_e2e::{fixtures, platform::Platform};

/// A killed worker's jobs are rescued within ~2 s; retries come quickly.
const WORKER_ENV: &[(&str, &str)] = &[
    ("VEZA_HEARTBEAT_SECONDS", "1"),
    ("VEZA_MISSED_HEARTBEATS", "2"),
    ("VEZA_RETRY_BASE_MS", "200"),
];

/// Files under `dir`, recursively (0 when it does not exist).
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() { files_under(&path) } else { 1 }
        })
        .sum()
}

/// Objects of media item `id` in the local store: its original and every output.
fn objects_of(platform: &Platform, id: &str) -> usize {
    let objects = platform.data_dir().join("objects");
    files_under(&objects.join("media").join(id)) + usize::from(objects.join("originals").join(id).exists())
}

async fn count(pool: &PgPool, sql: &'static str, id: &str) -> i64 {
    let id = uuid::Uuid::parse_str(id).unwrap();
    sqlx::query_scalar(sql).bind(id).fetch_one(pool).await.unwrap()
}

/// Every row that names media item `id`, table by table.
async fn rows_of_media(pool: &PgPool, id: &str) -> Vec<(&'static str, i64)> {
    let mut rows = Vec::new();
    for (table, sql) in [
        ("media", "select count(*) from media where id = $1"),
        ("outputs", "select count(*) from outputs where media_id = $1"),
        ("jobs", "select count(*) from jobs where media_id = $1"),
        (
            "media_notices",
            "select count(*) from media_notices where media_id = $1",
        ),
        (
            "upload_idempotency_keys",
            "select count(*) from upload_idempotency_keys where media_id = $1",
        ),
        (
            "apalis.jobs",
            "select count(*) from apalis.jobs where convert_from(job, 'UTF8') like '%' || $1::text || '%'
                and job_type <> 'purge'",
        ),
    ] {
        rows.push((table, count(pool, sql, id).await));
    }
    rows
}

/// Waits for a job's state (through the API) to be `running`.
async fn wait_until_running(platform: &Platform, token: &str, job_id: &str) {
    platform.wait_for_state(token, job_id, &["running"]).await;
}

async fn delete_media(platform: &Platform, token: &str, id: &str) -> Value {
    let resp = platform
        .http
        .delete(platform.url(&format!("/v1/media/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_deleted_mid_reprocess_and_purged_through_a_sigkill_leaves_nothing() {
    let mut platform = Platform::start_with(WORKER_ENV).await;
    let pool = PgPool::connect(&platform.database_url).await.unwrap();
    let token = platform.register_and_login("ada@example.com").await;
    let keep = platform
        .upload(&token, fixtures::wav(1.0, 44_100, 2), "keep.wav")
        .await;
    let item = platform
        .upload(&token, fixtures::wav(20.0, 44_100, 2), "gone.wav")
        .await;
    let id = item["media_id"].as_str().unwrap().to_owned();
    assert_eq!(platform.wait_for_media(&token, &id).await["status"], "ready");
    let keep_id = keep["media_id"].as_str().unwrap().to_owned();
    assert_eq!(platform.wait_for_media(&token, &keep_id).await["status"], "ready");
    let published = objects_of(&platform, &id);

    // A second generation, half written when its worker is SIGKILLed (once the item's
    // follow-up jobs — its waveform — are done: until then a reprocess is 409).
    let deadline = Instant::now() + Duration::from_secs(60);
    let reprocess: Value = loop {
        let resp = platform
            .http
            .post(platform.url(&format!("/v1/media/{id}/reprocess")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::ACCEPTED {
            break resp.json().await.unwrap();
        }
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert!(Instant::now() < deadline, "the item's jobs never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reprocess_job = reprocess["job_ids"][0].as_str().unwrap().to_owned();
    wait_until_running(&platform, &token, &reprocess_job).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    platform.kill_worker(0);
    println!(
        "reprocess killed with {} objects stored ({published} published)",
        objects_of(&platform, &id)
    );

    // Deleted with no worker alive: gone from the API at once.
    let deletion = delete_media(&platform, &token, &id).await;
    let purge_job = deletion["job_id"].as_str().unwrap().to_owned();
    let (status, _) = platform.get(&token, &format!("/v1/media/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The purge starts (and waits for the killed reprocess to be rescued and to stop); its own
    // worker is SIGKILLed while it runs, and another finishes it.
    let first = platform.add_worker();
    wait_until_running(&platform, &token, &purge_job).await;
    let remaining = objects_of(&platform, &id);
    platform.kill_worker(first);
    println!("purge killed while running, {remaining} objects of the item left");
    platform.add_worker();
    let purge = platform.wait_for_job(&token, &purge_job).await;
    assert_eq!(purge["state"], "succeeded", "{purge}");
    assert!(
        purge["attempts"].as_i64().unwrap() >= 2,
        "the purge ran again after the kill: {purge}"
    );

    assert_eq!(objects_of(&platform, &id), 0, "no object of the item is left");
    for (table, rows) in rows_of_media(&pool, &id).await {
        assert_eq!(rows, 0, "{table} still names the item");
    }
    let (status, _) = platform.get(&token, &format!("/v1/jobs/{reprocess_job}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the reprocess went with its item");
    // The other item is untouched.
    assert_eq!(
        platform.get_json(&token, &format!("/v1/media/{keep_id}")).await["status"],
        "ready"
    );
    assert!(objects_of(&platform, &keep_id) > 1);
    // A repeat now finds nothing.
    let resp = platform
        .http
        .delete(platform.url(&format!("/v1/media/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_account_is_mailed_purged_through_a_sigkill_and_its_address_freed() {
    let mut platform = Platform::start_with(WORKER_ENV).await;
    let pool = PgPool::connect(&platform.database_url).await.unwrap();
    let address = "grace@example.com";
    let token = platform.register_verified_and_login(address).await;
    let user_id = platform.get_json(&token, "/v1/me").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut items = Vec::new();
    for (bytes, name) in [
        (fixtures::wav(2.0, 44_100, 2), "song.wav"),
        (fixtures::png(64, 48), "picture.png"),
    ] {
        let uploaded = platform.upload(&token, bytes, name).await;
        let id = uploaded["media_id"].as_str().unwrap().to_owned();
        assert_eq!(platform.wait_for_media(&token, &id).await["status"], "ready");
        items.push(id);
    }
    let bystander = platform.register_and_login("bob@example.com").await;
    let bob_item = platform.upload(&bystander, fixtures::png(8, 8), "bob.png").await;
    let bob_item = bob_item["media_id"].as_str().unwrap().to_owned();
    platform.wait_for_media(&bystander, &bob_item).await;

    // Deleted with no worker alive; then a worker that serves only the purge queue starts it,
    // so the purge is sure to be waiting (for the farewell email) when it is SIGKILLed.
    platform.kill_worker(0);
    let resp = platform
        .http
        .delete(platform.url("/v1/me"))
        .bearer_auth(&token)
        .json(&json!({ "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let (status, _) = platform.get(&token, "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let purger = platform.add_worker_with(&[("VEZA_QUEUES", "purge")]);
    let purge_running = "select count(*) from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
                          where j.owner_id = $1 and j.kind = 'purge' and q.status = 'Running'";
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&pool, purge_running, &user_id).await == 0 {
        assert!(Instant::now() < deadline, "the account's purge never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    platform.kill_worker(purger);
    platform.add_worker();
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&pool, "select count(*) from users where id = $1", &user_id).await > 0 {
        assert!(Instant::now() < deadline, "the account was never purged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let farewell = platform
        .outbox_mail("Your Veza account is deleted", address)
        .await;
    assert!(farewell.contains(address));
    for id in &items {
        assert_eq!(objects_of(&platform, id), 0, "objects of {id} are left");
        for (table, rows) in rows_of_media(&pool, id).await {
            assert_eq!(rows, 0, "{table} still names {id}");
        }
    }
    for (table, sql) in [
        ("jobs", "select count(*) from jobs where owner_id = $1"),
        ("sessions", "select count(*) from sessions where user_id = $1"),
        (
            "account_tokens",
            "select count(*) from account_tokens where user_id = $1",
        ),
        (
            "upload_reservations",
            "select count(*) from upload_reservations where user_id = $1",
        ),
        (
            "upload_idempotency_keys",
            "select count(*) from upload_idempotency_keys where user_id = $1",
        ),
        (
            "email_deliveries",
            "select count(*) from email_deliveries where recipient = (select 'grace@example.com' where $1::uuid is not null)",
        ),
        (
            "apalis.jobs",
            "select count(*) from apalis.jobs where convert_from(job, 'UTF8') like '%grace@example.com%'
                and $1::uuid is not null",
        ),
    ] {
        assert_eq!(
            count(&pool, sql, &user_id).await,
            0,
            "{table} still holds the account"
        );
    }
    // The audit trail keeps the deletion, by id.
    assert_eq!(
        count(
            &pool,
            "select count(*) from audit_events where action = 'account-deleted' and subject_id = $1",
            &user_id
        )
        .await,
        1
    );
    // Someone else's data is untouched, and the address can register again.
    assert_eq!(
        platform
            .get_json(&bystander, &format!("/v1/media/{bob_item}"))
            .await["status"],
        "ready"
    );
    assert!(objects_of(&platform, &bob_item) > 1);
    platform.register_and_login(address).await;
}
