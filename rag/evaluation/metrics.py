"""The measures ``rag eval`` and the benchmarks share: one definition of each.

A *hit* is a passage holding one of a question's evidence strings (accent- and
case-folded); ranks are 1-based, ``None`` for no hit.

>>> ranks = [first_hit(["Le traité expire.", "Prolongé le 3 février."], ["prolonge"]), None]
>>> ranks, recall_at(ranks, 1), recall_at(ranks, 2), mean_reciprocal_rank(ranks)
([2, None], 0.0, 0.5, 0.25)
>>> percentile([30.0, 10.0, 20.0, 40.0], 50), percentile([30.0, 10.0, 20.0, 40.0], 95)
(20.0, 40.0)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

from rag.text import fold


def holds_evidence(text: str, evidence: Iterable[str]) -> bool:
    """Does ``text`` hold one of the evidence strings (folded comparison)?"""
    folded = fold(text)
    return any(fold(e) in folded for e in evidence)


def is_correct(answer: str, groups: list[list[str]]) -> bool:
    """Every group has one of its strings in the answer (folded comparison)."""
    folded = fold(answer)
    return all(any(fold(s) in folded for s in group) for group in groups)


def first_hit(texts: Iterable[str], evidence: Sequence[str]) -> int | None:
    """The rank of the first text holding evidence, or None."""
    return next((i + 1 for i, t in enumerate(texts) if holds_evidence(t, evidence)), None)


def recall_at(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of questions with a hit in the top ``k`` (rounded to 0.001; None for none)."""
    return round(sum(1 for r in ranks if r is not None and r <= k) / len(ranks), 3) if ranks else None


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float | None:
    return round(statistics.fmean(1 / r if r else 0 for r in ranks), 3) if ranks else None


def percentile(values: Iterable[float], q: float, digits: int = 3) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) — the p50 and p95 of every figure here."""
    xs = sorted(values)
    if not xs:
        return None
    return round(xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))], digits)
