-- clearing/transfers_bilateral: one transfer per unordered pair of units, for the difference of what each owes the
-- other (contract §4); pairs that owe each other exactly the same get no transfer.
-- Binds: nothing. Reads: pair_totals (cross-unit pairs only).
-- Keeps: for every unit, Σ received - Σ paid = its net in net_positions (checked in clearing.py).
--        gross_payer_owes / gross_payee_owes show the two gross amounts the transfer nets.
WITH owed AS (
    SELECT least(insured_unit, care_unit) AS u, greatest(insured_unit, care_unit) AS v,
           CASE WHEN insured_unit < care_unit THEN clr_amt ELSE 0 END AS u_owes_v,
           CASE WHEN insured_unit > care_unit THEN clr_amt ELSE 0 END AS v_owes_u
    FROM pair_totals WHERE NOT internal
), pairs AS (
    SELECT u, v, sum(u_owes_v) AS u_owes_v, sum(v_owes_u) AS v_owes_u FROM owed GROUP BY u, v
)
SELECT CASE WHEN u_owes_v > v_owes_u THEN u ELSE v END AS payer,
       CASE WHEN u_owes_v > v_owes_u THEN v ELSE u END AS payee,
       CAST(abs(u_owes_v - v_owes_u) AS DECIMAL(18,2)) AS amount,
       CAST(CASE WHEN u_owes_v > v_owes_u THEN u_owes_v ELSE v_owes_u END AS DECIMAL(18,2)) AS gross_payer_owes,
       CAST(CASE WHEN u_owes_v > v_owes_u THEN v_owes_u ELSE u_owes_v END AS DECIMAL(18,2)) AS gross_payee_owes
FROM pairs
WHERE u_owes_v <> v_owes_u
ORDER BY payer, payee
