from http import HTTPStatus
from typing import Any, cast

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    tus_resumable: str | Unset = UNSET,
    upload_length: int | Unset = UNSET,
    upload_metadata: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(tus_resumable, Unset):
        headers["Tus-Resumable"] = tus_resumable

    if not isinstance(upload_length, Unset):
        headers["Upload-Length"] = str(upload_length)

    if not isinstance(upload_metadata, Unset):
        headers["Upload-Metadata"] = upload_metadata

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/uploads",
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | Problem | None:
    if response.status_code == 201:
        response_201 = cast(Any, None)
        return response_201

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
    *,
    client: AuthenticatedClient,
    tus_resumable: str | Unset = UNSET,
    upload_length: int | Unset = UNSET,
    upload_metadata: str | Unset = UNSET,
) -> Response[Any | Problem]:
    """Create a resumable upload (tus `creation`): its size is required (deferred lengths are
    not served) and quota space for it is reserved until it ends or expires (24 h).
    `Upload-Metadata` may carry `filename` (or `name`), base64 as tus encodes it.

    Args:
        tus_resumable (str | Unset):
        upload_length (int | Unset):
        upload_metadata (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        tus_resumable=tus_resumable,
        upload_length=upload_length,
        upload_metadata=upload_metadata,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    tus_resumable: str | Unset = UNSET,
    upload_length: int | Unset = UNSET,
    upload_metadata: str | Unset = UNSET,
) -> Any | Problem | None:
    """Create a resumable upload (tus `creation`): its size is required (deferred lengths are
    not served) and quota space for it is reserved until it ends or expires (24 h).
    `Upload-Metadata` may carry `filename` (or `name`), base64 as tus encodes it.

    Args:
        tus_resumable (str | Unset):
        upload_length (int | Unset):
        upload_metadata (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return sync_detailed(
        client=client,
        tus_resumable=tus_resumable,
        upload_length=upload_length,
        upload_metadata=upload_metadata,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    tus_resumable: str | Unset = UNSET,
    upload_length: int | Unset = UNSET,
    upload_metadata: str | Unset = UNSET,
) -> Response[Any | Problem]:
    """Create a resumable upload (tus `creation`): its size is required (deferred lengths are
    not served) and quota space for it is reserved until it ends or expires (24 h).
    `Upload-Metadata` may carry `filename` (or `name`), base64 as tus encodes it.

    Args:
        tus_resumable (str | Unset):
        upload_length (int | Unset):
        upload_metadata (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        tus_resumable=tus_resumable,
        upload_length=upload_length,
        upload_metadata=upload_metadata,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    tus_resumable: str | Unset = UNSET,
    upload_length: int | Unset = UNSET,
    upload_metadata: str | Unset = UNSET,
) -> Any | Problem | None:
    """Create a resumable upload (tus `creation`): its size is required (deferred lengths are
    not served) and quota space for it is reserved until it ends or expires (24 h).
    `Upload-Metadata` may carry `filename` (or `name`), base64 as tus encodes it.

    Args:
        tus_resumable (str | Unset):
        upload_length (int | Unset):
        upload_metadata (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            tus_resumable=tus_resumable,
            upload_length=upload_length,
            upload_metadata=upload_metadata,
        )
    ).parsed
