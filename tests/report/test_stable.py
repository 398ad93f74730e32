"""The report does not depend on the order a results file lists series in, and its files are
written with the permissions of any other output."""

from __future__ import annotations

import os
import stat

import pytest
from matplotlib.colors import to_hex

from mechequiv._io import atomic_write_json
from mechequiv.report import figures as F
from mechequiv.study.report import write_report
from tests.report.example import synthetic_results


def _line_colours(fig) -> dict[str, str]:
    return {
        line.get_label(): to_hex(line.get_color())
        for ax in fig.axes
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }


def test_series_keep_their_colour_whatever_the_order():
    curves = synthetic_results()["zoo"]["curves"]
    groups = {n: ("Pizza" if n.startswith("pizza") else "Clock") for n in curves}
    forward = _line_colours(F.training_curves(curves, groups=groups))
    backward = _line_colours(F.training_curves(dict(reversed(curves.items())), groups=groups))
    assert forward == backward and forward["Pizza"] != forward["Clock"]
    ts = synthetic_results()["tensorsim"]
    a = F.similarity_over_training(ts["steps"], {"m": ts["matrix"]}, curves=ts["curves"])
    b = F.similarity_over_training(
        ts["steps"], {"m": ts["matrix"]}, curves=dict(reversed(ts["curves"].items()))
    )
    assert _line_colours(a) == _line_colours(b)


def test_group_colours_agree_between_heatmap_ticks_and_curves():
    r = synthetic_results()
    eq = r["equivalence"]
    heat = F.congruity_heatmap(eq["names"], eq["score"], eq["ci_low"], eq["ci_high"],
                               groups=eq["groups"])  # fmt: skip
    ticks = {t.get_text(): to_hex(t.get_color()) for t in heat.axes[0].get_yticklabels()}
    groups = dict(zip(eq["names"], eq["groups"], strict=True))
    curves = _line_colours(F.training_curves(r["zoo"]["curves"], groups=groups))
    for name, group in groups.items():
        assert ticks[name] == curves[group]


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        report = write_report(synthetic_results(), tmp_path / "report.html")
        data = atomic_write_json(tmp_path / "results.json", {"a": 1})
    finally:
        os.umask(old)
    for path in (report, data):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_json_keeps_order_when_asked(tmp_path):
    path = atomic_write_json(tmp_path / "r.json", {"b": 1, "a": 2}, sort_keys=False)
    assert path.read_text().index('"b"') < path.read_text().index('"a"')


def test_the_introduction_names_only_the_methods_present():
    from mechequiv.report.texts import INTRO, intro
    from mechequiv.study.report import render_report

    every = [
        "interpretive equivalence (Congruity)",
        "tensor similarity",
        "an identifiability audit",
    ]
    assert intro(every, measures=True) == INTRO
    assert "three complementary methods" in INTRO
    r = synthetic_results()
    page = render_report({"summary": r["summary"], "equivalence": r["equivalence"]})
    start = page.index('<p class="intro">')
    text = page[start : page.index("</p>", start)]
    assert "one method: interpretive equivalence (Congruity)" in text
    assert "tensor similarity" not in text and "identifiability" not in text
    assert intro([], measures=True).endswith(
        "compares them with the classical representational similarity measures {cite:klabunde2025}."
    )
    assert intro(every[1:], measures=False).endswith(
        "two complementary methods: tensor similarity and an identifiability audit."
    )
