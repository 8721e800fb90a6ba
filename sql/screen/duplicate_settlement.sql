-- screen/duplicate_settlement: possible duplicate settlement (重复结算) — the same person at the same hospital
-- with exactly the same amounts, settled twice under different setl_ids within a short window, neither a
-- reversal. Why it matters: a settlement paid twice drains the fund twice.
-- Binds: $window_seconds (default 86400: one day).
-- Reads: screen_rows. Keeps: each pair once (a.setl_id < b.setl_id).
SELECT 'duplicate_settlement' AS rule_id, 'high' AS severity,
       [a.setl_id, b.setl_id] AS setl_ids, a.psn_no, a.certno, a.insuplc_admdvs,
       'same person, hospital ' || a.fixmedins_code || ' and amounts (medfee ' || a.medfee_sumamt
           || ') settled at ' || strftime(a.setl_time, '%Y-%m-%d %H:%M') || ' and '
           || strftime(b.setl_time, '%Y-%m-%d %H:%M') AS evidence,
       b.clr_amt AS money_at_stake
FROM screen_rows a
JOIN screen_rows b
  ON a.psn_no = b.psn_no AND a.fixmedins_code = b.fixmedins_code AND a.setl_id < b.setl_id
 AND a.medfee_sumamt = b.medfee_sumamt AND a.fund_pay_sumamt = b.fund_pay_sumamt AND a.acct_pay = b.acct_pay
WHERE a.refd = '0' AND b.refd = '0'
  AND abs(epoch(b.setl_time) - epoch(a.setl_time)) <= $window_seconds
