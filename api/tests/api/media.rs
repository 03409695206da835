use futures::stream;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use veza_e2e::fixtures;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn audio_upload_is_202_stores_the_original_and_enqueues_a_transcode() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let wav = fixtures::wav(0.5, 44_100, 2);
    let resp = app
        .http
        .post(app.url("/v1/media?filename=tone.wav"))
        .bearer_auth(&token)
        // A client's claim about the type is ignored: the bytes decide.
        .header("content-type", "image/png")
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["kind"], "audio");
    assert_eq!(body["content_type"], "audio/x-wav");
    assert_eq!(body["size_bytes"], wav.len());
    assert_eq!(body["sha256"], hex::encode(Sha256::digest(&wav)));

    let media_id = body["media_id"].as_str().unwrap();
    let stored = std::fs::read(app.data.path().join("objects/originals").join(media_id)).unwrap();
    assert_eq!(stored, wav, "the original is stored byte for byte");

    let job_id = body["job_ids"][0].as_str().unwrap();
    let job: Value = app
        .get(&token, &format!("/v1/jobs/{job_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["kind"], "transcode");
    assert_eq!(job["state"], "queued");
    assert_eq!(job["media_id"], media_id);
    assert_eq!(job["attempts"], 0);

    let media: Value = app
        .get(&token, &format!("/v1/media/{media_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(media["status"], "processing");
    assert_eq!(media["filename"], "tone.wav");
    assert_eq!(media["job_ids"][0], job_id);
}

#[tokio::test]
async fn image_upload_enqueues_a_thumbnail_job() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let body: Value = app
        .upload(&token, fixtures::png(64, 48))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["kind"], "image");
    assert_eq!(
        app.count("select count(*) from apalis.jobs where job_type = 'thumbnail'")
            .await,
        1
    );
}

#[tokio::test]
async fn heic_upload_is_an_image_and_an_mp4_goes_to_the_transcode() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let body: Value = app
        .upload(&token, fixtures::heic_rotated(64, 48))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["kind"], "image");
    let media: Value = app
        .get(
            &token,
            &format!("/v1/media/{}", body["media_id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(media["content_type"], "image/heic");
    // ISO-BMFF too, but not an image: audio or video, which only its `moov` box (here, as in
    // most files, not within the head) says, so the video probe decides.
    let mut mp4 = 24u32.to_be_bytes().to_vec();
    mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    mp4.extend_from_slice(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
    let resp = app.upload(&token, mp4).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["kind"], "video");
    assert_eq!(body["content_type"], "video/mp4");
    assert_eq!(
        app.count("select count(*) from apalis.jobs where job_type = 'probe'")
            .await,
        1
    );
}

#[tokio::test]
async fn upload_of_unknown_or_unsupported_type_is_415_and_stores_nothing() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let unknown = app
        .upload(&token, b"just some text, not media at all".repeat(10))
        .await;
    assert_problem(unknown, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unknown-media-type").await;
    let pdf = app
        .upload(&token, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj".to_vec())
        .await;
    assert_problem(pdf, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type").await;
    assert_eq!(app.count("select count(*) from media").await, 0);
    assert_eq!(app.stored_originals(), 0);
}

#[tokio::test]
async fn empty_upload_is_400() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    assert_problem(
        app.upload(&token, Vec::new()).await,
        StatusCode::BAD_REQUEST,
        "empty-upload",
    )
    .await;
}

#[tokio::test]
async fn upload_without_a_token_is_401() {
    let app = spawn_app().await;
    let resp = app
        .http
        .post(app.url("/v1/media"))
        .body(fixtures::png(8, 8))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn upload_over_the_limit_is_413_whether_declared_or_streamed() {
    let app = spawn_app_with(|config| config.max_upload_bytes = 64 * 1024).await;
    let token = app.user("ada@example.com").await;
    let big = fixtures::wav(2.0, 44_100, 2);
    assert!(big.len() > 64 * 1024);

    // Declared up front by Content-Length: refused before reading.
    let declared = app.upload(&token, big.clone()).await;
    assert_problem(declared, StatusCode::PAYLOAD_TOO_LARGE, "media-too-large").await;

    // Chunked, no length: refused once the stream passes the limit, the partial object removed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    let streamed = app
        .http
        .post(app.url("/v1/media"))
        .bearer_auth(&token)
        .header("content-type", "audio/wav")
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(streamed, StatusCode::PAYLOAD_TOO_LARGE, "media-too-large").await;
    assert_eq!(app.count("select count(*) from media").await, 0);
    assert_eq!(app.stored_originals(), 0);
}

#[tokio::test]
async fn another_users_media_jobs_and_outputs_are_404() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let other = app.user("other@example.com").await;
    let body: Value = app
        .upload(&owner, fixtures::png(32, 32))
        .await
        .json()
        .await
        .unwrap();
    let media_id = body["media_id"].as_str().unwrap();
    let job_id = body["job_ids"][0].as_str().unwrap();
    // A published thumbnail output, as the worker would leave it.
    sqlx::query(
        "insert into outputs (id, media_id, kind, generation, name, object_key, content_type, size_bytes, width, height)
         values ($1, $2::uuid, 'thumbnail', 'g1', '32.jpg', 'media/x/thumbnails/g1/32.jpg', 'image/jpeg', 3, 32, 32)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(media_id)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("update media set thumbnail_generation = 'g1' where id = $1::uuid")
        .bind(media_id)
        .execute(&app.pool)
        .await
        .unwrap();

    let media_path = format!("/v1/media/{media_id}");
    let output_path = format!("/v1/media/{media_id}/outputs/g1/32.jpg");
    assert_eq!(app.get(&owner, &media_path).await.status(), StatusCode::OK);
    assert_problem(
        app.get(&other, &media_path).await,
        StatusCode::NOT_FOUND,
        "media-not-found",
    )
    .await;
    assert_problem(
        app.get(&other, &format!("/v1/jobs/{job_id}")).await,
        StatusCode::NOT_FOUND,
        "job-not-found",
    )
    .await;
    assert_problem(
        app.get(&other, &output_path).await,
        StatusCode::NOT_FOUND,
        "output-not-found",
    )
    .await;
    let listed: Value = app.get(&other, "/v1/media").await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn media_list_is_newest_first_and_pages_with_before() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let mut ids = Vec::new();
    let mut jobs = Vec::new();
    for size in [8, 9, 10] {
        let body: Value = app
            .upload(&token, fixtures::png(size, size))
            .await
            .json()
            .await
            .unwrap();
        ids.push(body["media_id"].as_str().unwrap().to_owned());
        jobs.push(body["job_ids"].clone());
    }
    let first: Value = app.get(&token, "/v1/media?limit=2").await.json().await.unwrap();
    // Each listed item carries its own jobs (the page is read with one query per kind of row).
    assert_eq!(first["items"][0]["job_ids"], jobs[2]);
    assert_eq!(first["items"][1]["job_ids"], jobs[1]);
    let first_ids: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(first_ids, vec![ids[2].as_str(), ids[1].as_str()]);
    let before = first["next_before"].as_str().unwrap();
    let second: Value = app
        .get(&token, &format!("/v1/media?limit=2&before={before}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"][0]["id"], ids[0]);
    assert_eq!(second["items"][0]["job_ids"], jobs[0]);
    // An absent field is left out, never `null` (the spec does not declare it nullable).
    assert_eq!(second.get("next_before"), None, "{second}");
    assert_problem(
        app.get(&token, "/v1/media?limit=0").await,
        StatusCode::BAD_REQUEST,
        "bad-request",
    )
    .await;
}

#[tokio::test]
async fn a_failing_enqueue_leaves_neither_row_nor_job_nor_stored_original() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    // Make the queue refuse every new job, as a full disk or a broken constraint would.
    sqlx::raw_sql(
        "create function refuse_jobs() returns trigger language plpgsql as
           $$ begin raise exception 'queue refuses jobs'; end $$;
         create trigger refuse_jobs before insert on apalis.jobs
           for each row execute function refuse_jobs();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let jobs_before = app.count("select count(*) from jobs").await;

    let resp = app.upload(&token, fixtures::png(16, 16)).await;
    let problem = assert_problem(resp, StatusCode::INTERNAL_SERVER_ERROR, "internal-error").await;
    assert!(
        !problem["detail"].as_str().unwrap().contains("queue refuses"),
        "no internals leak: {problem}"
    );

    assert_eq!(app.count("select count(*) from media").await, 0);
    assert_eq!(app.count("select count(*) from jobs").await, jobs_before);
    assert_eq!(app.stored_originals(), 0);
}
