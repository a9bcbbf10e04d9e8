"""Helpers for the reconciliation tests: books written through the real repositories under a
private connector (so other tests' payments never show up in a run), settlement reports in the
simulator's CSV format, and the reconciliation service on the processes' own pool."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import psycopg
from pg_support import app_pool, new_merchant

from payplane.adapters.db.ledger_check import check_ledger
from payplane.adapters.db.uow import PgUnitOfWork, PgUnitOfWorkFactory
from payplane.domain import ledger
from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.domain.dispute import Dispute, DisputeStatus
from payplane.domain.ids import new_id
from payplane.domain.ledger import Hold
from payplane.domain.money import Money
from payplane.domain.payment_intent import CaptureMethod, PaymentIntent, Status
from payplane.domain.refund import Refund, RefundStatus
from payplane.domain.settlement import HEADER
from payplane.services.connectors import Connectors
from payplane.services.ports import PspOutcome, PspResult, RequestContext
from payplane.services.reconciliation import ReconciliationService, RunOutcome
from payplane.services.reconciliation_ports import FeeRate, Source
from payplane.services.remediation import OPERATOR_SCOPE, RemediationService
from payplane.services.runner import AttemptRunner

T = TypeVar("T")
TODAY = datetime.now(UTC).date()
FEES = {
    "card": FeeRate(140, 25),
    "wallet": FeeRate(290, 30),
    "bank_redirect": FeeRate(0, 29),
    "bank_debit": FeeRate(0, 35),
}


def card_fee(amount: int) -> int:
    return 25 + (amount * 140 + 5000) // 10000


def decimal(amount: int, currency: str = "usd") -> str:
    exponent = {"jpy": 0, "kwd": 3}.get(currency, 2)
    if exponent == 0:
        return str(amount)
    return f"{amount // 10**exponent}.{amount % 10**exponent:0{exponent}d}"


@dataclass
class Line:
    """One report line; amounts in minor units (rendered as the simulator renders them)."""

    type: str
    psp_reference: str = ""
    merchant_reference: str = ""
    modification_reference: str = ""
    amount: int = 0  # the movement's gross (Fee: the fee)
    currency: str = "usd"
    commission: int | None = None  # Settled: default the card schedule's fee
    batch: int = 1
    payment_method: str = "visa"


def report(lines: list[Line], payouts: dict[tuple[int, str], int] | None = None) -> bytes:
    """The CSV of `lines` plus one MerchantPayout per batch and currency, whose amount is the
    sum of the lines' nets unless `payouts` says otherwise."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    nets: dict[tuple[int, str], int] = {}
    for line in lines:
        cur, up = line.currency, line.currency.upper()
        gross_debit = gross_credit = net_debit = net_credit = commission = ""
        if line.type == "Settled":
            fee = card_fee(line.amount) if line.commission is None else line.commission
            gross_credit, commission = decimal(line.amount, cur), decimal(fee, cur)
            net_credit = decimal(line.amount - fee, cur)
            net = line.amount - fee
        elif line.type == "ChargebackReversed":
            gross_credit = net_credit = decimal(line.amount, cur)
            net = line.amount
        elif line.type == "Fee":
            net_debit = decimal(line.amount, cur)
            net = -line.amount
        else:
            gross_debit = net_debit = decimal(line.amount, cur)
            net = -line.amount
        nets[(line.batch, cur)] = nets.get((line.batch, cur), 0) + net
        writer.writerow(
            [
                "PayplaneSim", "PayplaneSimMerchant", line.psp_reference,
                line.merchant_reference, line.payment_method, "2025-01-01 10:00:00", "UTC",
                line.type, line.modification_reference, up if line.type != "Fee" else "",
                gross_debit, gross_credit, "1", up, net_debit, net_credit, commission,
                str(line.batch),
            ]
        )  # fmt: skip
    for batch, cur in sorted(set(nets) | set(payouts or {})):
        paid = (payouts or {}).get((batch, cur), nets.get((batch, cur), 0))
        writer.writerow(
            [
                "PayplaneSim", "PayplaneSimMerchant", "", "", "", "2025-01-01 23:59:59", "UTC",
                "MerchantPayout", f"payout_{batch}", "", "", "", "1", cur.upper(),
                decimal(paid, cur) if paid >= 0 else "", "" if paid >= 0 else decimal(-paid, cur),
                "", str(batch),
            ]
        )  # fmt: skip
    return buffer.getvalue().encode()


class FakeReports:
    def __init__(self) -> None:
        self.by_day: dict[date, bytes] = {}

    async def fetch(self, day: date) -> bytes:
        return self.by_day[day]


