"""The embedded PostgreSQL starts, serves TCP, keeps data across restarts and stops completely."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import psycopg
import pytest

from payplane.runtime.postgres import EmbeddedPostgres, bin_path
from payplane.runtime.processes import free_port


def _server_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if str(pgdata) in (process.info["cmdline"] or []):
            found.append(process)
    return found


@pytest.fixture
def server(tmp_path: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(tmp_path / "pg", free_port())


def test_survives_stop_and_start_with_data_intact(server: EmbeddedPostgres) -> None:
    url = server.start()
    try:
        assert server.is_running
        with psycopg.connect(url) as conn:
            # The URL goes through the unix socket (no server address), TCP still answers.
            assert conn.execute("SELECT inet_server_addr()").fetchone() == (None,)
            conn.execute("CREATE TABLE kept (note text)")
        tcp_url = f"postgresql://payplane@127.0.0.1:{server.port}/payplane"
        with psycopg.connect(tcp_url) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
            conn.execute("INSERT INTO kept VALUES ('survives a restart')")

        server.stop()
        assert not server.is_running
        assert _server_processes(server.pgdata) == []

        assert server.start() == url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [("survives a restart",)]
    finally:
        server.stop()
    assert _server_processes(server.pgdata) == []


def test_start_reuses_a_running_server_and_recovers_from_a_killed_one(
    server: EmbeddedPostgres,
) -> None:
    server.start()
    try:
        first_pid = _server_processes(server.pgdata)[0].pid
        # A second supervisor over the same directory, as after `payplane up` was SIGKILLed.
        second = EmbeddedPostgres(server.data_dir, server.port)
        second.start()
        assert [p.pid for p in _server_processes(server.pgdata)] == [first_pid]

        postmaster = psutil.Process(first_pid)
        postmaster.kill()
        while postmaster.is_running() and postmaster.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
        assert not server.is_running

        url = server.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("payplane",)
    finally:
        server.stop()
    assert _server_processes(server.pgdata) == []


def test_bin_path_finds_the_client_programs() -> None:
    for name in ("psql", "pg_dump", "pgbench"):
        assert bin_path(name).is_file()
    with pytest.raises(FileNotFoundError):
        bin_path("no-such-program")
