"""Each figure function on synthetic data: what it draws, and its errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from mechequiv.report import figures as F

PNG = b"\x89PNG\r\n\x1a\n"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def _image_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


@pytest.fixture
def congruity(results):
    return results["equivalence"]


def test_congruity_heatmap_annotates_every_cell_with_score_and_ci(congruity) -> None:
    names = congruity["names"]
    score = np.array(congruity["score"])
    score[0, 1] = score[1, 0] = np.nan  # a pair that was not computed stays blank
    fig = F.congruity_heatmap(names, score, congruity["ci_low"], congruity["ci_high"])
    assert _png(fig).startswith(PNG)
    (ax,) = _image_axes(fig)
    texts = {t.get_text() for t in ax.texts}
    m = len(names)
    assert len(ax.texts) == m * m - 2
    lo, hi = np.array(congruity["ci_low"]), np.array(congruity["ci_high"])
    for i, j in [(0, 0), (2, 3), (5, 4)]:
        assert f"{score[i, j]:.2f}\n[{lo[i, j]:.2f}, {hi[i, j]:.2f}]" in texts
    np.testing.assert_array_equal(ax.images[0].get_array().filled(np.nan), score)
    assert ax.images[0].get_clim() == (0.0, 1.0)


def test_congruity_heatmap_marks_groups(congruity) -> None:
    fig = F.congruity_heatmap(
        congruity["names"], congruity["score"], congruity["ci_low"], congruity["ci_high"],
        groups=congruity["groups"], level=0.95,
    )  # fmt: skip
    (ax,) = _image_axes(fig)
    top = next(c for c in ax.child_axes if c.get_label() != "<colorbar>")
    assert [t.get_text() for t in top.get_xticklabels()] == ["Pizza", "Clock"]
    np.testing.assert_allclose(top.get_xticks(), [1.0, 4.0])  # centres of cells 0-2 and 3-5
    boundaries = {
        line.get_xdata()[0] for line in ax.lines if line.get_xdata()[0] == line.get_xdata()[1]
    }
    assert boundaries == {2.5}
    colours = {t.get_text(): t.get_color() for t in ax.get_xticklabels()}
    assert colours["pizza-0"] == colours["pizza-2"] != colours["clock-0"]


def test_congruity_heatmap_large_matrix_drops_ci_text() -> None:
    m = 16
    S = np.full((m, m), 0.5)
    fig = F.congruity_heatmap([f"m{i}" for i in range(m)], S, S - 0.1, S + 0.1)
    (ax,) = _image_axes(fig)
    assert {t.get_text() for t in ax.texts} == {"0.50"}


def test_congruity_heatmap_errors(congruity) -> None:
    names = congruity["names"]
    S = np.array(congruity["score"])
    with pytest.raises(ValueError, match=r"ci_low: expected a 6x6 matrix, found 5x6"):
        F.congruity_heatmap(names, S, S[:5], S)
    with pytest.raises(ValueError, match="expected 6 names, found 5"):
        F.congruity_heatmap(names, S, S, S, groups=["a"] * 5)
    with pytest.raises(TypeError, match="expected a list of strings"):
        F.congruity_heatmap("abc", S, S, S)
    with pytest.raises(TypeError, match="expected numbers or null, found str"):
        F.congruity_heatmap(names, [["x"] * 6] * 6, S, S)


def test_measure_heatmaps_orients_distances_so_darker_is_more_similar(congruity) -> None:
    mats = {"Congruity": congruity["score"], **congruity["baselines"]}
    fig = F.measure_heatmaps(congruity["names"], mats, groups=congruity["groups"])
    assert _png(fig).startswith(PNG)
    axes = _image_axes(fig)
    assert len(axes) == 3
    cmaps = [ax.images[0].get_cmap().name for ax in axes]
    assert cmaps == ["YlGnBu", "YlGnBu", "YlGnBu_r"]  # procrustes is a registered distance
    assert "lower = more similar" in axes[2].get_title()
    # Registered ranges set the colour limits: linear_cka [0, 1], procrustes [0, pi/2].
    assert axes[1].images[0].get_clim() == (0.0, 1.0)
    np.testing.assert_allclose(axes[2].images[0].get_clim(), (0.0, np.pi / 2))


def test_measure_heatmaps_wrap_three_per_row(congruity) -> None:
    mats = {name: congruity["score"] for name in ("Congruity", "linear_cka", "rsa", "cca")}
    fig = F.measure_heatmaps(congruity["names"], mats)
    axes = _image_axes(fig)
    assert [ax.get_title().split("\n")[0] for ax in axes] == list(mats)
    rows = sorted({round(ax.get_position().y0, 3) for ax in axes}, reverse=True)
    assert len(rows) == 2
    assert [round(ax.get_position().y0, 3) for ax in axes] == [rows[0]] * 3 + [rows[1]]
    assert sum(ax.get_visible() for ax in fig.axes if ax.get_label() != "<colorbar>") == 4


def test_measure_heatmaps_options_and_errors(congruity) -> None:
    names, S = congruity["names"], congruity["score"]
    fig = F.measure_heatmaps(
        names, {"custom": S}, kinds={"custom": "distance"}, ranges={"custom": (0, 2)}
    )
    (ax,) = _image_axes(fig)
    assert ax.images[0].get_cmap().name == "YlGnBu_r"
    assert ax.images[0].get_clim() == (0.0, 2.0)
    with pytest.raises(ValueError, match="expected 'similarity' or 'distance', found 'big'"):
        F.measure_heatmaps(names, {"custom": S}, kinds={"custom": "big"})
    with pytest.raises(ValueError, match="at least one measure"):
        F.measure_heatmaps(names, {})
    with pytest.raises(ValueError, match="ragged"):
        F.measure_heatmaps(names, {"custom": [[1.0, 2.0], [3.0]]})


def test_similarity_over_training_aligns_curves_and_marks_a_step(results) -> None:
    ts = results["tensorsim"]
    steps = ts["steps"]
    k = len(steps)
    mats = {"tensor similarity": torch.tensor(ts["matrix"]), **ts["baselines"]}
    fig = F.similarity_over_training(steps, mats, curves=ts["curves"], marker_step=steps[4])
    assert _png(fig).startswith(PNG)
    heat = _image_axes(fig)
    assert [ax.get_title() for ax in heat] == ["tensor similarity", "weight cosine"]
    curve_axes = [ax for ax in fig.axes if ax.get_lines() and not ax.images]
    assert len(curve_axes) == 2
    for ax in curve_axes:
        plotted = [line for line in ax.get_lines() if len(line.get_xdata()) == k]
        assert len(plotted) == len(ts["curves"])
        np.testing.assert_array_equal(plotted[0].get_xdata(), np.arange(k))  # checkpoint axis
        np.testing.assert_allclose(plotted[0].get_ydata(), ts["curves"]["test_accuracy"])
        assert ax.get_xlim() == heat[0].get_xlim()
        marks = [line.get_xdata()[0] for line in ax.get_lines() if len(line.get_xdata()) == 2]
        assert marks == [3.5]  # between checkpoint 3 and checkpoint 4
    labels = [t.get_text() for t in curve_axes[0].get_xticklabels()]
    assert labels[0] == str(steps[0]) and labels[-1] == str(steps[-1])


def test_similarity_over_training_without_curves_and_errors(results) -> None:
    ts = results["tensorsim"]
    fig = F.similarity_over_training(ts["steps"], {"m": ts["matrix"]})
    assert len(_image_axes(fig)) == 1
    assert not [ax for ax in fig.axes if ax.get_lines()]
    with pytest.raises(ValueError, match=r"curves\['acc'\]: expected 12 values, found 3"):
        F.similarity_over_training(ts["steps"], {"m": ts["matrix"]}, curves={"acc": [1, 2, 3]})
    with pytest.raises(ValueError, match="expected a 12x12 matrix"):
        F.similarity_over_training(ts["steps"], {"m": [[1.0]]})
    with pytest.raises(ValueError, match="at least one matrix"):
        F.similarity_over_training(ts["steps"], {})


def test_identifiability_counts_medians_points_and_zero_on_log_axis() -> None:
    rows = [
        {"width": 2, "seed": 0, "circuits": 0, "mappings": 1},
        {"width": 2, "seed": 1, "circuits": 4, "mappings": 3},
        {"width": 2, "seed": 2, "circuits": 9, "mappings": 2},
        {"width": 5, "seed": 0, "circuits": 100, "mappings": 7},
        {"width": 5, "seed": 1, "circuits": 300, "mappings": 9},
    ]
    fig = F.identifiability_counts(rows)
    assert _png(fig).startswith(PNG)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["circuits", "mappings"]
    ax = axes[0]
    assert ax.get_yscale() == "symlog"
    (median,) = [line for line in ax.get_lines() if line.get_label() == "median"]
    np.testing.assert_allclose(median.get_ydata(), [4.0, 200.0])
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    assert sorted(points[:, 1].tolist()) == [0, 4, 9, 100, 300]  # the zero is kept
    assert sorted(np.round(points[:, 0]).tolist()) == [0, 0, 0, 1, 1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2\n(n=3)", "5\n(n=2)"]


def test_identifiability_counts_errors() -> None:
    with pytest.raises(ValueError, match="at least one network"):
        F.identifiability_counts([])
    with pytest.raises(ValueError, match="count columns"):
        F.identifiability_counts([{"width": 2, "seed": 0}])
    with pytest.raises(ValueError, match="needs a 'width'"):
        F.identifiability_counts([{"circuits": 2}])


def test_training_curves_one_line_per_run_coloured_by_group(results) -> None:
    curves = results["zoo"]["curves"]
    groups = {m["name"]: m["group"] for m in results["zoo"]["models"]}
    fig = F.training_curves(curves, groups=groups)
    assert _png(fig).startswith(PNG)
    loss, acc = fig.axes
    assert loss.get_yscale() == "log" and acc.get_yscale() == "linear"
    assert len(loss.get_lines()) == len(curves) == len(acc.get_lines())
    legend = [t.get_text() for t in loss.get_legend().get_texts()]
    assert legend == ["Pizza", "Clock"]
    by_group: dict[str, set] = {}
    for line, run in zip(acc.get_lines(), curves, strict=True):
        by_group.setdefault(groups[run], set()).add(line.get_color())
        np.testing.assert_allclose(line.get_ydata(), curves[run]["test_accuracy"])
    assert all(len(c) == 1 for c in by_group.values())
    assert by_group["Pizza"] != by_group["Clock"]


def test_training_curves_errors() -> None:
    with pytest.raises(ValueError, match="missing required key 'steps'"):
        F.training_curves({"a": {"loss": [1.0]}})
    with pytest.raises(ValueError, match=r"curves\['a'\]\['loss'\]: expected 2 values, found 1"):
        F.training_curves({"a": {"steps": [0, 1], "loss": [1.0]}})
    with pytest.raises(ValueError, match="at least one metric"):
        F.training_curves({"a": {"steps": [0, 1]}})
    with pytest.raises(TypeError, match="expected a dict"):
        F.training_curves([1, 2])


def test_dollar_signs_in_names_are_shown_literally() -> None:
    """A '$' must not start matplotlib's math mode (unbalanced math would fail to draw)."""
    names = ["a$^{", "$b$", "c"]
    S = np.eye(3)
    fig = F.congruity_heatmap(names, S, S, S, groups=["$x", "$x", "y$"], title="cost in $")
    _png(fig)
    (ax,) = _image_axes(fig)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [r"a\$^{", r"\$b\$", "c"]  # matplotlib draws '\$' as '$'
    _png(F.training_curves({"$r": {"steps": [0, 1], "lo$s": [1.0, 0.5]}}, groups={"$r": "g$^"}))
    _png(F.identifiability_counts([{"width": 2, "$n_{": 3}]))
    _png(F.similarity_over_training([0, 1], {"$m^": S[:2, :2]}, curves={"a$_": [0, 1]}))
