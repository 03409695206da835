//! A client developer's view: the TypeScript SDK (sdk/typescript) is generated from the
//! checked-in spec, compiles, and drives the real API and worker end to end — register, log in,
//! upload, wait for the job, read the item, download a thumbnail, read a problem — through its
//! generated types (sdk/typescript/test/e2e.ts).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, time::Duration};

use serde_json::Value;
use veza_e2e::{
    fixtures,
    node::{npm_ci, run_checked},
    platform::Platform,
};

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
    let report = e2e(&sdk, &platform.base_url, &image).await;

    assert_eq!(report["duplicate"]["status"], 409, "{report:#}");
    assert_eq!(report["duplicate"]["code"], "email-taken", "{report:#}");
    assert_eq!(report["me"], "sdk@example.com", "{report:#}");
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

/// Runs the SDK's end-to-end client; returns its JSON report.
async fn e2e(sdk: &Path, base_url: &str, image: &Path) -> Value {
    let args = ["dist/test/e2e.js", base_url, image.to_str().unwrap()];
    let output = veza_e2e::node::run(sdk, &args, Duration::from_secs(120)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the SDK client failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}
