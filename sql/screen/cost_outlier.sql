-- screen/cost_outlier: a settlement far above what the same hospital charges for the same medical type.
-- Robust and stated: on the log of medfee_sumamt, flag when log(cost) > median + $k x 1.4826 x MAD
-- (1.4826 x MAD estimates one standard deviation). The group is the hospital x med_type when it has at least
-- $min_group normal settlements, else every hospital's settlements of that med_type (the evidence says
-- which). The log (a DOUBLE) is a statistic only: money stays DECIMAL.
-- Binds: $k (default 5), $min_group (default 50: a smaller group's MAD is too noisy to judge by). Reads: screen_rows.
WITH base AS (
    SELECT *, ln(CAST(medfee_sumamt AS DOUBLE)) AS log_cost
    FROM screen_rows WHERE refd = '0' AND medfee_sumamt > 0
), hospital AS (
    SELECT fixmedins_code, med_type, count(*) AS n, median(log_cost) AS med FROM base GROUP BY ALL
    HAVING count(*) >= $min_group
), hospital_spread AS (
    SELECT b.fixmedins_code, b.med_type, h.n, h.med, median(abs(b.log_cost - h.med)) AS mad
    FROM base b JOIN hospital h USING (fixmedins_code, med_type) GROUP BY ALL
), all_hospitals AS (
    SELECT med_type, count(*) AS n, median(log_cost) AS med FROM base GROUP BY ALL HAVING count(*) >= $min_group
), all_spread AS (
    SELECT b.med_type, a.n, a.med, median(abs(b.log_cost - a.med)) AS mad
    FROM base b JOIN all_hospitals a USING (med_type) GROUP BY ALL
), scored AS (
    SELECT b.*,
           CASE WHEN h.n IS NOT NULL THEN 'at ' || b.fixmedins_code ELSE 'at all hospitals' END AS grp,
           coalesce(h.n, a.n) AS n, coalesce(h.med, a.med) AS med, coalesce(h.mad, a.mad) AS mad
    FROM base b
    LEFT JOIN hospital_spread h USING (fixmedins_code, med_type)
    LEFT JOIN all_spread a USING (med_type)
)
SELECT 'cost_outlier' AS rule_id, 'medium' AS severity,
       [setl_id] AS setl_ids, psn_no, certno, insuplc_admdvs,
       'medfee ' || medfee_sumamt || ' at ' || fixmedins_code || ' (med_type ' || med_type || '): median '
           || round(exp(med), 2) || ' ' || grp || ' over ' || n || ' settlements, threshold '
           || round(exp(med + $k * 1.4826 * mad), 2) || ' (median + ' || $k || ' x 1.4826 x MAD of log cost)'
           AS evidence,
       clr_amt AS money_at_stake
FROM scored
WHERE mad > 0 AND log_cost > med + $k * 1.4826 * mad
