-- runs/records_moved: the held records of two clearing runs of one period that were resolved, are new,
-- moved between categories or changed amounts (diff-runs), with why.
-- Binds: nothing. Reads: exc_a, exc_b (side, setl_id, category, clr_amt of each run's exceptions.parquet).
-- Keeps: one row per side and setl_id that differs; an id held the same way in both runs is not listed.
WITH a AS (SELECT side, setl_id, min(category) AS category, sum(clr_amt) AS clr_amt FROM exc_a GROUP BY ALL),
     b AS (SELECT side, setl_id, min(category) AS category, sum(clr_amt) AS clr_amt FROM exc_b GROUP BY ALL)
SELECT coalesce(a.side, b.side) AS side, coalesce(a.setl_id, b.setl_id) AS setl_id,
       a.category AS category_a, b.category AS category_b,
       CASE WHEN b.setl_id IS NULL THEN 'resolved: held in A, matched or gone in B'
            WHEN a.setl_id IS NULL THEN 'new: held in B, matched in A or absent from its inputs'
            WHEN a.category <> b.category THEN 'moved between categories'
            ELSE 'changed amounts' END AS why,
       a.clr_amt AS clr_amt_a, b.clr_amt AS clr_amt_b
FROM a FULL OUTER JOIN b ON a.side = b.side AND a.setl_id IS NOT DISTINCT FROM b.setl_id
WHERE a.setl_id IS NULL OR b.setl_id IS NULL OR a.category <> b.category
   OR a.clr_amt IS DISTINCT FROM b.clr_amt
ORDER BY why, side, setl_id
