-- The audio ladder: a master playlist (kind 'hls-playlist', the playback entry point) names one
-- media playlist per rendition; audio items also get waveform peaks and their cover art.
alter table outputs drop constraint outputs_kind_check;
alter table outputs add constraint outputs_kind_check
    check (kind in ('hls-playlist', 'hls-media-playlist', 'hls-init', 'hls-segment', 'thumbnail',
                    'waveform', 'cover-art'));

-- What the transcode learned about an audio item: duration, format, tags, loudness and the
-- playback gain (JSON, see veza_jobs::transcode::AudioDetails).
alter table media add column audio_details jsonb;

-- The segment tracker: every stored output's checksum (segments are recorded one by one as
-- they are stored), and a running job's stage and progress.
alter table outputs add column sha256 text;
alter table jobs add column stage text, add column progress_percent smallint;
