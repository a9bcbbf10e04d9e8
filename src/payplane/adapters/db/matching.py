"""The SQL that matches a stored settlement report against Payplane's books, set-based.

Each statement builds one temporary table of the run's working set (dropped at commit or
rollback), in this order:

recon_movements  what Payplane booked on the receivable of the source's connectors: captures
                 (from the ledger), booked refunds, withdrawn chargebacks with their fees and
                 reinstatements; signed like the receivable (+ the PSP owes more).
recon_input      the report's lines but payouts.
recon_lines      every such line, with the object it names (PSP reference first, then
                 the merchant reference), the movement it settles and its break class (NULL:
                 it matches).
recon_payouts    each batch's payout per currency against the sum of its lines.
recon_missing    the movements booked up to the report date that no report has confirmed.
recon_breaks     one row per break: what the item will say and hold in suspense.

Amounts are signed like the receivable; a line "moves" net + commission (its gross).
"""

from __future__ import annotations

# Statuses of an attempt Payplane has no final answer for yet.
OPEN_ATTEMPT = "('pending', 'unknown', 'requires_action', 'awaiting')"

MOVEMENTS = """
CREATE TEMP TABLE recon_movements ON COMMIT DROP AS
SELECT 'capture'::text AS kind, e.payment_intent_id AS id, e.payment_intent_id AS intent_id,
       split_part(a.code, ':', 2) AS connector, e.currency, e.amount AS signed,
       e.created_at AS booked_at
  FROM ledger_entries e
  JOIN ledger_accounts a ON a.id = e.account_id
 WHERE e.entry_type = 'capture' AND e.direction = 'debit'
   AND a.code LIKE 'psp:%%:receivable' AND split_part(a.code, ':', 2) = ANY(%(connectors)s)
UNION ALL
SELECT 'refund', r.id, r.payment_intent_id, r.connector, r.currency, -r.amount,
       to_timestamp(r.created)
  FROM refunds r
 WHERE r.booked AND r.status IN ('pending', 'succeeded') AND r.connector = ANY(%(connectors)s)
UNION ALL
SELECT m.kind, d.id, d.payment_intent_id, d.connector, d.currency, m.signed, m.at
  FROM disputes d
 CROSS JOIN LATERAL (VALUES
        ('chargeback', -d.amount, to_timestamp(d.created)),
        ('chargeback_fee', -d.fee, to_timestamp(d.created)),
        ('chargeback_reversal', d.amount, d.updated_at)) AS m(kind, signed, at)
 WHERE d.connector = ANY(%(connectors)s)
   AND d.status IN ('needs_response', 'under_review', 'lost', 'won')
   AND (m.kind <> 'chargeback_fee' OR d.fee > 0)
   AND (m.kind <> 'chargeback_reversal' OR d.status = 'won')
"""

# The report's lines to match (all but payouts), in a table of the run's own: analyzed, it tells
# the planner how many lines there are, which decides between index lookups and hash joins.
INPUT = """
CREATE TEMP TABLE recon_input ON COMMIT DROP AS
SELECT line_no, type, psp_reference, merchant_reference, payment_method,
       modification_reference, currency, batch_number,
       coalesce(net_credit, 0) - coalesce(net_debit, 0) AS net,
       coalesce(commission, 0) AS commission,
       CASE type WHEN 'Settled' THEN 'capture' WHEN 'Refunded' THEN 'refund'
            WHEN 'Chargeback' THEN 'chargeback' WHEN 'Fee' THEN 'chargeback_fee'
            ELSE 'chargeback_reversal' END AS mv_kind
  FROM settlement_lines WHERE report_id = %(report)s AND type <> 'MerchantPayout'
"""

