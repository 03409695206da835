from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AuditEvent")


@_attrs_define
class AuditEvent:
    """A recorded security event.

    Attributes:
        id (UUID): Event id (time-ordered).
        at (datetime.datetime): When it happened.
        action (str): What happened (one of the `action` filter's values).
        detail (Any): What else identifies the event (a session, a queue, a job, the address tried).
        actor_id (UUID | Unset): Who acted; absent for anonymous requests and the command line.
        subject_id (UUID | Unset): The account concerned.
        client (str | Unset): The client's address.
    """

    id: UUID
    at: datetime.datetime
    action: str
    detail: Any
    actor_id: UUID | Unset = UNSET
    subject_id: UUID | Unset = UNSET
    client: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        at = self.at.isoformat()

        action = self.action

        detail = self.detail

        actor_id: str | Unset = UNSET
        if not isinstance(self.actor_id, Unset):
            actor_id = str(self.actor_id)

        subject_id: str | Unset = UNSET
        if not isinstance(self.subject_id, Unset):
            subject_id = str(self.subject_id)

        client = self.client

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "at": at,
                "action": action,
                "detail": detail,
            }
        )
        if actor_id is not UNSET:
            field_dict["actor_id"] = actor_id
        if subject_id is not UNSET:
            field_dict["subject_id"] = subject_id
        if client is not UNSET:
            field_dict["client"] = client

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        at = datetime.datetime.fromisoformat(d.pop("at"))

        action = d.pop("action")

        detail = d.pop("detail")

        _actor_id = d.pop("actor_id", UNSET)
        actor_id: UUID | Unset
        if isinstance(_actor_id, Unset):
            actor_id = UNSET
        else:
            actor_id = UUID(_actor_id)

        _subject_id = d.pop("subject_id", UNSET)
        subject_id: UUID | Unset
        if isinstance(_subject_id, Unset):
            subject_id = UNSET
        else:
            subject_id = UUID(_subject_id)

        client = d.pop("client", UNSET)

        audit_event = cls(
            id=id,
            at=at,
            action=action,
            detail=detail,
            actor_id=actor_id,
            subject_id=subject_id,
            client=client,
        )

        audit_event.additional_properties = d
        return audit_event

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
