//! The owner's control of their data: `DELETE /v1/me` deletes the account and everything it
//! owns, `GET /v1/me/export` streams all of it as a ZIP.
//!
//! The export is written while it is sent: `account.json`, `media.json`, then each item's
//! original under `originals/`, each entry streamed from storage with a data descriptor (CRC and
//! size after the bytes; ZIP64 when an entry or the archive needs it). Memory stays at a few
//! buffers whatever the account holds. A failure midway aborts the response, so a client never
//! takes a truncated archive for a whole one.

use std::io;

use async_zip::{Compression, ZipEntryBuilder, base::write::ZipFileWriter};
use futures::{AsyncWriteExt as _, StreamExt};
use poem::{Body, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Binary, payload::Json};
use serde_json::json;
use uuid::Uuid;
use veza_jobs::{
    audit::{self, Action, Event},
    email::{self, EmailJob},
    media::{self, Media},
    purge, users,
};

use super::ApiTags;
use crate::{auth::BearerAuth, error::ApiError, middleware::client::Client, state::AppState};

/// The owner's data.
pub struct AccountDataApi;

/// Confirmation of an account deletion.
#[derive(Debug, Object)]
pub struct DeleteAccountRequest {
    /// The account's password.
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub password: String,
}

/// An account deletion under way.
#[derive(Debug, Object)]
pub struct AccountDeletion {
    /// For people.
    pub detail: String,
}

/// Answer of an account deletion.
#[derive(Debug, ApiResponse)]
pub enum AccountDeleted {
    /// The account is closed: its tokens no longer work, its media are gone from every route,
    /// a last email is on its way, and a purge job removes its files and rows.
    #[oai(status = 202)]
    Accepted(Json<AccountDeletion>),
}

