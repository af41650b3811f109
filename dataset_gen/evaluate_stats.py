"""Pure statistics of an evaluation: means with confidence intervals, paired win rates, breakdowns.

Confidence interval method: **Student t**. For ``n`` scores with mean ``m`` and sample standard
deviation ``s`` (divisor ``n - 1``), the two-sided interval at level ``c`` is
``m ± t(1 - (1 - c) / 2, n - 1) · s / √n``, with ``t`` the Student t quantile computed here from
the regularised incomplete beta function (continued fraction of Numerical Recipes, 3rd ed., §6.4)
and bisection, so no SciPy is needed. It assumes the scores are a sample of independent questions;
with one score there is no interval (``low``/``high`` are ``None``). Scores are 1–5 (an exactly
scored ``choice`` item counts 5 when right, 1 when wrong).

Win rate (paired per question): each question both models scored is a win for the challenger
when its score is higher than the baseline's, a tie when equal, a loss when lower; the win rate
is ``wins / compared`` (ties are not half-wins; they are reported on their own).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["MeanCI", "WinRate", "breakdown", "mean_ci", "paired", "student_t_cdf", "student_t_quantile"]


@dataclass(frozen=True)
class MeanCI:
    """``n`` scores, their ``mean`` (``None`` when ``n == 0``) and the interval ``[low, high]``
    (``None`` when ``n < 2``) at level ``confidence``."""

    n: int
    mean: float | None
    low: float | None
    high: float | None
    confidence: float = 0.95


@dataclass(frozen=True)
class WinRate:
    """A challenger against the baseline over ``compared`` questions both scored: ``wins``,
    ``ties``, ``losses`` (of the challenger) and ``rate = wins / compared`` (``None`` when none)."""

    wins: int
    ties: int
    losses: int

    @property
    def compared(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def rate(self) -> float | None:
        return self.wins / self.compared if self.compared else None


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < eps:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), 0 ≤ x ≤ 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` (> 0) degrees of freedom.

    :raises ValueError: ``df`` ≤ 0.
    """
    if df <= 0:
        raise ValueError(f"degrees of freedom must be above 0, got {df}")
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The ``t`` with P(T ≤ t) = ``p`` (0 < p < 1) for ``df`` degrees of freedom, to about 1e-12
    (bisection on :func:`student_t_cdf`). ``student_t_quantile(0.975, 1)`` is 12.706….

    :raises ValueError: ``p`` not strictly between 0 and 1, or ``df`` ≤ 0.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"a probability strictly between 0 and 1 is needed, got {p}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if student_t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-13:
            break
    return (low + high) / 2.0


def mean_ci(scores: Iterable[float], confidence: float = 0.95) -> MeanCI:
    """Mean of ``scores`` with its Student t interval at ``confidence`` (see the module).

    ``[5, 4, 3]`` gives mean 4 and ``4 ± 4.303 · 1/√3`` = ``[1.516, 6.484]``; an interval is not
    cut to the 1–5 scale. All scores equal give ``low == high == mean``.

    :raises ValueError: ``confidence`` not strictly between 0 and 1.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"a confidence level strictly between 0 and 1 is needed, got {confidence}")
    values = [float(s) for s in scores]
    n = len(values)
    if n == 0:
        return MeanCI(0, None, None, None, confidence)
    mean = math.fsum(values) / n
    if n == 1:
        return MeanCI(1, mean, None, None, confidence)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, n - 1) * sd / math.sqrt(n)
    return MeanCI(n, mean, mean - half, mean + half, confidence)


def paired(baseline: Mapping[Hashable, float], challenger: Mapping[Hashable, float]) -> WinRate:
    """Win/tie/loss of ``challenger`` against ``baseline`` over the questions (keys) both scored."""
    wins = ties = losses = 0
    for key, mine in challenger.items():
        if key not in baseline:
            continue
        theirs = baseline[key]
        if mine > theirs:
            wins += 1
        elif mine == theirs:
            ties += 1
        else:
            losses += 1
    return WinRate(wins, ties, losses)


def breakdown(rows: Iterable[tuple[Hashable, float]], confidence: float = 0.95) -> dict[Hashable, MeanCI]:
    """``(group, score)`` rows → group → :func:`mean_ci` of its scores, groups in first-seen order."""
    groups: dict[Hashable, list[float]] = {}
    for key, score in rows:
        groups.setdefault(key, []).append(score)
    return {key: mean_ci(values, confidence) for key, values in groups.items()}
