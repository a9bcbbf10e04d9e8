"""The whole platform as real processes (simulator, vault, api, worker) for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from payplane.config import Settings
from payplane.runtime.launcher import child_processes, http_url
from payplane.runtime.processes import ChildProcess, free_port, stop_all, wait_until_healthy
from payplane.runtime.vault import admin_url, prepare_vault

_E2E_DIR = Path(__file__).parent
_LOG_DIR = pytest.StashKey[Path]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Collection hooks in a conftest see every item of the session, not only this directory's.
    for item in items:
        if _E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    log_dir = config.stash.get(_LOG_DIR, None)
    if exitstatus != 0 and log_dir is not None:
        terminalreporter.section("platform logs")
        for log in sorted(log_dir.glob("*.log")):
            terminalreporter.write_line(str(log))


@dataclass
class Platform:
    api_url: str
    simulator_url: str
    simulator_api_key: str
    database_url: str
    nats_url: str
    secret_key: str
    merchant_id: str
    publishable_key: str  # registered with the vault
    children: dict[str, ChildProcess]
    log_dir: Path  # every child's output, <name>.log
    settings: Settings

    def kill_api(self) -> None:
        """SIGKILL the api and everything it spawned, like a crashed machine would."""
        self.children["api"].kill()

    def restart_api(self) -> None:
        api = self.children["api"]
        api.start()
        wait_until_healthy([api])

    def new_merchant(self, name: str) -> tuple[str, str]:
        merchant = self.new_merchant_keys(name)
        return merchant["id"], merchant["secret_key"]

    def new_merchant_keys(self, name: str) -> dict[str, str]:
        """A new merchant: id, secret_key and publishable_key (registered with the vault)."""
        from payplane import bootstrap

        merchant: dict[str, str] = bootstrap.create_merchant(self.database_url, name, self.settings)
        return merchant

    def set_faults(self, **faults: Any) -> None:
        """Replace the simulator's fault configuration: latency_ms, error_rate, timeout_rate,
        drop_response_rate, hang_seconds; omitted ones return to their defaults."""
        self._admin("POST", "/admin/faults", json=faults)

    def reset_faults(self) -> None:
        self._admin("POST", "/admin/reset")

    def simulator_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._admin("GET", "/admin/stats")
        return stats

    def set_webhook_faults(self, **faults: Any) -> None:
        """Replace the simulator's webhook delivery faults: duplicate_rate, reorder, delay_ms,
        drop_rate; omitted ones return to their defaults (reset_faults clears them too)."""
        self._admin("POST", "/admin/webhook_faults", json=faults)

    def flush_webhooks(self, timeout: float = 8) -> dict[str, Any]:
        """Wait until the simulator has delivered every webhook event; its delivery stats."""
        stats: dict[str, Any] = self._admin("POST", f"/admin/webhooks/flush?timeout={timeout}")
        return stats

    def webhook_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._admin("GET", "/admin/webhooks/stats")
        return stats

    def _admin(self, method: str, path: str, json: Any = None) -> Any:
        response = httpx.request(method, self.simulator_url + path, json=json, timeout=10)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def platform(
    e2e_database_url: str,
    nats_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("platform")
    with started_platform(e2e_database_url, nats_url, home, request) as running:
        yield running


@contextlib.contextmanager
def started_platform(
    database_url: str,
    nats_url: str,
    home: Path,
    request: pytest.FixtureRequest,
    **overrides: Any,
) -> Iterator[Platform]:
    """The platform's processes on `database_url` (migrated) with the suite's settings and
    `overrides`. A module that needs a platform to itself (the simulator's settlement batches,
    say) starts one with this in a module fixture named `platform`."""
    from payplane import bootstrap

    simulator_port = free_port()
    settings = Settings(
        home=home,
        database_url=database_url,
        nats_url=nats_url,
        api_port=free_port(),
        simulator_port=simulator_port,
        simulator_url=http_url("127.0.0.1", simulator_port),
        idempotency_lock_seconds=2,
        resolver_min_age_seconds=3,  # must exceed the PSP read timeout below
        resolver_interval_seconds=0.5,
        psp_read_timeout_seconds=2,
        inbox_max_attempts=4,  # an event about an unknown payment is parked after ~3.5 s
        # Merchant webhooks: a dead endpoint fails for good (and is disabled) after ~3 s.
        webhook_retry_window_seconds=3,
        webhook_backoff_base_seconds=0.2,
        webhook_timeout_seconds=3,
        webhook_poll_seconds=0.2,
        webhook_fanout_ack_wait_seconds=5,
        # Customer actions: an abandoned 3-D Secure or redirect page expires after ~8 s.
        action_expiry_seconds=8,
        action_follow_interval_seconds=0.3,
        vault_port=free_port(),
        vault_internal_port=free_port(),
    ).model_copy(update=overrides)
    embedded = not os.environ.get("PAYPLANE_TEST_DATABASE_URL")
    vault_admin = admin_url(settings, database_url, embedded=embedded)
    prepare_vault(settings, database_url, vault_admin)
    children = child_processes(settings, database_url)
    request.config.stash[_LOG_DIR] = home / "logs"
    try:
        for child in children:
            child.start()
        wait_until_healthy(children)
        merchant = bootstrap.create_merchant(database_url, "E2E merchant", settings)
        yield Platform(
            api_url=http_url(settings.api_host, settings.api_port),
            simulator_url=settings.simulator_base_url,
            simulator_api_key=settings.simulator_api_key,
            database_url=database_url,
            nats_url=nats_url,
            secret_key=merchant["secret_key"],
            merchant_id=merchant["id"],
            publishable_key=merchant["publishable_key"],
            children={child.name: child for child in children},
            log_dir=home / "logs",
            settings=settings,
        )
    finally:
        stop_all([child for child in children if child.pid is not None])


@pytest.fixture(scope="session")
def vault(platform: Platform) -> Any:
    """The platform's card vault (its own process, mTLS internal port, in front of the PSP
    simulator); the platform's merchant's publishable key is registered with it."""
    from tests.e2e.vault_process import vault_of

    return vault_of(platform)


def _ledger_violations(database_url: str) -> dict[tuple[str, str], str]:
    from payplane.adapters.db.ledger_check import check_ledger

    with psycopg.connect(database_url) as conn:
        return {(v.kind, v.subject): v.detail for v in check_ledger(conn)}


@pytest.fixture(autouse=True)
def _ledger_stays_consistent(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that ran the platform, `payplane ledger check` must find nothing:
    the platform's database is its own, so any violation is one this suite made."""
    if "platform" not in request.fixturenames:
        yield
        return
    platform: Platform = request.getfixturevalue("platform")
    yield
    found = _ledger_violations(platform.database_url)
    if found:
        lines = [f"{kind} {subject}: {detail}" for (kind, subject), detail in sorted(found.items())]
        pytest.fail("ledger check found violations:\n" + "\n".join(lines), pytrace=False)
