"""A figure set between two runs of its baseline: one just before it, one just after.

The machine the benchmarks run on moves under them (other tenants, the CPU's clock): on one day the
bare Flask baseline went from 1 280 to 400 requests a second and back within a run, and the plain
kafka-python baseline measured minutes after the pipeline differed from one measured at its side by
a sixth. A ratio against a baseline taken minutes away can then say "met" or "not met" depending on
the moment. So each figure is measured between two runs of its baseline; its ratio is taken against
their mean, and its verdict is given only when the ratio against each of the two says the same:

* ``yes`` / ``no``: against the run before and the run after alike;
* ``unsteady``: the two disagree: the machine moved enough during the figure to decide the verdict,
  which is then not given (run again).

``spread`` (after − before, over their mean) says how far the machine moved during the figure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Bracket:
    """The baseline's run before a figure and its run after (each a dict of the run's figures)."""

    before: dict
    after: dict

    def mean(self, key: str) -> float:
        return (self.before[key] + self.after[key]) / 2

    def spread(self, key: str) -> float:
        mean = self.mean(key)
        return (self.after[key] - self.before[key]) / mean if mean else math.nan

    def verdict(self, met: Callable[[dict], bool]) -> str:
        """``met(baseline run)`` asked of the run before and of the run after."""
        answers = {bool(met(self.before)), bool(met(self.after))}
        return "unsteady" if len(answers) == 2 else ("yes" if answers == {True} else "no")

    def as_baseline(self, *keys: str) -> dict:
        """The baseline as a figure's record holds it: the mean of each of ``keys``, both runs, and how
        far the first key moved between them."""
        return {**{key: self.mean(key) for key in keys}, "before": self.before, "after": self.after,
                "spread": self.spread(keys[0])}
