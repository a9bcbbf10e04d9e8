"""The ledger audit: does the ledger agree with itself, with its cached balances, with the
payments, refunds and disputes it books, and do its suspense accounts hold exactly what the open
reconciliation breaks (remediation items) say?

Every check is set-based SQL, and all of them run as one statement: PostgreSQL evaluates a
statement on one snapshot, so a check run against a live platform never reports the half of a
transaction it has not seen yet (every money movement commits its state and entries together).
The constraints in the schema already refuse most of these breaks; the audit checks them again
because it exists to catch what slipped past (a bad migration, a hand-made fix, a bug in a new
posting), not to trust the guards it audits.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    subject: str  # a journal, payment intent, hold or ledger account (la_<id>)
    detail: str


# Sums are cast to bigint so the driver returns ints rather than Decimals.
_CHECK = """
WITH
accounts AS (
    SELECT id, code, merchant_id, split_part(code, ':', -1) AS purpose FROM ledger_accounts
),
journal_nets AS (
    SELECT journal_id, currency,
           sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END)::bigint AS net
      FROM ledger_entries GROUP BY journal_id, currency
),
-- What each payment's entries left on its own merchant's accounts, in its own currency: an
-- entry booked to another merchant or currency then shows up as missing money here.
payment_nets AS (
    SELECT p.id,
           coalesce(sum(CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END)
                    FILTER (WHERE a.purpose = 'payable'), 0)::bigint AS payable,
           coalesce(sum(CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END)
                    FILTER (WHERE a.purpose = 'authorized'), 0)::bigint AS authorized
      FROM payment_intents p
      JOIN ledger_entries e ON e.payment_intent_id = p.id AND e.currency = p.currency
      JOIN accounts a ON a.id = e.account_id AND a.merchant_id = p.merchant_id
     GROUP BY p.id
),
refund_sums AS (
    SELECT payment_intent_id AS id,
           coalesce(sum(amount) FILTER (WHERE status IN ('pending', 'succeeded')), 0)::bigint
               AS reserved,
           coalesce(sum(amount) FILTER (WHERE booked AND status IN ('pending', 'succeeded')),
                    0)::bigint AS booked
      FROM refunds GROUP BY payment_intent_id
),
withdrawn AS (
    SELECT payment_intent_id AS id, sum(amount)::bigint AS amount
      FROM disputes WHERE funds_withdrawn GROUP BY payment_intent_id
),
holds AS (
    SELECT h.payment_intent_id AS id,
           (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e
              JOIN accounts a ON a.id = e.account_id
             WHERE e.journal_id = h.id AND e.direction = 'credit' AND a.purpose = 'authorized'
           ) AS amount
      FROM ledger_journals h
     WHERE h.hold_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM ledger_journals r WHERE r.resolves_hold_id = h.hold_id)
),
open_holds AS (
    SELECT id, count(*) AS n, sum(amount)::bigint AS amount FROM holds GROUP BY id
),
captures AS (
    SELECT payment_intent_id AS id, count(*) AS n
      FROM ledger_journals WHERE kind = 'capture' GROUP BY payment_intent_id
),
payments AS (
    SELECT p.id, p.status, p.amount_received, p.amount_refunded, p.amount_capturable,
           coalesce(n.payable, 0) AS payable, coalesce(n.authorized, 0) AS authorized,
           coalesce(r.reserved, 0) AS reserved, coalesce(r.booked, 0) AS booked,
           coalesce(w.amount, 0) AS withdrawn,
           coalesce(o.n, 0) AS holds, coalesce(o.amount, 0) AS held,
           coalesce(c.n, 0) AS captures
      FROM payment_intents p
      LEFT JOIN payment_nets n ON n.id = p.id
      LEFT JOIN refund_sums r ON r.id = p.id
      LEFT JOIN withdrawn w ON w.id = p.id
      LEFT JOIN open_holds o ON o.id = p.id
      LEFT JOIN captures c ON c.id = p.id
),
balance_rows AS (
    SELECT account_id, sum(debits)::bigint AS debits, sum(credits)::bigint AS credits
      FROM ledger_account_balances GROUP BY account_id
),
entry_sums AS (
    SELECT account_id,
           coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)::bigint AS debits,
           coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)::bigint AS credits
      FROM ledger_entries GROUP BY account_id
),
-- What the open remediation items say each suspense account holds (reconciliation breaks).
open_suspense AS (
    SELECT 'suspense:' || i.source || ':' || s.currency || ':' || i.type AS code,
           sum(s.net)::bigint AS net
      FROM remediation_items i
     CROSS JOIN LATERAL jsonb_to_recordset(i.suspense) AS s(currency text, net bigint)
     WHERE i.status IN ('open', 'in_review')
     GROUP BY 1
),
suspense_balances AS (
    SELECT a.id, a.code, coalesce(s.debits - s.credits, 0) AS net
      FROM accounts a LEFT JOIN entry_sums s ON s.account_id = a.id
     WHERE a.code LIKE 'suspense:%'
)
SELECT 'journal_unbalanced', journal_id,
       format('%s: debits - credits = %s', currency, net)
  FROM journal_nets WHERE net <> 0
