use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;
use veza_e2e::fixtures;

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn set_queue_status(app: &TestApp, job_id: &str, status: &str) {
    sqlx::query("update apalis.jobs set status = $2 where id = veza_task_id($1::uuid)")
        .bind(job_id)
        .bind(status)
        .execute(&app.pool)
        .await
        .unwrap();
}

async fn upload_image(app: &TestApp, token: &str) -> (String, String) {
    let body: Value = app
        .upload(token, fixtures::png(32, 24))
        .await
        .json()
        .await
        .unwrap();
    (
        body["media_id"].as_str().unwrap().to_owned(),
        body["job_ids"][0].as_str().unwrap().to_owned(),
    )
}

async fn post(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sql_spelling_of_a_job_id_matches_apalis_task_ids() {
    let app = spawn_app().await;
    for _ in 0..20 {
        let id = Uuid::now_v7();
        let in_sql: String = sqlx::query_scalar("select veza_task_id($1)")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(in_sql, veza_jobs::task_ids::task_id(id));
        let back: Option<Uuid> = sqlx::query_scalar("select veza_job_id($1)")
            .bind(&in_sql)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(back, Some(id), "{in_sql}");
    }
    // Not a ULID: too short, a letter Crockford leaves out, more than 128 bits.
    for text in ["7ZZZ", "0000000000000000000000000I", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"] {
        let back: Option<Uuid> = sqlx::query_scalar("select veza_job_id($1)")
            .bind(text)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(back, None, "{text}");
    }
}

#[tokio::test]
async fn cancelling_a_waiting_job_kills_it_and_fails_its_media_item() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let (media_id, job_id) = upload_image(&app, &token).await;

    let resp = post(&app, &token, &format!("/v1/jobs/{job_id}/cancel")).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let job: Value = resp.json().await.unwrap();
    assert_eq!(job["state"], "cancelled", "{job}");
    assert_eq!(job["last_error"]["code"], "cancelled");
    let status: String =
        sqlx::query_scalar("select status from apalis.jobs where id = veza_task_id($1::uuid)")
            .bind(&job_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "Killed", "no worker will claim it");
    let media: Value = app
        .get(&token, &format!("/v1/media/{media_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(media["status"], "failed");
    assert_eq!(media["error"]["code"], "cancelled");

    let again = post(&app, &token, &format!("/v1/jobs/{job_id}/cancel")).await;
    assert_problem(again, StatusCode::CONFLICT, "job-finished").await;
}

#[tokio::test]
async fn cancelling_a_running_job_asks_its_worker_to_stop() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let (_, job_id) = upload_image(&app, &token).await;
    set_queue_status(&app, &job_id, "Running").await;

    let job: Value = post(&app, &token, &format!("/v1/jobs/{job_id}/cancel"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["state"], "running");
    assert_eq!(job["cancel_requested"], true);
}

#[tokio::test]
async fn a_finished_job_or_someone_elses_cannot_be_cancelled() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let other = app.user("bob@example.com").await;
    let (_, job_id) = upload_image(&app, &token).await;
    let path = format!("/v1/jobs/{job_id}/cancel");
    assert_problem(
        post(&app, &other, &path).await,
        StatusCode::NOT_FOUND,
        "job-not-found",
    )
    .await;
    set_queue_status(&app, &job_id, "Done").await;
    assert_problem(
        post(&app, &token, &path).await,
        StatusCode::CONFLICT,
        "job-finished",
    )
    .await;
}

#[tokio::test]
async fn reprocess_while_a_job_is_pending_is_409_naming_that_job() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let (media_id, job_id) = upload_image(&app, &token).await;
    let resp = post(&app, &token, &format!("/v1/media/{media_id}/reprocess")).await;
    let problem = assert_problem(resp, StatusCode::CONFLICT, "processing-in-progress").await;
    assert_eq!(problem["job_id"], job_id.as_str());
}

#[tokio::test]
async fn reprocess_after_the_job_finished_queues_one_new_job() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let other = app.user("bob@example.com").await;
    let (media_id, job_id) = upload_image(&app, &token).await;
    set_queue_status(&app, &job_id, "Done").await;
    let path = format!("/v1/media/{media_id}/reprocess");
    assert_problem(
        post(&app, &other, &path).await,
        StatusCode::NOT_FOUND,
        "media-not-found",
    )
    .await;

    // Two requests at once: exactly one queues a job, the other is told which.
    let (a, b) = tokio::join!(post(&app, &token, &path), post(&app, &token, &path));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::CONFLICT]);
    let (accepted, conflict) = if a.status() == StatusCode::ACCEPTED {
        (a, b)
    } else {
        (b, a)
    };
    let accepted: Value = accepted.json().await.unwrap();
    let new_job = accepted["job_ids"][0].as_str().unwrap();
    assert_ne!(new_job, job_id);
    let problem: Value = conflict.json().await.unwrap();
    assert_eq!(problem["job_id"], new_job);
    let media: Value = app
        .get(&token, &format!("/v1/media/{media_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(media["job_ids"].as_array().unwrap().len(), 2);
}
