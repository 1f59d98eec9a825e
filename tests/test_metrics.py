import numpy as np
import pytest
from scipy import stats

from mubench.merge import BootstrapSettings, table1
from mubench.metrics import bootstrap_ci, pooled_accuracy


def test_pooled_accuracy():
    assert pooled_accuracy(3, 4) == 0.75
    assert np.isnan(pooled_accuracy(0, 0))


def test_scipy_engine_is_the_papers_call():
    """Same seed, same data: identical to calling scipy.stats.bootstrap as the paper did."""
    data = np.array([1] * 37 + [0] * 63, dtype=float)
    expected = stats.bootstrap((data,), np.mean, confidence_level=0.95, method="basic",
                               rng=np.random.default_rng(7)).confidence_interval
    got = bootstrap_ci(37, 100, seed=7, engine="scipy")
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_hand_computed_two_questions():
    # n=2, k=1: resample means are 0, 0.5, 1 with p = 1/4, 1/2, 1/4. The 2.5% and 97.5%
    # quantiles are 0 and 1, so the basic interval is 2·0.5 − (1, 0) = (0, 1) and "±" is 0.5.
    for engine in ("binomial", "scipy"):
        ci = bootstrap_ci(1, 2, engine=engine)
        assert (ci.low, ci.high, ci.plus_minus) == pytest.approx((0.0, 1.0, 0.5))


def test_all_correct_has_zero_width():
    ci = bootstrap_ci(50, 50)
    assert (ci.accuracy, ci.low, ci.high, ci.plus_minus) == (1.0, 1.0, 1.0, 0.0)


@pytest.mark.parametrize("correct,total", [(180, 1000), (500, 1000), (1630, 4000)])
def test_binomial_engine_matches_scipy_and_normal_theory(correct, total):
    fast = bootstrap_ci(correct, total, seed=1, engine="binomial")
    slow = bootstrap_ci(correct, total, seed=2, engine="scipy")
    p = correct / total
    normal = 1.959964 * np.sqrt(p * (1 - p) / total)
    for ci in (fast, slow):
        assert ci.plus_minus == pytest.approx(normal, rel=0.08)
    assert fast.plus_minus == pytest.approx(slow.plus_minus, rel=0.08)


def _score(model, task, per_qtype):
    return {"model": model, "task": task, "model_info": {"display_name": model.upper(), "model_type": "contrastive"},
            "per_question_type": {q: {"correct": c, "questions": n} for q, (c, n) in per_qtype.items()}}


def test_table1_pools_questions_not_task_means():
    scores = [_score("m", "a", {"domain": (9, 10), "classification": (1, 1)}),
              _score("m", "b", {"stain": (1, 90), "classification": (0, 3)})]
    row = table1(scores, BootstrapSettings(n_resamples=2000))[0]
    # pooled: (9 + 1) / (10 + 90) = 10%, not the task mean (90% + 1.1%) / 2
    assert row["coarse_accuracy"] == "10.00"
    assert (row["coarse_questions"], row["fine_questions"], row["fine_correct"]) == (100, 4, 1)
    assert row["fine_accuracy"] == "25.00"
    assert row["coarse"].startswith("10.00 ± ")
