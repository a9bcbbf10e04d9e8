"""A private platform for one benchmark run: embedded PostgreSQL, simulator, vault, api, worker,
and embedded NATS when asked for (the event benchmark; the worker's relay needs it).

Started from the same pieces as `payplane up` and the e2e suite (EmbeddedPostgres, EmbeddedNats,
child_processes, wait_until_healthy), in the same order (PostgreSQL and migrations, NATS, then
the children), in a temp dir that is removed again on the way out.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from payplane.config import Settings
from payplane.runtime.launcher import child_processes, http_url
from payplane.runtime.nats import EmbeddedNats
from payplane.runtime.postgres import EmbeddedPostgres
from payplane.runtime.processes import ChildProcess, free_port, stop_all, wait_until_healthy
from payplane.runtime.vault import admin_url, prepare_vault

HEALTH_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class Platform:
    home: Path
    postgres: EmbeddedPostgres
    database_url: str
    settings: Settings
    api_url: str
    simulator_url: str
    secret_key: str
    merchant_id: str
    children: dict[str, ChildProcess] = field(default_factory=dict)
    nats: EmbeddedNats | None = None

    @property
    def admin_url(self) -> str:
        """The superuser connection (the postgres database), for CREATE DATABASE and stats."""
        return f"postgresql://postgres@127.0.0.1:{self.postgres.port}/postgres"

    def pid(self, name: str) -> int:
        pid = self.children[name].pid
        assert pid is not None, f"{name} is not running"
        return pid

    def postmaster_pid(self) -> int:
        return int((self.postgres.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])

    def nats_pid(self) -> int:
        assert self.nats is not None, "the platform runs without NATS"
        return int(self.nats.pid_path.read_text().strip())

    def server_version(self) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        assert row is not None
        return str(row[0])


@contextlib.contextmanager
def running_platform(
    api_workers: int,
    say: Callable[[str], None] = print,
    keep_logs: Path | None = None,
    *,
    with_nats: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[Platform]:
    """Everything up and healthy with one merchant; everything stopped and deleted afterwards,
    also on errors and Ctrl-C. `overrides` are further Settings fields (as `payplane up` would
    take them from PAYPLANE_* variables); the children inherit them."""
    from payplane import bootstrap

    home = Path(tempfile.mkdtemp(prefix="payplane-bench-"))
    postgres = EmbeddedPostgres(home / "pg", free_port())
    nats = EmbeddedNats(home / "nats", free_port()) if with_nats else None
    children: list[ChildProcess] = []
    try:
        say(f"starting embedded PostgreSQL in {postgres.data_dir} ...")
        database_url = postgres.start()
        bootstrap.migrate(database_url)
        simulator_port = free_port()
        settings = Settings(
            home=home,
            database_url=database_url,
            api_port=free_port(),
            api_workers=api_workers,
            simulator_port=simulator_port,
            simulator_url=http_url("127.0.0.1", simulator_port),
            vault_port=free_port(),
            vault_internal_port=free_port(),
            **dict(overrides or {}),
        )
        prepare_vault(settings, database_url, admin_url(settings, database_url, embedded=True))
        if nats is not None:
            # As `payplane up` does: NATS before the children, which get its URL via settings.
            say(f"starting embedded NATS (JetStream) in {nats.store_dir} ...")
            settings = settings.model_copy(update={"nats_url": nats.start()})
        children.extend(child_processes(settings, database_url))
        for child in children:
            child.start()
        say(f"starting {', '.join(c.name for c in children)} (api workers: {api_workers}) ...")
        wait_until_healthy(children, HEALTH_TIMEOUT_SECONDS)
        # Latency 0 and no faults is the simulator's default; say so explicitly anyway.
        httpx.post(settings.simulator_base_url + "/admin/reset", timeout=10).raise_for_status()
        merchant = bootstrap.create_merchant(database_url, name="Bench merchant")
        yield Platform(
            home=home,
            postgres=postgres,
            database_url=database_url,
            settings=settings,
            api_url=http_url(settings.api_host, settings.api_port),
            simulator_url=settings.simulator_base_url,
            secret_key=merchant["secret_key"],
            merchant_id=merchant["id"],
            children={child.name: child for child in children},
            nats=nats,
        )
    finally:
        # Children first, then NATS and PostgreSQL, so none of them sees those vanish.
        started = [child for child in children if child.pid is not None]
        if started:
            stop_all(started, STOP_TIMEOUT_SECONDS)
        if nats is not None:
            nats.stop()
        postgres.stop()
        if keep_logs is not None:
            _copy_logs(home, keep_logs)
            say(f"platform logs copied to {keep_logs}")
        shutil.rmtree(home, ignore_errors=True)


def _copy_logs(home: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for log in [
        *(home / "logs").glob("*.log"),
        home / "pg" / "postgres.log",
        home / "nats" / "nats.log",
    ]:
        if log.is_file():
            shutil.copyfile(log, target / log.name)
