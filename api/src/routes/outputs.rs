//! A published output file, streamed from storage with the content type its record names:
//! `GET /v1/media/{id}/outputs/{generation}/{name}` with the owner's bearer token, or
//! `GET /v1/play/{id}/{generation}/{token}/{name}` with a signed token in the path and no
//! header at all (see [`crate::playback`]).

use futures::TryStreamExt;
use poem::{Body, IntoResponse, Response, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi, ResponseContent,
    param::Path,
    payload::Binary,
    registry::{MetaMediaType, MetaSchema, MetaSchemaRef},
};
use uuid::Uuid;
use veza_jobs::media;

use super::ApiTags;
use crate::{
    auth::{BearerAuth, unix_now},
    error::ApiError,
    playback::Refusal,
    state::AppState,
};

/// Output file operations.
pub struct OutputsApi;

/// Every content type an output file is served with, so a typed client knows what it may get:
/// HLS playlists, their fragmented-MP4 init and media segments, thumbnails and cover art,
/// waveform peaks as JSON and as audiowaveform's binary `.dat`.
const OUTPUT_CONTENT_TYPES: [&str; 5] = [
    "application/vnd.apple.mpegurl",
    "audio/mp4",
    "image/*",
    "application/json",
    "application/octet-stream",
];

/// The image types an output (thumbnail, cover art) is served as: what `image/*` above means.
const OUTPUT_IMAGE_TYPES: [&str; 6] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/avif",
    "image/gif",
    "image/bmp",
];

/// The type an output is served as: its recorded type when the spec lists it, else
/// `application/octet-stream`, which no browser renders (cover art of items processed before
/// cover types were read from the bytes could carry a tag's `image/svg+xml`).
fn served_content_type(recorded: String) -> String {
    let listed =
        OUTPUT_CONTENT_TYPES.contains(&recorded.as_str()) || OUTPUT_IMAGE_TYPES.contains(&recorded.as_str());
    if listed && recorded != "image/*" {
        recorded
    } else {
        "application/octet-stream".to_owned()
    }
}

/// An output file's bytes. Its `Content-Type` is the output's own (see
/// [`OUTPUT_CONTENT_TYPES`]), set by the `Content-Type` header of [`OutputBytes`].
pub struct OutputContent(Body);

impl IntoResponse for OutputContent {
    fn into_response(self) -> Response {
        Binary(self.0).into_response()
    }
}

impl ResponseContent for OutputContent {
    fn media_types() -> Vec<MetaMediaType> {
        OUTPUT_CONTENT_TYPES
            .iter()
            .map(|&content_type| MetaMediaType {
                content_type,
                // The waveform's JSON is a document of its own (audiowaveform's format), not a
                // string of bytes; everything else is bytes.
                schema: MetaSchemaRef::Inline(Box::new(if content_type == "application/json" {
                    MetaSchema::ANY
                } else {
                    MetaSchema::new_with_format("string", "binary")
                })),
            })
            .collect()
    }
}

/// An output file.
#[derive(ApiResponse)]
pub enum OutputBytes {
    /// The file.
    #[oai(status = 200)]
    Ok(
        OutputContent,
        #[oai(header = "Content-Type")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// With S3 storage, a signed playback URL of a file other than a playlist: fetch it from
    /// the store directly, at this presigned URL (valid as long as the playback URL).
    #[oai(status = 307)]
    Redirect(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Media")]
impl OutputsApi {
    /// Stream one published output file (playlist, segment, thumbnail, waveform, cover art).
    ///
    /// Its `Content-Type` is the one `OutputFile.content_type` names.
    #[oai(
        path = "/media/:id/outputs/:generation/:name",
        method = "get",
        operation_id = "getOutput"
    )]
    async fn output(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        generation: Path<String>,
        name: Path<String>,
    ) -> Result<OutputBytes, ApiError> {
        let output = media::find_published_output(&state.pool, id.0, Some(auth.0.id), &generation.0, &name.0)
            .await?
            .ok_or_else(output_not_found)?;
        serve(&state, output, "private, max-age=31536000, immutable".to_owned()).await
    }

    /// Stream one published output file through a signed playback URL: no `Authorization`
    /// header, the token in the path signs the item's generation until its expiry. Take the
    /// URLs from `MediaItem.playback_url` and `OutputFile.signed_url`; a playlist's relative
    /// URIs resolve to the same token. 403 when the token is expired or not genuine, 404 once
    /// the item is deleted or the generation replaced.
    #[oai(
        path = "/play/:id/:generation/:token/:name",
        method = "get",
        operation_id = "playOutput"
    )]
    async fn play(
        &self,
        state: Data<&AppState>,
        id: Path<Uuid>,
        generation: Path<String>,
        token: Path<String>,
        name: Path<String>,
    ) -> Result<OutputBytes, ApiError> {
        let left = state
            .playback
            .verify(id.0, &generation.0, &token.0, unix_now())
            .map_err(|refusal| match refusal {
                Refusal::Expired => ApiError::forbidden(
                    "playback-url-expired",
                    "this playback URL has expired; get a fresh one from the media item",
                ),
                Refusal::Invalid => {
                    ApiError::forbidden("playback-url-invalid", "this playback URL is not valid")
                }
            })?;
        let output = media::find_published_output(&state.pool, id.0, None, &generation.0, &name.0)
            .await?
            .ok_or_else(output_not_found)?;
        // Cacheable by the player for as long as the URL lives, no longer.
        let cache_control = format!("private, max-age={left}");
        // Playlists stay here: their relative URIs must resolve against this signed path.
        if state.presigned_redirects && !name.0.ends_with(".m3u8") {
            // S3 signs for at most a week.
            let valid = std::time::Duration::from_secs(left.clamp(1, 7 * 24 * 3600));
            let presigned = state
                .storage
                .presigned_get(&output.object_key, valid)
                .await
                .map_err(|err| ApiError::unavailable("storage-unavailable", err))?;
            if let Some(url) = presigned {
                return Ok(OutputBytes::Redirect(url, cache_control));
            }
        }
        serve(&state, output, cache_control).await
    }
}

fn output_not_found() -> ApiError {
    ApiError::not_found("output-not-found", "no such output")
}

async fn serve(
    state: &AppState,
    output: media::Output,
    cache_control: String,
) -> Result<OutputBytes, ApiError> {
    let (_, stream) = state
        .storage
        .get_stream(&output.object_key)
        .await
        .map_err(|err| ApiError::unavailable("storage-unavailable", err))?
        .ok_or_else(|| {
            ApiError::internal(format!("output {} is recorded but not stored", output.object_key))
        })?;
    let body = Body::from_bytes_stream(stream.map_err(std::io::Error::other));
    Ok(OutputBytes::Ok(
        OutputContent(body),
        served_content_type(output.content_type),
        cache_control,
    ))
}

#[cfg(test)]
mod tests {
    use super::served_content_type;

    #[test]
    fn only_listed_types_are_served_as_themselves() {
        for listed in [
            "audio/mp4",
            "image/jpeg",
            "application/vnd.apple.mpegurl",
            "application/json",
        ] {
            assert_eq!(served_content_type(listed.to_owned()), listed);
        }
        for other in ["image/svg+xml", "text/html", "image/*", ""] {
            assert_eq!(served_content_type(other.to_owned()), "application/octet-stream");
        }
    }
}
