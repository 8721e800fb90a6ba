-- clearing/fund_split: 分账 — per unit and fund account, receivable, payable and net, so each fund is settled apart.
-- Binds: nothing. Reads: pair_totals (cross-unit pairs only).
-- Keeps: per unit, Σ over funds of net = the unit's net in net_positions (the funds include acct_pay and
--        `unallocated`, which together with the breakdown columns always sum to clr_amt). Funds that are
--        zero for a unit in both directions are left out.
WITH long AS (
    UNPIVOT (SELECT insured_unit, care_unit, hifp_pay, cvlserv_pay, hifob_pay, hifmi_pay, hifes_pay, hifdm_pay,
                    maf_pay, oth_pay, acct_pay, unallocated
             FROM pair_totals WHERE NOT internal)
    ON hifp_pay, cvlserv_pay, hifob_pay, hifmi_pay, hifes_pay, hifdm_pay, maf_pay, oth_pay, acct_pay, unallocated
    INTO NAME fund VALUE amount
), flows AS (
    SELECT care_unit AS unit, fund, amount AS receivable, CAST(0 AS DECIMAL(18,2)) AS payable FROM long
    UNION ALL
    SELECT insured_unit, fund, 0, amount FROM long
)
SELECT unit, fund,
       CAST(sum(receivable) AS DECIMAL(18,2)) AS receivable,
       CAST(sum(payable) AS DECIMAL(18,2)) AS payable,
       CAST(sum(receivable) - sum(payable) AS DECIMAL(18,2)) AS net
FROM flows
GROUP BY unit, fund
HAVING sum(receivable) <> 0 OR sum(payable) <> 0
ORDER BY unit, array_position(['hifp_pay', 'cvlserv_pay', 'hifob_pay', 'hifmi_pay', 'hifes_pay', 'hifdm_pay',
                               'maf_pay', 'oth_pay', 'acct_pay', 'unallocated'], fund)
