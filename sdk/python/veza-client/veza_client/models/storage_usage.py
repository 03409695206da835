from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StorageUsage")


@_attrs_define
class StorageUsage:
    """What an account stores against its quota: the originals of its items (outputs are Veza's).

    Attributes:
        bytes_used (int): Bytes of originals stored.
        bytes_limit (int): The most it may store; an upload past it is 413 `quota-exceeded`.
        items_used (int): Items stored.
        items_limit (int): The most items it may hold.
    """

    bytes_used: int
    bytes_limit: int
    items_used: int
    items_limit: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        bytes_used = self.bytes_used

        bytes_limit = self.bytes_limit

        items_used = self.items_used

        items_limit = self.items_limit

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "bytes_used": bytes_used,
                "bytes_limit": bytes_limit,
                "items_used": items_used,
                "items_limit": items_limit,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        bytes_used = d.pop("bytes_used")

        bytes_limit = d.pop("bytes_limit")

        items_used = d.pop("items_used")

        items_limit = d.pop("items_limit")

        storage_usage = cls(
            bytes_used=bytes_used,
            bytes_limit=bytes_limit,
            items_used=items_used,
            items_limit=items_limit,
        )

        storage_usage.additional_properties = d
        return storage_usage

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