# The merchant reference is looked up only for lines the PSP reference did not name. The
# expected fee is fixed + gross * bps / 10000 rounded half up, in integers (as the PSP's).
LINES = """
CREATE TEMP TABLE recon_lines ON COMMIT DROP AS
WITH named AS (
    SELECT l.*,
           coalesce(a.payment_intent_id,
                    (SELECT p.id FROM payment_intents p
                      WHERE p.id = l.merchant_reference AND p.connector = ANY(%(connectors)s)))
               AS intent_id,
           r.id AS refund_id, r.status AS refund_status,
           d.id AS dispute_id, d.status AS dispute_status
      FROM recon_input l
      LEFT JOIN payment_attempts a
             ON a.psp_reference = l.psp_reference AND a.kind = 'authorize'
            AND a.status = 'succeeded' AND a.connector = ANY(%(connectors)s)
      LEFT JOIN refunds r
             ON l.mv_kind = 'refund' AND r.psp_reference = l.modification_reference
            AND r.connector = ANY(%(connectors)s)
      LEFT JOIN disputes d
             ON l.mv_kind IN ('chargeback', 'chargeback_fee', 'chargeback_reversal')
            AND d.psp_dispute_id = l.modification_reference AND d.connector = ANY(%(connectors)s)
),
moved AS (
    SELECT n.*,
           CASE n.mv_kind WHEN 'capture' THEN n.intent_id WHEN 'refund' THEN n.refund_id
                ELSE n.dispute_id END AS mv_id
      FROM named n
)
SELECT m.*, mv.id IS NOT NULL AS booked, mv.connector, mv.currency AS mv_currency,
       coalesce(mv.signed, 0) AS expected,
       NULL::integer AS first_line,
       sm.line_no IS NOT NULL AS matched_before,
       mi.id AS missing_item, mi.status AS missing_status,
       (mi.suspense -> 0 ->> 'net')::bigint AS missing_net,
       CASE WHEN m.type = 'Settled'
            THEN coalesce(f.fixed + ((m.net + m.commission) * f.bps + 5000) / 10000, 0)
            ELSE 0 END AS expected_fee,
       NULL::text AS open_attempt,
       NULL::text AS class
  FROM moved m
  LEFT JOIN recon_movements mv ON mv.kind = m.mv_kind AND mv.id = m.mv_id
  LEFT JOIN settlement_matches sm ON sm.movement_kind = m.mv_kind AND sm.movement_id = m.mv_id
  LEFT JOIN remediation_items mi
         ON mi.type = 'missing_in_report' AND mi.status <> 'auto_resolved'
        AND mi.movement_kind = m.mv_kind AND mi.movement_id = m.mv_id
  LEFT JOIN unnest(%(methods)s::text[], %(method_products)s::text[]) AS pm(method, product)
         ON pm.method = m.payment_method
  LEFT JOIN unnest(%(products)s::text[], %(bps)s::bigint[], %(fixed)s::bigint[])
         AS f(product, bps, fixed) ON f.product = coalesce(pm.product, %(card)s)
"""

# Movements more than one line of the report settles: the first one does, the others are
# duplicates. Aggregated apart, on two narrow columns, rather than by a window over every line.
REPEATS = """
UPDATE recon_lines l SET first_line = r.first_line
  FROM (SELECT mv_kind, mv_id, min(line_no) AS first_line FROM recon_lines
         WHERE booked GROUP BY 1, 2 HAVING count(*) > 1) r
 WHERE l.booked AND l.mv_kind = r.mv_kind AND l.mv_id = r.mv_id
"""

OPEN_ATTEMPTS = f"""
UPDATE recon_lines l SET open_attempt = (
    SELECT a.id FROM payment_attempts a
     WHERE a.payment_intent_id = l.intent_id AND a.refund_id IS NULL
       AND a.kind IN ('authorize', 'capture') AND a.status IN {OPEN_ATTEMPT}
     ORDER BY a.created_at DESC LIMIT 1)
 WHERE l.type = 'Settled' AND NOT l.booked AND l.intent_id IS NOT NULL
"""

_UNMATCHED = (
    "NOT booked OR matched_before OR line_no <> first_line "
    "OR missing_status IN ('resolved', 'written_off') "
    "OR mv_currency <> currency OR expected <> net + commission"
)

