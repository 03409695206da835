from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.live_event_data import LiveEventData


T = TypeVar("T", bound="LiveEvent")


@_attrs_define
class LiveEvent:
    """A job event: `job.progress`, `job.succeeded`, `job.failed`, `media.ready` or
    `media.failed`. The webhooks deliver the same body (all but `job.progress`).

        Attributes:
            type_ (str): The event type.
            timestamp (datetime.datetime): When it happened.
            data (LiveEventData): What an event is about.
    """

    type_: str
    timestamp: datetime.datetime
    data: LiveEventData
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        timestamp = self.timestamp.isoformat()

        data = self.data.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "timestamp": timestamp,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.live_event_data import LiveEventData  # noqa: PLC0415

        d = dict(src_dict)
        type_ = d.pop("type")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = LiveEventData.from_dict(d.pop("data"))

        live_event = cls(
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        live_event.additional_properties = d
        return live_event

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
