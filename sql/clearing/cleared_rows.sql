-- clearing/cleared_rows: the matched ledger rows, which are the only rows cleared, with their clearing units.
-- Binds: $level ('province' or 'pool').
-- Reads: recon_rows, regions (the register; empty when none was given).
-- Keeps: contract §4 — clr_amt = fund_pay_sumamt + acct_pay from the LEDGER row; a unit is the register's
--        prov_admdvs / pool_admdvs when the register has the code, else the code rule (first two digits +
--        '0000' for provinces, first four + '00' for pools). `unallocated` is the part of the fund payment
--        the breakdown columns leave unexplained, so the fund split of a row always sums to its clr_amt.
CREATE OR REPLACE TEMP TABLE cleared_rows AS
SELECT
    CASE WHEN $level = 'pool' THEN coalesce(ri.pool_admdvs, substr(r.insuplc_admdvs, 1, 4) || '00')
         ELSE coalesce(ri.prov_admdvs, substr(r.insuplc_admdvs, 1, 2) || '0000') END AS insured_unit,
    CASE WHEN $level = 'pool' THEN coalesce(rc.pool_admdvs, substr(r.mdtrtarea_admvs, 1, 4) || '00')
         ELSE coalesce(rc.prov_admdvs, substr(r.mdtrtarea_admvs, 1, 2) || '0000') END AS care_unit,
    r.insutype, r.clr_type, r.setl_id,
    r.medfee_sumamt, r.fund_pay_sumamt, r.acct_pay, r.psn_cash_pay, r.clr_amt,
    coalesce(r.hifp_pay, 0) AS hifp_pay, coalesce(r.cvlserv_pay, 0) AS cvlserv_pay,
    coalesce(r.hifob_pay, 0) AS hifob_pay, coalesce(r.hifmi_pay, 0) AS hifmi_pay,
    coalesce(r.hifes_pay, 0) AS hifes_pay, coalesce(r.hifdm_pay, 0) AS hifdm_pay,
    coalesce(r.maf_pay, 0) AS maf_pay, coalesce(r.oth_pay, 0) AS oth_pay,
    CAST(r.fund_pay_sumamt - (coalesce(r.hifp_pay, 0) + coalesce(r.cvlserv_pay, 0) + coalesce(r.hifob_pay, 0)
        + coalesce(r.hifmi_pay, 0) + coalesce(r.hifes_pay, 0) + coalesce(r.hifdm_pay, 0)
        + coalesce(r.maf_pay, 0) + coalesce(r.oth_pay, 0)) AS DECIMAL(18,2)) AS unallocated
FROM recon_rows r
LEFT JOIN regions ri ON ri.admdvs = r.insuplc_admdvs
LEFT JOIN regions rc ON rc.admdvs = r.mdtrtarea_admvs
WHERE r.side = 'ledger' AND r.category = 'matched'
