use reqwest::StatusCode;

use crate::helpers::{PASSWORD, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_database_and_storage_are_up() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    // Liveness checks nothing else: its checks are left out, not `null`.
    let live: serde_json::Value = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live, serde_json::json!({ "status": "ok" }));
    let ready: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], true);
    assert_eq!(ready["storage"], true);
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    // Terminate every connection to the test database and forbid new ones.
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let admin = sqlx::PgPool::connect(&std::env::var("DATABASE_URL").unwrap())
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "alter database {name} allow_connections false;
         select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}';"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["database"], false);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "alter database {name} allow_connections true"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/v1/nothing-here")).send().await.unwrap();
    assert_problem(resp, StatusCode::NOT_FOUND, "not-found").await;
}

#[tokio::test]
async fn the_spec_and_the_docs_page_are_served() {
    let app = spawn_app().await;
    let spec: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/v1/media"]["post"].is_object());
    let docs = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

/// Any JSON value, refusing an object that names a key twice (serde_json keeps the last one
/// silently; strict parsers and SDK generators refuse the document).
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("key `{key}` appears twice")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

#[test]
fn the_openapi_document_names_no_key_twice() {
    let generated = veza_api::startup::openapi_json();
    if let Err(err) = serde_json::from_str::<NoDuplicateKeys>(&generated) {
        panic!("openapi.json: {err}");
    }
}

#[test]
fn checked_in_openapi_json_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let checked_in = std::fs::read_to_string(path).unwrap();
    let generated = veza_api::startup::openapi_json();
    assert!(
        checked_in.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date: run `just openapi` and commit the result"
    );
}

#[tokio::test]
async fn metrics_report_latency_per_operation_and_queue_depth() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    app.http.get(app.url("/v1/me")).send().await.unwrap();
    let body: serde_json::Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let ada = body["access_token"].as_str().unwrap().to_owned();
    let png = veza_e2e::fixtures::png(40, 30);
    let stored = format!(r#"veza_storage_bytes_total{{direction="written"}} {}"#, png.len());
    assert_eq!(app.upload(&ada, png).await.status(), StatusCode::ACCEPTED);
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"veza_http_request_duration_seconds_count{method="POST",operation="register",status="201"} 1"#,
        r#"veza_http_request_duration_seconds_count{method="GET",operation="getMe",status="401"} 1"#,
        // The verification email (the welcome waits for the address to be verified).
        r#"veza_queue_jobs{queue="email",state="queued"} 1"#,
        r#"veza_queue_jobs{queue="transcode",state="queued"} 0"#,
        // The upload, stored.
        &stored,
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
}

#[tokio::test]
async fn with_a_metrics_token_only_its_bearer_may_scrape() {
    let token = "a-metrics-token-for-the-test";
    let app = spawn_app_with(|config| config.metrics_token = Some(token.to_owned())).await;
    let scrape = |authorization: Option<String>| {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send()
    };
    for refused in [None, Some("Bearer not-the-token".to_owned())] {
        let resp = scrape(refused).await.unwrap();
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_problem(resp, StatusCode::UNAUTHORIZED, "metrics-token-required").await;
    }
    let resp = scrape(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains("veza_queue_jobs{"), "{text}");
}
