-- policy/check: what the pooled fund (统筹基金, hifp_pay) should have paid for every settlement of the period
-- under the insured region's policy (参保地政策), beside what it paid.
-- Binds: $period_start, $period_end (TIMESTAMP; settlements in [start, end) are checked, earlier ones of the
--        inputs only feed each person's year so far), $tolerance (DECIMAL(18,2), per settlement).
-- Reads: policy_settlements (row_key, setl_id, psn_no, insutype, med_type, hosp_lv, insuplc_admdvs,
--        mdtrtarea_admvs, setl_time, refd_setl_flag, inscp_scp_amt, act_pay_dedc, hifp_pay: every valid ledger
--        row; the amounts NULL where the file lacks them or they do not read exactly), policy_bands (policy_id,
--        policy_line, insu_admdvs, insutype, med_type_group, hosp_lv, valid_from, valid_to, deductible,
--        band_from, band_upto, ratio, annual_cap: one row per band; NULL key columns match anything).
-- The rule, per settlement (money DECIMAL, ratios DECIMAL, rounded once, half-up to the cent):
--   med_type group: 21-24, 52 inpatient; 11-14, 51 outpatient; 41 pharmacy; anything else other.
--   policy: the matching row that is most specific — the insured pool's own code over its province's PP0000,
--           then a given insutype, med_type group and hospital level over "any"; two equally specific
--           policies are ambiguous and the settlement is not checked.
--   deductible due = policy deductible − what this person paid of it (act_pay_dedc) earlier this calendar year
--           in the same insutype and med_type group (ordered by setl_time, setl_id; reversals give back),
--           never below 0; expected deductible paid = least(inscp_scp_amt, due).
--   base = inscp_scp_amt − expected deductible; uncapped = Σ over bands ratio × (the part of base in the band).
--   cap left = annual cap − the pooled fund's payments (hifp_pay) to this person earlier this year in the same
--           insutype (all groups), never below 0; expected hifp_pay = least(round(uncapped, 2), cap left).
--   flagged when |recorded − expected| > $tolerance; the part that differs: the deductible (recorded
--           act_pay_dedc is not the expected), the cap (it binds and the fund paid more), else the ratio.
-- Keeps: every settlement of the period is in policy_results once, as checked (flagged or not) or not
--        checked with the reason — never silently passed. Reversals (refd_setl_flag 1, or a negative
--        hifp_pay) are not checked themselves; they give back in later settlements' history. A setl_id the
--        ledger books more than once is neither checked nor counted in anyone's history (which copy paid?).
CREATE OR REPLACE TEMP TABLE policy_results AS
WITH s AS (
    SELECT *,
           CASE WHEN med_type IN ('21', '22', '23', '24', '52') THEN 'inpatient'
                WHEN med_type IN ('11', '12', '13', '14', '51') THEN 'outpatient'
                WHEN med_type = '41' THEN 'pharmacy'
                ELSE 'other' END AS med_type_group,
           year(setl_time) AS policy_year,
           setl_time >= $period_start AND setl_time < $period_end AS in_period,
           coalesce(refd_setl_flag = '1', false) OR coalesce(hifp_pay < 0, false) AS reversal,
           psn_no IS NOT NULL AND insutype IS NOT NULL AND inscp_scp_amt IS NOT NULL
               AND act_pay_dedc IS NOT NULL AND hifp_pay IS NOT NULL AS complete,
           count(*) OVER (PARTITION BY setl_id) AS copies
    FROM policy_settlements
), history AS (
    SELECT *,
           coalesce(sum(act_pay_dedc) OVER (PARTITION BY psn_no, insutype, med_type_group, policy_year
                                           ORDER BY setl_time, setl_id, row_key
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS dedc_before,
           coalesce(sum(hifp_pay) OVER (PARTITION BY psn_no, insutype, policy_year
                                       ORDER BY setl_time, setl_id, row_key
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS hifp_before
    FROM s
    WHERE complete AND copies = 1
), policies AS (
    SELECT DISTINCT policy_id, policy_line, insu_admdvs, insutype, med_type_group, hosp_lv, valid_from, valid_to,
           deductible, annual_cap
    FROM policy_bands
), candidates AS (
    SELECT h.row_key, p.policy_id, p.policy_line, p.deductible, p.annual_cap,
           (CASE WHEN p.insu_admdvs = h.insuplc_admdvs THEN 8 ELSE 0 END)
           + (CASE WHEN p.insutype IS NOT NULL THEN 4 ELSE 0 END)
           + (CASE WHEN p.med_type_group IS NOT NULL THEN 2 ELSE 0 END)
           + (CASE WHEN p.hosp_lv IS NOT NULL THEN 1 ELSE 0 END) AS specificity
    FROM history h
    JOIN policies p
      ON (p.insu_admdvs = h.insuplc_admdvs OR p.insu_admdvs = left(h.insuplc_admdvs, 2) || '0000')
     AND (p.insutype IS NULL OR p.insutype = h.insutype)
     AND (p.med_type_group IS NULL OR p.med_type_group = h.med_type_group)
     AND (p.hosp_lv IS NULL OR p.hosp_lv = h.hosp_lv)
     AND (p.valid_from IS NULL OR CAST(h.setl_time AS DATE) >= p.valid_from)
     AND (p.valid_to IS NULL OR CAST(h.setl_time AS DATE) <= p.valid_to)
    WHERE h.in_period AND NOT h.reversal
), ranked AS (
    SELECT *, count(*) OVER (PARTITION BY row_key, specificity) AS tied,
           max(specificity) OVER (PARTITION BY row_key) AS best
    FROM candidates
), chosen AS (
    SELECT row_key, policy_id, policy_line, deductible, annual_cap, tied
    FROM ranked
    WHERE specificity = best
    QUALIFY row_number() OVER (PARTITION BY row_key ORDER BY policy_id) = 1
), due AS (
    SELECT h.*, c.policy_id, c.policy_line, c.annual_cap, c.tied,
           least(greatest(h.inscp_scp_amt, 0), greatest(c.deductible - h.dedc_before, 0)) AS expected_dedc,
           CASE WHEN c.annual_cap IS NULL THEN NULL ELSE greatest(c.annual_cap - h.hifp_before, 0) END AS cap_left
    FROM history h
    JOIN chosen c ON c.row_key = h.row_key AND c.tied = 1
), banded AS (
    SELECT d.row_key,
           round(sum(b.ratio * greatest(least(greatest(d.inscp_scp_amt - d.expected_dedc, 0),
                                                coalesce(b.band_upto, greatest(d.inscp_scp_amt - d.expected_dedc, 0)))
                                          - b.band_from, 0)), 2) AS uncapped
    FROM due d
    JOIN policy_bands b ON b.policy_id = d.policy_id
    GROUP BY d.row_key
), checked AS (
    SELECT d.*, b.uncapped,
           CAST(CASE WHEN d.cap_left IS NULL THEN b.uncapped ELSE least(b.uncapped, d.cap_left) END
                AS DECIMAL(18,2)) AS expected_hifp_pay
    FROM due d JOIN banded b USING (row_key)
)
SELECT s.row_key, s.setl_id, s.psn_no, s.insuplc_admdvs, s.mdtrtarea_admvs, s.insutype, s.med_type_group,
       s.setl_time, s.inscp_scp_amt, s.act_pay_dedc, c.expected_dedc, s.hifp_pay AS recorded_hifp_pay,
       c.expected_hifp_pay, CAST(s.hifp_pay - c.expected_hifp_pay AS DECIMAL(18,2)) AS difference,
       c.cap_left, c.policy_id, c.policy_line,
       CASE
           WHEN c.row_key IS NULL THEN 'not_checked'
           WHEN abs(s.hifp_pay - c.expected_hifp_pay) > $tolerance THEN 'flagged'
           ELSE 'passed'
       END AS status,
       CASE
           WHEN c.row_key IS NULL THEN NULL
           WHEN abs(s.hifp_pay - c.expected_hifp_pay) <= $tolerance THEN NULL
           WHEN abs(s.act_pay_dedc - c.expected_dedc) > $tolerance THEN 'deductible'
           WHEN c.cap_left IS NOT NULL AND c.uncapped > c.cap_left AND s.hifp_pay > c.expected_hifp_pay THEN 'cap'
           ELSE 'ratio'
       END AS part,
       CASE
           WHEN c.row_key IS NOT NULL THEN NULL
           WHEN s.copies > 1 THEN 'the ledger books this setl_id ' || s.copies || ' times (duplicate)'
           WHEN s.reversal THEN 'reversal (checked with its original)'
           WHEN NOT s.complete THEN 'missing ' || concat_ws(', ',
                CASE WHEN s.psn_no IS NULL THEN 'psn_no' END, CASE WHEN s.insutype IS NULL THEN 'insutype' END,
                CASE WHEN s.inscp_scp_amt IS NULL THEN 'inscp_scp_amt' END,
                CASE WHEN s.act_pay_dedc IS NULL THEN 'act_pay_dedc' END,
                CASE WHEN s.hifp_pay IS NULL THEN 'hifp_pay' END)
           WHEN ch.row_key IS NULL THEN 'no policy row applies'
           ELSE 'two policy rows apply equally (ambiguous)'
       END AS not_checked_reason
FROM s
LEFT JOIN checked c ON c.row_key = s.row_key
LEFT JOIN chosen ch ON ch.row_key = s.row_key
WHERE s.in_period
