//! The authorization matrix: every operation of the spec (as the code generates it) × {anonymous,
//! owner, another user, an admin}, each answer's status asserted. A route added later fails this
//! test until it is listed in [`MATRIX`].
//!
//! Each operation runs against a fresh world: three accounts (the owner, another user, an admin
//! who owns nothing) and the owner's fixtures — a finished upload with a published output and a
//! dead job, and an upload still queued. The roles act in the order anonymous, other, admin,
//! owner, so that a change the owner may make (a deletion) comes last. On routes about one's own
//! account (`/v1/me…`) every role acts on its own account; on routes about the owner's things
//! (a media item, a job, a session) the others must get 404, never a hint that it exists.

use std::collections::BTreeSet;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use veza_e2e::fixtures;
use veza_jobs::accounts::tokens::{self, TokenPurpose};

use crate::helpers::{PASSWORD, TestApp, spawn_app_with};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Anonymous,
    Other,
    Admin,
    Owner,
}

/// The order the roles act in (see the module docs).
const ROLES: [Role; 4] = [Role::Anonymous, Role::Other, Role::Admin, Role::Owner];

/// operationId → expected status for [anonymous, owner, other, admin].
const MATRIX: &[(&str, [u16; 4])] = &[
    // Accounts: public routes answer everyone alike; `/v1/me…` acts on one's own account.
    ("register", [201, 201, 201, 201]),
    ("login", [401, 200, 200, 200]),
    ("refresh", [401, 200, 200, 200]),
    ("verifyEmail", [400, 200, 200, 200]),
    ("requestPasswordReset", [202, 202, 202, 202]),
    ("confirmPasswordReset", [400, 200, 200, 200]),
    ("getMe", [401, 200, 200, 200]),
    ("deleteAccount", [401, 202, 202, 202]),
    ("changePassword", [401, 200, 200, 200]),
    ("logout", [401, 204, 204, 204]),
    ("listSessions", [401, 200, 200, 200]),
    ("revokeSession", [401, 204, 404, 404]),
    ("resendVerificationEmail", [401, 202, 202, 202]),
    ("getEmailPreferences", [401, 200, 200, 200]),
    ("setEmailPreferences", [401, 200, 200, 200]),
    ("exportAccount", [401, 200, 200, 200]),
    // Media and jobs: only the owner sees or touches them; an admin is not the owner.
    ("uploadMedia", [401, 202, 202, 202]),
    ("listMedia", [401, 200, 200, 200]),
    ("getMedia", [401, 200, 404, 404]),
    ("deleteMedia", [401, 202, 404, 404]),
    ("reprocessMedia", [401, 202, 404, 404]),
    ("getOutput", [401, 200, 404, 404]),
    // A signed playback URL is its own capability: whoever holds it, header or not.
    ("playOutput", [200, 200, 200, 200]),
    // Resumable uploads (tus): discovery is public; an upload is its creator's alone.
    ("uploadOptions", [204, 204, 204, 204]),
    ("createUpload", [401, 201, 201, 201]),
    ("uploadStatus", [401, 200, 404, 404]),
    ("appendUpload", [401, 204, 404, 404]),
    ("terminateUpload", [401, 204, 404, 404]),
    // Webhooks: an endpoint and its deliveries are its owner's alone.
    ("createWebhook", [401, 201, 201, 201]),
    ("listWebhooks", [401, 200, 200, 200]),
    ("deleteWebhook", [401, 204, 404, 404]),
    ("enableWebhook", [401, 200, 404, 404]),
    ("listWebhookDeliveries", [401, 200, 404, 404]),
    ("redeliverWebhook", [401, 202, 404, 404]),
    // Chat rooms: a private room and its history are its members' alone, admins included.
    ("createRoom", [401, 201, 201, 201]),
    ("listRooms", [401, 200, 200, 200]),
    ("addRoomMember", [401, 200, 404, 404]),
    ("listRoomMessages", [401, 200, 404, 404]),
    ("listRoomMembers", [401, 200, 404, 404]),
    ("removeRoomMember", [401, 204, 404, 404]),
    ("updateRoomMember", [401, 204, 404, 404]),
    ("listRoomAudit", [401, 200, 404, 404]),
    // The owner's item, shared in the owner's private room: its members only.
    ("shareRoomMedia", [401, 200, 404, 404]),
    ("unshareRoomMedia", [401, 204, 404, 404]),
    ("getRoomMedia", [401, 200, 404, 404]),
    // A direct conversation with a fourth account: anyone signed in may open one.
    ("openDirectRoom", [401, 200, 200, 200]),
    // One's own live events (a stream that stays open: only its status is read).
    ("streamEvents", [401, 200, 200, 200]),
    ("getJob", [401, 200, 404, 404]),
    ("cancelJob", [401, 202, 404, 404]),
    // Operators: the admin role only.
    ("listQueues", [401, 403, 403, 200]),
    ("pauseQueue", [401, 403, 403, 200]),
    ("resumeQueue", [401, 403, 403, 200]),
    ("listJobs", [401, 403, 403, 200]),
    ("retryJob", [401, 403, 403, 202]),
    ("enqueueCanaries", [401, 403, 403, 202]),
    ("listWorkers", [401, 403, 403, 200]),
    ("listAuditEvents", [401, 403, 403, 200]),
    // Probes and the pages email links open: public, and a bad link is a 400 page for anyone.
    ("healthz", [200, 200, 200, 200]),
    ("readyz", [200, 200, 200, 200]),
    ("verifyPage", [200, 200, 200, 200]),
    ("verifyPageSubmit", [400, 400, 400, 400]),
    ("resetPage", [200, 200, 200, 200]),
    ("resetPageSubmit", [400, 400, 400, 400]),
    ("unsubscribePage", [200, 200, 200, 200]),
    ("unsubscribe", [400, 400, 400, 400]),
];

