-- clearing/pair_totals: per insured unit x care unit, the records and money cleared between them (contract §5).
-- Binds: nothing. Reads: cleared_groups.
-- Keeps: `internal` marks pairs whose two units are the same: they are reported, never netted. Sums are
--        exact DECIMAL(18,2); Σ clr_amt over all pairs = the matched ledger clr_amt (checked in clearing.py).
CREATE OR REPLACE TEMP TABLE pair_totals AS
SELECT insured_unit, care_unit, insured_unit = care_unit AS internal,
       CAST(sum(records) AS BIGINT) AS records,
       CAST(sum(medfee_sumamt) AS DECIMAL(18,2)) AS medfee_sumamt,
       CAST(sum(fund_pay_sumamt) AS DECIMAL(18,2)) AS fund_pay_sumamt,
       CAST(sum(acct_pay) AS DECIMAL(18,2)) AS acct_pay,
       CAST(coalesce(sum(psn_cash_pay), 0) AS DECIMAL(18,2)) AS psn_cash_pay,
       CAST(sum(clr_amt) AS DECIMAL(18,2)) AS clr_amt,
       CAST(sum(hifp_pay) AS DECIMAL(18,2)) AS hifp_pay,
       CAST(sum(cvlserv_pay) AS DECIMAL(18,2)) AS cvlserv_pay,
       CAST(sum(hifob_pay) AS DECIMAL(18,2)) AS hifob_pay,
       CAST(sum(hifmi_pay) AS DECIMAL(18,2)) AS hifmi_pay,
       CAST(sum(hifes_pay) AS DECIMAL(18,2)) AS hifes_pay,
       CAST(sum(hifdm_pay) AS DECIMAL(18,2)) AS hifdm_pay,
       CAST(sum(maf_pay) AS DECIMAL(18,2)) AS maf_pay,
       CAST(sum(oth_pay) AS DECIMAL(18,2)) AS oth_pay,
       CAST(sum(unallocated) AS DECIMAL(18,2)) AS unallocated
FROM cleared_groups
GROUP BY insured_unit, care_unit
ORDER BY insured_unit, care_unit
