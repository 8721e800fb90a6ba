-- screen/reversal_without_original: a reversal (refd_setl_flag '1') whose visit (psn_no, mdtrt_id) has no
-- original settlement in the records screened, or that reverses more than the original's total cost.
-- A refund of an earlier month's settlement also has no original here: screen with that month too, or read
-- these flags as "check the original month".
-- Binds: nothing. Reads: screen_rows (needs mdtrt_id). Keeps: one flag per reversed visit.
WITH originals AS (
    SELECT psn_no, mdtrt_id, sum(medfee_sumamt) AS medfee FROM screen_rows WHERE refd = '0' GROUP BY ALL
), reversals AS (
    SELECT psn_no, mdtrt_id, list(setl_id ORDER BY setl_id) AS setl_ids, any_value(certno) AS certno,
           any_value(insuplc_admdvs) AS insuplc_admdvs,
           sum(-medfee_sumamt) AS reversed, sum(clr_amt) AS clr_amt
    FROM screen_rows WHERE refd = '1' GROUP BY ALL
)
SELECT 'reversal_without_original' AS rule_id,
       CASE WHEN o.mdtrt_id IS NULL THEN 'high' ELSE 'medium' END AS severity,
       r.setl_ids, r.psn_no, r.certno, r.insuplc_admdvs,
       CASE WHEN o.mdtrt_id IS NULL
            THEN 'reversal of ' || r.reversed || ' for visit ' || r.mdtrt_id || ' with no original settlement'
            ELSE 'reverses ' || r.reversed || ' of an original ' || o.medfee || ' (visit ' || r.mdtrt_id || ')'
       END AS evidence,
       CAST(abs(r.clr_amt) AS DECIMAL(18,2)) AS money_at_stake
FROM reversals r LEFT JOIN originals o ON o.psn_no = r.psn_no AND o.mdtrt_id = r.mdtrt_id
WHERE o.mdtrt_id IS NULL OR r.reversed > o.medfee
