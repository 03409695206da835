from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.audio_info import AudioInfo
    from ..models.media_error import MediaError
    from ..models.output_file import OutputFile


T = TypeVar("T", bound="MediaItem")


@_attrs_define
class MediaItem:
    """A media item.

    Attributes:
        id (UUID): Id.
        kind (str): `audio`, `image` or `video`.
        status (str): `processing`, `ready` or `failed`.
        content_type (str): MIME type of the original.
        size_bytes (int): Size of the original.
        sha256 (str): SHA-256 of the original.
        outputs (list[OutputFile]): Published outputs (master playlist, thumbnails, waveform peaks, cover art).
        job_ids (list[UUID]): Jobs enqueued for this item.
        created_at (datetime.datetime): Upload time.
        updated_at (datetime.datetime): Last change.
        filename (str | Unset): File name given at upload.
        playlist_url (str | Unset): The HLS master playlist (one variant per rendition of the ladder), once published.
        playback_url (str | Unset): The master playlist at a signed URL that needs no header: hls.js, Safari's native
            HLS,
            `<video src>` and ffmpeg play it as is (its media playlists and segments resolve to the
            same signature). It works for `VEZA_PLAYBACK_URL_TTL_SECONDS` from this answer, and
            stops once the item is deleted or reprocessed.
        audio (AudioInfo | Unset): What processing learned about an audio item.
        error (MediaError | Unset): Why processing failed.
        progress_percent (int | Unset): How far processing is, in percent: for a video, frames encoded over frames
            planned
            across every chunk of its encode (floored); 100 once the item is ready.
        width (int | Unset): Pixel width after orientation (EXIF, or HEIF's own `irot`/`imir`), once thumbnailed.
        height (int | Unset): Pixel height after orientation (EXIF, or HEIF's own `irot`/`imir`), once thumbnailed.
        thumbhash (str | Unset): ThumbHash placeholder (base64) to show while thumbnails load.
        dominant_color (str | Unset): Dominant colour, `#rrggbb`.
    """

    id: UUID
    kind: str
    status: str
    content_type: str
    size_bytes: int
    sha256: str
    outputs: list[OutputFile]
    job_ids: list[UUID]
    created_at: datetime.datetime
    updated_at: datetime.datetime
    filename: str | Unset = UNSET
    playlist_url: str | Unset = UNSET
    playback_url: str | Unset = UNSET
    audio: AudioInfo | Unset = UNSET
    error: MediaError | Unset = UNSET
    progress_percent: int | Unset = UNSET
    width: int | Unset = UNSET
    height: int | Unset = UNSET
    thumbhash: str | Unset = UNSET
    dominant_color: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        kind = self.kind

        status = self.status

        content_type = self.content_type

        size_bytes = self.size_bytes

        sha256 = self.sha256

        outputs = []
        for outputs_item_data in self.outputs:
            outputs_item = outputs_item_data.to_dict()
            outputs.append(outputs_item)

        job_ids = []
        for job_ids_item_data in self.job_ids:
            job_ids_item = str(job_ids_item_data)
            job_ids.append(job_ids_item)

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        filename = self.filename

        playlist_url = self.playlist_url

        playback_url = self.playback_url

        audio: dict[str, Any] | Unset = UNSET
        if not isinstance(self.audio, Unset):
            audio = self.audio.to_dict()

        error: dict[str, Any] | Unset = UNSET
        if not isinstance(self.error, Unset):
            error = self.error.to_dict()

        progress_percent = self.progress_percent

        width = self.width

        height = self.height

        thumbhash = self.thumbhash

        dominant_color = self.dominant_color

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "status": status,
                "content_type": content_type,
                "size_bytes": size_bytes,
                "sha256": sha256,
                "outputs": outputs,
                "job_ids": job_ids,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )
        if filename is not UNSET:
            field_dict["filename"] = filename
        if playlist_url is not UNSET:
            field_dict["playlist_url"] = playlist_url
        if playback_url is not UNSET:
            field_dict["playback_url"] = playback_url
        if audio is not UNSET:
            field_dict["audio"] = audio
        if error is not UNSET:
            field_dict["error"] = error
        if progress_percent is not UNSET:
            field_dict["progress_percent"] = progress_percent
        if width is not UNSET:
            field_dict["width"] = width
        if height is not UNSET:
            field_dict["height"] = height
        if thumbhash is not UNSET:
            field_dict["thumbhash"] = thumbhash
        if dominant_color is not UNSET:
            field_dict["dominant_color"] = dominant_color

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audio_info import AudioInfo  # noqa: PLC0415
        from ..models.media_error import MediaError  # noqa: PLC0415
        from ..models.output_file import OutputFile  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        kind = d.pop("kind")

        status = d.pop("status")

        content_type = d.pop("content_type")

        size_bytes = d.pop("size_bytes")

        sha256 = d.pop("sha256")

        outputs = []
        _outputs = d.pop("outputs")
        for outputs_item_data in _outputs:
            outputs_item = OutputFile.from_dict(outputs_item_data)

            outputs.append(outputs_item)

        job_ids = []
        _job_ids = d.pop("job_ids")
        for job_ids_item_data in _job_ids:
            job_ids_item = UUID(job_ids_item_data)

            job_ids.append(job_ids_item)

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        filename = d.pop("filename", UNSET)

        playlist_url = d.pop("playlist_url", UNSET)

        playback_url = d.pop("playback_url", UNSET)

        _audio = d.pop("audio", UNSET)
        audio: AudioInfo | Unset
        if isinstance(_audio, Unset):
            audio = UNSET
        else:
            audio = AudioInfo.from_dict(_audio)

        _error = d.pop("error", UNSET)
        error: MediaError | Unset
        if isinstance(_error, Unset):
            error = UNSET
        else:
            error = MediaError.from_dict(_error)

        progress_percent = d.pop("progress_percent", UNSET)

        width = d.pop("width", UNSET)

        height = d.pop("height", UNSET)

        thumbhash = d.pop("thumbhash", UNSET)

        dominant_color = d.pop("dominant_color", UNSET)

        media_item = cls(
            id=id,
            kind=kind,
            status=status,
            content_type=content_type,
            size_bytes=size_bytes,
            sha256=sha256,
            outputs=outputs,
            job_ids=job_ids,
            created_at=created_at,
            updated_at=updated_at,
            filename=filename,
            playlist_url=playlist_url,
            playback_url=playback_url,
            audio=audio,
            error=error,
            progress_percent=progress_percent,
            width=width,
            height=height,
            thumbhash=thumbhash,
            dominant_color=dominant_color,
        )

        media_item.additional_properties = d
        return media_item

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
