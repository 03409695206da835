from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AudioTags")


@_attrs_define
class AudioTags:
    """Descriptive tags of an audio file, as it carries them.

    Attributes:
        title (str | Unset): Track title.
        artist (str | Unset): Track artist.
        album (str | Unset): Album title.
        album_artist (str | Unset): Album artist.
        track_number (int | Unset): Position on the disc.
        track_total (int | Unset): Tracks on the disc.
        disc_number (int | Unset): Disc number.
        year (int | Unset): Year of recording or release.
        genre (str | Unset): Genre.
    """

    title: str | Unset = UNSET
    artist: str | Unset = UNSET
    album: str | Unset = UNSET
    album_artist: str | Unset = UNSET
    track_number: int | Unset = UNSET
    track_total: int | Unset = UNSET
    disc_number: int | Unset = UNSET
    year: int | Unset = UNSET
    genre: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        title = self.title

        artist = self.artist

        album = self.album

        album_artist = self.album_artist

        track_number = self.track_number

        track_total = self.track_total

        disc_number = self.disc_number

        year = self.year

        genre = self.genre

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if title is not UNSET:
            field_dict["title"] = title
        if artist is not UNSET:
            field_dict["artist"] = artist
        if album is not UNSET:
            field_dict["album"] = album
        if album_artist is not UNSET:
            field_dict["album_artist"] = album_artist
        if track_number is not UNSET:
            field_dict["track_number"] = track_number
        if track_total is not UNSET:
            field_dict["track_total"] = track_total
        if disc_number is not UNSET:
            field_dict["disc_number"] = disc_number
        if year is not UNSET:
            field_dict["year"] = year
        if genre is not UNSET:
            field_dict["genre"] = genre

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        title = d.pop("title", UNSET)

        artist = d.pop("artist", UNSET)

        album = d.pop("album", UNSET)

        album_artist = d.pop("album_artist", UNSET)

        track_number = d.pop("track_number", UNSET)

        track_total = d.pop("track_total", UNSET)

        disc_number = d.pop("disc_number", UNSET)

        year = d.pop("year", UNSET)

        genre = d.pop("genre", UNSET)

        audio_tags = cls(
            title=title,
            artist=artist,
            album=album,
            album_artist=album_artist,
            track_number=track_number,
            track_total=track_total,
            disc_number=disc_number,
            year=year,
            genre=genre,
        )

        audio_tags.additional_properties = d
        return audio_tags

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
