-- clearing/net_positions: per clearing unit, receivable (as care unit), payable (as insured unit) and net, from the
-- cross-unit pairs only; with the prepaid fund when one was given (contract §4).
-- Binds: nothing. Reads: pair_totals, prepaid (empty when no --prepaid).
-- Keeps: net = receivable - payable; Σ net = 0 (checked in clearing.py before anything is written);
--        closing_balance = opening_balance + net; topup_due = what brings closing back to the warning line,
--        0.00 when none; NULL prepaid columns mean the unit has no prepaid account in the file given.
--        Units that appear only in the prepaid file are listed with zero flows.
CREATE OR REPLACE TEMP TABLE net_positions AS
WITH flows AS (
    SELECT care_unit AS unit, clr_amt AS receivable, CAST(0 AS DECIMAL(18,2)) AS payable,
           records AS receivable_records, 0 AS payable_records
    FROM pair_totals WHERE NOT internal
    UNION ALL
    SELECT insured_unit, 0, clr_amt, 0, records FROM pair_totals WHERE NOT internal
), internal AS (
    SELECT insured_unit AS unit, records AS internal_records, clr_amt AS internal_clr_amt
    FROM pair_totals WHERE internal
), units AS (
    SELECT unit,
           CAST(sum(receivable) AS DECIMAL(18,2)) AS receivable,
           CAST(sum(payable) AS DECIMAL(18,2)) AS payable,
           CAST(sum(receivable_records) AS BIGINT) AS receivable_records,
           CAST(sum(payable_records) AS BIGINT) AS payable_records
    FROM flows GROUP BY unit
), everyone AS (
    SELECT unit FROM units UNION SELECT unit FROM internal UNION SELECT unit FROM prepaid
)
SELECT e.unit,
       coalesce(u.receivable, 0)::DECIMAL(18,2) AS receivable,
       coalesce(u.payable, 0)::DECIMAL(18,2) AS payable,
       (coalesce(u.receivable, 0) - coalesce(u.payable, 0))::DECIMAL(18,2) AS net,
       coalesce(u.receivable_records, 0) AS receivable_records,
       coalesce(u.payable_records, 0) AS payable_records,
       coalesce(i.internal_records, 0) AS internal_records,
       coalesce(i.internal_clr_amt, 0)::DECIMAL(18,2) AS internal_clr_amt,
       p.opening_balance,
       p.warning_line,
       (p.opening_balance + coalesce(u.receivable, 0) - coalesce(u.payable, 0))::DECIMAL(18,2) AS closing_balance,
       CASE WHEN p.unit IS NULL THEN NULL
            ELSE greatest(p.warning_line - (p.opening_balance + coalesce(u.receivable, 0) - coalesce(u.payable, 0)), 0)
       END::DECIMAL(18,2) AS topup_due
FROM everyone e
LEFT JOIN units u ON u.unit = e.unit
LEFT JOIN internal i ON i.unit = e.unit
LEFT JOIN prepaid p ON p.unit = e.unit
ORDER BY e.unit
