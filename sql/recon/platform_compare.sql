-- recon/platform_compare: the platform's own verdict (stmt_rslt of its 3202 result file) beside mediclear's,
-- one row per setl_id found on either, with why they disagree.
-- Binds: nothing. Reads: platform_result (setl_id, stmt_rslt, memo, source_row; medfee_sumamt,
--        fund_pay_sumamt, acct_pay as DECIMAL(18,2), NULL where the file's text is not exact money by contract
--        §1), recon_rows.
-- Keeps: every setl_id of the result file appears (a repeated one once per row, flagged); every setl_id of
--        mediclear's valid rows appears; money is compared as DECIMAL(18,2) — a platform amount that is not
--        exact money is NULL and so differs, never rounded into agreement.
-- mediclear's verdict per setl_id: the platform's codes where it has one (0 对平, 1 中心多, 2 医药机构多,
-- 3 数据不一致); duplicate, out_of_period and rejected have none, and are named by category.
CREATE OR REPLACE TEMP TABLE platform_compare AS
WITH ours AS (
    SELECT setl_id,
           min(category) AS category,
           count(DISTINCT category) AS categories,
           min(stmt_rslt) AS stmt_rslt,
           min(diff_text) AS diff_text,
           min(medfee_sumamt) FILTER (WHERE side = 'ledger') AS ledger_medfee_sumamt,
           min(fund_pay_sumamt) FILTER (WHERE side = 'ledger') AS ledger_fund_pay_sumamt,
           min(acct_pay) FILTER (WHERE side = 'ledger') AS ledger_acct_pay
    FROM recon_rows
    WHERE setl_id IS NOT NULL
    GROUP BY setl_id
), theirs AS (
    SELECT setl_id, nullif(trim(stmt_rslt), '') AS stmt_rslt, memo, source_row,
           medfee_sumamt, fund_pay_sumamt, acct_pay,
           count(*) OVER (PARTITION BY setl_id) AS result_rows
    FROM platform_result
)
SELECT coalesce(t.setl_id, o.setl_id) AS setl_id,
       t.stmt_rslt AS platform_stmt_rslt,
       o.stmt_rslt AS mediclear_stmt_rslt,
       CASE WHEN o.categories > 1 THEN 'mixed' ELSE o.category END AS mediclear_category,
       t.stmt_rslt IS NOT DISTINCT FROM o.stmt_rslt AND t.setl_id IS NOT NULL AND o.setl_id IS NOT NULL
           AND coalesce(t.result_rows, 1) = 1 AS agree,
       CASE
           WHEN t.setl_id IS NULL THEN 'not in the platform''s result file'
           WHEN o.setl_id IS NULL THEN 'not in mediclear''s inputs'
           WHEN t.result_rows > 1 THEN 'the result file lists this setl_id ' || t.result_rows || ' times'
           WHEN o.stmt_rslt IS NULL THEN 'mediclear holds it as ' || o.category || ' (no platform code)'
           WHEN t.stmt_rslt IS NOT DISTINCT FROM o.stmt_rslt THEN NULL
           WHEN t.medfee_sumamt IS DISTINCT FROM o.ledger_medfee_sumamt
             OR t.fund_pay_sumamt IS DISTINCT FROM o.ledger_fund_pay_sumamt
             OR t.acct_pay IS DISTINCT FROM o.ledger_acct_pay
               THEN 'the platform''s amounts differ from the ledger''s: '
                    || concat_ws(', ',
                         CASE WHEN t.medfee_sumamt IS DISTINCT FROM o.ledger_medfee_sumamt THEN 'medfee_sumamt' END,
                         CASE WHEN t.fund_pay_sumamt IS DISTINCT FROM o.ledger_fund_pay_sumamt THEN 'fund_pay_sumamt' END,
                         CASE WHEN t.acct_pay IS DISTINCT FROM o.ledger_acct_pay THEN 'acct_pay' END)
           WHEN o.diff_text <> ''
               THEN 'mediclear finds these columns differ: ' || o.diff_text
           ELSE 'the verdicts differ; amounts agree'
       END AS why,
       t.medfee_sumamt AS platform_medfee_sumamt, o.ledger_medfee_sumamt,
       t.fund_pay_sumamt AS platform_fund_pay_sumamt, o.ledger_fund_pay_sumamt,
       t.acct_pay AS platform_acct_pay, o.ledger_acct_pay,
       t.source_row AS platform_row
FROM theirs t
FULL OUTER JOIN ours o ON t.setl_id = o.setl_id