class FakeConnector:
    """Answers lookups (the only PSP call reconciliation makes) as told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.methods: dict[str, Any] = {}
        self.lookups: dict[str, PspResult] = {}

    async def lookup(self, idempotency_key: str) -> PspResult:
        return self.lookups.get(idempotency_key, PspResult(PspOutcome.UNKNOWN))


@dataclass
class Captured:
    intent: str
    psp_reference: str
    amount: int
    currency: str


@dataclass
class Books:
    """A merchant's payments on a private connector, and a source whose report covers it."""

    database_url: str
    merchant: str = ""
    connector: str = field(default_factory=lambda: new_id("rc", 10).lower())
    reports: FakeReports = field(default_factory=FakeReports)
    intents: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.merchant = new_merchant(self.database_url, "reconciliation")
        self.psp = FakeConnector(self.connector)

    @property
    def source(self) -> Source:
        return Source(self.connector, (self.connector,), self.reports)

    def _uow(self, work: Callable[[PgUnitOfWork], Awaitable[T]]) -> T:
        async def main() -> T:
            async with app_pool(self.database_url, size=1) as pool, PgUnitOfWork(pool) as uow:
                result = await work(uow)
                await uow.commit()
                return result

        return asyncio.run(main())

    def _intent(self, amount: int, currency: str, status: Status, **kw: Any) -> PaymentIntent:
        intent = PaymentIntent(
            new_id("pi"), self.merchant, amount, currency, status, CaptureMethod.AUTOMATIC,
            int(datetime.now(UTC).timestamp()), connector=self.connector, **kw,
        )  # fmt: skip
        self.intents.append(intent.id)
        return intent

    def _attempt(self, intent: PaymentIntent, status: AttemptStatus, psp: str | None) -> Attempt:
        attempt_id = new_id("att")
        return Attempt(
            attempt_id, intent.id, self.merchant, AttemptKind.AUTHORIZE, status, self.connector,
            attempt_id, intent.amount, intent.currency, payment_method="pm_card_visa",
            capture=True, psp_reference=psp, charge_id=new_id("ch"),
        )  # fmt: skip

    def capture(self, amount: int = 1000, currency: str = "usd") -> Captured:
        """A payment captured at once, with its authorization and capture journals."""
        intent = self._intent(amount, currency, Status.SUCCEEDED, amount_received=amount)
        psp = new_id("psp")
        attempt = self._attempt(intent, AttemptStatus.SUCCEEDED, psp)

        async def work(uow: PgUnitOfWork) -> None:
            await uow.intents.add(intent)
            await uow.attempts.add(attempt)
            hold = Hold(attempt.id, self.merchant, self.connector, Money(amount, currency))
            await uow.ledger.post(ledger.authorization(hold, intent.id))
            await uow.ledger.post(ledger.capture(hold, intent.id, hold.money))

        self._uow(work)
        return Captured(intent.id, psp, amount, currency)

    def in_doubt(self, amount: int = 1000) -> tuple[Captured, Attempt]:
        """A payment whose authorize-and-capture call got no answer (status unknown)."""
        intent = self._intent(amount, "usd", Status.PROCESSING)
        attempt = self._attempt(intent, AttemptStatus.UNKNOWN, None)

        async def work(uow: PgUnitOfWork) -> None:
            await uow.intents.add(intent)
            await uow.attempts.add(attempt)

        self._uow(work)
        return Captured(intent.id, "", amount, "usd"), attempt

    def canceled(self, amount: int = 1000) -> Captured:
        intent = self._intent(amount, "usd", Status.CANCELED)
        psp = new_id("psp")
        attempt = self._attempt(intent, AttemptStatus.SUCCEEDED, psp)

        async def work(uow: PgUnitOfWork) -> None:
            await uow.intents.add(intent)
            await uow.attempts.add(attempt)
            hold = Hold(attempt.id, self.merchant, self.connector, Money(amount, "usd"))
            await uow.ledger.post(ledger.authorization(hold, intent.id))
            await uow.ledger.post(ledger.void(hold, intent.id))

        self._uow(work)
        return Captured(intent.id, psp, amount, "usd")

    def refund(self, payment: Captured, amount: int, status: RefundStatus) -> str:
        """A refund the PSP accepted (psr id returned); booked unless it failed or was canceled."""
        psr = new_id("psr")
        holds = status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED)
        refund = Refund(
            new_id("re"), self.merchant, payment.intent, amount, payment.currency, status,
            self.connector, int(datetime.now(UTC).timestamp()), psp_reference=psr, booked=holds,
        )  # fmt: skip

        async def work(uow: PgUnitOfWork) -> None:
            intent = await uow.intents.get(None, payment.intent, lock=True)
            await uow.refunds.add(refund)
            if holds:
                intent.amount_refunded += amount
                await uow.intents.save(intent)
                await uow.ledger.post(
                    ledger.refund(
                        self.merchant, self.connector, payment.intent, Money(amount, "usd")
                    )
                )

        self._uow(work)
        return psr

    def chargeback(self, payment: Captured, fee: int = 1500, *, won: bool = False) -> str:
        """A chargeback with funds withdrawn (and reinstated if `won`): the dispute and its
        journals."""
        psd = new_id("psd")
        dispute = Dispute(
            new_id("dp"), self.merchant, payment.intent, payment.amount, payment.currency,
            "fraudulent", DisputeStatus.WON if won else DisputeStatus.NEEDS_RESPONSE,
            self.connector, psd, 1, int(datetime.now(UTC).timestamp()), fee=fee,
            funds_withdrawn=not won,
        )  # fmt: skip

        async def work(uow: PgUnitOfWork) -> None:
            await uow.disputes.add(dispute)
            money = Money(payment.amount, payment.currency)
            await uow.ledger.post(
                ledger.chargeback(
                    self.merchant, self.connector, payment.intent, money,
                    Money(fee, payment.currency),
                )
            )  # fmt: skip
            if won:
                await uow.ledger.post(
                    ledger.chargeback_reversal(self.merchant, self.connector, payment.intent, money)
                )

        self._uow(work)
        return psd

    def service(self, pool: Any, clock: Any = None) -> ReconciliationService:
        uow = PgUnitOfWorkFactory(pool)
        clock = clock or _Clock()
        runner = AttemptRunner(
            uow, Connectors([self.psp]), clock, lock_seconds=5, capture_window=3600
        )
        return ReconciliationService(
            uow, [self.source], RemediationService(runner), clock, fees=FEES, lock_seconds=5
        )

    def reconcile(self, day: date = TODAY, **kw: Any) -> RunOutcome:
        return self.with_service(lambda svc: svc.reconcile(self.source, day, CTX, **kw))

    def with_service(
        self, work: Callable[[ReconciliationService], Awaitable[T]], clock: Any = None
    ) -> T:
        async def main() -> T:
            async with app_pool(self.database_url, size=2) as pool:
                return await work(self.service(pool, clock))

        return asyncio.run(main())

    def violations(self) -> list[str]:
        """`payplane ledger check` findings about this merchant's payments and this source's
        accounts (the shared database holds other tests' deliberate breaks)."""
        with psycopg.connect(self.database_url) as conn:
            accounts = {
                f"la_{account_id}"
                for (account_id,) in conn.execute(
                    "SELECT id FROM ledger_accounts WHERE merchant_id = %s OR code LIKE %s "
                    "OR code LIKE %s",
                    (self.merchant, f"psp:{self.connector}:%", f"suspense:{self.connector}:%"),
                )
            }
            mine = accounts | set(self.intents)
            return [
                f"{v.kind} {v.subject}: {v.detail}" for v in check_ledger(conn) if v.subject in mine
            ]

    def balances(self) -> dict[str, int]:
        """Debits minus credits of this source's accounts (and its connector's receivables)."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT a.code, coalesce(sum(b.debits - b.credits), 0)::bigint "
                "FROM ledger_accounts a LEFT JOIN ledger_account_balances b "
                "ON b.account_id = a.id WHERE a.code LIKE %s OR a.code LIKE %s GROUP BY a.code",
                (f"psp:{self.connector}:%", f"suspense:{self.connector}:%"),
            ).fetchall()
        return {code: net for code, net in rows if net}


class _Clock:
    def now(self) -> int:
        return int(datetime.now(UTC).timestamp())


CTX = RequestContext(OPERATOR_SCOPE, "test:operator", new_id("req"))


def breaks_by_type(outcome: RunOutcome) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in outcome.breaks:
        found.setdefault(item["type"], []).append(item)
    return found


def counts(database_url: str) -> dict[str, int]:
    tables = (
        "settlement_reports", "settlement_lines", "reconciliation_runs", "settlement_matches",
        "remediation_items", "ledger_journals", "ledger_entries", "audit_log",
    )  # fmt: skip
    with psycopg.connect(database_url) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]  # noqa: S608
            for t in tables
        }
