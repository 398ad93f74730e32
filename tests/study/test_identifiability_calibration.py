"""The identifiability section's opt-in calibration: exact equivalence of the audited networks'
pairs beside linear CKA and Procrustes, stored, reloaded, summarised and rendered."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mechequiv.identifiability.calibration import roc_auc
from mechequiv.identifiability.pair_scores import PairScore
from mechequiv.report.html import Page
from mechequiv.study import StudyContext, load_config
from mechequiv.study.sections import identifiability as section
from mechequiv.study.sections.base import SettingsError

PER_SEED = [{"width": 2, "seed": s, "circuits": 1, "interpretations": 2, "mappings": 2}
            for s in range(4)]  # fmt: skip


def _pairs(n_pos: int, n_neg: int) -> tuple[PairScore, ...]:
    """Positives score high on CKA except the last one, so the AUC is known in closed form."""
    out = []
    for i in range(n_pos):
        cka = 0.9 if i < n_pos - 1 else 0.1
        out.append(PairScore(f"p{i}", f"q{i}", (2, 2), True, True,
                             {"linear_cka": cka, "-procrustes": -0.2}))  # fmt: skip
    for i in range(n_neg):
        out.append(PairScore(f"n{i}", f"m{i}", (2, 2), False, i % 2 == 0,
                             {"linear_cka": 0.5, "-procrustes": -1.0}))  # fmt: skip
    out.append(PairScore("x", "y", (2, 3), False, False, {"linear_cka": 0.3, "-procrustes": None}))
    return tuple(out)


def _result(pairs: tuple[PairScore, ...] | None, skipped=()) -> section.IdentifiabilityResult:
    cal = None if pairs is None else section.PairCalibration(pairs, tuple(skipped))
    return section.IdentifiabilityResult([2], PER_SEED, "XOR", cal)


def test_calibration_is_opt_in_documented_and_checked():
    table = load_config().steps["identifiability"]
    assert table["calibration"] is False
    assert "calibration = false" in section.DEFAULTS and "Opt-in" in section.DEFAULTS
    with pytest.raises(SettingsError, match=r"identifiability\.calibration"):
        section.SECTION.parse({**table, "calibration": "yes"})


def test_results_round_trip_with_and_without_calibration_and_old_results_load():
    for r in (_result(None), _result(_pairs(4, 5), ["k=4 seed 1: too many"])):
        d = json.loads(json.dumps(r.to_dict()))
        assert section.SECTION.load(d) == r
    old = {"task": "XOR", "widths": [2], "per_seed": PER_SEED}  # written before calibration
    assert section.SECTION.load(old).calibration is None
    bad = _result(_pairs(1, 1)).to_dict()
    bad["calibration"]["pairs"][0]["equivalent"] = "yes"
    with pytest.raises(TypeError, match=r"\['calibration'\]\['pairs'\]\[0\]\['equivalent'\]"):
        section.SECTION.load(bad)


def test_auc_and_null_beside_it_and_too_few_positives_said_plainly():
    seed_pairs = [p for p in _pairs(4, 5) if p.widths == (2, 2)]
    e = section.auc_entry(seed_pairs, "linear_cka", "equivalent")
    # 3 positives above all 5 negatives, 1 below all: AUC 15 / 20
    assert e.auc == pytest.approx(0.75) and e.positives == 4 and e.n == 9
    assert e.auc == roc_auc([p.scores["linear_cka"] for p in seed_pairs],
                            [p.equivalent for p in seed_pairs])  # fmt: skip
    assert e.null is not None and e.null[0] < 0.5 < e.null[1] and e.null[1] < 1.0
    few = section.auc_entry(seed_pairs[:2] + seed_pairs[4:], "linear_cka", "equivalent")
    assert few.auc is None and few.positives == 2
    assert section.auc_entry(list(_pairs(4, 5)), "-procrustes", "equivalent").n == 9  # None out

    enough = section.summary(_result(_pairs(4, 5)))
    assert len(enough) == 2 and "equivalent in 4 of 9 seed pairs: linear_cka AUC 0.75" in enough[1]
    few_lines = section.summary(_result(_pairs(1, 5)))
    assert "equivalent in 1 of 6 seed pairs: too few for an AUC" in few_lines[1]
    assert len(section.summary(_result(None))) == 1


def test_rendering_with_and_without_calibration():
    without = section.report(Page(), _result(None))
    assert [p[0] for p in without] == ["identifiability"]
    parts = section.report(Page(), _result(_pairs(4, 5), ["k=4 seed 1: too many"]))
    assert [p[0] for p in parts] == ["identifiability", "identifiability-calibration"]
    body = parts[1][2]
    assert "<img" in body and "4 of 9 pairs are positive" in body
    assert "0.75" in body and "shuffled-label AUC" in body and "k=4 seed 1: too many" in body
    assert "all pairs" in body  # the cross-width pair adds a subset
    few = section.report(Page(), _result(_pairs(1, 5)))[1][2]
    assert "too few for an AUC" in few and "Only 1 of 6 pairs are exactly equivalent" in few


def test_a_small_run_with_calibration_scores_the_pairs_of_its_networks(tmp_path):
    # width 3 converges from seeds 0 and 2 (seed 1 does not): two networks, one pair, seconds
    s = section.SECTION.parse(
        {"task": "XOR", "widths": [3], "seeds": 2, "max_tries": 4, "calibration": True}
    )
    r = section.run(StudyContext(load_config(), tmp_path, progress=False, log=lambda m: None), s)
    assert [row["seed"] for row in r.per_seed] == [0, 2] and r.calibration is not None
    assert r.calibration.skipped == ()
    (p,) = r.calibration.pairs
    assert (p.a, p.b, p.widths) == ("k=3 seed 0", "k=3 seed 2", (3, 3))
    # two independently trained networks: different circuit counts, so not exactly equivalent
    assert r.per_seed[0]["circuits"] != r.per_seed[1]["circuits"] and not p.equivalent
    cka = p.scores["linear_cka"]
    assert cka is not None and 0 < cka < 1
    assert section.SECTION.load(json.loads(json.dumps(r.to_dict()))) == r
    assert np.isfinite([p.scores["-procrustes"] for p in r.calibration.pairs]).all()
