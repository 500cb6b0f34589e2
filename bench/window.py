"""What every benchmark counts in: a measured window after a warm-up, and the errors on either side of it."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field


class StepFailed(Exception):
    """A measured step that did not get the expected answer; `kind` names the step and what went wrong."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Window:
    """The measured window, and the errors counted against it or against the warm-up."""

    window_start: float
    window_end: float
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    warmup_errors: collections.Counter[str] = field(default_factory=collections.Counter)

    def inside(self, moment: float) -> bool:
        return self.window_start <= moment <= self.window_end

    def failed(self, started: float, kind: str) -> None:
        """Count an error against the window if its work started after the warm-up."""
        (self.errors if started >= self.window_start else self.warmup_errors)[kind] += 1
