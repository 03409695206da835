from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="Session")


@_attrs_define
class Session:
    """An open session.

    Attributes:
        id (UUID): Session id.
        created_at (datetime.datetime): When it was opened (the login).
        refreshed_at (datetime.datetime): Its last login or refresh.
        expires_at (datetime.datetime): When it lapses unless refreshed.
        current (bool): Whether this is the session of the request's token.
        user_agent (str | Unset): The `User-Agent` of the client that logged in.
        client (str | Unset): The address of the client that logged in.
    """

    id: UUID
    created_at: datetime.datetime
    refreshed_at: datetime.datetime
    expires_at: datetime.datetime
    current: bool
    user_agent: str | Unset = UNSET
    client: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        created_at = self.created_at.isoformat()

        refreshed_at = self.refreshed_at.isoformat()

        expires_at = self.expires_at.isoformat()

        current = self.current

        user_agent = self.user_agent

        client = self.client

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "created_at": created_at,
                "refreshed_at": refreshed_at,
                "expires_at": expires_at,
                "current": current,
            }
        )
        if user_agent is not UNSET:
            field_dict["user_agent"] = user_agent
        if client is not UNSET:
            field_dict["client"] = client

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        refreshed_at = datetime.datetime.fromisoformat(d.pop("refreshed_at"))

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        current = d.pop("current")

        user_agent = d.pop("user_agent", UNSET)

        client = d.pop("client", UNSET)

        session = cls(
            id=id,
            created_at=created_at,
            refreshed_at=refreshed_at,
            expires_at=expires_at,
            current=current,
            user_agent=user_agent,
            client=client,
        )

        session.additional_properties = d
        return session

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
