"""`payplane up`: PostgreSQL, migrations, certificates, the card vault's keys and schema, NATS,
then the simulator, vault, api and worker, supervised.

Runs in the foreground until SIGINT/SIGTERM/SIGHUP, restarts a child that dies with backoff, and
on the way out stops the children before NATS and PostgreSQL so none of them sees those vanish.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console
from rich.markup import escape

from payplane.config import Settings
from payplane.runtime.nats import EmbeddedNats
from payplane.runtime.postgres import EmbeddedPostgres
from payplane.runtime.processes import ChildProcess, StartupError, stop_all, wait_until_healthy
from payplane.runtime.vault import admin_url, prepare_vault, vault_env

HEALTH_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
_BACKOFF_FIRST_SECONDS = 1.0
_BACKOFF_MAX_SECONDS = 30.0
# A child that ran this long before dying is treated as healthy again: its backoff starts over.
_STABLE_SECONDS = 60.0
_SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def up(settings: Settings) -> None:
    # Soft wrap keeps URLs and the secret key on one line, copyable, on narrow terminals.
    console = Console(soft_wrap=True)
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"home": home})
    postgres = None if settings.database_url else EmbeddedPostgres(home / "pg", settings.pg_port)
    nats = None if settings.nats_url else EmbeddedNats(home / "nats", settings.nats_port)
    children: list[ChildProcess] = []
    previous_handlers = {sig: signal.signal(sig, _interrupt) for sig in _SHUTDOWN_SIGNALS}
    try:
        database_url = _start_database(console, settings, postgres)

        from payplane import bootstrap

        bootstrap.migrate(database_url)
        console.print("[green]✓[/] migrations    at head")
        vault_admin = admin_url(settings, database_url, embedded=postgres is not None)
        written = prepare_vault(settings, database_url, vault_admin)
        made = f"made {', '.join(written)}" if written else "kept"
        console.print(f"[green]✓[/] certificates  {settings.certs_path} ({made})")
        console.print("[green]✓[/] vault         keys and schema ready")
        if nats is not None:
            # Children learn the embedded server's address through the settings they inherit.
            settings = settings.model_copy(update={"nats_url": nats.start()})
        console.print(f"[green]✓[/] NATS          {redact_password(str(settings.nats_url))}")

        children.extend(child_processes(settings, database_url))
        for child in children:
            child.start()
            console.print(f"[green]✓[/] {child.name:<13} pid {child.pid}, log {child.log_path}")
        wait_until_healthy(children, HEALTH_TIMEOUT_SECONDS)

        merchant = _demo_merchant(settings, database_url)
        _print_summary(console, settings, database_url, merchant)
        _supervise(console, children)
    except StartupError as exc:
        console.print(f"[bold red]payplane up failed:[/] {escape(str(exc))}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        console.print("\nstopping ...")
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave a child or PostgreSQL running.
        for sig in _SHUTDOWN_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        _shutdown(console, children, nats, postgres)
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)


def child_processes(settings: Settings, database_url: str) -> list[ChildProcess]:
    """The simulator, vault, api and worker, configured from `settings` and logging under its
    home. The vault needs prepare_vault() first."""
    env = settings_env(settings, database_url)
    logs = settings.home / "logs"
    simulator_env = {
        **env,
        "PSP_SIMULATOR_HOST": settings.simulator_host,
        "PSP_SIMULATOR_PORT": str(settings.simulator_port),
        "PSP_SIMULATOR_API_KEY": settings.simulator_api_key,
        "PSP_SIMULATOR_DB_PATH": str(settings.home / "psp_simulator.sqlite3"),
        # The simulator signs with the first secret: the current one during a rotation.
        "PSP_SIMULATOR_WEBHOOK_URL": http_url(
            settings.api_host, settings.api_port, "/psp-webhooks/simulator"
        ),
        "PSP_SIMULATOR_WEBHOOK_SECRET": settings.psp_webhook_secrets[0],
    }
    return [
        ChildProcess(
            "psp-simulator",
            [sys.executable, "-m", "psp_simulator"],
            logs / "psp-simulator.log",
            simulator_env,
            health_url=http_url(settings.simulator_host, settings.simulator_port, "/healthz"),
        ),
        ChildProcess(
            "vault",
            [sys.executable, "-m", "card_vault", "serve"],
            logs / "vault.log",
            vault_env(settings, database_url),
            health_url=http_url(settings.vault_host, settings.vault_port, "/healthz"),
        ),
        ChildProcess(
            "api",
            [sys.executable, "-m", "payplane.api"],
            logs / "api.log",
            env,
            health_url=http_url(settings.api_host, settings.api_port, "/healthz"),
        ),
        ChildProcess(
            "worker", [sys.executable, "-m", "payplane.workers"], logs / "worker.log", env
        ),
    ]


def settings_env(settings: Settings, database_url: str) -> dict[str, str]:
    """Every setting as PAYPLANE_* variables, so children see exactly the launcher's settings,
    overrides made in code (CLI options, test fixtures) included."""
    env = {
        # pydantic-settings reads non-string values as JSON, so they are written as JSON.
        f"PAYPLANE_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
        for name, value in settings.model_dump(mode="json").items()
        if value is not None
    }
    env["PAYPLANE_DATABASE_URL"] = database_url
    return env


def http_url(host: str, port: int, path: str = "") -> str:
    """A URL a local client can reach a server bound to `host` at; wildcard binds mean loopback."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - recognising a wildcard bind, not binding one
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def redact_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo.split(':', 1)[0]}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class _Backoff:
    failures: int = 0
    restart_at: float | None = None