fn expected(statuses: [u16; 4], role: Role) -> u16 {
    match role {
        Role::Anonymous => statuses[0],
        Role::Owner => statuses[1],
        Role::Other => statuses[2],
        Role::Admin => statuses[3],
    }
}

/// An account of the world.
struct Account {
    id: Uuid,
    email: String,
    token: String,
    refresh_token: String,
    session_id: Uuid,
}

/// What one operation runs against.
struct World {
    owner: Account,
    other: Account,
    admin: Account,
    /// Finished: a published thumbnail, its job dead (failed for good).
    media_id: Uuid,
    dead_job: Uuid,
    output: (String, String),
    /// Still queued.
    queued_job: Uuid,
    /// A resumable upload's URL, nothing sent yet.
    upload: String,
    /// A webhook endpoint with one delivery.
    webhook: Uuid,
    delivery: Uuid,
    /// The owner's private chat room.
    room: Uuid,
    /// A member of that room other than the owner.
    member: Uuid,
}

impl World {
    fn account(&self, role: Role) -> Option<&Account> {
        match role {
            Role::Anonymous => None,
            Role::Owner => Some(&self.owner),
            Role::Other => Some(&self.other),
            Role::Admin => Some(&self.admin),
        }
    }
}

async fn account(app: &TestApp, email: String) -> Account {
    assert_eq!(app.register(&email).await.status(), StatusCode::CREATED);
    let login: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let id = sqlx::query_scalar("select id from users where email = $1")
        .bind(&email)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    Account {
        id,
        email,
        token: login["access_token"].as_str().unwrap().to_owned(),
        refresh_token: login["refresh_token"].as_str().unwrap().to_owned(),
        session_id: login["session_id"].as_str().unwrap().parse().unwrap(),
    }
}

