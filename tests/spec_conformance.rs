//! The published spec tells the truth: schemathesis (from PyPI, installed pinned by
//! scripts/system-deps.sh) generates requests from the `/openapi.json` the running API serves and
//! checks every answer of the real binaries against it — no server error, only documented
//! statuses, content types and headers, bodies that match their schemas, and 401 without
//! credentials — first with a user's
//! token, then with an admin's, after ready audio and image items and a failed one are seeded so
//! that the answers carry outputs, audio facts and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use veza_e2e::{fixtures, platform::Platform};

/// What is checked: no server error, only documented statuses, content types and headers,
/// bodies that match their schemas, and 401 without credentials. Others (e.g.
/// `negative_data_rejection`) judge how strictly input is validated, not whether answers match
/// the spec.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,ignored_auth";
/// Fixed, so a failure found once is found again on the next run.
const SEED: &str = "13";
/// Test cases per operation and phase: enough to reach every status of an operation, small
/// enough that both runs take a few minutes on two cores.
const MAX_EXAMPLES: &str = "25";

#[tokio::test]
async fn every_answer_of_the_running_platform_conforms_to_the_published_spec() {
    let platform = Platform::start().await;
    let user = platform.register_and_login("user@example.com").await;
    let admin = platform.register_and_login("admin@example.com").await;
    platform.grant_admin("admin@example.com");
    for token in [&user, &admin] {
        seed_media(&platform, token).await;
    }

    // The user over every operation but the admin ones, then the admin over those: each run
    // fails when an operation answers only 401/403 (tests/schemathesis.toml), and a user gets
    // nothing but 403 from admin operations. Logout and session revocation are left out: they
    // would end the run's own session and every later answer would be 401 (their answers are
    // checked in api/tests/api/tokens.rs). Signed playback is left out too: schemathesis 4.32.5
    // stops with an internal KeyError in its coverage phase on that operation (its answers are
    // checked in api/tests/api/playback.rs and the authorization matrix). Registering webhooks is
    // left out: the worker would then send the seeded items' events to whatever URLs the fuzzer
    // made up, and tests send traffic to loopback only (api/tests/api/webhooks.rs and
    // tests/webhooks.rs check those answers). The live event stream is left out: it never ends,
    // so a fuzzer waiting for its body would wait for good (tests/chat.rs reads it).
    schemathesis(
        &platform,
        &user,
        &[
            "--exclude-tag",
            "Admin",
            "--exclude-operation-id-regex",
            "^(logout|revokeSession|playOutput|createWebhook|streamEvents)$",
        ],
    )
    .await;
    schemathesis(&platform, &admin, &["--include-tag", "Admin"]).await;

    // Both tokens still work: the runs were authenticated to the end.
    for token in [&user, &admin] {
        platform.get_json(token, "/v1/me").await;
    }
}

/// Uploads a short WAV and a PNG that become `ready` and a corrupt WAV that fails.
async fn seed_media(platform: &Platform, token: &str) {
    let uploads = [
        (fixtures::wav(1.5, 44_100, 2), "tone.wav", "ready"),
        (fixtures::png(320, 240), "gradient.png", "ready"),
        (fixtures::corrupt_wav(), "broken.wav", "failed"),
    ];
    for (bytes, filename, status) in uploads {
        let accepted = platform.upload(token, bytes, filename).await;
        let job_id = accepted["job_ids"][0].as_str().unwrap();
        platform.wait_for_job(token, job_id).await;
        let media_id = accepted["media_id"].as_str().unwrap();
        let media = platform.get_json(token, &format!("/v1/media/{media_id}")).await;
        assert_eq!(media["status"], status, "{filename}: {media}");
    }
}

/// Runs `schemathesis run` against the platform with `token`; fails with its report when it
/// finds a problem. Its working folder is a temporary one, so nothing it writes (reports,
/// example databases) lands in the repository.
async fn schemathesis(platform: &Platform, token: &str, extra_args: &[&str]) {
    let scratch = tempfile::tempdir().unwrap();
    let spec_url = platform.url("/openapi.json");
    let auth = format!("Authorization: Bearer {token}");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/schemathesis.toml");
    let mut args = vec![
        "--config-file",
        config,
        "run",
        spec_url.as_str(),
        "--url",
        platform.base_url.as_str(),
        "--checks",
        CHECKS,
        "--seed",
        SEED,
        "--max-examples",
        MAX_EXAMPLES,
        "--header",
        auth.as_str(),
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--no-color",
    ];
    args.extend_from_slice(extra_args);
    let started = Instant::now();
    let child = tokio::process::Command::new("schemathesis")
        .args(&args)
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("schemathesis must be installed (scripts/system-deps.sh installs it)");
    let output = tokio::time::timeout(Duration::from_secs(900), child.wait_with_output())
        .await
        .expect("schemathesis did not finish within 15 minutes")
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "schemathesis {extra_args:?} found answers that contradict the spec ({}, {elapsed:.0} s):\n{report}",
        output.status
    );
    let summary = report.find("SUMMARY").map_or(report.as_str(), |at| &report[at..]);
    println!("schemathesis {extra_args:?} passed in {elapsed:.0} s:\n{summary}");
}