CLASSIFY = f"""
UPDATE recon_lines SET class = CASE
    WHEN booked AND (matched_before OR line_no <> first_line) THEN 'duplicate_in_report'
    WHEN booked AND missing_status IN ('resolved', 'written_off') THEN 'status_mismatch'
    WHEN booked AND mv_currency <> currency THEN 'currency_mismatch'
    WHEN booked THEN 'amount_mismatch'
    WHEN type = 'Settled' AND open_attempt IS NOT NULL THEN 'missing_internally'
    WHEN type = 'Settled' AND intent_id IS NOT NULL THEN 'status_mismatch'
    WHEN type = 'Refunded' AND refund_id IS NOT NULL THEN 'status_mismatch'
    WHEN type IN ('Chargeback', 'Fee') AND dispute_id IS NULL THEN 'unexpected_chargeback'
    WHEN dispute_id IS NOT NULL THEN 'status_mismatch'
    ELSE 'missing_internally' END
 WHERE {_UNMATCHED}
"""

PAYOUTS = """
CREATE TEMP TABLE recon_payouts ON COMMIT DROP AS
WITH nets AS (
    SELECT batch_number, currency, sum(net)::bigint AS net, count(*) AS lines
      FROM recon_lines GROUP BY 1, 2
),
payouts AS (
    SELECT batch_number, currency, min(line_no) AS line_no,
           sum(coalesce(net_debit, 0) - coalesce(net_credit, 0))::bigint AS payout
      FROM settlement_lines
     WHERE report_id = %(report)s AND type = 'MerchantPayout' GROUP BY 1, 2
)
SELECT batch_number, currency, coalesce(n.net, 0) AS net, coalesce(n.lines, 0) AS lines,
       p.payout, p.line_no, coalesce(n.net, 0) - coalesce(p.payout, 0) AS diff
  FROM nets n FULL JOIN payouts p USING (batch_number, currency)
"""

MISSING = """
CREATE TEMP TABLE recon_missing ON COMMIT DROP AS
SELECT mv.* FROM recon_movements mv
 WHERE mv.booked_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
   AND NOT EXISTS (SELECT 1 FROM settlement_matches sm
                    WHERE sm.movement_kind = mv.kind AND sm.movement_id = mv.id)
   AND NOT EXISTS (SELECT 1 FROM recon_lines l
                    WHERE l.booked AND l.mv_kind = mv.kind AND l.mv_id = mv.id)
   AND NOT EXISTS (SELECT 1 FROM remediation_items i
                    WHERE i.type = 'missing_in_report' AND i.status <> 'auto_resolved'
                      AND i.movement_kind = mv.kind AND i.movement_id = mv.id)
   -- Booked since a report had it while it was still in doubt: that line settles it
   -- (RemediationService.ask_psp resolves the item), it is not missing.
   AND NOT EXISTS (SELECT 1 FROM remediation_items i
                    WHERE i.type = 'missing_internally' AND i.status IN ('open', 'in_review')
                      AND i.movement_kind = mv.kind AND i.movement_id = mv.id)
"""

# What a break leaves in suspense: what Payplane booked for it (only when the line is its
# movement's, in its currency) minus what the PSP says moved; a currency mismatch also moves
# Payplane's side there, in Payplane's currency.
_LINE_SUSPENSE = """
CASE WHEN l.class = 'currency_mismatch' THEN jsonb_build_array(
          jsonb_build_object('currency', l.currency, 'net', -(l.net + l.commission)),
          jsonb_build_object('currency', l.mv_currency, 'net', l.expected))
     ELSE jsonb_build_array(jsonb_build_object(
          'currency', l.currency,
          'net', CASE WHEN l.class = 'amount_mismatch' THEN l.expected ELSE 0 END
                 - (l.net + l.commission))) END
"""