async fn world(app: &TestApp, n: usize) -> World {
    let owner = account(app, format!("owner{n}@example.com")).await;
    let other = account(app, format!("other{n}@example.com")).await;
    let admin = account(app, format!("admin{n}@example.com")).await;
    sqlx::query("update users set role = 'admin' where id = $1")
        .bind(admin.id)
        .execute(&app.pool)
        .await
        .unwrap();

    let upload = |bytes: Vec<u8>| app.upload(&owner.token, bytes);
    let done: Value = upload(fixtures::png(4, 4)).await.json().await.unwrap();
    let queued: Value = upload(fixtures::png(4, 4)).await.json().await.unwrap();
    let media_id: Uuid = done["media_id"].as_str().unwrap().parse().unwrap();
    let dead_job: Uuid = done["job_ids"][0].as_str().unwrap().parse().unwrap();
    // The finished item: its job failed for good, a thumbnail generation published (as a
    // worker would leave them).
    sqlx::query(
        "update apalis.jobs set status = 'Failed', attempts = max_attempts, done_at = now()
          where id = veza_task_id($1)",
    )
    .bind(dead_job)
    .execute(&app.pool)
    .await
    .unwrap();
    let (generation, name) = app.publish_thumbnail(media_id, "g1").await;
    let created = app
        .http
        .post(app.url("/v1/uploads"))
        .bearer_auth(&owner.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let upload = created.headers()["location"].to_str().unwrap().to_owned();
    let (webhook, delivery) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "insert into webhook_endpoints (id, user_id, url, events, secret)
         values ($1, $2, 'https://example.com/hook', '{media.ready}', 'whsec_AAAA')",
    )
    .bind(webhook)
    .bind(owner.id)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into webhook_deliveries (id, endpoint_id, event_type, body, status, attempts)
         values ($1, $2, 'media.ready', '{}', 'failed', 8)",
    )
    .bind(delivery)
    .bind(webhook)
    .execute(&app.pool)
    .await
    .unwrap();
    let room: Value = app
        .http
        .post(app.url("/v1/rooms"))
        .bearer_auth(&owner.token)
        .json(&json!({ "name": "private" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room: Uuid = room["id"].as_str().unwrap().parse().unwrap();
    let member = account(app, format!("member{n}@example.com")).await;
    let added = app
        .http
        .post(app.url(&format!("/v1/rooms/{room}/members")))
        .bearer_auth(&owner.token)
        .json(&json!({ "user_id": member.id }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::OK);
    let shared = app
        .http
        .post(app.url(&format!("/v1/rooms/{room}/media")))
        .bearer_auth(&owner.token)
        .json(&json!({ "media_id": media_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::OK);
    World {
        room,
        member: member.id,
        owner,
        other,
        admin,
        media_id,
        dead_job,
        output: (generation, name),
        queued_job: queued["job_ids"][0].as_str().unwrap().parse().unwrap(),
        upload,
        webhook,
        delivery,
    }
}

/// A one-use link token for `account`, issued as the email job issues it.
async fn link_token(app: &TestApp, account: &Account, purpose: TokenPurpose) -> String {
    tokens::issue(
        &app.pool,
        account.id,
        purpose,
        std::time::Duration::from_secs(3600),
    )
    .await
    .unwrap()
}

/// The request of operation `op` made by `role` in `world`.
async fn request(app: &TestApp, op: &str, world: &World, role: Role, n: usize) -> RequestBuilder {
    let me = world.account(role);
    let media = world.media_id;
    let (method, path, body): (Method, String, Option<Value>) = match op {
        "register" => (
            Method::POST,
            "/v1/auth/register".into(),
            Some(json!({ "email": format!("new{n}-{role:?}@example.com"), "password": PASSWORD })),
        ),
        "login" => {
            let email = me.map_or("nobody@example.com", |a| a.email.as_str());
            (
                Method::POST,
                "/v1/auth/login".into(),
                Some(json!({ "email": email, "password": PASSWORD })),
            )
        }
        "refresh" => {
            let token = me.map_or("not-a-refresh-token", |a| a.refresh_token.as_str());
            (
                Method::POST,
                "/v1/auth/refresh".into(),
                Some(json!({ "refresh_token": token })),
            )
        }
        "verifyEmail" | "confirmPasswordReset" => {
            let token = match me {
                Some(account) if op == "verifyEmail" => {
                    link_token(app, account, TokenPurpose::VerifyEmail).await
                }
                Some(account) => link_token(app, account, TokenPurpose::ResetPassword).await,
                None => "not-a-link-token".into(),
            };
            let (path, body) = if op == "verifyEmail" {
                ("/v1/auth/verify-email", json!({ "token": token }))
            } else {
                (
                    "/v1/auth/password-reset/confirm",
                    json!({ "token": token, "new_password": "another good password" }),
                )
            };
            (Method::POST, path.into(), Some(body))
        }
        "requestPasswordReset" => (
            Method::POST,
            "/v1/auth/password-reset".into(),
            Some(json!({ "email": world.owner.email })),
        ),
        "getMe" => (Method::GET, "/v1/me".into(), None),
        "deleteAccount" => (
            Method::DELETE,
            "/v1/me".into(),
            Some(json!({ "password": PASSWORD })),
        ),
        "changePassword" => (
            Method::POST,
            "/v1/me/password".into(),
            Some(json!({ "current_password": PASSWORD, "new_password": "another good password" })),
        ),
        "logout" => (Method::POST, "/v1/auth/logout".into(), None),
        "listSessions" => (Method::GET, "/v1/me/sessions".into(), None),
        "revokeSession" => (
            Method::DELETE,
            format!("/v1/me/sessions/{}", world.owner.session_id),
            None,
        ),
        "resendVerificationEmail" => (Method::POST, "/v1/me/verification-email".into(), None),
        "getEmailPreferences" => (Method::GET, "/v1/me/email-preferences".into(), None),
        "setEmailPreferences" => (
            Method::PUT,
            "/v1/me/email-preferences".into(),
            Some(json!({ "notifications": false })),
        ),
        "exportAccount" => (Method::GET, "/v1/me/export".into(), None),
        "uploadMedia" => (Method::POST, "/v1/media".into(), None),
        "listMedia" => (Method::GET, "/v1/media".into(), None),
        "getMedia" => (Method::GET, format!("/v1/media/{media}"), None),
        "deleteMedia" => (Method::DELETE, format!("/v1/media/{media}"), None),
        "reprocessMedia" => (Method::POST, format!("/v1/media/{media}/reprocess"), None),
        "getOutput" => {
            let (generation, name) = &world.output;
            (
                Method::GET,
                format!("/v1/media/{media}/outputs/{generation}/{name}"),
                None,
            )
        }
        "playOutput" => {
            let (generation, name) = &world.output;
            let keys = veza_api::playback::PlaybackKeys::new(crate::helpers::SECRET.as_bytes(), &[]);
            let expires = chrono::Utc::now().timestamp() as u64 + 600;
            (
                Method::GET,
                format!("{}/{name}", keys.folder(media, generation, expires)),
                None,
            )
        }
        "uploadOptions" => (Method::OPTIONS, "/v1/uploads".into(), None),
        "createUpload" => (Method::POST, "/v1/uploads".into(), None),
        "uploadStatus" => (Method::HEAD, world.upload.clone(), None),
        "appendUpload" => (Method::PATCH, world.upload.clone(), None),
        "terminateUpload" => (Method::DELETE, world.upload.clone(), None),
        "createWebhook" => (
            Method::POST,
            "/v1/webhooks".into(),
            Some(json!({ "url": "https://example.com/hook", "events": ["media.ready"] })),
        ),
        "listWebhooks" => (Method::GET, "/v1/webhooks".into(), None),
        "deleteWebhook" => (Method::DELETE, format!("/v1/webhooks/{}", world.webhook), None),
        "enableWebhook" => (
            Method::POST,
            format!("/v1/webhooks/{}/enable", world.webhook),
            None,
        ),
        "listWebhookDeliveries" => (
            Method::GET,
            format!("/v1/webhooks/{}/deliveries", world.webhook),
            None,
        ),
        "redeliverWebhook" => (
            Method::POST,
            format!(
                "/v1/webhooks/{}/deliveries/{}/redeliver",
                world.webhook, world.delivery
            ),
            None,
        ),
        "createRoom" => (Method::POST, "/v1/rooms".into(), Some(json!({ "name": "room" }))),
        "listRooms" => (Method::GET, "/v1/rooms".into(), None),
        // Each role asks to join the owner's private room itself.
        "addRoomMember" => (
            Method::POST,
            format!("/v1/rooms/{}/members", world.room),
            Some(json!({ "user_id": me.map_or(world.owner.id, |a| a.id) })),
        ),
        "listRoomMessages" => (Method::GET, format!("/v1/rooms/{}/messages", world.room), None),
        // Each role leaves the room itself (the owner can; the others are not in it).
        "removeRoomMember" => {
            let me = me.map_or(world.owner.id, |a| a.id);
            (
                Method::DELETE,
                format!("/v1/rooms/{}/members/{me}", world.room),
                None,
            )
        }
        "updateRoomMember" => (
            Method::PATCH,
            format!("/v1/rooms/{}/members/{}", world.room, world.member),
            Some(json!({ "muted_until": null })),
        ),
        "listRoomAudit" => (Method::GET, format!("/v1/rooms/{}/audit", world.room), None),
        "listRoomMembers" => (Method::GET, format!("/v1/rooms/{}/members", world.room), None),
        "shareRoomMedia" => (
            Method::POST,
            format!("/v1/rooms/{}/media", world.room),
            Some(json!({ "media_id": media })),
        ),
        "unshareRoomMedia" => (
            Method::DELETE,
            format!("/v1/rooms/{}/media/{media}", world.room),
            None,
        ),
        "getRoomMedia" => (
            Method::GET,
            format!("/v1/rooms/{}/media/{media}", world.room),
            None,
        ),
        "openDirectRoom" => (Method::PUT, format!("/v1/direct/{}", world.member), None),
        "streamEvents" => (Method::GET, "/v1/events".into(), None),
        "getJob" => (Method::GET, format!("/v1/jobs/{}", world.dead_job), None),
        "cancelJob" => (
            Method::POST,
            format!("/v1/jobs/{}/cancel", world.queued_job),
            None,
        ),
        "listQueues" => (Method::GET, "/v1/admin/queues".into(), None),
        "pauseQueue" => (Method::POST, "/v1/admin/queues/thumbnail/pause".into(), None),
        "resumeQueue" => (Method::POST, "/v1/admin/queues/thumbnail/resume".into(), None),
        "listJobs" => (Method::GET, "/v1/admin/jobs".into(), None),
        "retryJob" => (
            Method::POST,
            format!("/v1/admin/jobs/{}/retry", world.dead_job),
            None,
        ),
        "enqueueCanaries" => (Method::POST, "/v1/admin/canaries?count=1".into(), None),
        "listWorkers" => (Method::GET, "/v1/admin/workers".into(), None),
        "listAuditEvents" => (Method::GET, "/v1/admin/audit".into(), None),
        "healthz" => (Method::GET, "/healthz".into(), None),
        "readyz" => (Method::GET, "/readyz".into(), None),
        "verifyPage" => (Method::GET, "/verify?token=not-a-link-token".into(), None),
        "resetPage" => (Method::GET, "/reset?token=not-a-link-token".into(), None),
        "unsubscribePage" => (Method::GET, "/unsubscribe?token=not-a-link-token".into(), None),
        "verifyPageSubmit" | "resetPageSubmit" => {
            let path = if op == "verifyPageSubmit" {
                "/verify"
            } else {
                "/reset"
            };
            let form = [
                ("token", "not-a-link-token"),
                ("new_password", "another good password"),
            ];
            let mut builder = app.http.post(app.url(path)).form(&form);
            if let Some(account) = me {
                builder = builder.bearer_auth(&account.token);
            }
            return builder;
        }
        "unsubscribe" => (Method::POST, "/unsubscribe?token=not-a-link-token".into(), None),
        other => panic!("no request for operation {other}: add it beside its MATRIX row"),
    };
    let mut builder = app.http.request(method, app.url(&path));
    if let Some(account) = me {
        builder = builder.bearer_auth(&account.token);
    }
    match (op, body) {
        ("uploadMedia", _) => builder
            .header("content-type", "application/octet-stream")
            .body(fixtures::png(2, 2)),
        ("unsubscribe", _) => builder.form(&[("List-Unsubscribe", "One-Click")]),
        ("createUpload", _) => builder
            .header("tus-resumable", "1.0.0")
            .header("upload-length", "100"),
        ("uploadStatus" | "terminateUpload", _) => builder.header("tus-resumable", "1.0.0"),
        ("appendUpload", _) => builder
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body(vec![0u8; 10]),
        (_, Some(body)) => builder.json(&body),
        (_, None) => builder,
    }
}

/// Every operation the API serves, as its spec says.
fn spec_operations() -> BTreeSet<String> {
    let spec: Value = serde_json::from_str(&veza_api::startup::openapi_json()).unwrap();
    spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ops| ops.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_operation_of_the_spec_is_in_the_matrix_and_no_other() {
    let spec = spec_operations();
    let listed: BTreeSet<String> = MATRIX.iter().map(|(op, _)| (*op).to_owned()).collect();
    assert_eq!(MATRIX.len(), listed.len(), "an operation is listed twice");
    let unlisted: Vec<_> = spec.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "operations missing from the authorization matrix: {unlisted:?}"
    );
    let gone: Vec<_> = listed.difference(&spec).collect();
    assert!(
        gone.is_empty(),
        "the matrix lists operations the API no longer has: {gone:?}"
    );
}

#[tokio::test]
async fn every_operation_answers_each_role_as_the_matrix_says() {
    let app = spawn_app_with(|config| {
        config.register_limit = 100_000;
        config.limits.verification_resend_limit = 1000;
        config.limits.login_client_limit = 100_000;
        config.limits.login_account_limit = 100_000;
    })
    .await;
    let mut mismatches = Vec::new();
    for (n, (op, statuses)) in MATRIX.iter().enumerate() {
        let world = world(&app, n).await;
        for role in ROLES {
            let resp = request(&app, op, &world, role, n).await.send().await.unwrap();
            let (got, want) = (resp.status().as_u16(), expected(*statuses, role));
            if got != want {
                let body = resp.text().await.unwrap_or_default();
                mismatches.push(format!("{op} as {role:?}: {got}, expected {want} ({body:.200})"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
