from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="Webhook")


@_attrs_define
class Webhook:
    """A registered endpoint.

    Attributes:
        id (UUID): Id.
        url (str): Where events are POSTed.
        events (list[str]): The events it receives (`media.ready`, `media.failed`, `job.succeeded`, `job.failed`).
        consecutive_failures (int): Deliveries that failed for good in a row; at 5 the endpoint is disabled.
        created_at (datetime.datetime): When it was registered.
        disabled_at (datetime.datetime | Unset): When it was disabled (nothing is sent to it until it is enabled again).
        disabled_reason (str | Unset): Why.
    """

    id: UUID
    url: str
    events: list[str]
    consecutive_failures: int
    created_at: datetime.datetime
    disabled_at: datetime.datetime | Unset = UNSET
    disabled_reason: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        url = self.url

        events = self.events

        consecutive_failures = self.consecutive_failures

        created_at = self.created_at.isoformat()

        disabled_at: str | Unset = UNSET
        if not isinstance(self.disabled_at, Unset):
            disabled_at = self.disabled_at.isoformat()

        disabled_reason = self.disabled_reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "url": url,
                "events": events,
                "consecutive_failures": consecutive_failures,
                "created_at": created_at,
            }
        )
        if disabled_at is not UNSET:
            field_dict["disabled_at"] = disabled_at
        if disabled_reason is not UNSET:
            field_dict["disabled_reason"] = disabled_reason

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        url = d.pop("url")

        events = cast(list[str], d.pop("events"))

        consecutive_failures = d.pop("consecutive_failures")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        _disabled_at = d.pop("disabled_at", UNSET)
        disabled_at: datetime.datetime | Unset
        if isinstance(_disabled_at, Unset):
            disabled_at = UNSET
        else:
            disabled_at = datetime.datetime.fromisoformat(_disabled_at)

        disabled_reason = d.pop("disabled_reason", UNSET)

        webhook = cls(
            id=id,
            url=url,
            events=events,
            consecutive_failures=consecutive_failures,
            created_at=created_at,
            disabled_at=disabled_at,
            disabled_reason=disabled_reason,
        )

        webhook.additional_properties = d
        return webhook

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
