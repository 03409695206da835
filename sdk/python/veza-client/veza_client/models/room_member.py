from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="RoomMember")


@_attrs_define
class RoomMember:
    """A member of a room.

    Attributes:
        user_id (UUID): The account.
        role (str): `owner`, `moderator` or `member`.
        delivered_seq (int): The last event number its clients reported delivered (receipts).
        read_seq (int): The last event number its clients reported read.
        joined_at (datetime.datetime): When it joined.
        online (bool): Connected now (to any API instance); changes come as `presence` frames on the socket.
        muted_until (datetime.datetime | Unset): Muted (may read, may not send) until then.
    """

    user_id: UUID
    role: str
    delivered_seq: int
    read_seq: int
    joined_at: datetime.datetime
    online: bool
    muted_until: datetime.datetime | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        user_id = str(self.user_id)

        role = self.role

        delivered_seq = self.delivered_seq

        read_seq = self.read_seq

        joined_at = self.joined_at.isoformat()

        online = self.online

        muted_until: str | Unset = UNSET
        if not isinstance(self.muted_until, Unset):
            muted_until = self.muted_until.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "user_id": user_id,
                "role": role,
                "delivered_seq": delivered_seq,
                "read_seq": read_seq,
                "joined_at": joined_at,
                "online": online,
            }
        )
        if muted_until is not UNSET:
            field_dict["muted_until"] = muted_until

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        user_id = UUID(d.pop("user_id"))

        role = d.pop("role")

        delivered_seq = d.pop("delivered_seq")

        read_seq = d.pop("read_seq")

        joined_at = datetime.datetime.fromisoformat(d.pop("joined_at"))

        online = d.pop("online")

        _muted_until = d.pop("muted_until", UNSET)
        muted_until: datetime.datetime | Unset
        if isinstance(_muted_until, Unset):
            muted_until = UNSET
        else:
            muted_until = datetime.datetime.fromisoformat(_muted_until)

        room_member = cls(
            user_id=user_id,
            role=role,
            delivered_seq=delivered_seq,
            read_seq=read_seq,
            joined_at=joined_at,
            online=online,
            muted_until=muted_until,
        )

        room_member.additional_properties = d
        return room_member

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
