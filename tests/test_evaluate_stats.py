"""The statistics of an evaluation on hand-computed values."""

import math

import pytest

from dataset_gen.evaluate_stats import WinRate, breakdown, mean_ci, paired, student_t_cdf, student_t_quantile


@pytest.mark.parametrize(("df", "t"), [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (29, 2.045), (1000, 1.962)])
def test_student_t_quantiles_match_the_printed_table(df, t):
    assert round(student_t_quantile(0.975, df), 3) == t
    assert round(student_t_quantile(0.025, df), 3) == -t


def test_student_t_cdf_has_the_closed_forms_of_one_and_two_degrees_of_freedom():
    for t in (-3.0, -0.5, 0.0, 0.7, 2.5):
        assert student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_mean_and_interval_of_hand_computed_scores():
    # 5, 4, 3: mean 4, s = 1, t(0.975, 2) = 4.302653 → 4 ± 4.302653/√3 = 4 ± 2.484138
    stat = mean_ci([5, 4, 3])
    assert (stat.n, stat.mean, round(stat.low, 3), round(stat.high, 3)) == (3, 4.0, 1.516, 6.484)
    # 1..5: mean 3, s = √2.5, t(0.975, 4) = 2.776445 → 3 ± 2.776445·√0.5 = 3 ± 1.963243
    stat = mean_ci([1, 2, 3, 4, 5])
    assert (round(stat.low, 3), round(stat.high, 3)) == (1.037, 4.963)
    # 90 %: t(0.95, 4) = 2.131847 → 3 ± 1.507443
    stat = mean_ci([1, 2, 3, 4, 5], confidence=0.90)
    assert (round(stat.low, 3), round(stat.high, 3), stat.confidence) == (1.493, 4.507, 0.90)


def test_edge_cases_no_scores_one_score_all_equal_and_a_bad_level():
    assert mean_ci([]) == mean_ci([], 0.95)
    assert (mean_ci([]).n, mean_ci([]).mean, mean_ci([]).low) == (0, None, None)
    assert (mean_ci([4]).mean, mean_ci([4]).low, mean_ci([4]).high) == (4.0, None, None)
    assert (mean_ci([2, 2, 2]).low, mean_ci([2, 2, 2]).high) == (2.0, 2.0)
    with pytest.raises(ValueError, match="a confidence level strictly between 0 and 1 is needed, got 1"):
        mean_ci([1, 2], confidence=1)
    with pytest.raises(ValueError, match="degrees of freedom must be above 0, got 0"):
        student_t_cdf(1.0, 0)


def test_paired_win_rate_counts_only_questions_both_scored():
    base = {1: 5, 2: 3, 3: 2, 4: 4}
    other = {1: 4, 2: 3, 3: 5, 5: 5}
    result = paired(base, other)
    assert (result.wins, result.ties, result.losses, result.compared, result.rate) == (1, 1, 1, 3, 1 / 3)
    assert WinRate(0, 0, 0).rate is None


def test_breakdown_groups_in_first_seen_order():
    groups = breakdown([("b.md", 5), ("a.md", 1), ("b.md", 3)])
    assert list(groups) == ["b.md", "a.md"]
    assert (groups["b.md"].n, groups["b.md"].mean, groups["a.md"].n, groups["a.md"].low) == (2, 4.0, 1, None)
