"""`payplane operators create|list` and `payplane keys create-restricted` on a real database; the
credentials they print work against the API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from access_support import api_client, audit_rows, auth, merchant
from typer.testing import CliRunner

from payplane.cli.main import app
from payplane.config import get_settings


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PAYPLANE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def test_operators_and_restricted_keys_from_the_command_line(
    cli: CliRunner, database_url: str
) -> None:
    merchant_id, _ = merchant(database_url, "cli")
    created = cli.invoke(
        app,
        [
            *("operators", "create", "--merchant", merchant_id, "--email", "Boss@Shop.test"),
            *("--role", "admin", "--role", "operations"),
        ],
    )
    assert created.exit_code == 0, created.output
    operator = json.loads(created.output)
    assert operator["email"] == "boss@shop.test"
    assert operator["roles"] == ["admin", "operations"]
    assert operator["created_by"] == "cli"
    assert operator["token"].startswith("op_")

    key = cli.invoke(
        app,
        [
            *("keys", "create-restricted", "--merchant", merchant_id, "--name", "reports"),
            *("--permission", "refunds=read", "--permission", "events=read"),
        ],
    )
    assert key.exit_code == 0, key.output
    secret = json.loads(key.output)["secret"]
    assert json.loads(key.output)["permissions"] == {"refunds": "read", "events": "read"}

    listed = cli.invoke(
        app, ["operators", "list", "--merchant", merchant_id], env={"COLUMNS": "200"}
    )
    assert listed.exit_code == 0, listed.output
    assert "boss@shop.test" in listed.output
    assert "admin, operations" in listed.output

    with api_client(database_url) as client:
        assert client.get("/v1/operators", headers=auth(operator["token"])).status_code == 200
        assert client.get("/v1/events", headers=auth(secret)).status_code == 200
        assert client.get("/v1/operators", headers=auth(secret)).status_code == 403
    assert [row["actor"] for row in audit_rows(database_url, merchant_id, "operator.create")] == [
        "cli"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["operators", "create", "--email", "a@b.test", "--role", "root"], "Invalid role: 'root'"),
        (["operators", "create", "--email", "nobody", "--role", "support"], "Invalid email"),
        (["keys", "create-restricted", "--name", "k", "--permission", "refunds"], "RESOURCE=LEVEL"),
        (
            ["keys", "create-restricted", "--name", "k", "--permission", "operators=write"],
            "cannot be given the operators permission",
        ),
    ],
)
def test_bad_input_is_refused_with_a_message(
    cli: CliRunner, database_url: str, args: list[str], message: str
) -> None:
    merchant_id, _ = merchant(database_url, "cli bad input")
    result = cli.invoke(app, [*args, "--merchant", merchant_id], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert message in result.output


def test_an_unknown_merchant_is_named(cli: CliRunner) -> None:
    result = cli.invoke(
        app,
        [
            *("operators", "create", "--merchant", "acct_missing", "--email", "a@b.test"),
            *("--role", "support"),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 1
    assert "No such merchant: 'acct_missing'" in result.output