_LINE_EXPLANATION = """
CASE l.class
 WHEN 'duplicate_in_report' THEN
    CASE WHEN l.matched_before
         THEN format('An earlier report already settled this %%s of %%s.', l.mv_kind, l.mv_id)
         ELSE format('Line %%s of this report already settles this %%s of %%s.',
                     l.first_line, l.mv_kind, l.mv_id) END
    || CASE WHEN l.type = 'Settled' THEN ' The PSP captured the payment twice: a refund of the '
            || 'duplicate to the customer is proposed and needs approval.' ELSE '' END
 WHEN 'amount_mismatch' THEN format(
    'The PSP reports %%s; Payplane booked %%s (minor units of %%s).',
    l.net + l.commission, l.expected, l.currency)
 WHEN 'currency_mismatch' THEN format(
    'The PSP reports it in %%s; Payplane booked it in %%s.', upper(l.currency),
    upper(l.mv_currency))
 WHEN 'missing_internally' THEN
    CASE WHEN l.open_attempt IS NOT NULL
         THEN format('Payplane has no capture of %%s yet: its attempt %%s is still open. The '
                     || 'PSP is asked for the outcome.', l.intent_id, l.open_attempt)
         ELSE format('The report names a %%s Payplane never recorded (PSP reference %%s, '
                     || 'merchant reference %%s, modification %%s).', l.type, l.psp_reference,
                     l.merchant_reference, l.modification_reference) END
 WHEN 'unexpected_chargeback' THEN format(
    'A %%s line for dispute %%s, of which Payplane knows nothing.', l.type,
    l.modification_reference)
 ELSE
    CASE WHEN l.booked THEN format(
              'This %%s was reported missing and its item closed (%%s) before the PSP settled '
              || 'it.', l.mv_kind, l.missing_status)
         WHEN l.type = 'Settled' THEN format(
              'The PSP settled a capture of %%s; Payplane has the payment as %%s.',
              l.intent_id, p.status)
         WHEN l.type = 'Refunded' THEN format(
              'The PSP reports refund %%s as refunded; Payplane has it as %%s.', l.refund_id,
              l.refund_status)
         ELSE format('The PSP reports a %%s for dispute %%s; Payplane has it as %%s.', l.type,
              l.dispute_id, l.dispute_status) END
END
"""

BREAKS = f"""
CREATE TEMP TABLE recon_breaks ON COMMIT DROP AS
SELECT l.class AS type, p.merchant_id, l.intent_id, l.mv_kind, l.mv_id, l.line_no,
       l.type AS line_type, l.batch_number, l.psp_reference, l.merchant_reference,
       l.modification_reference, l.net + l.commission AS amount, l.currency,
       CASE WHEN l.booked THEN l.expected END AS expected_amount,
       CASE WHEN l.booked THEN l.mv_currency END AS expected_currency,
       {_LINE_SUSPENSE} AS suspense,
       CASE WHEN l.class = 'missing_internally' THEN l.open_attempt END AS attempt_id,
       CASE WHEN l.class = 'duplicate_in_report' AND l.type = 'Settled'
                 AND l.intent_id IS NOT NULL
            THEN jsonb_build_object('action', 'refund', 'payment_intent', l.intent_id,
                                    'amount', l.net + l.commission, 'currency', l.currency,
                                    'status', 'needs_approval') END AS proposal,
       {_LINE_EXPLANATION} AS explanation
  FROM recon_lines l LEFT JOIN payment_intents p ON p.id = l.intent_id
 WHERE l.class IS NOT NULL
UNION ALL
SELECT 'payout_mismatch', NULL, NULL, NULL, NULL, line_no, 'MerchantPayout', batch_number,
       NULL, NULL, NULL, payout, currency, net, currency,
       jsonb_build_array(jsonb_build_object('currency', currency, 'net', diff)), NULL, NULL,
       CASE WHEN payout IS NULL
            THEN format('Batch %%s has no %%s payout line; its lines add up to %%s.',
                        batch_number, upper(currency), net)
            ELSE format('The %%s payout of batch %%s is %%s; its lines add up to %%s.',
                        upper(currency), batch_number, payout, net) END
  FROM recon_payouts WHERE diff <> 0
UNION ALL
SELECT 'missing_in_report', p.merchant_id, mv.intent_id, mv.kind, mv.id, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, mv.signed, mv.currency,
       jsonb_build_array(jsonb_build_object('currency', mv.currency, 'net', mv.signed)), NULL,
       NULL,
       format('Payplane booked this %%s on %%s; no settlement report up to %%s has it.', mv.kind,
              (mv.booked_at AT TIME ZONE 'UTC')::date, %(day)s::date)
  FROM recon_missing mv LEFT JOIN payment_intents p ON p.id = mv.intent_id
"""

