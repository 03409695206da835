//! Webhook endpoints through the API alone: registration and its validation, the secret shown
//! once, the owner's view only, enabling, the limit, deletion, redelivery.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.url("/v1/webhooks"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn endpoints_are_registered_validated_listed_without_their_secret_and_deleted() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;

    let created = create(
        &app,
        &token,
        json!({ "url": "https://hooks.example.com/veza", "events": ["media.ready", "media.failed"] }),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 30, "{secret}");
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["webhook"]["events"],
        json!(["media.ready", "media.failed"])
    );

    let listed: Value = app.get(&token, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(secret),
        "the secret is shown once: {listed}"
    );

    for (body, code) in [
        (
            json!({ "url": "ftp://hooks.example.com/", "events": ["media.ready"] }),
            "invalid-webhook-url",
        ),
        (
            json!({ "url": "https://user:pw@hooks.example.com/", "events": ["media.ready"] }),
            "invalid-webhook-url",
        ),
        (
            json!({ "url": "not a url", "events": ["media.ready"] }),
            "invalid-webhook-url",
        ),
    ] {
        assert_problem(create(&app, &token, body).await, StatusCode::BAD_REQUEST, code).await;
    }
    for body in [
        json!({ "url": "https://hooks.example.com/", "events": [] }),
        json!({ "url": "https://hooks.example.com/", "events": ["media.deleted"] }),
        json!({ "url": "https://hooks.example.com/" }),
    ] {
        assert_eq!(create(&app, &token, body).await.status(), StatusCode::BAD_REQUEST);
    }

    // Another account sees and touches none of it.
    let grace = app.user("grace@example.com").await;
    let theirs: Value = app.get(&grace, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(theirs, json!([]));
    let path = format!("/v1/webhooks/{id}");
    let delete = |token: String| {
        let url = app.url(&path);
        let http = app.http.clone();
        async move { http.delete(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_problem(
        delete(grace.clone()).await,
        StatusCode::NOT_FOUND,
        "webhook-not-found",
    )
    .await;
    assert_problem(
        app.get(&grace, &format!("/v1/webhooks/{id}/deliveries")).await,
        StatusCode::NOT_FOUND,
        "webhook-not-found",
    )
    .await;

    // Disabled after failures, enabled again by its owner.
    sqlx::query(
        "update webhook_endpoints set consecutive_failures = 5, disabled_at = now(),
                disabled_reason = 'deliveries failed 5 times in a row'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let listed: Value = app.get(&token, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed[0]["disabled_reason"], "deliveries failed 5 times in a row");
    let enabled = app
        .http
        .post(app.url(&format!("/v1/webhooks/{id}/enable")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), StatusCode::OK);
    let enabled: Value = enabled.json().await.unwrap();
    assert_eq!(enabled["consecutive_failures"], 0);
    assert!(enabled.get("disabled_at").is_none(), "{enabled}");

    assert_eq!(delete(token.clone()).await.status(), StatusCode::NO_CONTENT);
    assert_problem(
        delete(token.clone()).await,
        StatusCode::NOT_FOUND,
        "webhook-not-found",
    )
    .await;
}

#[tokio::test]
async fn an_account_registers_at_most_twenty_endpoints() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    for n in 0..20 {
        let body = json!({ "url": format!("https://hooks.example.com/{n}"), "events": ["job.failed"] });
        assert_eq!(create(&app, &token, body).await.status(), StatusCode::CREATED);
    }
    assert_problem(
        create(
            &app,
            &token,
            json!({ "url": "https://hooks.example.com/21", "events": ["job.failed"] }),
        )
        .await,
        StatusCode::CONFLICT,
        "too-many-webhooks",
    )
    .await;
}

#[tokio::test]
async fn a_delivery_is_redelivered_as_a_new_job_under_the_same_id() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let created: Value = create(
        &app,
        &token,
        json!({ "url": "https://hooks.example.com/veza", "events": ["media.ready"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = created["webhook"]["id"].as_str().unwrap();
    let delivery = uuid::Uuid::now_v7();
    sqlx::query(
        "insert into webhook_deliveries (id, endpoint_id, event_type, body, status, attempts, last_status)
         values ($1, $2::uuid, 'media.ready', '{}', 'failed', 8, 500)",
    )
    .bind(delivery)
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    let redeliver = |delivery: String| {
        let url = app.url(&format!("/v1/webhooks/{id}/deliveries/{delivery}/redeliver"));
        let (http, token) = (app.http.clone(), token.clone());
        async move { http.post(url).bearer_auth(token).send().await.unwrap() }
    };
    let answer = redeliver(delivery.to_string()).await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["delivery_id"], delivery.to_string());
    let log: Value = app
        .get(&token, &format!("/v1/webhooks/{id}/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["attempts"], 0);
    let queued = app
        .count(&format!(
            "select count(*) from apalis.jobs where job_type = '{}' and convert_from(job, 'UTF8')::jsonb->>'delivery_id' = '{delivery}'",
            veza_jobs::webhooks::QUEUE
        ))
        .await;
    assert_eq!(queued, 1);
    assert_problem(
        redeliver(uuid::Uuid::now_v7().to_string()).await,
        StatusCode::NOT_FOUND,
        "delivery-not-found",
    )
    .await;
}
