from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.member_role import MemberRole
from ..types import UNSET, Unset

T = TypeVar("T", bound="MemberUpdate")


@_attrs_define
class MemberUpdate:
    """A change to a member: a role (owners only), a mute (owners and moderators), or both.

    Attributes:
        role (MemberRole | Unset): A role one can be given (`owner` stays with the room's creator).
        muted_until (datetime.datetime | Unset): Muted (may read, may not send) until then; `null` lifts a mute.
    """

    role: MemberRole | Unset = UNSET
    muted_until: datetime.datetime | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        role: str | Unset = UNSET
        if not isinstance(self.role, Unset):
            role = self.role.value

        muted_until: str | Unset = UNSET
        if not isinstance(self.muted_until, Unset):
            muted_until = self.muted_until.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if role is not UNSET:
            field_dict["role"] = role
        if muted_until is not UNSET:
            field_dict["muted_until"] = muted_until

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _role = d.pop("role", UNSET)
        role: MemberRole | Unset
        if isinstance(_role, Unset):
            role = UNSET
        else:
            role = MemberRole(_role)

        _muted_until = d.pop("muted_until", UNSET)
        muted_until: datetime.datetime | Unset
        if isinstance(_muted_until, Unset):
            muted_until = UNSET
        else:
            muted_until = datetime.datetime.fromisoformat(_muted_until)

        member_update = cls(
            role=role,
            muted_until=muted_until,
        )

        member_update.additional_properties = d
        return member_update

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