/// An account export.
#[derive(Debug, ApiResponse)]
pub enum ExportResponse {
    /// A ZIP archive: `account.json`, `media.json` and the originals, streamed.
    #[oai(status = 200, content_type = "application/zip")]
    Archive(Binary<Body>, #[oai(header = "Content-Disposition")] String),
}

/// `DELETE /v1/me` (routed by `AuthApi` beside `GET /v1/me`: one path, one impl): deletes
/// the account for good, with its password. Its sessions end at once, its media
/// leave every route, a last email confirms it, and a purge job removes every file and row
/// (it finishes after a crash). The address can register again once the purge is done.
pub async fn delete_account(
    state: &AppState,
    client: &Client,
    auth: &BearerAuth,
    body: DeleteAccountRequest,
) -> Result<AccountDeleted, ApiError> {
    let hash = users::password_hash(&state.pool, auth.0.id).await?;
    if !state.passwords.verify(body.password, Some(hash)).await? {
        return Err(ApiError::bad_request(
            "invalid-credentials",
            "the password is wrong",
        ));
    }
    let profile = users::profile(&state.pool, auth.0.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("token-invalid", "the account no longer exists"))?;
    let mut tx = state.pool.begin().await?;
    let farewell = EmailJob::AccountDeleted {
        user_id: auth.0.id,
        to: profile.email,
    };
    let email_job = email::enqueue(&mut tx, auth.0.id, &farewell).await?;
    let purge_job = purge::delete_account(&mut tx, auth.0.id).await?;
    let event = Event::new(Action::AccountDeleted)
        .by(auth.0.id)
        .about(auth.0.id)
        .from_client(client.address())
        .with(json!({ "purge_job_id": purge_job, "email_job_id": email_job }));
    audit::record(&mut *tx, &event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %auth.0.id, %purge_job, "account deleted: purge queued");
    Ok(AccountDeleted::Accepted(Json(AccountDeletion {
        detail: "your account is deleted; a last email confirms it".into(),
    })))
}

/// Items read from the database per query while the export streams.
const EXPORT_PAGE: i64 = 100;
/// Bytes of the archive buffered between the writer task and the response.
const EXPORT_BUFFER: usize = 256 * 1024;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Auth")]
impl AccountDataApi {
    /// Everything the account holds, as a ZIP streamed while it is written: `account.json`
    /// (the account and its sessions), `media.json` (every item) and each item's original.
    #[oai(path = "/me/export", method = "get", operation_id = "exportAccount")]
    async fn export(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<ExportResponse, ApiError> {
        let profile = users::profile(&state.pool, auth.0.id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("token-invalid", "the account no longer exists"))?;
        let sessions = veza_jobs::accounts::sessions::list_open(&state.pool, auth.0.id).await?;
        let account = json!({
            "id": auth.0.id,
            "email_address": profile.email,
            "created_at": profile.created_at,
            "email_verified": profile.verified,
            "notifications": profile.notifications,
            "sessions": sessions.iter().map(|s| json!({
                "id": s.id,
                "created_at": s.created_at,
                "refreshed_at": s.refreshed_at,
                "expires_at": s.expires_at,
                "user_agent": s.user_agent,
                "client": s.client,
            })).collect::<Vec<_>>(),
        });
        let (reader, writer) = tokio::io::duplex(EXPORT_BUFFER);
        let state = state.0.clone();
        let owner = auth.0.id;
        let task = tokio::spawn(async move { write_archive(&state, owner, &account, writer).await });
        // After the last byte, the writer's outcome: an error becomes an error of the body, so
        // the connection is cut instead of ending like a whole archive.
        let outcome = futures::stream::once(async move {
            match task.await {
                Ok(Ok(())) => None,
                Ok(Err(err)) => {
                    tracing::error!(user_id = %owner, error = %err, "account export failed midway");
                    Some(Err(io::Error::other("the export failed midway")))
                }
                Err(err) => Some(Err(io::Error::other(err))),
            }
        })
        .filter_map(std::future::ready);
        let body = tokio_util::io::ReaderStream::new(reader).chain(outcome);
        let date = chrono::Utc::now().format("%Y-%m-%d");
        Ok(ExportResponse::Archive(
            Binary(Body::from_bytes_stream(body)),
            format!("attachment; filename=\"veza-export-{date}.zip\""),
        ))
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("storage: {0}")]
    Storage(#[from] veza_jobs::storage::StorageError),
    #[error("zip: {0}")]
    Zip(#[from] async_zip::error::ZipError),
    #[error("writing: {0}")]
    Io(#[from] io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the original of {0} is missing")]
    OriginalMissing(Uuid),
}

async fn write_archive(
    state: &AppState,
    owner: Uuid,
    account: &serde_json::Value,
    out: tokio::io::DuplexStream,
) -> Result<(), ExportError> {
    let mut zip = ZipFileWriter::with_tokio(out);
    let stored =
        |name: String| ZipEntryBuilder::new(name.into(), Compression::Stored).unix_permissions(0o644);
    zip.write_entry_whole(
        stored("account.json".into()),
        &serde_json::to_vec_pretty(account)?,
    )
    .await?;
    // Pass one: `media.json`, streamed as an array a page at a time; pass two: the originals.
    // Both page through the items, so neither holds more than a page.
    let mut listing = zip.write_entry_stream(stored("media.json".into())).await?;
    listing.write_all(b"[").await?;
    let mut first = true;
    let mut before = None;
    while let Some(page) = next_page(state, owner, &mut before).await? {
        for item in &page {
            let separator: &[u8] = if first { b"\n" } else { b",\n" };
            first = false;
            listing.write_all(separator).await?;
            listing
                .write_all(&serde_json::to_vec_pretty(&item_json(item))?)
                .await?;
        }
    }
    listing.write_all(b"\n]\n").await?;
    listing.close().await?;
    let mut before = None;
    while let Some(page) = next_page(state, owner, &mut before).await? {
        for item in &page {
            let Some((_, mut bytes)) = state.storage.get_stream(&item.original_key).await? else {
                return Err(ExportError::OriginalMissing(item.id));
            };
            let mut entry = zip.write_entry_stream(stored(original_path(item))).await?;
            while let Some(chunk) = bytes.next().await {
                entry.write_all(&chunk?).await?;
            }
            entry.close().await?;
        }
    }
    zip.close().await?;
    Ok(())
}

/// The next page of `owner`'s items after `before` (keyset paging, newest first), advancing
/// `before`; `None` once there are no more.
async fn next_page(
    state: &AppState,
    owner: Uuid,
    before: &mut Option<Uuid>,
) -> Result<Option<Vec<Media>>, sqlx::Error> {
    let page = media::list(&state.pool, owner, *before, EXPORT_PAGE).await?;
    *before = page.last().map(|m| m.id);
    Ok((!page.is_empty()).then_some(page))
}

/// An item as `media.json` lists it.
fn item_json(item: &Media) -> serde_json::Value {
    json!({
        "id": item.id,
        "kind": item.kind,
        "status": item.status,
        "original_filename": item.original_filename,
        "content_type": item.content_type,
        "size_bytes": item.size_bytes,
        "sha256": item.sha256,
        "created_at": item.created_at,
        "width": item.width,
        "height": item.height,
        "audio_details": item.audio_details.as_ref().map(|d| &d.0),
        "error_code": item.error_code,
        "error_message": item.error_message,
        "original": original_path(item),
    })
}

/// `originals/{id}` plus the client's file name when it is a safe one (no folders, no dots
/// first): the archive must not write outside its folder when unpacked.
fn original_path(item: &Media) -> String {
    let base = format!("originals/{}", item.id);
    match item.original_filename.as_deref() {
        Some(name)
            if !name.starts_with('.')
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ')) =>
        {
            format!("{base}-{name}")
        }
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veza_jobs::storage::Storage;

    fn item(name: Option<&str>) -> Media {
        Media {
            id: Uuid::nil(),
            owner_id: Uuid::nil(),
            kind: "audio".into(),
            status: "ready".into(),
            original_key: Storage::original_key(Uuid::nil()),
            original_filename: name.map(str::to_owned),
            content_type: "audio/wav".into(),
            size_bytes: 1,
            sha256: String::new(),
            playback_generation: None,
            thumbnail_generation: None,
            error_code: None,
            error_message: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            width: None,
            height: None,
            thumbhash: None,
            dominant_color: None,
            audio_details: None,
        }
    }

    #[test]
    fn archive_paths_never_leave_the_originals_folder() {
        let id = Uuid::nil();
        assert_eq!(
            original_path(&item(Some("song 1.wav"))),
            format!("originals/{id}-song 1.wav")
        );
        for unsafe_name in ["../../etc/passwd", "a/b.wav", ".hidden", "c:\\x.wav", "x\u{0}y"] {
            assert_eq!(
                original_path(&item(Some(unsafe_name))),
                format!("originals/{id}"),
                "{unsafe_name}"
            );
        }
        assert_eq!(original_path(&item(None)), format!("originals/{id}"));
    }
}
