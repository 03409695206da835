from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="RoomView")


@_attrs_define
class RoomView:
    """A room, as one of its members sees it.

    Attributes:
        id (UUID): Id.
        kind (str): `group` or `direct`.
        visibility (str): `public` or `private`.
        role (str): Your role: `owner`, `moderator` or `member`.
        created_at (datetime.datetime): When it was created.
        last_seq (int): The number of its latest event: subscribe with `since` set to it to get what follows.
        name (str | Unset): Name (group rooms).
    """

    id: UUID
    kind: str
    visibility: str
    role: str
    created_at: datetime.datetime
    last_seq: int
    name: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        kind = self.kind

        visibility = self.visibility

        role = self.role

        created_at = self.created_at.isoformat()

        last_seq = self.last_seq

        name = self.name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "visibility": visibility,
                "role": role,
                "created_at": created_at,
                "last_seq": last_seq,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        kind = d.pop("kind")

        visibility = d.pop("visibility")

        role = d.pop("role")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        last_seq = d.pop("last_seq")

        name = d.pop("name", UNSET)

        room_view = cls(
            id=id,
            kind=kind,
            visibility=visibility,
            role=role,
            created_at=created_at,
            last_seq=last_seq,
            name=name,
        )

        room_view.additional_properties = d
        return room_view

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