def _supervise(console: Console, children: list[ChildProcess]) -> NoReturn:
    backoff = {child.name: _Backoff() for child in children}
    while True:
        now = time.monotonic()
        for child in children:
            state = backoff[child.name]
            if state.restart_at is not None:
                if now >= state.restart_at:
                    state.restart_at = None
                    child.start()
                    console.print(f"[yellow]↻[/] {child.name:<12} restarted, pid {child.pid}")
                continue
            code = child.poll()
            if code is None:
                continue
            # Its grandchildren (uvicorn workers) may still hold the port the restart needs.
            child.kill()
            if now - child.started_at > _STABLE_SECONDS:
                state.failures = 0
            delay = min(_BACKOFF_MAX_SECONDS, _BACKOFF_FIRST_SECONDS * 2**state.failures)
            state.failures += 1
            state.restart_at = now + delay
            console.print(
                f"[red]✗[/] {child.name:<12} exited with code {code}, restarting in {delay:g} s "
                f"(log {child.log_path})"
            )
        time.sleep(0.2)


def _shutdown(
    console: Console,
    children: list[ChildProcess],
    nats: EmbeddedNats | None,
    postgres: EmbeddedPostgres | None,
) -> None:
    started = [child for child in children if child.pid is not None]
    if started:
        stop_all(started, STOP_TIMEOUT_SECONDS)
        console.print(f"stopped {', '.join(child.name for child in started)}")
    if nats is not None and nats.is_running:
        nats.stop()
        console.print("stopped NATS")
    if postgres is not None:
        postgres.stop()
        console.print("stopped PostgreSQL")


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    # SIGTERM and SIGHUP end `up` the same way Ctrl-C does.
    raise KeyboardInterrupt


def _start_database(console: Console, settings: Settings, postgres: EmbeddedPostgres | None) -> str:
    if postgres is None:
        assert settings.database_url is not None
        database_url = settings.database_url
    else:
        console.print(f"starting embedded PostgreSQL in {postgres.data_dir} ...")
        database_url = postgres.start()
    console.print(f"[green]✓[/] PostgreSQL    {redact_password(database_url)}")
    return database_url


def _demo_merchant(settings: Settings, database_url: str) -> dict[str, Any]:
    """The demo merchant, created on the first run only: its secret key cannot be read back later,
    so the file under home is the one place it is kept."""
    from payplane import bootstrap

    path = settings.home / "demo_merchant.json"
    if not path.exists():
        merchant = bootstrap.create_merchant(database_url, name="Demo merchant", settings=settings)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(merchant, file, indent=2)
        return merchant
    loaded: dict[str, Any] = json.loads(path.read_text())
    if "publishable_key" not in loaded:
        # Made before publishable keys existed: the migration gave it one.
        loaded["publishable_key"] = bootstrap.publishable_key(database_url, loaded["id"])
        path.write_text(json.dumps(loaded, indent=2))
    return loaded


def _print_summary(
    console: Console, settings: Settings, database_url: str, merchant: dict[str, Any]
) -> None:
    api = http_url(settings.api_host, settings.api_port)
    secret = merchant["secret_key"]
    publishable = merchant["publishable_key"]
    vault = settings.vault_public_url
    console.print(
        f"""
[bold]Payplane is running[/] (Ctrl-C stops everything)
  API            {api}
  API docs       {api}/docs
  PSP simulator  {http_url(settings.simulator_host, settings.simulator_port)}
  card vault     {vault} (internal, mutual TLS: {settings.vault_internal_base_url})
  database       {escape(redact_password(database_url))}
  NATS           {escape(redact_password(str(settings.nats_url)))}
  logs           {settings.home / "logs"}
  demo merchant  {merchant["id"]}, secret key [bold]{secret}[/]
                 publishable key {publishable}
  card form      {vault}/form?key={publishable}

Create and confirm a payment:
  curl -u {secret}: -d amount=2000 -d currency=usd \\
    -d payment_method=pm_card_visa -d confirm=true {api}/v1/payment_intents
""",
        highlight=False,
    )
