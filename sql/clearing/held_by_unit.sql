-- clearing/held_by_unit: the held (non-matched) rows each clearing unit is concerned with, by the role it plays
-- (insured or care region), side and category, with their clr_amt — what each unit's statement lists as
-- held items. A row counts once for its insured unit and once for its care unit.
-- Binds: $level ('province' or 'pool').
-- Reads: recon_held (the non-matched rows of recon_rows), regions.
-- Keeps: the same unit rule as cleared_groups; rows whose code is missing or not 6 digits cannot be
--        attributed and are left out here (they are all in exceptions.parquet and summary.json).
WITH held AS (
    SELECT side, category, clr_amt, insuplc_admdvs AS code, 'insured' AS role FROM recon_held
    WHERE regexp_full_match(insuplc_admdvs, '[0-9]{6}')
    UNION ALL
    SELECT side, category, clr_amt, mdtrtarea_admvs, 'care' FROM recon_held
    WHERE regexp_full_match(mdtrtarea_admvs, '[0-9]{6}')
)
SELECT CASE WHEN $level = 'pool' THEN coalesce(r.pool_admdvs, substr(h.code, 1, 4) || '00')
            ELSE coalesce(r.prov_admdvs, substr(h.code, 1, 2) || '0000') END AS unit,
       h.role, h.side, h.category,
       count(*) AS records,
       CAST(coalesce(sum(h.clr_amt), 0) AS DECIMAL(18,2)) AS clr_amt
FROM held h LEFT JOIN regions r ON r.admdvs = h.code
GROUP BY ALL
ORDER BY unit, role, side, category