UNION ALL
SELECT 'journal_empty', j.id, format('%s journal without entries', j.kind)
  FROM ledger_journals j
 WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.journal_id = j.id)
UNION ALL
SELECT 'hold_resolved_twice', resolves_hold_id,
       format('resolved by %s', string_agg(id, ', ' ORDER BY id))
  FROM ledger_journals WHERE resolves_hold_id IS NOT NULL
 GROUP BY resolves_hold_id HAVING count(*) > 1
UNION ALL
SELECT 'hold_missing', r.id, format('resolves hold %s, which no journal opened', r.resolves_hold_id)
  FROM ledger_journals r
 WHERE r.resolves_hold_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM ledger_journals h WHERE h.hold_id = r.resolves_hold_id)
UNION ALL
SELECT 'payable_mismatch', id,
       format('payable net %s, expected %s = received %s - booked refunds %s - withdrawn %s',
              payable, amount_received - booked - withdrawn, amount_received, booked, withdrawn)
  FROM payments WHERE payable <> amount_received - booked - withdrawn
UNION ALL
SELECT 'refunded_mismatch', id,
       format('amount_refunded %s, pending and succeeded refunds %s', amount_refunded, reserved)
  FROM payments WHERE amount_refunded <> reserved
UNION ALL
SELECT 'capturable_hold_mismatch', id,
       format('requires_capture with %s unresolved holds of %s, amount_capturable %s',
              holds, held, amount_capturable)
  FROM payments WHERE status = 'requires_capture' AND (holds <> 1 OR held <> amount_capturable)
UNION ALL
SELECT 'unresolved_hold', id, format('%s with %s unresolved holds of %s', status, holds, held)
  FROM payments WHERE status <> 'requires_capture' AND holds > 0
UNION ALL
SELECT 'succeeded_capture_mismatch', id,
       format('succeeded with amount_received %s and %s capture journals',
              amount_received, captures)
  FROM payments WHERE status = 'succeeded' AND (amount_received <= 0 OR captures <> 1)
UNION ALL
SELECT 'received_without_capture', id, format('%s with amount_received %s', status, amount_received)
  FROM payments
 WHERE status IN ('canceled', 'requires_payment_method', 'requires_confirmation')
   AND amount_received <> 0
UNION ALL
SELECT 'authorized_mismatch', id,
       format('authorized account net %s, unresolved holds %s', authorized, held)
  FROM payments WHERE authorized <> held
UNION ALL
SELECT 'balance_mismatch', 'la_' || a.id,
       format('%s: balances debits %s credits %s, entries debits %s credits %s', a.code,
              coalesce(b.debits, 0), coalesce(b.credits, 0),
              coalesce(s.debits, 0), coalesce(s.credits, 0))
  FROM balance_rows b
  FULL JOIN entry_sums s ON s.account_id = b.account_id
  JOIN accounts a ON a.id = coalesce(b.account_id, s.account_id)
 WHERE coalesce(b.debits, 0) <> coalesce(s.debits, 0)
    OR coalesce(b.credits, 0) <> coalesce(s.credits, 0)
UNION ALL
SELECT 'suspense_mismatch', coalesce('la_' || b.id, o.code),
       format('%s: balance %s, open remediation items hold %s', coalesce(b.code, o.code),
              coalesce(b.net, 0), coalesce(o.net, 0))
  FROM suspense_balances b FULL JOIN open_suspense o ON o.code = b.code
 WHERE coalesce(b.net, 0) <> coalesce(o.net, 0)
ORDER BY 1, 2
"""


def check_ledger(conn: psycopg.Connection) -> list[Violation]:
    """Every inconsistency found, sorted by kind and subject; empty when the ledger is sound."""
    rows = conn.execute(_CHECK).fetchall()
    return [Violation(kind, subject, detail) for kind, subject, detail in rows]


def ledger_size(conn: psycopg.Connection) -> tuple[int, int]:
    """(journals, payment intents): what a check covered, to say so when it finds nothing."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM ledger_journals), (SELECT count(*) FROM payment_intents)"
    ).fetchone()
    assert row is not None
    return row[0], row[1]
