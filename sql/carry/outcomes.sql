-- carry/outcomes: per item carried in from earlier months (a side's rows of one setl_id), how it ended this
-- month: still held, or matched late (cleared now, with its original settlement month) — or 'lost'.
-- Binds: nothing. Reads: carried (the carried-in rows, `used` false where a new row superseded them),
--        recon_held and recon_rows (this month's categories).
-- Keeps: one row per carried item; an item that is neither held nor matched is 'lost', which carryforward
--        .settle refuses (exit 70) before anything is published. settled_month is the month of the item's
--        settlement time, for held items too.
CREATE OR REPLACE TEMP TABLE carry_outcomes AS
WITH k AS (
    SELECT side, setl_id, min(first_period) AS first_period, count(*) AS carried_records,
           sum(clr_amt) AS carried_clr_amt, count(*) FILTER (WHERE NOT used) AS superseded_records,
           min(strftime(setl_time, '%Y-%m')) AS settled_month
    FROM carried GROUP BY side, setl_id
), h AS (
    SELECT side, setl_id, count(*) AS n FROM recon_held WHERE category <> 'rejected'
    GROUP BY side, setl_id
), m AS (
    SELECT side, setl_id, count(*) AS n, sum(clr_amt) AS clr_amt,
           min(strftime(setl_time, '%Y-%m')) AS settled_month
    FROM recon_rows WHERE category = 'matched' GROUP BY side, setl_id
)
SELECT k.side, k.setl_id, k.first_period, k.carried_records, k.carried_clr_amt,
       CASE WHEN h.n > 0 THEN 'held' WHEN m.n > 0 THEN 'matched_late' ELSE 'lost' END AS outcome,
       coalesce(m.settled_month, k.settled_month) AS settled_month, m.n AS matched_records,
       m.clr_amt AS cleared_clr_amt, k.superseded_records
FROM k LEFT JOIN h ON h.side = k.side AND h.setl_id = k.setl_id
       LEFT JOIN m ON m.side = k.side AND m.setl_id = k.setl_id
