"""Study steps show their progress (counts and ETA) when asked, and nothing when not."""

from __future__ import annotations

from mechequiv.study import StudyContext, load_config
from mechequiv.study.sections import identifiability

SETTINGS = identifiability.SECTION.parse(
    {
        "enabled": True,
        "task": "XOR",
        "widths": [4],
        "seeds": 1,
        "max_tries": 3,
        "calibration": False,
    }
)


def test_identifiability_counts_converged_networks(tmp_path, capsys):
    ctx = StudyContext(load_config(), tmp_path, progress=True, log=lambda m: None)
    result = identifiability.run(ctx, SETTINGS)
    shown = capsys.readouterr().out
    assert "identifiability XOR" in shown and "1/1" in shown
    assert len(result.per_seed) == 1


def test_no_progress_when_switched_off(tmp_path, capsys):
    ctx = StudyContext(load_config(), tmp_path, progress=False, log=lambda m: None)
    identifiability.run(ctx, SETTINGS)
    assert "identifiability" not in capsys.readouterr().out
