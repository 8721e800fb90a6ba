"""Which held rows a write-off took out of the carry-forward, as SQL shared by the workspace (what `held`
lists, what a write-off records) and the carry-in of the next run (reconcile.py).

A write-off names the rows held when two people approved it — side, setl_id, the month first held, source
file and row — never the setl_id for ever: the same setl_id sent again later (a correction, a resend) is a
new item, held and carried like any other (issue 14).
"""

from __future__ import annotations

# The held rows written off: those a write-off named (side, setl_id, first month held, source file and row).
# A write-off recorded before schema 2 named no rows; it still applies to its side and setl_id.
WRITTEN_OFF_ROWS = """
    SELECT r.side, r.setl_id, r.first_period, r.source_file, r.source_row FROM writeoff_rows r
    UNION ALL
    SELECT w.side, w.setl_id, NULL, NULL, NULL FROM writeoffs w
    WHERE NOT EXISTS (SELECT 1 FROM writeoff_rows r WHERE r.writeoff_seq = w.seq)"""


def written_off(held: str, keys: str) -> str:
    """SQL condition: held row alias `held` is among written-off rows `keys` (a relation of WRITTEN_OFF_ROWS's
    shape)."""
    # S608: `held` and `keys` are fixed aliases and relations from this package's own code, never input.
    return (f"EXISTS (SELECT 1 FROM {keys} w WHERE w.side = {held}.side AND w.setl_id = {held}.setl_id AND "  # noqa: S608
            f"(w.source_file IS NULL OR (w.first_period = {held}.first_period AND w.source_file = {held}.source_file "
            f"AND w.source_row = {held}.source_row)))")
