from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="OutputFile")


@_attrs_define
class OutputFile:
    """A stored output file.

    Attributes:
        kind (str): `hls-playlist` (the master playlist), `thumbnail`, `waveform` (audiowaveform peaks,
            `waveform.dat` and `waveform.json`), `cover-art` (the picture embedded in the audio),
            `poster` (a video's representative frame, full size), `storyboard` (a sprite of a
            video's frames every few seconds) or `storyboard-index` (its WebVTT index, `#xywh=`
            cues for scrubbing previews).
        name (str): File name.
        content_type (str): MIME type.
        size_bytes (int): Size in bytes.
        url (str): Where to fetch it (same authentication); the URL carries the generation, so its content
            never changes.
        signed_url (str): The same file at a signed URL that needs no header (for `<img src>`, a player, a CDN),
            valid for `VEZA_PLAYBACK_URL_TTL_SECONDS` from this answer.
        width (int | Unset): Pixel width (thumbnails).
        height (int | Unset): Pixel height (thumbnails).
        duration_seconds (float | Unset): Duration in seconds (playlists).
    """

    kind: str
    name: str
    content_type: str
    size_bytes: int
    url: str
    signed_url: str
    width: int | Unset = UNSET
    height: int | Unset = UNSET
    duration_seconds: float | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        kind = self.kind

        name = self.name

        content_type = self.content_type

        size_bytes = self.size_bytes

        url = self.url

        signed_url = self.signed_url

        width = self.width

        height = self.height

        duration_seconds = self.duration_seconds

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "kind": kind,
                "name": name,
                "content_type": content_type,
                "size_bytes": size_bytes,
                "url": url,
                "signed_url": signed_url,
            }
        )
        if width is not UNSET:
            field_dict["width"] = width
        if height is not UNSET:
            field_dict["height"] = height
        if duration_seconds is not UNSET:
            field_dict["duration_seconds"] = duration_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        kind = d.pop("kind")

        name = d.pop("name")

        content_type = d.pop("content_type")

        size_bytes = d.pop("size_bytes")

        url = d.pop("url")

        signed_url = d.pop("signed_url")

        width = d.pop("width", UNSET)

        height = d.pop("height", UNSET)

        duration_seconds = d.pop("duration_seconds", UNSET)

        output_file = cls(
            kind=kind,
            name=name,
            content_type=content_type,
            size_bytes=size_bytes,
            url=url,
            signed_url=signed_url,
            width=width,
            height=height,
            duration_seconds=duration_seconds,
        )

        output_file.additional_properties = d
        return output_file

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
