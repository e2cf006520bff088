"""The fault suite's scoreboard: every fault test adds to it; `make test-faults` prints it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

COLUMNS = ("faults injected", "inputs tried", "requests refused correctly", "events lost", "duplicates counted")


@dataclass
class FaultReport:
    rows: dict[str, Counter] = field(default_factory=dict)

    def add(self, suite: str, **counts: int) -> None:
        row = self.rows.setdefault(suite, Counter())
        for name, value in counts.items():
            column = name.replace("_", " ")
            if column not in COLUMNS:
                raise KeyError(f"unknown fault-report column {name!r}")
            row[column] += value

    def table(self) -> list[str]:
        width = max([len("suite"), *map(len, self.rows)])
        lines = [" | ".join(["suite".ljust(width), *COLUMNS])]
        lines.append("-+-".join(["-" * width, *("-" * len(c) for c in COLUMNS)]))
        total = Counter()
        for suite, row in sorted(self.rows.items()):
            total.update(row)
            lines.append(" | ".join([suite.ljust(width), *(str(row[c]).rjust(len(c)) for c in COLUMNS)]))
        lines.append(" | ".join(["total".ljust(width), *(str(total[c]).rjust(len(c)) for c in COLUMNS)]))
        return lines


REPORT = FaultReport()
