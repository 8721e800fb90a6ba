-- macros: masking of personal data, applied to every output column that can hold it.
-- Binds: nothing. Defines: mask_id(x) keeps at most the last 4 characters of an ID number (the rest '*');
--        mask_name(x) keeps at most the first character of a name. Lengths are preserved so a reader can
--        still tell a 15- from an 18-digit number; NULL stays NULL.
CREATE OR REPLACE MACRO mask_id(x) AS
    CASE WHEN x IS NULL THEN NULL
         WHEN length(x) <= 4 THEN repeat('*', length(x))
         ELSE repeat('*', length(x) - 4) || right(x, 4) END;
CREATE OR REPLACE MACRO mask_name(x) AS
    CASE WHEN x IS NULL THEN NULL
         WHEN length(x) <= 1 THEN repeat('*', length(x))
         ELSE left(x, 1) || repeat('*', length(x) - 1) END;
-- is_resident_id(s): s is an 18-character resident ID number (GB 11643): 17 digits and a check character
--        that the ISO 7064 MOD 11-2 weights confirm. Used to mask such a value in any text column, whatever
--        the column is called.
CREATE OR REPLACE MACRO is_resident_id(s) AS
    coalesce(regexp_full_match(s, '[0-9]{17}[0-9Xx]')
             AND upper(s[18]) = substr('10X98765432', CAST(1 + list_sum(list_transform(range(1, 18),
                 lambda i: (ascii(s[i]) - 48) * [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2][i])) % 11 AS BIGINT), 1),
             false);
-- mask_text(x): free text with every token shaped like a resident ID number (18 characters, digits and a
--        final digit or X, standing alone) masked like mask_id: for nested and free-text columns, where an
--        ID may sit among other words. (The regex cannot check the check digit; a false positive only masks.)
CREATE OR REPLACE MACRO mask_text(x) AS
    regexp_replace(x, '(^|[^0-9A-Za-z])[0-9]{14}([0-9]{3}[0-9Xx])($|[^0-9A-Za-z])', '\1**************\2\3', 'g');
-- setl_id_hash(x): the first 60 bits of SHA-256(x) as a BIGINT (NULL hashed as ''), the part of the control
--        totals' hash total one setl_id contributes. The same function for Spark: sql/spark/functions.sql.
CREATE OR REPLACE MACRO setl_id_hash(x) AS CAST(('0x' || left(sha256(coalesce(x, '')), 15)) AS BIGINT);
