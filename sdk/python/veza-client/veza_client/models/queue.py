from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Queue")


@_attrs_define
class Queue:
    """A queue's job counts by state.

    Attributes:
        queue (str): Queue name.
        paused (bool): Whether workers stopped claiming its jobs.
        queued (int): Waiting to be claimed.
        running (int): Being worked on.
        retrying (int): Waiting for a scheduled retry.
        succeeded (int): Finished successfully.
        failed (int): Dead: failed permanently or out of attempts.
        cancelled (int): Cancelled by their owners.
    """

    queue: str
    paused: bool
    queued: int
    running: int
    retrying: int
    succeeded: int
    failed: int
    cancelled: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        queue = self.queue

        paused = self.paused

        queued = self.queued

        running = self.running

        retrying = self.retrying

        succeeded = self.succeeded

        failed = self.failed

        cancelled = self.cancelled

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "queue": queue,
                "paused": paused,
                "queued": queued,
                "running": running,
                "retrying": retrying,
                "succeeded": succeeded,
                "failed": failed,
                "cancelled": cancelled,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        queue = d.pop("queue")

        paused = d.pop("paused")

        queued = d.pop("queued")

        running = d.pop("running")

        retrying = d.pop("retrying")

        succeeded = d.pop("succeeded")

        failed = d.pop("failed")

        cancelled = d.pop("cancelled")

        queue = cls(
            queue=queue,
            paused=paused,
            queued=queued,
            running=running,
            retrying=retrying,
            succeeded=succeeded,
            failed=failed,
            cancelled=cancelled,
        )

        queue.additional_properties = d
        return queue

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
