//! A client developer's view: the SDKs (sdk/) are generated from the checked-in spec and drive
//! the real API and worker end to end — register, log in, upload, wait for the job, read the
//! item, download an output, read a problem — through their generated types: TypeScript
//! (sdk/typescript/test/e2e.ts), Python (sdk/python/e2e.py) and Rust (the walkthrough example of
//! sdk/rust, compiled into this test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use veza_e2e::{
    fixtures,
    node::{npm_ci, report, run_checked},
    platform::Platform,
};

#[allow(dead_code)]
#[path = "../sdk/rust/examples/walkthrough.rs"]
mod walkthrough;

#[tokio::test]
async fn the_typescript_sdk_is_current_compiles_and_drives_the_platform() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/typescript");
    npm_ci(&sdk);

    // Current: generated again from openapi/openapi.json, the schema is the checked-in one.
    let scratch = tempfile::tempdir().unwrap();
    let regenerated = scratch.path().join("schema.ts");
    run_checked(
        &sdk,
        "node_modules/.bin/openapi-typescript",
        &[
            "../../openapi/openapi.json",
            "--output",
            regenerated.to_str().unwrap(),
        ],
    );
    assert!(
        std::fs::read_to_string(&regenerated).unwrap()
            == std::fs::read_to_string(sdk.join("src/schema.ts")).unwrap(),
        "sdk/typescript/src/schema.ts is out of date: run `just sdk` and commit the result"
    );
    // Compiles, the end-to-end client included (its calls are checked against the spec's types).
    run_checked(&sdk, "node_modules/.bin/tsc", &["-p", "."]);

    let platform = Platform::start().await;
    let image = scratch.path().join("picture.png");
    std::fs::write(&image, fixtures::png(320, 240)).unwrap();
    let report = report(
        "node",
        &sdk,
        &["dist/test/e2e.js", &platform.base_url, image.to_str().unwrap()],
        &[],
    )
    .await;
    assert_report("sdk@example.com", &report);
}

#[tokio::test]
async fn the_python_sdk_is_current_and_drives_the_platform() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python");
    // Current: generated again from openapi/openapi.json, the package is the checked-in one.
    let scratch = tempfile::tempdir().unwrap();
    let regenerated = scratch.path().join("veza-client");
    run_checked(&sdk, "./generate.sh", &[regenerated.to_str().unwrap()]);
    let (checked_in, fresh) = (files_under(&sdk.join("veza-client")), files_under(&regenerated));
    assert_eq!(
        checked_in.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "sdk/python/veza-client is out of date: run `just sdk` and commit the result"
    );
    for (path, bytes) in &fresh {
        assert!(
            checked_in[path] == *bytes,
            "sdk/python/veza-client/{path} is out of date: run `just sdk` and commit the result"
        );
    }

    let platform = Platform::start().await;
    let image = scratch.path().join("picture.png");
    std::fs::write(&image, fixtures::png(320, 240)).unwrap();
    let package = sdk.join("veza-client");
    let report = report(
        "python3",
        &sdk,
        &["e2e.py", &platform.base_url, image.to_str().unwrap()],
        &[
            ("PYTHONPATH", package.to_str().unwrap()),
            ("PYTHONDONTWRITEBYTECODE", "1"),
        ],
    )
    .await;
    assert_report("python-sdk@example.com", &report);
    // The retried upload (same Idempotency-Key, same bytes) was answered from the first one.
    assert_eq!(report["replay"]["status"], 202, "{report:#}");
    assert_eq!(report["replay"]["replayed"], "true", "{report:#}");
    assert_eq!(report["replay"]["same_media"], true, "{report:#}");
}

#[tokio::test]
async fn the_rust_sdk_walkthrough_uploads_and_waits_for_an_item() {
    let platform = Platform::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let image = scratch.path().join("picture.png");
    std::fs::write(&image, fixtures::png(320, 240)).unwrap();
    let done = walkthrough::walkthrough(
        &platform.base_url,
        "rust-sdk@example.com",
        "a password for the rust sdk",
        &image,
    )
    .await
    .unwrap();
    assert_eq!(done.job_state, veza_sdk::types::JobState::Succeeded);
    assert_eq!(done.media.status, "ready");
    assert_eq!(done.media.kind, "image");
    assert!(done.media.outputs.iter().any(|output| output.kind == "thumbnail"));
    assert!(done.first_output_bytes.unwrap() > 100, "{done:#?}");
    // Run again as the same person: the account exists, login and a second upload still work.
    let again = walkthrough::walkthrough(
        &platform.base_url,
        "rust-sdk@example.com",
        "a password for the rust sdk",
        &image,
    )
    .await
    .unwrap();
    assert_ne!(again.media.id, done.media.id);

    // Problems are typed: a missing item is `Error::ErrorResponse` with the problem's code.
    let client = veza_sdk::Client::new(&platform.base_url);
    let refused = client.get_me().send().await.unwrap_err();
    match refused {
        veza_sdk::Error::ErrorResponse(problem) => {
            assert_eq!(problem.status(), 401);
            assert_eq!(problem.code, "unauthorized");
        }
        other => panic!("expected a problem, got {other:?}"),
    }
}

/// What every SDK's client reports after the same steps.
fn assert_report(email: &str, report: &Value) {
    assert_eq!(report["duplicate"]["status"], 409, "{report:#}");
    assert_eq!(report["duplicate"]["code"], "email-taken", "{report:#}");
    assert_eq!(report["me"], email, "{report:#}");
    assert_eq!(report["job"]["state"], "succeeded", "{report:#}");
    assert_eq!(report["job"]["kind"], "thumbnail", "{report:#}");
    assert_eq!(report["media"]["status"], "ready", "{report:#}");
    assert!(report["media"]["thumbnails"].as_u64().unwrap() >= 2, "{report:#}");
    assert_eq!(report["thumbnail"]["status"], 200, "{report:#}");
    assert!(
        report["thumbnail"]["contentType"]
            .as_str()
            .is_some_and(|t| t.starts_with("image/")),
        "{report:#}"
    );
    assert!(report["thumbnail"]["bytes"].as_u64().unwrap() > 100, "{report:#}");
    assert_eq!(report["missing"]["status"], 404, "{report:#}");
    assert_eq!(report["missing"]["code"], "media-not-found", "{report:#}");
}

/// Every file under `root` (relative path → bytes), caches left out.
fn files_under(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut folders: Vec<PathBuf> = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .is_some_and(|name| name == "__pycache__" || name == ".ruff_cache")
            {
                continue;
            }
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}
