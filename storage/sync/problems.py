"""What was wrong with an input, worded so a RevOps admin can fix the file and try again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SHOWN_PROBLEMS = 20


class SyncInputError(Exception):
    """The input as a whole cannot be used (unreadable file, missing column...): one line."""


@dataclass(frozen=True)
class Problem:
    """One bad value. `row` counts the header as row 1, as a spreadsheet shows it."""

    row: int | None
    column: str
    value: str
    reason: str

    def describe(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
        return f"{where}, column {self.column!r}: {shown!r} {self.reason}"


class RejectedInput(SyncInputError):
    """Invalid rows: the whole input is rejected and nothing is written."""

    def __init__(self, problems: Sequence[Problem], source: str = "file", notes: Sequence[str] = ()) -> None:
        self.problems = sorted(problems, key=lambda p: (p.row if p.row is not None else 0, p.column))
        self.notes = list(notes)
        super().__init__(self.render(source))

    def render(self, source: str) -> str:
        count = len(self.problems)
        lines = [f"{source} rejected, nothing was written: {count} invalid value{'s' if count != 1 else ''}"]
        lines += self.notes
        lines += [f"  - {problem.describe()}" for problem in self.problems[:SHOWN_PROBLEMS]]
        if count > SHOWN_PROBLEMS:
            lines.append(f"  ... and {count - SHOWN_PROBLEMS} more")
        return "\n".join(lines)
