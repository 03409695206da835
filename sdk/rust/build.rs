//! Generates the client from `openapi/openapi.json` with progenitor at every build, so the SDK
//! cannot drift from the spec. progenitor types a response only for `application/json` and
//! wants one success type and one error type per operation, so the spec is first adapted for it
//! (nothing in the generated code is edited by hand):
//!
//! - `application/problem+json` and `application/json; charset=utf-8` answers are read as
//!   `application/json` (they are JSON: the errors become `types::Problem`);
//! - an answer with several content types or a non-JSON one (output files, the export's ZIP) is
//!   a byte stream (`application/octet-stream`);
//! - `304 Not Modified` is dropped from the outputs' answers (a conditional GET is the caller's
//!   business: it then sees an unexpected status), and so is an error answer without a body
//!   beside problem+json ones (tus's `412`: `Error::UnexpectedResponse` with the response);
//! - operations that answer with HTML pages (the links in emails, for browsers) are left out, and
//!   so is tus discovery (`OPTIONS /v1/uploads`: progenitor 0.11 calls a `reqwest::Client::options`
//!   that does not exist; tus clients discover for themselves).

use std::{error::Error, path::Path};

use serde_json::{Value, json};

const SPEC: &str = "../../openapi/openapi.json";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={SPEC}");
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(SPEC)?)?;
    adapt(&mut spec);
    let spec: openapiv3::OpenAPI = serde_json::from_value(spec)?;
    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    let tokens = progenitor::Generator::new(&settings).generate_tokens(&spec)?;
    let code = prettyplease::unparse(&syn::parse2(tokens)?);
    let out = std::env::var("OUT_DIR")?;
    std::fs::write(Path::new(&out).join("codegen.rs"), code)?;
    Ok(())
}

/// The spec as progenitor can take it (the module documentation says what changes).
fn adapt(spec: &mut Value) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operations in paths.values_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        operations.retain(|method, operation| method != "options" && !answers_html(operation));
        for operation in operations.values_mut() {
            let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            responses.remove("304");
            responses.values_mut().for_each(one_content_type);
            let error_with_body = |(status, response): (&String, &Value)| {
                !status.starts_with('2') && response.get("content").is_some()
            };
            if responses.iter().any(error_with_body) {
                responses
                    .retain(|status, response| status.starts_with('2') || response.get("content").is_some());
            }
        }
    }
    paths.retain(|_, operations| operations.as_object().is_some_and(|ops| !ops.is_empty()));
}

fn answers_html(operation: &Value) -> bool {
    operation["responses"]
        .as_object()
        .into_iter()
        .flat_map(|responses| responses.values())
        .filter_map(|response| response["content"].as_object())
        .any(|content| content.keys().any(|ty| ty.starts_with("text/html")))
}

fn one_content_type(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let json = |ty: &str| {
        let base = ty.split(';').next().unwrap_or(ty).trim();
        base == "application/json" || base.ends_with("+json")
    };
    let only_json = match content.keys().collect::<Vec<_>>()[..] {
        [ty] if json(ty) => Some(ty.clone()),
        _ => None,
    };
    let (ty, media) = match only_json.and_then(|ty| content.remove(&ty)) {
        Some(media) => ("application/json", media),
        None => (
            "application/octet-stream",
            json!({ "schema": { "type": "string", "format": "binary" } }),
        ),
    };
    content.clear();
    content.insert(ty.to_owned(), media);
}
