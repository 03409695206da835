//! The probe's facts as stored: one `video_details` row per item, replaced by a later probe.

use sqlx::PgConnection;
use uuid::Uuid;

use super::av::{ColorRange, Hdr, VideoFacts};

/// Stores `facts` for `media_id` (replacing an earlier probe's).
pub async fn store(conn: &mut PgConnection, media_id: Uuid, facts: &VideoFacts) -> Result<(), sqlx::Error> {
    let video = &facts.video;
    let (display_width, display_height) = video.display_size();
    let rate = video.avg_frame_rate.or(video.real_frame_rate);
    let audio = facts.audio.first();
    sqlx::query(
        "insert into video_details (media_id, container, codec, coded_width, coded_height,
                rotation_degrees, display_width, display_height, frame_rate_num, frame_rate_den,
                variable_frame_rate, duration_seconds, frame_count, pixel_format, bit_depth,
                color_range, color_primaries, transfer, matrix, hdr, audio_codec, audio_channels,
                audio_sample_rate)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20, $21, $22, $23)
         on conflict (media_id) do update set
                container = excluded.container, codec = excluded.codec,
                coded_width = excluded.coded_width, coded_height = excluded.coded_height,
                rotation_degrees = excluded.rotation_degrees,
                display_width = excluded.display_width, display_height = excluded.display_height,
                frame_rate_num = excluded.frame_rate_num, frame_rate_den = excluded.frame_rate_den,
                variable_frame_rate = excluded.variable_frame_rate,
                duration_seconds = excluded.duration_seconds, frame_count = excluded.frame_count,
                pixel_format = excluded.pixel_format, bit_depth = excluded.bit_depth,
                color_range = excluded.color_range, color_primaries = excluded.color_primaries,
                transfer = excluded.transfer, matrix = excluded.matrix, hdr = excluded.hdr,
                audio_codec = excluded.audio_codec, audio_channels = excluded.audio_channels,
                audio_sample_rate = excluded.audio_sample_rate, probed_at = now()",
    )
    .bind(media_id)
    .bind(&facts.container)
    .bind(&video.codec)
    .bind(to_i32(video.width))
    .bind(to_i32(video.height))
    .bind(i32::from(video.rotation_degrees))
    .bind(to_i32(display_width))
    .bind(to_i32(display_height))
    .bind(rate.map(|r| r.num))
    .bind(rate.map(|r| r.den))
    .bind(video.variable_frame_rate)
    .bind(video.duration_seconds.unwrap_or_default())
    .bind(video.frame_count.and_then(|n| i64::try_from(n).ok()))
    .bind(&video.pixel_format)
    .bind(video.bit_depth.map(i32::from))
    .bind(match video.color_range {
        ColorRange::Full => "full",
        ColorRange::Limited => "limited",
        ColorRange::Unspecified => "unspecified",
    })
    .bind(&video.color_primaries)
    .bind(&video.transfer_characteristic)
    .bind(&video.matrix_coefficients)
    .bind(video.hdr.map(|hdr| match hdr {
        Hdr::Pq => "pq",
        Hdr::Hlg => "hlg",
    }))
    .bind(audio.map(|a| a.codec.as_str()))
    .bind(audio.and_then(|a| a.channels).map(i32::from))
    .bind(
        audio
            .and_then(|a| a.sample_rate)
            .and_then(|r| i32::try_from(r).ok()),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Frame sizes are checked against the pixel limit before they are stored, so they fit.
fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
