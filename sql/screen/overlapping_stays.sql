-- screen/overlapping_stays: one person in hospital in two different hospitals at the same time — a sign of
-- impersonation (冒名顶替). Stays overlap when each begins before the other ends (a transfer, one stay ending
-- the day the next begins, does not count).
-- Binds: nothing. Reads: screen_rows (needs begndate / enddate).
-- Keeps: each pair once; says whether the two hospitals are in different provinces.
SELECT 'overlapping_stays' AS rule_id, 'high' AS severity,
       [a.setl_id, b.setl_id] AS setl_ids, a.psn_no, a.certno, a.insuplc_admdvs,
       'admitted at ' || a.fixmedins_code || ' ' || a.begndate || ' to ' || a.enddate || ' and at '
           || b.fixmedins_code || ' ' || b.begndate || ' to ' || b.enddate
           || CASE WHEN left(a.mdtrtarea_admvs, 2) <> left(b.mdtrtarea_admvs, 2)
                   THEN ' (different provinces)' ELSE ' (same province)' END AS evidence,
       least(a.clr_amt, b.clr_amt) AS money_at_stake
FROM screen_rows a
JOIN screen_rows b ON a.psn_no = b.psn_no AND a.setl_id < b.setl_id AND a.fixmedins_code <> b.fixmedins_code
WHERE a.inpatient AND b.inpatient AND a.refd = '0' AND b.refd = '0'
  AND a.begndate < b.enddate AND b.begndate < a.enddate
