-- clearing/cleared_groups: the matched ledger rows, which are the only rows cleared, in groups with their
-- clearing units.
-- Binds: $level ('province' or 'pool').
-- Reads: recon_matched (recon/matched: the matched ledger rows summed by both region codes, insutype and
--        clr_type), regions (the register; empty when none was given).
-- Keeps: contract §4 — clr_amt = fund_pay_sumamt + acct_pay from the LEDGER row; a unit is the register's
--        prov_admdvs / pool_admdvs when the register has the code, else the code rule (first two digits +
--        '0000' for provinces, first four + '00' for pools). The unit depends on the codes alone, so summing
--        rows by their codes first changes no total; `records` counts the rows of a group.
CREATE OR REPLACE TEMP TABLE cleared_groups AS
SELECT
    CASE WHEN $level = 'pool' THEN coalesce(ri.pool_admdvs, substr(r.insuplc_admdvs, 1, 4) || '00')
         ELSE coalesce(ri.prov_admdvs, substr(r.insuplc_admdvs, 1, 2) || '0000') END AS insured_unit,
    CASE WHEN $level = 'pool' THEN coalesce(rc.pool_admdvs, substr(r.mdtrtarea_admvs, 1, 4) || '00')
         ELSE coalesce(rc.prov_admdvs, substr(r.mdtrtarea_admvs, 1, 2) || '0000') END AS care_unit,
    r.insutype, r.clr_type, r.records,
    r.medfee_sumamt, r.fund_pay_sumamt, r.acct_pay, r.psn_cash_pay, r.clr_amt,
    r.hifp_pay, r.cvlserv_pay, r.hifob_pay, r.hifmi_pay, r.hifes_pay, r.hifdm_pay, r.maf_pay, r.oth_pay,
    r.unallocated
FROM recon_matched r
LEFT JOIN regions ri ON ri.admdvs = r.insuplc_admdvs
LEFT JOIN regions rc ON rc.admdvs = r.mdtrtarea_admvs
