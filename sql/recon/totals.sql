-- recon/totals: the totals view the platform reconciles first (对总账, interface 3201), per insutype x
-- clr_type, claims side beside ledger side, with whether each group balances.
-- Binds: $by_insutype, $by_clr_type (BOOLEAN: group by the column only when both sides carry it,
--        otherwise every row falls in one group for that column).
-- Reads: recon_groups (its in_window is the period window the groups were made with). Counts every non-rejected row whose setl_time is inside the window, as 3201 does.
WITH t AS (
    SELECT side,
           CASE WHEN $by_insutype THEN insutype END AS insutype,
           CASE WHEN $by_clr_type THEN clr_type END AS clr_type,
           CAST(sum(records) AS BIGINT) AS records,
           sum(medfee_sumamt) AS medfee_sumamt,
           sum(fund_pay_sumamt) AS fund_pay_sumamt,
           sum(acct_pay) AS acct_pay
    FROM recon_groups
    WHERE category <> 'rejected' AND in_window
    GROUP BY ALL
), c AS (SELECT * FROM t WHERE side = 'claims'), l AS (SELECT * FROM t WHERE side = 'ledger')
SELECT coalesce(c.insutype, l.insutype) AS insutype,
       coalesce(c.clr_type, l.clr_type) AS clr_type,
       coalesce(c.records, 0) AS claims_records,
       coalesce(l.records, 0) AS ledger_records,
       coalesce(c.medfee_sumamt, 0) AS claims_medfee_sumamt,
       coalesce(l.medfee_sumamt, 0) AS ledger_medfee_sumamt,
       coalesce(c.fund_pay_sumamt, 0) AS claims_fund_pay_sumamt,
       coalesce(l.fund_pay_sumamt, 0) AS ledger_fund_pay_sumamt,
       coalesce(c.acct_pay, 0) AS claims_acct_pay,
       coalesce(l.acct_pay, 0) AS ledger_acct_pay
FROM c FULL OUTER JOIN l
  ON c.insutype IS NOT DISTINCT FROM l.insutype AND c.clr_type IS NOT DISTINCT FROM l.clr_type
ORDER BY insutype NULLS FIRST, clr_type NULLS FIRST
