-- recon/matched: the matched ledger rows — the only rows cleared — summed by the columns the clearing groups
-- them by (both region codes, insutype, clr_type), so the clearing reads sums instead of the month's rows.
-- Binds: nothing. Reads: recon_matched_rows (recon/held).
-- Keeps: every sum is exact (DECIMAL); money columns keep NULL where every row of a group has none, except
--        the fund breakdown, summed as 0 where absent (contract §4, as the clearing counts it), and
--        `unallocated`, the part of the fund payment the breakdown leaves unexplained (so the fund split of
--        a row always sums to its clr_amt). A partitioned month appends the groups of every partition: a key
--        may then have several rows, which the clearing sums again (sums of sums are the same sums).
CREATE OR REPLACE TEMP TABLE recon_matched AS
SELECT insuplc_admdvs, mdtrtarea_admvs, insutype, clr_type,
       count(*) AS records,
       sum(medfee_sumamt) AS medfee_sumamt, sum(fund_pay_sumamt) AS fund_pay_sumamt, sum(acct_pay) AS acct_pay,
       sum(psn_cash_pay) AS psn_cash_pay, sum(clr_amt) AS clr_amt,
       sum(coalesce(hifp_pay, 0)) AS hifp_pay, sum(coalesce(cvlserv_pay, 0)) AS cvlserv_pay,
       sum(coalesce(hifob_pay, 0)) AS hifob_pay, sum(coalesce(hifmi_pay, 0)) AS hifmi_pay,
       sum(coalesce(hifes_pay, 0)) AS hifes_pay, sum(coalesce(hifdm_pay, 0)) AS hifdm_pay,
       sum(coalesce(maf_pay, 0)) AS maf_pay, sum(coalesce(oth_pay, 0)) AS oth_pay,
       sum(CAST(fund_pay_sumamt - (coalesce(hifp_pay, 0) + coalesce(cvlserv_pay, 0) + coalesce(hifob_pay, 0)
           + coalesce(hifmi_pay, 0) + coalesce(hifes_pay, 0) + coalesce(hifdm_pay, 0)
           + coalesce(maf_pay, 0) + coalesce(oth_pay, 0)) AS DECIMAL(18,2))) AS unallocated
FROM recon_matched_rows
WHERE side = 'ledger'
GROUP BY insuplc_admdvs, mdtrtarea_admvs, insutype, clr_type
