//! The pages email links open answer HTML whatever goes wrong on the caller's side, with the
//! statuses the spec lists for them.

use reqwest::{Response, StatusCode};

use crate::helpers::spawn_app;

async fn assert_page(resp: Response, status: StatusCode, says: &str) {
    assert_eq!(resp.status(), status);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = resp.text().await.unwrap();
    assert!(body.contains(says), "{body}");
}

#[tokio::test]
async fn a_form_sent_as_json_is_a_415_page() {
    let app = spawn_app().await;
    for path in ["/verify", "/reset"] {
        let resp = app
            .http
            .post(app.url(path))
            .json(&serde_json::json!({ "token": "t", "new_password": "long enough" }))
            .send()
            .await
            .unwrap();
        assert_page(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "not sent as a form").await;
    }
}

#[tokio::test]
async fn a_form_or_link_without_its_token_is_a_400_page() {
    let app = spawn_app().await;
    let resp = app
        .http
        .post(app.url("/reset"))
        .form(&[("new_password", "long enough")])
        .send()
        .await
        .unwrap();
    assert_page(resp, StatusCode::BAD_REQUEST, "incomplete").await;
    let resp = app.http.post(app.url("/unsubscribe")).send().await.unwrap();
    assert_page(resp, StatusCode::BAD_REQUEST, "incomplete").await;
    for path in ["/verify", "/reset", "/unsubscribe"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_page(resp, StatusCode::BAD_REQUEST, "does not work").await;
    }
}
