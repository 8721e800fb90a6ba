-- screen/two_provinces_same_day: outpatient settlements of one person in two provinces on the same day —
-- hard to do in person, a sign of a card used by someone else.
-- Binds: nothing. Reads: screen_rows. Keeps: each pair once.
SELECT 'two_provinces_same_day' AS rule_id, 'medium' AS severity,
       [a.setl_id, b.setl_id] AS setl_ids, a.psn_no, a.certno, a.insuplc_admdvs,
       'outpatient on ' || CAST(a.setl_time AS DATE) || ' at ' || a.fixmedins_code || ' (' || a.mdtrtarea_admvs
           || ') and at ' || b.fixmedins_code || ' (' || b.mdtrtarea_admvs || ')' AS evidence,
       least(a.clr_amt, b.clr_amt) AS money_at_stake
FROM screen_rows a
JOIN screen_rows b ON a.psn_no = b.psn_no AND a.setl_id < b.setl_id
 AND CAST(a.setl_time AS DATE) = CAST(b.setl_time AS DATE)
 AND left(a.mdtrtarea_admvs, 2) <> left(b.mdtrtarea_admvs, 2)
WHERE a.outpatient AND b.outpatient AND a.refd = '0' AND b.refd = '0'
