-- recon/side_totals: per side, every input row and its money, counted straight from the loaded table.
-- Binds: nothing. Reads: claims, ledger (before categorisation).
-- Keeps: the "money in" side of the accounting identity, computed independently of recon_rows.
SELECT 'claims' AS side, count(*) AS records,
       coalesce(sum(medfee_sumamt), 0) AS medfee_sumamt, coalesce(sum(fund_pay_sumamt), 0) AS fund_pay_sumamt,
       coalesce(sum(acct_pay), 0) AS acct_pay, coalesce(sum(fund_pay_sumamt + acct_pay), 0) AS clr_amt
FROM claims
UNION ALL
SELECT 'ledger', count(*),
       coalesce(sum(medfee_sumamt), 0), coalesce(sum(fund_pay_sumamt), 0),
       coalesce(sum(acct_pay), 0), coalesce(sum(fund_pay_sumamt + acct_pay), 0)
FROM ledger
ORDER BY side
