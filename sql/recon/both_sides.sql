-- recon/both_sides: both sides' rows in one view, with `side`, each row with every column of its side (a
-- column only one side has is NULL on the other's rows), as recon/rows reads them.
-- Binds: nothing. Reads: claims, ledger.
-- Keeps: every row of each side once. DuckDB's form: UNION ALL BY NAME lines the two sides' columns up by
--        name. The rest of sql/recon is written in SQL both DuckDB and Spark run (docs/decisions.md); Spark
--        has no BY NAME in SQL, so spark_engine makes this view with DataFrame.unionByName instead.
CREATE OR REPLACE TEMP VIEW both_sides AS
SELECT 'claims' AS side, * FROM claims
UNION ALL BY NAME
SELECT 'ledger' AS side, * FROM ledger
