from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.storage_usage import StorageUsage


T = TypeVar("T", bound="User")


@_attrs_define
class User:
    """An account.

    Attributes:
        id (UUID): User id.
        email (str): Email address (lower case).
        created_at (datetime.datetime): When the account was created.
        email_verified (bool): Whether the address was verified (a verification or reset link reached it).
        notifications (bool): Whether notification emails are on (security emails always are).
        usage (StorageUsage | Unset): What an account stores against its quota: the originals of its items (outputs are
            Veza's).
    """

    id: UUID
    email: str
    created_at: datetime.datetime
    email_verified: bool
    notifications: bool
    usage: StorageUsage | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        email = self.email

        created_at = self.created_at.isoformat()

        email_verified = self.email_verified

        notifications = self.notifications

        usage: dict[str, Any] | Unset = UNSET
        if not isinstance(self.usage, Unset):
            usage = self.usage.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "email": email,
                "created_at": created_at,
                "email_verified": email_verified,
                "notifications": notifications,
            }
        )
        if usage is not UNSET:
            field_dict["usage"] = usage

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.storage_usage import StorageUsage  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        email = d.pop("email")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        email_verified = d.pop("email_verified")

        notifications = d.pop("notifications")

        _usage = d.pop("usage", UNSET)
        usage: StorageUsage | Unset
        if isinstance(_usage, Unset):
            usage = UNSET
        else:
            usage = StorageUsage.from_dict(_usage)

        user = cls(
            id=id,
            email=email,
            created_at=created_at,
            email_verified=email_verified,
            notifications=notifications,
            usage=usage,
        )

        user.additional_properties = d
        return user

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
