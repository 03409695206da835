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


T = TypeVar("T", bound="Job")


@_attrs_define
class Job:
    """A job.

    Attributes:
        id (UUID): Id (the same across retries).
        kind (str): Its queue (one of `QueueName`'s values).
        state (JobState): Where a job is in its life.
        attempts (int): Attempts started so far.
        max_attempts (int): Attempts allowed.
        created_at (datetime.datetime): When it was enqueued.
        run_at (datetime.datetime): When it may run (next).
        cancel_requested (bool): Whether its owner asked to cancel it (a running job stops at its next checkpoint).
        media_id (UUID | Unset): The media item it works on.
        last_error (JobError | Unset): The error of the last failed attempt.
        started_at (datetime.datetime | Unset): When the last attempt was claimed.
        finished_at (datetime.datetime | Unset): When the last attempt ended.
        stage (str | Unset): What a transcode is doing: `encoding`, `finalizing`, `done` or `failed`.
        progress_percent (int | Unset): How far along a transcode is, 0–100.
    """

    id: UUID
    kind: str
    state: JobState
    attempts: int
    max_attempts: int
    created_at: datetime.datetime
    run_at: datetime.datetime
    cancel_requested: bool
    media_id: UUID | Unset = UNSET
    last_error: JobError | Unset = UNSET
    started_at: datetime.datetime | Unset = UNSET
    finished_at: datetime.datetime | Unset = UNSET
    stage: str | Unset = UNSET
    progress_percent: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        kind = self.kind

        state = self.state.value

        attempts = self.attempts

        max_attempts = self.max_attempts

        created_at = self.created_at.isoformat()

        run_at = self.run_at.isoformat()

        cancel_requested = self.cancel_requested

        media_id: str | Unset = UNSET
        if not isinstance(self.media_id, Unset):
            media_id = str(self.media_id)

        last_error: dict[str, Any] | Unset = UNSET
        if not isinstance(self.last_error, Unset):
            last_error = self.last_error.to_dict()

        started_at: str | Unset = UNSET
        if not isinstance(self.started_at, Unset):
            started_at = self.started_at.isoformat()

        finished_at: str | Unset = UNSET
        if not isinstance(self.finished_at, Unset):
            finished_at = self.finished_at.isoformat()

        stage = self.stage

        progress_percent = self.progress_percent

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "state": state,
                "attempts": attempts,
                "max_attempts": max_attempts,
                "created_at": created_at,
                "run_at": run_at,
                "cancel_requested": cancel_requested,
            }
        )
        if media_id is not UNSET:
            field_dict["media_id"] = media_id
        if last_error is not UNSET:
            field_dict["last_error"] = last_error
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if finished_at is not UNSET:
            field_dict["finished_at"] = finished_at
        if stage is not UNSET:
            field_dict["stage"] = stage
        if progress_percent is not UNSET:
            field_dict["progress_percent"] = progress_percent

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.job_error import JobError  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        kind = d.pop("kind")

        state = JobState(d.pop("state"))

        attempts = d.pop("attempts")

        max_attempts = d.pop("max_attempts")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        run_at = datetime.datetime.fromisoformat(d.pop("run_at"))

        cancel_requested = d.pop("cancel_requested")

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

        _started_at = d.pop("started_at", UNSET)
        started_at: datetime.datetime | Unset
        if isinstance(_started_at, Unset):
            started_at = UNSET
        else:
            started_at = datetime.datetime.fromisoformat(_started_at)

        _finished_at = d.pop("finished_at", UNSET)
        finished_at: datetime.datetime | Unset
        if isinstance(_finished_at, Unset):
            finished_at = UNSET
        else:
            finished_at = datetime.datetime.fromisoformat(_finished_at)

        stage = d.pop("stage", UNSET)

        progress_percent = d.pop("progress_percent", UNSET)

        job = cls(
            id=id,
            kind=kind,
            state=state,
            attempts=attempts,
            max_attempts=max_attempts,
            created_at=created_at,
            run_at=run_at,
            cancel_requested=cancel_requested,
            media_id=media_id,
            last_error=last_error,
            started_at=started_at,
            finished_at=finished_at,
            stage=stage,
            progress_percent=progress_percent,
        )

        job.additional_properties = d
        return job

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
