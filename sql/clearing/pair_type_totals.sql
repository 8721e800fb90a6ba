-- clearing/pair_type_totals: pair totals broken down by insutype x clr_type, the grain of the platform's 3201 totals.
-- Binds: nothing. Reads: cleared_groups.
-- Keeps: summed over insutype and clr_type these rows equal pair_totals (records and every money column).
SELECT insured_unit, care_unit, insured_unit = care_unit AS internal, insutype, clr_type,
       CAST(sum(records) AS BIGINT) AS records,
       CAST(sum(medfee_sumamt) AS DECIMAL(18,2)) AS medfee_sumamt,
       CAST(sum(fund_pay_sumamt) AS DECIMAL(18,2)) AS fund_pay_sumamt,
       CAST(sum(acct_pay) AS DECIMAL(18,2)) AS acct_pay,
       CAST(sum(clr_amt) AS DECIMAL(18,2)) AS clr_amt
FROM cleared_groups
GROUP BY insured_unit, care_unit, insutype, clr_type
ORDER BY insured_unit, care_unit, insutype NULLS FIRST, clr_type NULLS FIRST
