//! The deployment files keep their promises. `tests/deploy/check.py` checks the Dockerfile
//! (stages, a non-root numeric user and a health check per final image, the runtime packages of
//! the built binaries' shared libraries), compose.yaml (the Compose specification, migrations
//! before the services, stop grace above the drain) and every Kubernetes overlay (rendered by
//! `kubectl kustomize` and by its own renderer, which must agree; validated against Kubernetes'
//! schemas; resources, probes, non-root pods, termination grace above the drain, KEDA objects
//! that point at real Deployments). The KEDA scaler queries it prints then run against a real
//! platform, where each must equal the queued + running + retrying jobs that
//! `GET /v1/admin/queues` reports for its worker group's queues.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use veza_e2e::{
    fixtures,
    platform::{LIGHT_QUEUES, MEDIA_QUEUES, Platform, outstanding},
};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// What check.py found: its exit status, its report (stderr) and its JSON (stdout).
struct Checked {
    success: bool,
    report: String,
    json: Value,
}

/// Runs tests/deploy/check.py on the repository with the built binaries. Its Python packages
/// are installed first by scripts/system-deps.sh when one is missing, so the checks never skip.
fn run_checker() -> Checked {
    let imports = "import yaml, dockerfile_parse, check_jsonschema, kubernetes_validate";
    let present = Command::new("python3").args(["-c", imports]).status();
    if !present.is_ok_and(|status| status.success()) {
        let status = Command::new("bash")
            .arg(root().join("scripts/system-deps.sh"))
            .status()
            .expect("bash runs scripts/system-deps.sh");
        assert!(status.success(), "scripts/system-deps.sh failed");
    }
    let binaries = veza_e2e::platform::binary("veza-worker")
        .parent()
        .unwrap()
        .to_owned();
    let output = Command::new("python3")
        .arg(root().join("tests/deploy/check.py"))
        .arg("--binaries")
        .arg(&binaries)
        .current_dir(root())
        .output()
        .expect("python3 must be installed");
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!(
                "check.py printed no JSON ({}):\n{stdout}\n{report}",
                output.status
            )
        });
    Checked {
        success: output.status.success(),
        report,
        json,
    }
}

#[test]
fn the_dockerfile_compose_file_and_every_kubernetes_overlay_pass_the_static_checks() {
    let checked = run_checker();
    assert!(
        checked.success,
        "check.py failed {} check(s): {:#}\n{}",
        checked.json["failed"], checked.json["failures"], checked.report
    );
    assert_eq!(checked.json["failed"], 0);
    // Enough was looked at to mean something: every stage, service and rendered object.
    let passed = checked.json["passed"].as_u64().unwrap();
    assert!(passed > 200, "only {passed} checks ran:\n{}", checked.report);
    // The runtime image was compared with what the binaries link, not skipped.
    assert!(
        checked
            .report
            .contains("installs the packages of veza-worker's shared libraries"),
        "{}",
        checked.report
    );
    println!("{}", checked.report);
}

