from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="UploadAccepted")


@_attrs_define
class UploadAccepted:
    """An accepted upload.

    Attributes:
        media_id (UUID): The new media item.
        kind (str): `audio` or `image`, detected from the bytes.
        content_type (str): MIME type detected from the bytes.
        size_bytes (int): Size of the original.
        sha256 (str): SHA-256 of the original (hex).
        job_ids (list[UUID]): The jobs enqueued for it; poll `GET /v1/jobs/{id}`.
    """

    media_id: UUID
    kind: str
    content_type: str
    size_bytes: int
    sha256: str
    job_ids: list[UUID]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        media_id = str(self.media_id)

        kind = self.kind

        content_type = self.content_type

        size_bytes = self.size_bytes

        sha256 = self.sha256

        job_ids = []
        for job_ids_item_data in self.job_ids:
            job_ids_item = str(job_ids_item_data)
            job_ids.append(job_ids_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "media_id": media_id,
                "kind": kind,
                "content_type": content_type,
                "size_bytes": size_bytes,
                "sha256": sha256,
                "job_ids": job_ids,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        media_id = UUID(d.pop("media_id"))

        kind = d.pop("kind")

        content_type = d.pop("content_type")

        size_bytes = d.pop("size_bytes")

        sha256 = d.pop("sha256")

        job_ids = []
        _job_ids = d.pop("job_ids")
        for job_ids_item_data in _job_ids:
            job_ids_item = UUID(job_ids_item_data)

            job_ids.append(job_ids_item)

        upload_accepted = cls(
            media_id=media_id,
            kind=kind,
            content_type=content_type,
            size_bytes=size_bytes,
            sha256=sha256,
            job_ids=job_ids,
        )

        upload_accepted.additional_properties = d
        return upload_accepted

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
