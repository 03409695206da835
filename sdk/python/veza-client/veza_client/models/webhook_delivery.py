from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="WebhookDelivery")


@_attrs_define
class WebhookDelivery:
    """One delivery of an event to an endpoint.

    Attributes:
        id (UUID): Id: the `webhook-id` header of every send of it.
        event_type (str): The event.
        status (str): `pending`, `delivered` or `failed`.
        attempts (int): Attempts so far.
        body (str): The JSON body sent.
        created_at (datetime.datetime): When the event happened.
        last_status (int | Unset): The endpoint's last HTTP status.
        last_error (str | Unset): Why the last attempt failed.
        delivered_at (datetime.datetime | Unset): When the endpoint accepted it.
    """

    id: UUID
    event_type: str
    status: str
    attempts: int
    body: str
    created_at: datetime.datetime
    last_status: int | Unset = UNSET
    last_error: str | Unset = UNSET
    delivered_at: datetime.datetime | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        event_type = self.event_type

        status = self.status

        attempts = self.attempts

        body = self.body

        created_at = self.created_at.isoformat()

        last_status = self.last_status

        last_error = self.last_error

        delivered_at: str | Unset = UNSET
        if not isinstance(self.delivered_at, Unset):
            delivered_at = self.delivered_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "event_type": event_type,
                "status": status,
                "attempts": attempts,
                "body": body,
                "created_at": created_at,
            }
        )
        if last_status is not UNSET:
            field_dict["last_status"] = last_status
        if last_error is not UNSET:
            field_dict["last_error"] = last_error
        if delivered_at is not UNSET:
            field_dict["delivered_at"] = delivered_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        event_type = d.pop("event_type")

        status = d.pop("status")

        attempts = d.pop("attempts")

        body = d.pop("body")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        last_status = d.pop("last_status", UNSET)

        last_error = d.pop("last_error", UNSET)

        _delivered_at = d.pop("delivered_at", UNSET)
        delivered_at: datetime.datetime | Unset
        if isinstance(_delivered_at, Unset):
            delivered_at = UNSET
        else:
            delivered_at = datetime.datetime.fromisoformat(_delivered_at)

        webhook_delivery = cls(
            id=id,
            event_type=event_type,
            status=status,
            attempts=attempts,
            body=body,
            created_at=created_at,
            last_status=last_status,
            last_error=last_error,
            delivered_at=delivered_at,
        )

        webhook_delivery.additional_properties = d
        return webhook_delivery

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
