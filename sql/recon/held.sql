-- recon/held: the month split in two — recon_held, every row of recon_rows that is not matched (held, out of
-- period, one-sided, mismatched, rejected) with all its columns, materialised once; and recon_matched_rows,
-- a view of the matched rows (category 'matched', with clr_amt) and the columns recon/groups and
-- recon/matched read.
-- Binds: nothing. Reads: recon_rows (recon/rows); claims, ledger, recon_keys_held (recon/keys).
-- Keeps: recon_held holds exactly the rows of recon_rows WHERE category <> 'matched', and
--        recon_matched_rows exactly those WHERE category = 'matched': a row is matched exactly when it is
--        valid and its setl_id is not among the non-matched keys (recon/rows). The exceptions file, the
--        Excel 差错 sheet, held_by_unit and the workspace's carry-forward read recon_held instead of each
--        evaluating the categorising join over the whole month again (at 10M rows per side each such pass
--        took seconds). Held rows are a few per cent of a month, so the copy is small.
CREATE OR REPLACE TEMP TABLE recon_held AS SELECT * FROM recon_rows WHERE category <> 'matched';

CREATE OR REPLACE TEMP VIEW recon_matched_rows AS
SELECT *, 'matched' AS category, CAST(fund_pay_sumamt + acct_pay AS DECIMAL(18,2)) AS clr_amt
FROM (
    SELECT 'claims' AS side, setl_id, setl_time, insuplc_admdvs, mdtrtarea_admvs, insutype, clr_type, medfee_sumamt,
           fund_pay_sumamt, acct_pay, psn_cash_pay, hifp_pay, cvlserv_pay, hifob_pay, hifmi_pay, hifes_pay,
           hifdm_pay, maf_pay, oth_pay
    FROM claims s
    WHERE reject_reason IS NULL AND NOT EXISTS (SELECT 1 FROM recon_keys_held k WHERE k.setl_id = s.setl_id)
    UNION ALL
    SELECT 'ledger' AS side, setl_id, setl_time, insuplc_admdvs, mdtrtarea_admvs, insutype, clr_type, medfee_sumamt,
           fund_pay_sumamt, acct_pay, psn_cash_pay, hifp_pay, cvlserv_pay, hifob_pay, hifmi_pay, hifes_pay,
           hifdm_pay, maf_pay, oth_pay
    FROM ledger s
    WHERE reject_reason IS NULL AND NOT EXISTS (SELECT 1 FROM recon_keys_held k WHERE k.setl_id = s.setl_id)
) m
