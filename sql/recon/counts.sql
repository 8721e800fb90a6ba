-- recon/counts: per setl_id with a valid (non-rejected) row on either side, how many rows each side has,
-- whether any of them falls outside the period window, and whether the two sides' rows must be compared
-- column by column (recon_pairs).
-- Binds: $period_start, $period_end (TIMESTAMP; the window is [start, end)); $fingerprint_key (VARCHAR, a
--        secret drawn afresh for every run and never written anywhere).
-- Reads: tables claims, ledger (reject_reason IS NULL marks a valid row), late_keys (setl_ids carried in
--        from earlier months by a workspace; empty otherwise). Defines the table macro side_counts (one
--        side's rows per setl_id), so both sides are counted by the one text.
-- Keeps: one row per setl_id (a full outer join of two GROUP BYs on the same key). Kept narrow and
--        materialised on its own so that a month larger than memory joins and spills in small pieces.
--        A carried-in setl_id may lie before the window (it comes back until resolved); after it never.
--        must_compare is meaningful only for one row per side. It is true when
--        - a column that decides where money goes differs at all: either region code (where both rows hold
--          one) or medfee_sumamt, fund_pay_sumamt, acct_pay — compared exactly for every pair, never through
--          a fingerprint; or
--        - the fingerprints of the 21 compared columns differ. A fingerprint is MD5 over the run's secret and
--          the columns joined by US (chr(31)), NULL written as RS (chr(30)) — injective, because normalised
--          text never holds either (inputs.normalise_text_sql), so no text shifted between columns gives the
--          same input — and keyed: the data's author cannot choose a row that restores another row's
--          fingerprint (DuckDB's 64-bit hash() is an invertible mix and could be forged; issue 14).
CREATE OR REPLACE TEMP MACRO fp_part(x) AS coalesce(CAST(x AS VARCHAR), chr(30));
CREATE OR REPLACE TEMP MACRO side_counts(side, period_start, period_end, fingerprint_key) AS TABLE
    SELECT setl_id, count(*) AS n,
           bool_or(setl_time < period_start) AS before, bool_or(setl_time >= period_end) AS after,
           any_value(md5_number(concat_ws(chr(31), fingerprint_key,
                          fp_part(insuplc_admdvs), fp_part(mdtrtarea_admvs), fp_part(psn_no), fp_part(mdtrt_id),
                          fp_part(fixmedins_code), fp_part(insutype), fp_part(med_type), fp_part(clr_type),
                          fp_part(refd_setl_flag), fp_part(medfee_sumamt), fp_part(fund_pay_sumamt), fp_part(acct_pay),
                          fp_part(psn_cash_pay), fp_part(hifp_pay), fp_part(cvlserv_pay), fp_part(hifob_pay),
                          fp_part(hifmi_pay), fp_part(hifes_pay), fp_part(hifdm_pay), fp_part(maf_pay),
                          fp_part(oth_pay)))) AS fingerprint,
           any_value(insuplc_admdvs) AS insured, any_value(mdtrtarea_admvs) AS care,
           any_value(medfee_sumamt) AS medfee, any_value(fund_pay_sumamt) AS fund, any_value(acct_pay) AS acct
    FROM query_table(side) WHERE reject_reason IS NULL GROUP BY setl_id;
CREATE OR REPLACE TEMP TABLE recon_counts AS
WITH c AS (
    SELECT * FROM side_counts('claims', $period_start, $period_end, $fingerprint_key)
), l AS (
    SELECT * FROM side_counts('ledger', $period_start, $period_end, $fingerprint_key)
), k AS (
    SELECT coalesce(c.setl_id, l.setl_id) AS setl_id,
           coalesce(c.n, 0) AS claims_rows,
           coalesce(l.n, 0) AS ledger_rows,
           coalesce(c.after, false) OR coalesce(l.after, false) AS after,
           coalesce(c.before, false) OR coalesce(l.before, false) AS before,
           c.fingerprint IS DISTINCT FROM l.fingerprint
           OR coalesce(c.insured <> l.insured, false) OR coalesce(c.care <> l.care, false)
           OR c.medfee IS DISTINCT FROM l.medfee OR c.fund IS DISTINCT FROM l.fund
           OR c.acct IS DISTINCT FROM l.acct AS must_compare
    FROM c FULL OUTER JOIN l ON c.setl_id = l.setl_id
)
SELECT k.setl_id, k.claims_rows, k.ledger_rows,
       k.after OR (k.before AND late.setl_id IS NULL) AS outside,
       k.must_compare
FROM k LEFT JOIN late_keys late ON k.setl_id = late.setl_id
