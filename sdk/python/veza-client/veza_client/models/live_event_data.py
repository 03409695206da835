from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.live_event_error import LiveEventError


T = TypeVar("T", bound="LiveEventData")


@_attrs_define
class LiveEventData:
    """What an event is about.

    Attributes:
        media_id (UUID): The media item.
        media_kind (str): Its kind (`audio`, `image`, `video`).
        media_status (str): Its status now.
        job_id (UUID): The job.
        job_kind (str): Its kind (queue).
        error (LiveEventError | Unset): A failure as events show it.
        stage (str | Unset): What the job is doing, for `job.progress`.
        progress_percent (int | Unset): How far along it is, for `job.progress`.
    """

    media_id: UUID
    media_kind: str
    media_status: str
    job_id: UUID
    job_kind: str
    error: LiveEventError | Unset = UNSET
    stage: str | Unset = UNSET
    progress_percent: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        media_id = str(self.media_id)

        media_kind = self.media_kind

        media_status = self.media_status

        job_id = str(self.job_id)

        job_kind = self.job_kind

        error: dict[str, Any] | Unset = UNSET
        if not isinstance(self.error, Unset):
            error = self.error.to_dict()

        stage = self.stage

        progress_percent = self.progress_percent

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "media_id": media_id,
                "media_kind": media_kind,
                "media_status": media_status,
                "job_id": job_id,
                "job_kind": job_kind,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if stage is not UNSET:
            field_dict["stage"] = stage
        if progress_percent is not UNSET:
            field_dict["progress_percent"] = progress_percent

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.live_event_error import LiveEventError  # noqa: PLC0415

        d = dict(src_dict)
        media_id = UUID(d.pop("media_id"))

        media_kind = d.pop("media_kind")

        media_status = d.pop("media_status")

        job_id = UUID(d.pop("job_id"))

        job_kind = d.pop("job_kind")

        _error = d.pop("error", UNSET)
        error: LiveEventError | Unset
        if isinstance(_error, Unset):
            error = UNSET
        else:
            error = LiveEventError.from_dict(_error)

        stage = d.pop("stage", UNSET)

        progress_percent = d.pop("progress_percent", UNSET)

        live_event_data = cls(
            media_id=media_id,
            media_kind=media_kind,
            media_status=media_status,
            job_id=job_id,
            job_kind=job_kind,
            error=error,
            stage=stage,
            progress_percent=progress_percent,
        )

        live_event_data.additional_properties = d
        return live_event_data

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
