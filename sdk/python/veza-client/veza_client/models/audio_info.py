from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.audio_tags import AudioTags


T = TypeVar("T", bound="AudioInfo")


@_attrs_define
class AudioInfo:
    """What processing learned about an audio item.

    Attributes:
        duration_seconds (float): Duration in seconds.
        sample_rate (int): Sample rate of the original in Hz.
        channels (int): Channels of the original.
        codec (str): Codec of the original, e.g. `flac`.
        container (str): Container of the original, e.g. `isomp4`.
        tags (AudioTags): Descriptive tags of an audio file, as it carries them.
        playback_gain_db (float): Gain in dB for a player to apply to reach the platform's target loudness; the true
            peak
            after it stays at or below -1 dBTP. The stream itself is not altered.
        bits_per_sample (int | Unset): Bits per sample (lossless and PCM originals).
        integrated_lufs (float | Unset): EBU R128 integrated loudness in LUFS (absent for silence).
        loudness_range_lu (float | Unset): EBU R128 loudness range in LU.
        true_peak_dbtp (float | Unset): True peak in dBTP.
    """

    duration_seconds: float
    sample_rate: int
    channels: int
    codec: str
    container: str
    tags: AudioTags
    playback_gain_db: float
    bits_per_sample: int | Unset = UNSET
    integrated_lufs: float | Unset = UNSET
    loudness_range_lu: float | Unset = UNSET
    true_peak_dbtp: float | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        duration_seconds = self.duration_seconds

        sample_rate = self.sample_rate

        channels = self.channels

        codec = self.codec

        container = self.container

        tags = self.tags.to_dict()

        playback_gain_db = self.playback_gain_db

        bits_per_sample = self.bits_per_sample

        integrated_lufs = self.integrated_lufs

        loudness_range_lu = self.loudness_range_lu

        true_peak_dbtp = self.true_peak_dbtp

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "duration_seconds": duration_seconds,
                "sample_rate": sample_rate,
                "channels": channels,
                "codec": codec,
                "container": container,
                "tags": tags,
                "playback_gain_db": playback_gain_db,
            }
        )
        if bits_per_sample is not UNSET:
            field_dict["bits_per_sample"] = bits_per_sample
        if integrated_lufs is not UNSET:
            field_dict["integrated_lufs"] = integrated_lufs
        if loudness_range_lu is not UNSET:
            field_dict["loudness_range_lu"] = loudness_range_lu
        if true_peak_dbtp is not UNSET:
            field_dict["true_peak_dbtp"] = true_peak_dbtp

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audio_tags import AudioTags  # noqa: PLC0415

        d = dict(src_dict)
        duration_seconds = d.pop("duration_seconds")

        sample_rate = d.pop("sample_rate")

        channels = d.pop("channels")

        codec = d.pop("codec")

        container = d.pop("container")

        tags = AudioTags.from_dict(d.pop("tags"))

        playback_gain_db = d.pop("playback_gain_db")

        bits_per_sample = d.pop("bits_per_sample", UNSET)

        integrated_lufs = d.pop("integrated_lufs", UNSET)

        loudness_range_lu = d.pop("loudness_range_lu", UNSET)

        true_peak_dbtp = d.pop("true_peak_dbtp", UNSET)

        audio_info = cls(
            duration_seconds=duration_seconds,
            sample_rate=sample_rate,
            channels=channels,
            codec=codec,
            container=container,
            tags=tags,
            playback_gain_db=playback_gain_db,
            bits_per_sample=bits_per_sample,
            integrated_lufs=integrated_lufs,
            loudness_range_lu=loudness_range_lu,
            true_peak_dbtp=true_peak_dbtp,
        )

        audio_info.additional_properties = d
        return audio_info

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
