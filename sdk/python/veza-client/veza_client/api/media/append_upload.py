from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...types import UNSET, File, Response, Unset


def _get_kwargs(
    id: UUID,
    *,
    body: File,
    tus_resumable: str | Unset = UNSET,
    upload_offset: int | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(tus_resumable, Unset):
        headers["Tus-Resumable"] = tus_resumable

    if not isinstance(upload_offset, Unset):
        headers["Upload-Offset"] = str(upload_offset)

    _kwargs: dict[str, Any] = {
        "method": "patch",
        "url": "/v1/uploads/{id}".format(
            id=quote(str(id), safe=""),
        ),
    }

    _kwargs["content"] = body.payload
    headers["Content-Type"] = "application/octet-stream"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | Problem | None:
    if response.status_code == 204:
        response_204 = cast(Any, None)
        return response_204

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 412:
        response_412 = cast(Any, None)
        return response_412

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: UUID,
    *,
    client: AuthenticatedClient,
    body: File,
    tus_resumable: str | Unset = UNSET,
    upload_offset: int | Unset = UNSET,
) -> Response[Any | Problem]:
    """Send bytes of a resumable upload from `Upload-Offset` (tus core PATCH), as
    `application/offset+octet-stream`. A PATCH cut off midway stores nothing: send it again
    from the offset a HEAD gives. The last byte makes the media item.

    Args:
        id (UUID):
        tus_resumable (str | Unset):
        upload_offset (int | Unset):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
        tus_resumable=tus_resumable,
        upload_offset=upload_offset,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: UUID,
    *,
    client: AuthenticatedClient,
    body: File,
    tus_resumable: str | Unset = UNSET,
    upload_offset: int | Unset = UNSET,
) -> Any | Problem | None:
    """Send bytes of a resumable upload from `Upload-Offset` (tus core PATCH), as
    `application/offset+octet-stream`. A PATCH cut off midway stores nothing: send it again
    from the offset a HEAD gives. The last byte makes the media item.

    Args:
        id (UUID):
        tus_resumable (str | Unset):
        upload_offset (int | Unset):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return sync_detailed(
        id=id,
        client=client,
        body=body,
        tus_resumable=tus_resumable,
        upload_offset=upload_offset,
    ).parsed


async def asyncio_detailed(
    id: UUID,
    *,
    client: AuthenticatedClient,
    body: File,
    tus_resumable: str | Unset = UNSET,
    upload_offset: int | Unset = UNSET,
) -> Response[Any | Problem]:
    """Send bytes of a resumable upload from `Upload-Offset` (tus core PATCH), as
    `application/offset+octet-stream`. A PATCH cut off midway stores nothing: send it again
    from the offset a HEAD gives. The last byte makes the media item.

    Args:
        id (UUID):
        tus_resumable (str | Unset):
        upload_offset (int | Unset):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
        tus_resumable=tus_resumable,
        upload_offset=upload_offset,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: UUID,
    *,
    client: AuthenticatedClient,
    body: File,
    tus_resumable: str | Unset = UNSET,
    upload_offset: int | Unset = UNSET,
) -> Any | Problem | None:
    """Send bytes of a resumable upload from `Upload-Offset` (tus core PATCH), as
    `application/offset+octet-stream`. A PATCH cut off midway stores nothing: send it again
    from the offset a HEAD gives. The last byte makes the media item.

    Args:
        id (UUID):
        tus_resumable (str | Unset):
        upload_offset (int | Unset):
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
            tus_resumable=tus_resumable,
            upload_offset=upload_offset,
        )
    ).parsed
