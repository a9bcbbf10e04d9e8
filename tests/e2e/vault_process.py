"""The platform's card vault as the e2e tests see it: its schema on the platform's database,
certificates from `payplane certs init`, the platform's PSP simulator behind it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from card_vault.cli import app as vault_cli
from payplane.runtime.processes import ChildProcess
from payplane.runtime.tls import client_context
from payplane.runtime.vault import vault_env

VISA = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}


@dataclass
class VaultProcess:
    public_url: str
    internal_url: str
    certs: Path
    env: dict[str, str]
    merchant_id: str
    publishable_key: str
    child: ChildProcess

    def internal(self, service: str = "core-api") -> httpx.Client:
        """A client presenting `service`'s certificate from `payplane certs init`."""
        return self.internal_with(client_context(self.certs, service))

    def internal_with(self, context: Any) -> httpx.Client:
        return httpx.Client(base_url=self.internal_url, verify=context, timeout=15)

    def tokenize(self, **card: str) -> dict[str, Any]:
        fields = {f"card[{name}]": value for name, value in (VISA | card).items()}
        response = httpx.post(
            f"{self.public_url}/v1/payment_methods",
            data={"type": "card", **fields},
            headers={"Authorization": f"Bearer {self.publishable_key}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def cli(self, *args: str) -> str:
        """`card-vault ...` with the process's own settings; fails the test on a non-zero exit."""
        result = CliRunner().invoke(vault_cli, list(args), env=self.env)
        assert result.exit_code == 0, result.output
        return result.output


def vault_of(platform: Any) -> VaultProcess:
    """The vault `payplane up` (here, the platform fixture) runs, seen from the tests."""
    settings = platform.settings
    return VaultProcess(
        public_url=settings.vault_public_url,
        internal_url=settings.vault_internal_base_url,
        certs=settings.certs_path,
        env=vault_env(settings, platform.database_url),
        merchant_id=platform.merchant_id,
        publishable_key=platform.publishable_key,
        child=platform.children["vault"],
    )
