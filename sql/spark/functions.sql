-- spark/functions: the functions sql/recon reads that Spark spells differently from DuckDB (whose forms are in
-- macros.sql). Binds: nothing.
-- setl_id_hash(x): the first 60 bits of SHA-256(x) as a BIGINT (NULL hashed as ''): the same number as
--        DuckDB's macro, so the control totals' hash totals agree across engines (tests/test_spark.py).
CREATE OR REPLACE TEMPORARY FUNCTION setl_id_hash(x STRING) RETURNS BIGINT
    RETURN CAST(conv(left(sha2(coalesce(x, ''), 256), 15), 16, 10) AS BIGINT)
