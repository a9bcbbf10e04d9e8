"""Credential use cases: restricted keys and operators, created, listed, changed and revoked.

Mutations run through AttemptRunner.execute like every POST, so they are idempotent and audited
in their own transaction. A secret is shown once: it is stored hashed, and a replay of the
create request returns the object without it, since the stored response never held it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from payplane.domain import access
from payplane.domain.ids import new_id
from payplane.services.access_ports import NewCredential
from payplane.services.idempotency import RequestShape
from payplane.services.ports import ListQuery, Page, RequestContext, UnitOfWork
from payplane.services.responses import Response
from payplane.services.runner import AttemptRunner


class CredentialService:
    def __init__(self, runner: AttemptRunner) -> None:
        self._runner = runner
        self._uow = runner.uow

    async def create_restricted_key(
        self, ctx: RequestContext, shape: RequestShape, name: str, permissions: Mapping[str, str]
    ) -> Response:
        granted = access.key_permissions(ctx.merchant_id, permissions)
        key = self._new(ctx, "key", access.RESTRICTED_KEY_PREFIX + secrets.token_urlsafe(24))

        async def prepare(uow: UnitOfWork) -> Response:
            created = await uow.restricted_keys.add(key, name=name, permissions=granted)
            await _audit(uow, ctx, "restricted_key.create", created, name=name, permissions=granted)
            return Response(200, created)

        response = await self._runner.execute(ctx, shape, prepare)
        return _shown_once(response, "secret", key.secret)

    async def list_restricted_keys(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.restricted_keys.list(ctx.merchant_id, query)

    async def retrieve_restricted_key(self, ctx: RequestContext, key_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            return await uow.restricted_keys.get(ctx.merchant_id, key_id)

    async def revoke_restricted_key(
        self, ctx: RequestContext, shape: RequestShape, key_id: str
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response:
            key = await uow.restricted_keys.get(ctx.merchant_id, key_id)
            await uow.restricted_keys.revoke(ctx.merchant_id, key_id)
            await _audit(uow, ctx, "restricted_key.revoke", key, name=key["name"])
            return Response(200, {"id": key_id, "object": "restricted_key", "deleted": True})

        return await self._runner.execute(ctx, shape, prepare)

    async def create_operator(
        self, ctx: RequestContext, shape: RequestShape, email: str, roles: list[str]
    ) -> Response:
        address = access.operator_email(email)
        held = [role.value for role in access.operator_roles(roles)]
        operator = self._new(ctx, "opr", access.OPERATOR_TOKEN_PREFIX + secrets.token_urlsafe(32))

        async def prepare(uow: UnitOfWork) -> Response:
            created = await uow.operators.add(operator, email=address, roles=held)
            await _audit(uow, ctx, "operator.create", created, email=address, roles=held)
            return Response(200, created)

        response = await self._runner.execute(ctx, shape, prepare)
        return _shown_once(response, "token", operator.secret)

    async def list_operators(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.operators.list(ctx.merchant_id, query)

    async def retrieve_operator(self, ctx: RequestContext, operator_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            return await uow.operators.get(ctx.merchant_id, operator_id)

    async def update_operator(
        self, ctx: RequestContext, shape: RequestShape, operator_id: str, roles: list[str]
    ) -> Response:
        held = [role.value for role in access.operator_roles(roles)]

        async def prepare(uow: UnitOfWork) -> Response:
            before = await uow.operators.get(ctx.merchant_id, operator_id)
            updated = await uow.operators.set_roles(ctx.merchant_id, operator_id, held)
            await _audit(uow, ctx, "operator.update", updated, before=before["roles"], roles=held)
            return Response(200, updated)

        return await self._runner.execute(ctx, shape, prepare)

    async def delete_operator(
        self, ctx: RequestContext, shape: RequestShape, operator_id: str
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response:
            operator = await uow.operators.get(ctx.merchant_id, operator_id)
            await uow.operators.deactivate(ctx.merchant_id, operator_id)
            await _audit(uow, ctx, "operator.delete", operator, email=operator["email"])
            return Response(200, {"id": operator_id, "object": "operator", "deleted": True})

        return await self._runner.execute(ctx, shape, prepare)

    def _new(self, ctx: RequestContext, prefix: str, secret: str) -> NewCredential:
        return NewCredential(
            id=new_id(prefix, 16),
            merchant_id=ctx.merchant_id,
            secret=secret,
            created=self._runner.clock.now(),
            created_by=ctx.actor,
        )


def _shown_once(response: Response, field: str, secret: str) -> Response:
    if response.replayed:
        return response
    return Response(response.status, {**response.body, field: secret})


async def _audit(
    uow: UnitOfWork, ctx: RequestContext, action: str, obj: dict[str, Any], **detail: Any
) -> None:
    await uow.audit.record(
        ctx, action, object_type=obj["object"], object_id=obj["id"], detail=detail
    )
