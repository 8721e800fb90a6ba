"""Settlement periods: `YYYY-MM` and its half-open window [first day 00:00, first day of next month 00:00)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from mediclear_cli.errors import UsageError

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
_PLATFORM_PERIOD = re.compile(r"^(\d{4})(\d{2})$")  # the platform's setlym (3203), e.g. 202610


@dataclass(frozen=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str, today: date | None = None) -> Period:
        """`YYYY-MM` or the platform's `YYYYMM`, or `previous` / `current` (the month before / of today, on this machine's clock — so a
        cron job on the 3rd clears last month)."""
        word = text.strip().lower()
        if word in ("previous", "current"):
            now = today or date.today()
            here = cls(now.year, now.month)
            return here.shift(-1) if word == "previous" else here
        match = _PERIOD.match(text.strip()) or _PLATFORM_PERIOD.match(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise UsageError(f"--period {text!r}: expected YYYY-MM (e.g. 2026-10), YYYYMM (202610), previous or "
                             "current")
        year = int(match.group(1))
        if not 1990 <= year <= 2199:  # the platform's era; 0000-01 or 9999-12 is a typo, not a month to clear
            raise UsageError(f"--period {text!r}: year {year} is outside 1990-2199")
        return cls(year, int(match.group(2)))

    @property
    def ordinal(self) -> int:
        return self.year * 12 + self.month - 1

    def shift(self, months: int) -> Period:
        n = self.ordinal + months
        return Period(n // 12, n % 12 + 1)

    def months_after(self, other: Period) -> int:
        """How many months this period lies after `other` (the age of an item first held in `other`)."""
        return self.ordinal - other.ordinal

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1)

    @property
    def end(self) -> datetime:
        return datetime(self.year + self.month // 12, self.month % 12 + 1, 1)

    def __str__(self) -> str:
        return self.label
