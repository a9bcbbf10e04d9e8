"""The async connection pool every process uses; connections run as the payplane_app role.

The api and worker log in as payplane_app itself (`login_as`), not as the schema owner: a
compromised process that runs RESET ROLE gets payplane_app back, never the owner's UPDATE and
DELETE on the ledger or the power to drop its append-only triggers.
"""

from __future__ import annotations

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

APP_ROLE = "payplane_app"


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


set_json_dumps(_dumps)
set_json_loads(orjson.loads)


def login_as(database_url: str, role: str) -> str:
    """The same server and database as `role`, without the URL's password (another role's)."""
    params = conninfo_to_dict(database_url)
    params.pop("password", None)
    return make_conninfo("", **{**params, "user": role})


async def _configure(conn: psycopg.AsyncConnection) -> None:
    # The app role has no UPDATE/DELETE grant on the append-only tables; the owner keeps them
    # for migrations only. A no-op when logged in as payplane_app; a login role that is a
    # member of it (a DBA's choice, or the owner in tests) drops to it here.
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
