use reqwest::StatusCode;
use serde_json::Value;
use veza_e2e::fixtures;

use crate::helpers::{SECRET, TestApp, assert_problem, spawn_app, spawn_app_with};

async fn set_queue(app: &TestApp, job_id: &str, status: &str, attempts: i32) {
    sqlx::query("update apalis.jobs set status = $2, attempts = $3, done_at = now() where id = veza_task_id($1::uuid)")
        .bind(job_id)
        .bind(status)
        .bind(attempts)
        .execute(&app.pool)
        .await
        .unwrap();
}

async fn admin_app() -> (TestApp, String) {
    let app = spawn_app_with(|config| config.admin_emails = vec!["ops@example.com".into()]).await;
    let token = app.user("OPS@example.com").await;
    app.verify_address("ops@example.com").await;
    (app, token)
}

fn queue<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == name)
        .unwrap()
}

#[tokio::test]
async fn operator_routes_need_the_admin_role() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    for path in ["/v1/admin/queues", "/v1/admin/jobs", "/v1/admin/workers"] {
        assert_problem(
            app.get(&token, path).await,
            StatusCode::FORBIDDEN,
            "admin-required",
        )
        .await;
        let anonymous = app.http.get(app.url(path)).send().await.unwrap();
        assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let pause = app
        .http
        .post(app.url("/v1/admin/queues/email/pause"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(pause, StatusCode::FORBIDDEN, "admin-required").await;
    assert_eq!(app.count("select count(*) from queue_pauses").await, 0);
}

#[tokio::test]
async fn an_admin_by_configuration_sees_jobs_counted_per_queue_and_state() {
    let (app, admin) = admin_app().await;
    let ada = app.user("ada@example.com").await;
    let first: Value = app
        .upload(&ada, fixtures::png(16, 16))
        .await
        .json()
        .await
        .unwrap();
    app.upload(&ada, fixtures::png(17, 17)).await;
    set_queue(&app, first["job_ids"][0].as_str().unwrap(), "Done", 1).await;
    // The admin's own verification and welcome emails (its address is verified) are dead; Ada's
    // verification email waits.
    sqlx::query("update apalis.jobs set status = 'Killed' where id in (select veza_task_id(j.id) from jobs j join users u on u.id = j.owner_id where u.email = 'ops@example.com')")
        .execute(&app.pool)
        .await
        .unwrap();

    let stats: Value = app.get(&admin, "/v1/admin/queues").await.json().await.unwrap();
    let email = queue(&stats, "email");
    assert_eq!(
        (email["queued"].as_i64(), email["failed"].as_i64()),
        (Some(1), Some(2)),
        "{stats}"
    );
    let thumbnail = queue(&stats, "thumbnail");
    assert_eq!(
        (thumbnail["queued"].as_i64(), thumbnail["succeeded"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(queue(&stats, "transcode")["queued"], 0);
}

/// Every job's state by the plain join from Veza's rows, newest first: the oracle for the
/// operator list and the statistics, which go from apalis's rows instead.
async fn states_by_plain_join(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "select j.id::text, j.kind,
                veza_job_state(q.status, q.attempts, q.max_attempts, j.cancel_requested_at)
           from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          order by j.id desc",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_job_list_pages_newest_first_in_every_state_and_the_counts_agree() {
    let (app, admin) = admin_app().await;
    let ada = app.user("ada@example.com").await;
    let mut thumbnails = Vec::new();
    for size in 10..16 {
        let upload: Value = app
            .upload(&ada, fixtures::png(size, size))
            .await
            .json()
            .await
            .unwrap();
        thumbnails.push(upload["job_ids"][0].as_str().unwrap().to_owned());
    }
    // Six states among the thumbnail jobs; the four emails stay queued.
    set_queue(&app, &thumbnails[0], "Done", 1).await;
    set_queue(&app, &thumbnails[1], "Failed", 3).await;
    set_queue(&app, &thumbnails[2], "Failed", 1).await;
    set_queue(&app, &thumbnails[3], "Running", 1).await;
    set_queue(&app, &thumbnails[4], "Killed", 1).await;
    sqlx::query("update jobs set cancel_requested_at = now() where id = $1::uuid")
        .bind(&thumbnails[4])
        .execute(&app.pool)
        .await
        .unwrap();
    let expected = states_by_plain_join(&app).await;
    let states = [
        "queued",
        "running",
        "retrying",
        "succeeded",
        "failed",
        "cancelled",
    ];
    for state in states {
        assert!(
            expected.iter().any(|(_, _, s)| s == state),
            "no {state} job set up"
        );
    }

    let filters = states.iter().map(|state| (Some(*state), None)).chain([
        (None, None),
        (None, Some("thumbnail")),
        (Some("queued"), Some("email")),
    ]);
    for (state, queue) in filters {
        let mut listed = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut path = "/v1/admin/jobs?limit=2".to_owned();
            for (name, value) in [("state", state), ("queue", queue), ("before", before.as_deref())] {
                if let Some(value) = value {
                    path.push_str(&format!("&{name}={value}"));
                }
            }
            let page: Value = app.get(&admin, &path).await.json().await.unwrap();
            for item in page["items"].as_array().unwrap() {
                assert!(state.is_none_or(|s| item["state"] == s), "{item}");
                listed.push(item["id"].as_str().unwrap().to_owned());
            }
            match page["next_before"].as_str() {
                Some(next) => before = Some(next.to_owned()),
                None => break,
            }
        }
        let wanted: Vec<String> = expected
            .iter()
            .filter(|(_, kind, s)| state.is_none_or(|state| s == state) && queue.is_none_or(|q| kind == q))
            .map(|(id, _, _)| id.clone())
            .collect();
        assert_eq!(listed, wanted, "state {state:?}, queue {queue:?}");
    }

    let stats: Value = app.get(&admin, "/v1/admin/queues").await.json().await.unwrap();
    for queue_name in ["email", "thumbnail", "transcode", "canary"] {
        for state in states {
            let count = expected
                .iter()
                .filter(|(_, kind, s)| kind == queue_name && s == state)
                .count();
            assert_eq!(
                queue(&stats, queue_name)[state].as_u64(),
                Some(count as u64),
                "{queue_name} {state}: {stats}"
            );
        }
    }
}

#[tokio::test]
async fn the_admin_role_is_granted_and_revoked_from_the_command_line() {
    let app = spawn_app().await;
    let token = app.user("ops@example.com").await;
    let database_url: String = {
        let name: String = sqlx::query_scalar("select current_database()")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let admin_url = std::env::var("DATABASE_URL").unwrap();
        let base = admin_url.rsplit_once('/').unwrap().0.to_owned();
        format!("{base}/{name}")
    };
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_veza-api"))
            .args(args)
            .env("DATABASE_URL", &database_url)
            .env("VEZA_JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    assert_eq!(
        app.get(&token, "/v1/admin/queues").await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(cli(&["admin", "grant", "OPS@example.com"]).status.success());
    assert_eq!(app.get(&token, "/v1/admin/queues").await.status(), StatusCode::OK);
    assert!(cli(&["admin", "revoke", "ops@example.com"]).status.success());
    assert_eq!(
        app.get(&token, "/v1/admin/queues").await.status(),
        StatusCode::FORBIDDEN
    );
    let unknown = cli(&["admin", "grant", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account"));
    let trail: Vec<(String, bool)> = sqlx::query_as(
        "select action, subject_id = (select id from users where email = 'ops@example.com')
           from audit_events where action like 'admin-%' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        trail,
        [
            ("admin-granted".to_owned(), true),
            ("admin-revoked".to_owned(), true)
        ]
    );
}

#[tokio::test]
async fn dead_jobs_are_listed_by_state_and_retried_under_the_same_id() {
    let (app, admin) = admin_app().await;
    let ada = app.user("ada@example.com").await;
    let upload: Value = app
        .upload(&ada, fixtures::png(16, 16))
        .await
        .json()
        .await
        .unwrap();
    let job_id = upload["job_ids"][0].as_str().unwrap();
    let media_path = format!("/v1/media/{}", upload["media_id"].as_str().unwrap());
    set_queue(&app, job_id, "Failed", 3).await;
    sqlx::query(
        "update jobs set error_code = 'storage-unavailable', error_message = 'down' where id = $1::uuid",
    )
    .bind(job_id)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("update media set status = 'failed'")
        .execute(&app.pool)
        .await
        .unwrap();

    let dead: Value = app
        .get(&admin, "/v1/admin/jobs?state=failed")
        .await
        .json()
        .await
        .unwrap();
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], job_id);
    assert_eq!(items[0]["last_error"]["code"], "storage-unavailable");
    let queued: Value = app
        .get(&admin, "/v1/admin/jobs?state=queued&queue=email")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        queued["items"].as_array().unwrap().len(),
        3,
        "the admin's verification and welcome emails, Ada's verification email"
    );

    let retry = |id: &str| {
        app.http
            .post(app.url(&format!("/v1/admin/jobs/{id}/retry")))
            .bearer_auth(&admin)
            .send()
    };
    let resp = retry(job_id).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let job: Value = resp.json().await.unwrap();
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_i64()),
        (Some("queued"), Some(0)),
        "{job}"
    );
    assert_eq!(job.get("last_error"), None, "{job}");
    let media: Value = app.get(&ada, &media_path).await.json().await.unwrap();
    assert_eq!(media["status"], "processing");
    assert_problem(retry(job_id).await.unwrap(), StatusCode::CONFLICT, "job-not-dead").await;
}

#[tokio::test]
async fn pausing_and_resuming_a_queue_is_recorded_and_idempotent() {
    let (app, admin) = admin_app().await;
    let post = |path: &str| app.http.post(app.url(path)).bearer_auth(&admin).send();
    for _ in 0..2 {
        let paused: Value = post("/v1/admin/queues/transcode/pause")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(paused["paused"], true);
    }
    let stats: Value = app.get(&admin, "/v1/admin/queues").await.json().await.unwrap();
    assert_eq!(queue(&stats, "transcode")["paused"], true);
    assert_eq!(queue(&stats, "email")["paused"], false);
    let resumed: Value = post("/v1/admin/queues/transcode/resume")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["paused"], false);
    let unknown = post("/v1/admin/queues/chat/pause").await.unwrap();
    assert_problem(unknown, StatusCode::BAD_REQUEST, "bad-request").await;
}

#[tokio::test]
async fn every_registered_queue_is_in_the_operator_api_the_metrics_and_the_spec() {
    let (app, admin) = admin_app().await;
    let mut names = veza_jobs::registry::queue_names();
    names.sort_unstable();

    let stats: Value = app.get(&admin, "/v1/admin/queues").await.json().await.unwrap();
    let listed: Vec<&str> = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queue"].as_str().unwrap())
        .collect();
    assert_eq!(listed, names, "{stats}");
    for name in &names {
        for (action, paused) in [("pause", true), ("resume", false)] {
            let resp = app
                .http
                .post(app.url(&format!("/v1/admin/queues/{name}/{action}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{action} {name}");
            let queue: Value = resp.json().await.unwrap();
            assert_eq!(
                (queue["queue"].as_str(), queue["paused"].as_bool()),
                (Some(*name), Some(paused))
            );
        }
    }
    let unknown = app
        .http
        .post(app.url("/v1/admin/queues/chat/pause"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let problem: Value = unknown.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("is not a queue"),
        "{problem}"
    );

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in &names {
        let series = format!(r#"veza_queue_jobs{{queue="{name}",state="queued"}} "#);
        assert!(
            metrics.lines().any(|l| l.starts_with(&series)),
            "no `{series}` in:\n{metrics}"
        );
    }

    let spec: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    )))
    .unwrap();
    let in_spec: Vec<&str> = spec["components"]["schemas"]["QueueName"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(in_spec, names);
}
