-- screen/readmission: re-admission to the same hospital within N days of discharge — a sign of a stay split
-- in two (分解住院) to gain per-admission payment.
-- Binds: $days (default 15). Reads: screen_rows (needs begndate / enddate).
-- Keeps: one flag per (earlier stay, later stay) pair; the gap is admission minus previous discharge, 0..$days.
SELECT 'readmission' AS rule_id, 'medium' AS severity,
       [a.setl_id, b.setl_id] AS setl_ids, a.psn_no, a.certno, a.insuplc_admdvs,
       'discharged from ' || a.fixmedins_code || ' ' || a.enddate || ', re-admitted ' || b.begndate || ' ('
           || (b.begndate - a.enddate) || ' days later, threshold ' || $days || ')' AS evidence,
       b.clr_amt AS money_at_stake
FROM screen_rows a
JOIN screen_rows b ON a.psn_no = b.psn_no AND a.fixmedins_code = b.fixmedins_code AND a.setl_id <> b.setl_id
WHERE a.inpatient AND b.inpatient AND a.refd = '0' AND b.refd = '0'
  AND b.begndate >= a.enddate AND b.begndate - a.enddate <= $days
  AND (b.begndate > a.begndate OR (b.begndate = a.begndate AND a.setl_id < b.setl_id))
