"""The exact-equivalence calibration figure (its place in the study's identifiability section is
tested in tests/study/test_identifiability_calibration.py)."""

from __future__ import annotations

import pytest

from mechequiv.identifiability.calibration import CalibrationData
from mechequiv.report import figures as F

DATA = CalibrationData(
    "congruity[distill]", "same_algorithms", "seed pairs",
    (0.1, 0.2, 0.8, 0.9, 0.5, 0.95), (False, False, True, False, True, True),
)  # fmt: skip


def test_figure_has_reliability_and_roc_per_predictor():
    other = CalibrationData("linear_cka", DATA.label, DATA.subset, DATA.scores[::-1], DATA.labels)
    fig = F.exact_equivalence_calibration([DATA, other.to_dict()])
    axes = fig.get_axes()
    assert len(axes) == 4
    rel, roc = axes[0], axes[1]
    assert len(rel.patches) == 10  # one bar per bin
    heights = [p.get_height() for p in rel.patches]
    # last bin: 0.9 (no) and 0.95 (yes); bin [0.8, 0.9): 0.8 (yes); bin [0.1, 0.2): 0.1 (no)
    assert heights[-1] == pytest.approx(0.5) and heights[8] == pytest.approx(1.0)
    assert heights[1] == pytest.approx(0.0)
    assert f"AUC {DATA.auc:.2f}" in roc.get_title()
    assert any(t.get_text() == "n=2" for t in rel.texts)
    with pytest.raises(ValueError, match="at least one"):
        F.exact_equivalence_calibration([])
