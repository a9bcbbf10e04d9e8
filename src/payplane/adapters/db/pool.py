"""The async connection pool every process uses; connections run as the payplane_app role."""

from __future__ import annotations

import orjson
import psycopg
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

APP_ROLE = "payplane_app"


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


set_json_dumps(_dumps)
set_json_loads(orjson.loads)


async def _configure(conn: psycopg.AsyncConnection) -> None:
    # The app role has no UPDATE/DELETE grant on the append-only tables; the owner keeps them
    # for migrations only.
    await conn.execute(f"SET ROLE {APP_ROLE}")
    await conn.commit()


def create_pool(database_url: str, *, size: int) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        database_url,
        min_size=min(4, size),
        max_size=size,
        configure=_configure,
        open=False,
        kwargs={"autocommit": False},
    )