#[tokio::test]
async fn each_keda_query_counts_the_queued_running_and_retrying_jobs_of_its_worker_group() {
    let checked = run_checker();
    let queries = checked.json["queries"].as_array().unwrap().clone();
    let groups: Vec<&str> = queries.iter().map(|q| q["group"].as_str().unwrap()).collect();
    assert!(
        groups.contains(&"media") && groups.contains(&"light"),
        "a query per worker group: {queries:?}\n{}",
        checked.report
    );

    // A worker for the queues the test drives, one transcode at a time, whose retries come at
    // once: the first thumbnail below runs out of attempts.
    let mut platform = Platform::start_with(&[
        ("VEZA_QUEUES", "email,thumbnail,transcode"),
        ("VEZA_MAINTENANCE", "false"),
        ("VEZA_TRANSCODE_CONCURRENCY", "1"),
        ("VEZA_RETRY_BASE_MS", "20"),
    ])
    .await;
    let token = platform.register_and_login("ops@example.com").await;
    platform.grant_admin("ops@example.com");
    // The verification email is sent (its job is done) before anything else happens.
    platform
        .outbox_mail("Confirm your email address", "ops@example.com")
        .await;
    let job_of = |upload: &Value| upload["job_ids"][0].as_str().unwrap().to_owned();

    // A file where the output folder must go makes every thumbnail write fail (a transient
    // failure), until the job is out of attempts.
    let blocker = platform.data_dir().join("objects/media");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"not a folder").unwrap();
    let exhausted = platform
        .upload(&token, fixtures::png(64, 48), "exhausted.png")
        .await;
    let job = platform.wait_for_job(&token, &job_of(&exhausted)).await;
    assert_eq!(job["state"], "failed", "{job}");
    let (_, attempts, _, _) = platform.queue_row(&job_of(&exhausted)).await;
    assert_eq!(attempts, 3, "{job}");

    // Retrying: the next worker waits ten minutes before a retry.
    platform.kill_worker(0);
    let worker = platform.add_worker_with(&[("VEZA_RETRY_BASE_MS", "600000")]);
    let retrying = platform
        .upload(&token, fixtures::png(64, 48), "retried.png")
        .await;
    let job = platform
        .wait_for_state(&token, &job_of(&retrying), &["retrying", "failed", "succeeded"])
        .await;
    assert_eq!(job["state"], "retrying", "{job}");
    std::fs::remove_file(&blocker).unwrap();

    // Succeeded and failed for good: neither is work left to do.
    let done = platform.upload(&token, fixtures::png(64, 48), "done.png").await;
    let job = platform.wait_for_job(&token, &job_of(&done)).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let broken = platform
        .upload(&token, fixtures::corrupt_wav(), "broken.wav")
        .await;
    let job = platform.wait_for_job(&token, &job_of(&broken)).await;
    assert_eq!(job["state"], "failed", "{job}");

    // Running: a ten-minute transcode holds the one transcode slot; queued: the next one waits;
    // cancelled: a third, cancelled while it waits.
    let running = platform
        .upload(&token, fixtures::wav(600.0, 8_000, 1), "long.wav")
        .await;
    platform
        .wait_for_state(&token, &job_of(&running), &["running"])
        .await;
    let waiting = platform
        .upload(&token, fixtures::wav(2.0, 8_000, 1), "waiting.wav")
        .await;
    let cancelled = platform
        .upload(&token, fixtures::wav(2.0, 8_000, 1), "cancelled.wav")
        .await;
    let resp = platform
        .http
        .post(platform.url(&format!("/v1/jobs/{}/cancel", job_of(&cancelled))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    platform
        .wait_for_state(&token, &job_of(&cancelled), &["cancelled"])
        .await;

    // Nothing may move between the two reads below: the worker dies at once (SIGKILL), and with
    // no other worker its running transcode stays running.
    platform.kill_worker(worker);

    // The light group's queues, which no worker serves now: an email, canaries, a purge.
    let resp = platform
        .http
        .post(platform.url("/v1/auth/password-reset"))
        .json(&json!({ "email": "ops@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = platform
        .http
        .post(platform.url("/v1/admin/canaries?count=3"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::ACCEPTED,
        "{}",
        resp.text().await.unwrap()
    );
    let media_id = done["media_id"].as_str().unwrap();
    let resp = platform
        .http
        .delete(platform.url(&format!("/v1/media/{media_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::ACCEPTED,
        "{}",
        resp.text().await.unwrap()
    );
    // The API's enqueues are committed before it answers; give nothing else a chance anyway.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Two of apalis's spellings the flow above does not leave behind at a known moment, given
    // to two rows so every query is held to them: `Queued` (fetched by a worker, not started:
    // queued) for the waiting transcode, and `Failed` with no attempts left (failed, not
    // retrying; apalis 1.0 marks such a job `Killed`, as it did here) for the exhausted one.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&platform.database_url)
        .await
        .unwrap();
    let task_id = |upload: &Value| {
        let id = uuid::Uuid::parse_str(&job_of(upload)).unwrap();
        ulid::Ulid::from_bytes(*id.as_bytes()).to_string()
    };
    let respell: [(&Value, [&str; 2], &str); 2] = [
        (&waiting, ["Pending", "Queued"], "Queued"),
        (&exhausted, ["Killed", "Failed"], "Failed"),
    ];
    for (upload, from, to) in respell {
        let updated = sqlx::query("update apalis.jobs set status = $3 where id = $1 and status = any($2)")
            .bind(task_id(upload))
            .bind(from.to_vec())
            .bind(to)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            updated.rows_affected(),
            1,
            "{} was not {from:?}",
            upload["media_id"]
        );
    }

    let stats = platform.get_json(&token, "/v1/admin/queues").await;
    let stat = |queue: &str, field: &str| -> i64 {
        let row = stats
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["queue"] == queue)
            .unwrap_or_else(|| panic!("no {queue} in {stats}"));
        row[field].as_i64().unwrap()
    };
    // Every state the queries must tell apart is there.
    assert_eq!(stat("transcode", "running"), 1, "{stats}");
    assert!(stat("transcode", "queued") >= 1, "{stats}");
    assert_eq!(stat("transcode", "failed"), 1, "{stats}");
    assert_eq!(stat("transcode", "cancelled"), 1, "{stats}");
    assert_eq!(stat("thumbnail", "retrying"), 1, "{stats}");
    assert_eq!(stat("thumbnail", "failed"), 1, "{stats}");
    assert!(stat("thumbnail", "succeeded") >= 1, "{stats}");
    assert_eq!(stat("canary", "queued"), 3, "{stats}");
    assert_eq!(stat("purge", "queued"), 1, "{stats}");

    let mut nonzero = false;
    for query in &queries {
        let queues: Vec<&str> = query["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q.as_str().unwrap())
            .collect();
        let expected = i64::try_from(outstanding(&stats, &queues.join(","))).unwrap();
        let sql = query["query"].as_str().unwrap();
        let counted: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|err| panic!("{} of {}: {err}\n{sql}", query["name"], query["overlay"]));
        assert_eq!(
            counted, expected,
            "{} of overlay {} (queues {queues:?}) counts {counted}, /v1/admin/queues says {expected}:\n{sql}\n{stats}",
            query["name"], query["overlay"]
        );
        println!(
            "{} of overlay {}: {counted} jobs to run",
            query["name"].as_str().unwrap(),
            query["overlay"].as_str().unwrap()
        );
        nonzero |= counted > 0;
    }
    assert!(nonzero, "every query counted 0: {stats}");
    // By group: media has the running, queued and retrying jobs; light the five left queued.
    assert!(outstanding(&stats, MEDIA_QUEUES) >= 3, "{stats}");
    assert!(outstanding(&stats, LIGHT_QUEUES) >= 5, "{stats}");
}
