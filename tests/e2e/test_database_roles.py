"""The platform's processes hold no owner session: the api and worker log in as payplane_app,
the vault as card_vault, so no process can RESET ROLE its way to the schema owner."""

from __future__ import annotations

from tests.e2e.support import query, stripe_client


def test_platform_processes_log_in_as_their_own_roles(platform) -> None:
    # A request and a confirmed payment: the api's pool and the worker's jobs are in use.
    stripe_client(platform).v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    sessions = query(
        platform,
        "SELECT usename, count(*) AS n FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() GROUP BY usename",
    )
    by_role = {row["usename"]: row["n"] for row in sessions}
    assert by_role.get("payplane_app", 0) >= 2, by_role  # the api's pool and the worker's
    assert set(by_role) <= {"payplane_app", "card_vault"}, by_role
