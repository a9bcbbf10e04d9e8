from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from simulator_support import API_KEY
from webhook_support import Receiver

from psp_simulator import Settings, create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(api_key=API_KEY, db_path=tmp_path / "nested" / "psp.sqlite3")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://psp.test",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as http:
        yield http


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
async def hooked(client: httpx.AsyncClient, receiver: Receiver) -> httpx.AsyncClient:
    """The simulator client, with webhooks pointed at the receiver."""
    response = await client.post("/admin/webhooks", json={"url": receiver.url})
    assert response.json() == {"url": receiver.url, "secret_set": True}
    return client
