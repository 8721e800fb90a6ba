-- runs/net_changes: each unit's net in two clearing runs of one period and the change (diff-runs).
-- Binds: nothing. Reads: net_a, net_b (unit, net of run A and run B).
-- Keeps: a unit present in one run only counts as 0 in the other; the change is exact DECIMAL(18,2).
SELECT coalesce(a.unit, b.unit) AS unit, a.net AS net_a, b.net AS net_b,
       CAST(coalesce(b.net, 0) - coalesce(a.net, 0) AS DECIMAL(18,2)) AS change
FROM net_a a FULL OUTER JOIN net_b b ON a.unit = b.unit
ORDER BY unit