# Every effect on an account, debits positive: (batch, currency, role, key, net). A matched
# line's receivable is settled; a timing break it ends gets its missing_in_report suspense back
# on the receivable; a payout's gap leaves clearing for suspense; movements no report has
# confirmed move from the receivable to suspense (batch NULL).
LEGS = """
WITH line AS (
    SELECT batch_number, currency, mv_currency, connector, class,
           sum(net) AS net, sum(expected_fee) AS fees, sum(commission) AS commission,
           sum(CASE WHEN booked AND (class IS NULL OR class = 'amount_mismatch')
                    THEN expected ELSE 0 END) AS settled,
           sum(CASE WHEN class = 'currency_mismatch' THEN expected ELSE 0 END) AS foreign_side,
           sum(CASE WHEN missing_status IN ('open', 'in_review') AND booked
                     AND (class IS NULL OR class IN ('amount_mismatch', 'currency_mismatch'))
                    THEN missing_net ELSE 0 END) AS timing
      FROM recon_lines GROUP BY 1, 2, 3, 4, 5
),
legs AS (
    SELECT batch_number, currency, 'clearing' AS role, '' AS key, net FROM line
    UNION ALL
    SELECT batch_number, currency, 'fees', '', fees FROM line
    UNION ALL
    SELECT batch_number, currency, 'fee_variance', '', commission - fees FROM line
    UNION ALL
    SELECT batch_number, currency, 'receivable', connector, -settled FROM line
    UNION ALL
    SELECT batch_number, mv_currency, 'receivable', connector, -foreign_side FROM line
    UNION ALL
    SELECT batch_number, mv_currency, 'receivable', connector, timing FROM line
    UNION ALL
    SELECT batch_number, mv_currency, 'suspense', 'missing_in_report', -timing FROM line
    UNION ALL
    SELECT batch_number, currency, 'clearing', '', -diff FROM recon_payouts
    UNION ALL
    SELECT NULL, currency, 'receivable', connector, -signed FROM recon_missing
    UNION ALL
    SELECT b.batch_number, s.currency, 'suspense', b.type, s.net
      FROM recon_breaks b CROSS JOIN LATERAL jsonb_to_recordset(b.suspense)
           AS s(currency text, net bigint)
)
SELECT batch_number, currency, role, key, sum(net)::bigint AS net
  FROM legs GROUP BY 1, 2, 3, 4 HAVING sum(net) <> 0
 ORDER BY 1 NULLS LAST, 2, 3, 4
"""

# Amounts are per currency: matched lines' gross (absolute), breaks' suspense nets.
SUMMARY = """
WITH matched AS (
    SELECT currency, count(*) AS n, sum(abs(net + commission))::bigint AS amount
      FROM recon_lines WHERE class IS NULL GROUP BY currency
),
break_legs AS (
    SELECT b.type, s.currency, count(*) AS n, sum(s.net)::bigint AS amount
      FROM recon_breaks b CROSS JOIN LATERAL jsonb_to_recordset(b.suspense)
           AS s(currency text, net bigint)
     GROUP BY 1, 2
),
breaks AS (
    SELECT type, (SELECT count(*) FROM recon_breaks r WHERE r.type = l.type) AS n,
           jsonb_object_agg(currency, amount ORDER BY currency) AS amounts
      FROM break_legs l GROUP BY type
),
batches AS (
    SELECT batch_number, currency, lines, net, payout, net - diff AS clearing
      FROM recon_payouts
)
SELECT jsonb_build_object(
    'lines', (SELECT count(*) FROM settlement_lines WHERE report_id = %(report)s),
    'matched', jsonb_build_object(
        'count', (SELECT coalesce(sum(n), 0) FROM matched),
        'amounts', (SELECT coalesce(jsonb_object_agg(currency, amount ORDER BY currency), '{}')
                      FROM matched)),
    'breaks', (SELECT coalesce(jsonb_object_agg(type, jsonb_build_object('count', n,
                      'amounts', amounts) ORDER BY type), '{}') FROM breaks),
    'timing_resolved', (SELECT count(DISTINCT missing_item) FROM recon_lines
                         WHERE missing_status IN ('open', 'in_review') AND booked
                           AND (class IS NULL
                                OR class IN ('amount_mismatch', 'currency_mismatch'))),
    'batches', (SELECT coalesce(jsonb_agg(to_jsonb(b) ORDER BY b.batch_number, b.currency),
                                '[]') FROM batches b)
) AS summary
"""
