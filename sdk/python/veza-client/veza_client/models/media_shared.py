from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="MediaShared")


@_attrs_define
class MediaShared:
    """A media item shared.

    Attributes:
        room_id (UUID): The room.
        media_id (UUID): The item.
        seq (int): Its `media.shared` event.
    """

    room_id: UUID
    media_id: UUID
    seq: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        room_id = str(self.room_id)

        media_id = str(self.media_id)

        seq = self.seq

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "room_id": room_id,
                "media_id": media_id,
                "seq": seq,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        room_id = UUID(d.pop("room_id"))

        media_id = UUID(d.pop("media_id"))

        seq = d.pop("seq")

        media_shared = cls(
            room_id=room_id,
            media_id=media_id,
            seq=seq,
        )

        media_shared.additional_properties = d
        return media_shared

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
