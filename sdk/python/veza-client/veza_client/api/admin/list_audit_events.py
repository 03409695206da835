from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.audit_action import AuditAction
from ...models.audit_page import AuditPage
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    action: AuditAction | Unset = UNSET,
    user_id: UUID | Unset = UNSET,
    before: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_action: str | Unset = UNSET
    if not isinstance(action, Unset):
        json_action = action.value

    params["action"] = json_action

    json_user_id: str | Unset = UNSET
    if not isinstance(user_id, Unset):
        json_user_id = str(user_id)
    params["user_id"] = json_user_id

    json_before: str | Unset = UNSET
    if not isinstance(before, Unset):
        json_before = str(before)
    params["before"] = json_before

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/admin/audit",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> AuditPage | Problem | None:
    if response.status_code == 200:
        response_200 = AuditPage.from_dict(response.json())

        return response_200

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[AuditPage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    action: AuditAction | Unset = UNSET,
    user_id: UUID | Unset = UNSET,
    before: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> Response[AuditPage | Problem]:
    """The audit log, newest first: logins and their failures, password changes and resets,
    session revocations, refresh-token reuse, admin grants, queue pauses, job retries.

    Args:
        action (AuditAction | Unset): What happened (the names are those stored:
            `Action::as_str`).
        user_id (UUID | Unset):
        before (UUID | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | Problem]
    """

    kwargs = _get_kwargs(
        action=action,
        user_id=user_id,
        before=before,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    action: AuditAction | Unset = UNSET,
    user_id: UUID | Unset = UNSET,
    before: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> AuditPage | Problem | None:
    """The audit log, newest first: logins and their failures, password changes and resets,
    session revocations, refresh-token reuse, admin grants, queue pauses, job retries.

    Args:
        action (AuditAction | Unset): What happened (the names are those stored:
            `Action::as_str`).
        user_id (UUID | Unset):
        before (UUID | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | Problem
    """

    return sync_detailed(
        client=client,
        action=action,
        user_id=user_id,
        before=before,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    action: AuditAction | Unset = UNSET,
    user_id: UUID | Unset = UNSET,
    before: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> Response[AuditPage | Problem]:
    """The audit log, newest first: logins and their failures, password changes and resets,
    session revocations, refresh-token reuse, admin grants, queue pauses, job retries.

    Args:
        action (AuditAction | Unset): What happened (the names are those stored:
            `Action::as_str`).
        user_id (UUID | Unset):
        before (UUID | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | Problem]
    """

    kwargs = _get_kwargs(
        action=action,
        user_id=user_id,
        before=before,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    action: AuditAction | Unset = UNSET,
    user_id: UUID | Unset = UNSET,
    before: UUID | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> AuditPage | Problem | None:
    """The audit log, newest first: logins and their failures, password changes and resets,
    session revocations, refresh-token reuse, admin grants, queue pauses, job retries.

    Args:
        action (AuditAction | Unset): What happened (the names are those stored:
            `Action::as_str`).
        user_id (UUID | Unset):
        before (UUID | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            action=action,
            user_id=user_id,
            before=before,
            limit=limit,
        )
    ).parsed
