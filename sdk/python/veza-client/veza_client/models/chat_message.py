from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ChatMessage")


@_attrs_define
class ChatMessage:
    """A message of a room's history.

    Attributes:
        id (UUID): Id.
        seq (int): Its event number in the room.
        created_at (datetime.datetime): When it was sent.
        deleted (bool): Whether it was deleted.
        sender_id (UUID | Unset): Who sent it (absent once the account is deleted).
        body (str | Unset): The text (absent once deleted).
        edited_at (datetime.datetime | Unset): When it was last edited.
    """

    id: UUID
    seq: int
    created_at: datetime.datetime
    deleted: bool
    sender_id: UUID | Unset = UNSET
    body: str | Unset = UNSET
    edited_at: datetime.datetime | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        seq = self.seq

        created_at = self.created_at.isoformat()

        deleted = self.deleted

        sender_id: str | Unset = UNSET
        if not isinstance(self.sender_id, Unset):
            sender_id = str(self.sender_id)

        body = self.body

        edited_at: str | Unset = UNSET
        if not isinstance(self.edited_at, Unset):
            edited_at = self.edited_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "seq": seq,
                "created_at": created_at,
                "deleted": deleted,
            }
        )
        if sender_id is not UNSET:
            field_dict["sender_id"] = sender_id
        if body is not UNSET:
            field_dict["body"] = body
        if edited_at is not UNSET:
            field_dict["edited_at"] = edited_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        seq = d.pop("seq")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        deleted = d.pop("deleted")

        _sender_id = d.pop("sender_id", UNSET)
        sender_id: UUID | Unset
        if isinstance(_sender_id, Unset):
            sender_id = UNSET
        else:
            sender_id = UUID(_sender_id)

        body = d.pop("body", UNSET)

        _edited_at = d.pop("edited_at", UNSET)
        edited_at: datetime.datetime | Unset
        if isinstance(_edited_at, Unset):
            edited_at = UNSET
        else:
            edited_at = datetime.datetime.fromisoformat(_edited_at)

        chat_message = cls(
            id=id,
            seq=seq,
            created_at=created_at,
            deleted=deleted,
            sender_id=sender_id,
            body=body,
            edited_at=edited_at,
        )

        chat_message.additional_properties = d
        return chat_message

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
