"""Scoring a predictor against exact equivalence: AUC, network bootstrap, reliability, figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mechequiv.identifiability.calibration import (
    CalibrationData,
    _weighted_auc,
    calibration_data,
    network_bootstrap_auc,
    roc_auc,
    shuffled_null,
)


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    s = np.round(rng.random(80), 1)  # many ties
    y = rng.random(80) < 0.3
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert np.isnan(roc_auc(s, np.zeros(80, dtype=bool)))
    with pytest.raises(ValueError, match="one length"):
        roc_auc(s, y[:-1])


def test_network_bootstrap_interval_brackets_the_auc():
    rng = np.random.default_rng(1)
    names = [f"n{i}" for i in range(12)]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    y = rng.random(len(pairs)) < 0.3
    s = y + rng.normal(0, 0.8, len(pairs))
    value = roc_auc(s, y)
    lo, hi = network_bootstrap_auc(s, y, pairs, np.random.default_rng(2), n_boot=400)
    assert lo < value < hi and value > 0.5
    with pytest.raises(ValueError, match="one pair per score"):
        network_bootstrap_auc(s, y, pairs[:-1], rng)


def test_replicate_weights_equal_an_expanded_pair_list():
    # a replicate weighs a pair by the product of its networks' multiplicities: the same AUC
    # as the pair list with each pair repeated that many times
    rng = np.random.default_rng(5)
    s = np.round(rng.random(30), 1)
    y = rng.random(30) < 0.4
    w = rng.integers(0, 4, 30)
    expanded = roc_auc(np.repeat(s, w), np.repeat(y, w))
    assert _weighted_auc(s, y, w.astype(float)) == pytest.approx(expanded, abs=1e-12)


def test_shuffled_null_is_centred_on_chance():
    rng = np.random.default_rng(4)
    s = rng.random(200)
    y = s > 0.7  # perfect predictor
    null = shuffled_null(s, y, rng, 300)
    assert roc_auc(s, y) == 1.0
    assert abs(null.mean() - 0.5) < 0.03 and null.max() < 0.8


def test_reliability_bins_and_roc():
    d = CalibrationData(
        "congruity[x]", "same_algorithms", "trained pairs",
        (0.05, 0.15, 0.95, 0.95, 0.55, 1.0), (False, False, True, False, True, True), bins=10,
    )  # fmt: skip
    rel = d.reliability()
    assert [b.n for b in rel] == [1, 1, 0, 0, 0, 1, 0, 0, 0, 3]
    assert rel[-1].observed_rate == pytest.approx(2 / 3) and rel[2].observed_rate is None
    fpr, tpr = d.roc_curve()
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(d.auc) or d.auc == pytest.approx(
        roc_auc_score(d.labels, d.scores)
    )
    assert CalibrationData.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    with pytest.raises(ValueError, match="as many labels"):
        CalibrationData("p", "l", "s", (0.1,), (True, False))


def test_calibration_data_from_results(tmp_path):
    rows = [
        {"a": "n1", "b": "n2", "kind": "seeds", "same_algorithms": True, "congruity[d]": 0.9},
        {"a": "n1", "b": "n3", "kind": "cross-width", "same_algorithms": False,
         "congruity[d]": 0.2},
        {"a": "n1", "b": "n1*", "kind": "symmetry copy", "same_algorithms": True,
         "congruity[d]": 1.0},
        {"a": "n2", "b": "n3", "kind": "seeds", "same_algorithms": False, "congruity[d]": None},
    ]  # fmt: skip
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"pairs": rows}))
    d = calibration_data(path, "congruity[d]")
    assert d.scores == (0.9, 0.2) and d.labels == (True, False)
    assert len(calibration_data({"pairs": rows}, "congruity[d]", subset="all pairs").scores) == 3
    with pytest.raises(ValueError, match="unknown predictor"):
        calibration_data({"pairs": rows}, "cka")
    with pytest.raises(ValueError, match="subset must be"):
        calibration_data({"pairs": rows}, "congruity[d]", subset="some")


def test_calibration_data_subsets_and_the_renamed_one():
    rows = [
        {"a": "n1", "b": "n2", "kind": "seeds", "same_algorithms": True, "c": 0.9},
        {"a": "n1", "b": "n3", "kind": "cross-width", "same_algorithms": False, "c": 0.2},
        {"a": "h1", "b": "h2", "kind": "hand-built", "same_algorithms": True, "c": 0.7},
        {"a": "n1", "b": "n1*", "kind": "symmetry copy", "same_algorithms": True, "c": 1.0},
    ]  # fmt: skip
    data = {"pairs": rows}
    assert calibration_data(data, "c", subset="trained pairs").scores == (0.9, 0.2)
    assert calibration_data(data, "c", subset="hand-built pairs").scores == (0.7,)
    assert len(calibration_data(data, "c", subset="all pairs").scores) == 4
    # the old name meant every trained pair, cross-width included: same pairs, and a warning
    with pytest.warns(DeprecationWarning, match="trained pairs"):
        old = calibration_data(data, "c", subset="seed pairs")
    assert old.scores == (0.9, 0.2) and old.subset == "trained pairs"
