"""The real API app in-process (FastAPI TestClient, lifespan and all) on the session's
PostgreSQL, and helpers to mint credentials through it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from payplane import bootstrap
from payplane.api.app import create_app
from payplane.config import Settings

ROLES = ("support", "finance", "operations", "admin")


@contextmanager
def api_client(database_url: str, **settings: Any) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, db_pool_size=4, **settings))
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


def merchant(database_url: str, name: str = "access") -> tuple[str, str]:
    """A new merchant: (id, secret key)."""
    created = bootstrap.create_merchant(database_url, name)
    return created["id"], created["secret_key"]


def auth(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def restricted_key(client: TestClient, secret: str, permissions: dict[str, str]) -> str:
    form = {f"permissions[{resource}]": level for resource, level in permissions.items()}
    response = client.post(
        "/v1/restricted_keys", data={"name": "test key", **form}, headers=auth(secret)
    )
    assert response.status_code == 200, response.text
    key: str = response.json()["secret"]
    return key


def operator(client: TestClient, secret: str, email: str, *roles: str) -> tuple[str, str]:
    """A new operator: (id, bearer token)."""
    form = {f"roles[{i}]": role for i, role in enumerate(roles)}
    response = client.post("/v1/operators", data={"email": email, **form}, headers=auth(secret))
    assert response.status_code == 200, response.text
    body = response.json()
    return body["id"], body["token"]


def audit_rows(database_url: str, merchant_id: str, action: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM audit_log WHERE merchant_id = %s AND action = %s ORDER BY id",
            (merchant_id, action),
        ).fetchall()
