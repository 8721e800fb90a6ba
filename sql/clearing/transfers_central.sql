-- clearing/transfers_central: settlement through the clearing centre — each unit with net < 0 pays |net| to CENTRE,
-- and CENTRE pays each unit with net > 0 (contract §4).
-- Binds: nothing. Reads: net_positions.
-- Keeps: Σ paid into CENTRE = Σ paid out of it (because Σ net = 0); payments in are listed first, then
--        payments out, each ordered by unit, so the order is deterministic.
SELECT CASE WHEN net < 0 THEN unit ELSE 'CENTRE' END AS payer,
       CASE WHEN net < 0 THEN 'CENTRE' ELSE unit END AS payee,
       CAST(abs(net) AS DECIMAL(18,2)) AS amount
FROM net_positions
WHERE net <> 0
ORDER BY net > 0, unit
