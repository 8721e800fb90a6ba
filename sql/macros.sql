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
