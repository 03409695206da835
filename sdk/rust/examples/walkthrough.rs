//! Uploads a file to Veza with the Rust SDK and waits until it is processed:
//!
//! ```sh
//! cargo run -p veza-sdk --example walkthrough -- http://127.0.0.1:8080 you@example.com 'a long password' song.flac
//! ```
//!
//! Registers the account if it is new, logs in, uploads with an `Idempotency-Key` (so a retry
//! after a lost answer makes no second item), polls the job, then prints the item with the
//! signed URLs its outputs play from. `tests/sdk.rs` runs [`walkthrough`] against the platform.

use std::{error::Error, time::Duration};

use futures::TryStreamExt;

use veza_sdk::{
    Client,
    types::{JobState, LoginRequest, MediaItem, RegisterRequest},
};

/// What the walkthrough did.
#[derive(Debug)]
pub struct Walkthrough {
    /// The item, once its job finished.
    pub media: MediaItem,
    /// The state its job ended in.
    pub job_state: JobState,
    /// The size of the first output file, downloaded through the SDK.
    pub first_output_bytes: Option<usize>,
}

/// Registers (if new) and logs in as `email`, uploads `file`, waits for its job.
pub async fn walkthrough(
    base_url: &str,
    email: &str,
    password: &str,
    file: &std::path::Path,
) -> Result<Walkthrough, Box<dyn Error>> {
    let anonymous = Client::new(base_url);
    let registered = anonymous
        .register()
        .body(RegisterRequest::builder().email(email).password(password))
        .send()
        .await;
    match registered {
        Ok(_) => {}
        // Already registered: carry on and log in.
        Err(veza_sdk::Error::ErrorResponse(problem)) if problem.code == "email-taken" => {}
        Err(err) => return Err(err.into()),
    }
    let tokens = anonymous
        .login()
        .body(LoginRequest::builder().email(email).password(password))
        .send()
        .await?
        .into_inner();

    // Every request of this client carries the bearer token.
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", tokens.access_token);
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse()?);
    let http = reqwest::Client::builder().default_headers(headers).build()?;
    let client = Client::new_with_client(base_url, http);

    let bytes = tokio::fs::read(file).await?;
    let key = format!("walkthrough-{}", uuid::Uuid::now_v7());
    let accepted = client
        .upload_media()
        .idempotency_key(key)
        .filename(
            file.file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("upload"),
        )
        .body(bytes)
        .send()
        .await?
        .into_inner();
    let job_id = accepted
        .job_ids
        .first()
        .copied()
        .ok_or("the upload queued no job")?;

    let job_state = loop {
        let job = client.get_job().id(job_id).send().await?.into_inner();
        match job.state {
            JobState::Succeeded | JobState::Failed | JobState::Cancelled => break job.state,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let media = client
        .get_media()
        .id(accepted.media_id)
        .send()
        .await?
        .into_inner();
    let first_output_bytes = match media.outputs.first() {
        Some(output) => {
            let (generation, name) = output_path(&output.url).ok_or("an output URL of an unknown shape")?;
            let mut body = client
                .get_output()
                .id(media.id)
                .generation(generation)
                .name(name)
                .send()
                .await?
                .into_inner_stream();
            let mut size = 0;
            while let Some(chunk) = body.try_next().await? {
                size += chunk.len();
            }
            Some(size)
        }
        None => None,
    };
    Ok(Walkthrough {
        media,
        job_state,
        first_output_bytes,
    })
}

/// The generation and name at the end of an output URL (`…/outputs/{generation}/{name}`).
fn output_path(url: &str) -> Option<(String, String)> {
    let mut parts = url.rsplit('/');
    let name = parts.next()?;
    let generation = parts.next()?;
    Some((generation.to_owned(), name.to_owned()))
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base_url, email, password, file] = &args[..] else {
        return Err("usage: walkthrough BASE_URL EMAIL PASSWORD FILE".into());
    };
    let done = walkthrough(base_url, email, password, std::path::Path::new(file)).await?;
    println!(
        "job {:?}; item {} is {}",
        done.job_state, done.media.id, done.media.status
    );
    for output in &done.media.outputs {
        println!("  {} {} → {}", output.kind, output.name, output.signed_url);
    }
    Ok(())
}
