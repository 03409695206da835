from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.job_state import JobState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.job_error import JobError


T = TypeVar("T", bound="AdminJob")


@_attrs_define
class AdminJob:
    """A job as an operator sees it.

    Attributes:
        id (UUID): Job id.
        kind (str): Queue.
        owner_id (UUID): Owner.
        state (JobState): Where a job is in its life.
        attempts (int): Attempts so far.
        max_attempts (int): Attempts allowed.
        created_at (datetime.datetime): Enqueued at.
        run_at (datetime.datetime): Next run at.
        media_id (UUID | Unset): Media item.
        last_error (JobError | Unset): The error of the last failed attempt.
    """

    id: UUID
    kind: str
    owner_id: UUID
    state: JobState
    attempts: int
    max_attempts: int
    created_at: datetime.datetime
    run_at: datetime.datetime
    media_id: UUID | Unset = UNSET
    last_error: JobError | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        kind = self.kind

        owner_id = str(self.owner_id)

        state = self.state.value

        attempts = self.attempts

        max_attempts = self.max_attempts

        created_at = self.created_at.isoformat()

        run_at = self.run_at.isoformat()

        media_id: str | Unset = UNSET
        if not isinstance(self.media_id, Unset):
            media_id = str(self.media_id)

        last_error: dict[str, Any] | Unset = UNSET
        if not isinstance(self.last_error, Unset):
            last_error = self.last_error.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "owner_id": owner_id,
                "state": state,
                "attempts": attempts,
                "max_attempts": max_attempts,
                "created_at": created_at,
                "run_at": run_at,
            }
        )
        if media_id is not UNSET:
            field_dict["media_id"] = media_id
        if last_error is not UNSET:
            field_dict["last_error"] = last_error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.job_error import JobError  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        kind = d.pop("kind")

        owner_id = UUID(d.pop("owner_id"))

        state = JobState(d.pop("state"))

        attempts = d.pop("attempts")

        max_attempts = d.pop("max_attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        run_at = datetime.datetime.fromisoformat(d.pop("run_at"))

        _media_id = d.pop("media_id", UNSET)
        media_id: UUID | Unset
        if isinstance(_media_id, Unset):
            media_id = UNSET
        else:
            media_id = UUID(_media_id)

        _last_error = d.pop("last_error", UNSET)
        last_error: JobError | Unset
        if isinstance(_last_error, Unset):
            last_error = UNSET
        else:
            last_error = JobError.from_dict(_last_error)

        admin_job = cls(
            id=id,
            kind=kind,
            owner_id=owner_id,
            state=state,
            attempts=attempts,
            max_attempts=max_attempts,
            created_at=created_at,
            run_at=run_at,
            media_id=media_id,
            last_error=last_error,
        )

        admin_job.additional_properties = d
        return admin_job

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
