"""webhook_endpoints <-> Stripe webhook_endpoint objects; deliveries in webhook_deliveries.py."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.adapters.db.listing import page
from payplane.adapters.db.webhook_deliveries import PgWebhookDeliveries
from payplane.domain.errors import ResourceMissing
from payplane.services.ports import ListQuery, Page
from payplane.services.webhook_ports import EndpointChanges

RESOURCE = "webhook endpoint"


def to_endpoint(row: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    endpoint = {
        "id": row["id"],
        "object": "webhook_endpoint",
        "api_version": row["api_version"],
        "application": None,
        "created": row["created"],
        "description": row["description"],
        "disabled_reason": row["disabled_reason"],  # Payplane extension
        "enabled_events": row["enabled_events"],
        "livemode": False,
        "metadata": row["metadata"],
        "status": row["status"],
        "url": row["url"],
    }
    if with_secret:
        endpoint["secret"] = row["secret"]
    return endpoint


class PgWebhooks(PgWebhookDeliveries):
    """The WebhookStore port: endpoints here, deliveries and attempts in the base class."""

    async def add_endpoint(self, endpoint: dict[str, Any]) -> None:
        await self._conn.execute(
            "INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, description, "
            "metadata, secret, api_version, created) "
            "VALUES (%(id)s, %(merchant_id)s, %(url)s, %(enabled_events)s, %(description)s, "
            "%(metadata)s, %(secret)s, %(api_version)s, %(created)s)",
            {
                **endpoint,
                "enabled_events": Jsonb(endpoint["enabled_events"]),
                "metadata": Jsonb(endpoint["metadata"]),
            },
        )

    async def get_endpoint(
        self, merchant_id: str, endpoint_id: str, *, lock: bool = False
    ) -> dict[str, Any]:
        return to_endpoint(await self._endpoint_row(merchant_id, endpoint_id, lock=lock))

    async def update_endpoint(
        self, merchant_id: str, endpoint_id: str, changes: EndpointChanges
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if changes.url is not None:
            values["url"] = changes.url
        if changes.enabled_events is not None:
            values["enabled_events"] = Jsonb(changes.enabled_events)
        if changes.description is not None:
            values["description"] = changes.description or None
        if changes.metadata is not None:
            values["metadata"] = Jsonb(changes.metadata)
        if changes.disabled is not None:
            values["status"] = "disabled" if changes.disabled else "enabled"
            values["disabled_reason"] = None
        assignments: list[sql.Composable] = [
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            for column in values
        ]
        assignments.append(sql.SQL("updated_at = now()"))
        statement = sql.SQL(
            "UPDATE webhook_endpoints SET {} WHERE id = %(id)s AND merchant_id = %(merchant_id)s "
            "AND NOT deleted RETURNING *"
        ).format(sql.SQL(", ").join(assignments))
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(statement, {**values, "id": endpoint_id, "merchant_id": merchant_id})
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing(RESOURCE, endpoint_id)
        return to_endpoint(row)

    async def delete_endpoint(self, merchant_id: str, endpoint_id: str) -> None:
        cur = await self._conn.execute(
            "UPDATE webhook_endpoints SET deleted = true, updated_at = now() "
            "WHERE id = %s AND merchant_id = %s AND NOT deleted",
            (endpoint_id, merchant_id),
        )
        if cur.rowcount != 1:
            raise ResourceMissing(RESOURCE, endpoint_id)

    async def list_endpoints(self, merchant_id: str, query: ListQuery) -> Page:
        # Deleted endpoints stay in the table (their deliveries point at them) but not in lists.
        return await page(
            self._conn,
            table="webhook_endpoints",
            resource=RESOURCE,
            merchant_id=merchant_id,
            query=ListQuery(
                limit=query.limit,
                starting_after=query.starting_after,
                ending_before=query.ending_before,
                created=query.created,
                filters={**query.filters, "deleted": "false"},
            ),
            to_object=to_endpoint,
        )

    async def disable_endpoint(self, endpoint_id: str, reason: str) -> dict[str, Any] | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = %s, "
            "updated_at = now() WHERE id = %s AND status = 'enabled' AND NOT deleted RETURNING *",
            (reason, endpoint_id),
        )
        row = await cur.fetchone()
        return None if row is None else to_endpoint(row)

    async def _endpoint_row(
        self, merchant_id: str, endpoint_id: str, *, lock: bool = False
    ) -> dict[str, Any]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM webhook_endpoints WHERE id = %s AND merchant_id = %s AND NOT deleted"
            + (" FOR UPDATE" if lock else ""),
            (endpoint_id, merchant_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing(RESOURCE, endpoint_id)
        return row
