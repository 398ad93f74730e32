"""The figures that moved into report.figures from tensorsim and identifiability, and their
deprecated old entry points."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from mechequiv.report import figures


def test_checkpoint_matrix_draws_marks_and_curves(tmp_path) -> None:
    M = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.8], [0.2, 0.8, 1.0]])
    fig = figures.checkpoint_matrix(M, [0, 10, 20], title="t", marks=[1], curves={"acc": [0, 1, 1]})
    heat, below = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in heat.get_xticklabels()] == ["0", "10", "20"]
    assert len(heat.lines) == 2 and heat.lines[0].get_ydata()[0] == 0.5  # mark before index 1
    assert list(below.lines[0].get_ydata()) == [0, 1, 1]
    path = figures.save_figure(fig, tmp_path / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(figures.checkpoint_matrix(M, [0, 1, 2]).axes) == 2  # heatmap + colour bar
    with pytest.raises(ValueError, match="3x3"):
        figures.checkpoint_matrix(M[:2], [0, 1, 2])
    with pytest.raises(ValueError, match="marks"):
        figures.checkpoint_matrix(M, [0, 1, 2], marks=[5])


def test_counts_against_width_medians_zero_floor_and_reference() -> None:
    rows = [
        {"width": 2, "interpretations": 4, "mappings": 0},
        {"width": 2, "interpretations": 8, "mappings": 2},
        {"width": 3, "interpretations": 100, "mappings": None},
    ]
    fig = figures.counts_against_width(rows, reference={"interpretations": {2: 35, 3: 7000}})
    left, right = fig.axes
    median, ref = left.lines[0], left.lines[1]
    assert list(median.get_ydata()) == [6.0, 100.0]
    assert list(ref.get_ydata()) == [35.0, 7000.0]
    assert any("1 network(s) with 0" in t.get_text() for t in right.texts)
    assert right.lines[0].get_ydata()[0] == pytest.approx(1.0)  # median 1 of {0, 2}
    with pytest.raises(ValueError, match="at least one network"):
        figures.counts_against_width([])


def test_old_plotting_entry_points_warn_and_delegate(tmp_path) -> None:
    from mechequiv.identifiability.study import count_records, plot_counts
    from mechequiv.tensorsim.dynamics import plot_matrix

    with pytest.warns(DeprecationWarning, match=r"report\.figures\.checkpoint_matrix"):
        fig = plot_matrix(np.eye(2), [0, 5], path=tmp_path / "old.png")
    assert isinstance(fig, Figure) and (tmp_path / "old.png").stat().st_size > 0

    class Report:  # the fields count_records reads
        hidden_width, n_interpretations, n_mappings = 3, 12, 4

    assert count_records([Report()]) == [{"width": 3, "interpretations": 12, "mappings": 4}]
    with pytest.warns(DeprecationWarning, match="counts_against_width"):
        assert len(plot_counts([Report()]).axes) == 2
