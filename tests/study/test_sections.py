"""One file and one registry line make an experiment: a toy section runs, caches, resumes,
summarises and renders; settings are typed and checked; old results render from their own
descriptors."""

from __future__ import annotations

import json

import pytest

from mechequiv.study import StudyConfig, load_config, run_study
from mechequiv.study.registry import SECTIONS
from mechequiv.study.report import render_report
from mechequiv.study.sections.base import SettingsError
from mechequiv.study.sections.measures import MeasuresResult
from tests.study import toy_section


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(SECTIONS, "toy", toy_section.toy_section())


def test_a_registered_section_runs_caches_resumes_and_renders(registered, tmp_path):
    cfg = StudyConfig("toy study", 0, {"toy": {"x": 3}})
    logs: list[str] = []
    first = run_study(cfg, tmp_path, progress=False, log=logs.append)
    assert first["toy"] == {"value": 3, "pooled": False} and first["cached"] == []
    assert first["summary"] == ["Toy: value 3."]
    assert first["versions"]["toy step"].startswith("version 1, code ")
    again = run_study(cfg, tmp_path, progress=False, log=logs.append)
    assert again["cached"] == ["toy"] and again["toy"] == first["toy"]
    assert logs[-1].startswith("[1/1] toy: cached")
    saved = json.loads((tmp_path / "results.json").read_text())
    page = render_report(saved)
    assert "<section id='toy'><h2>A toy experiment</h2>toy body " in page
    assert "one method: a toy method" in page and "<li>Toy: value 3.</li>" in page
    assert render_report(first) == render_report(again | {"cached": [], "created": first["created"],
                                                          "wall_time": first["wall_time"]})  # fmt: skip


def test_a_registered_section_joins_the_default_config_and_its_checks(registered):
    from mechequiv.study.config import default_config_text
    from mechequiv.study.settings import check_tables

    assert "[toy]\nenabled = true\nx = 1" in default_config_text()
    assert load_config().steps["toy"] == {"enabled": True, "x": 1}
    assert check_tables({"toy": {"x": -1}}) == ["toy.x must be >= 0, got -1"]
    assert check_tables({"toy": {"y": 1}})[0].startswith("unknown key toy.y")


def test_settings_parse_into_typed_dataclasses_and_refuse_bad_tables():
    cfg = load_config()
    eq = SECTIONS["equivalence"].parse(cfg.steps["equivalence"])
    assert eq.n == 30 and eq.baselines == ["linear_cka", "procrustes", "cca", "rsa"]
    with pytest.raises(SettingsError, match=r"\[zoo\]: zoo.seeds must be >= 1, got 0"):
        SECTIONS["zoo"].parse({**cfg.steps["zoo"], "seeds": 0})
    with pytest.raises(SettingsError, match=r"missing key zoo\.steps"):
        SECTIONS["zoo"].parse({"seeds": 2, "eval_every": 5})
    with pytest.raises(SettingsError, match=r"unknown key zoo\.speed"):
        SECTIONS["zoo"].parse({**cfg.steps["zoo"], "speed": 1})


def test_old_results_render_with_their_own_measure_descriptors():
    """A measure renamed or re-described since the results were saved still renders as saved."""
    stored = {"kind": "distance", "range": [0.0, None], "invariances": ["permutation"],
              "family": "shape", "convention": "as it was in 2025"}  # fmt: skip
    old = {"pairs": [{"a": "x", "b": "y", "values": {"old_distance": 0.25}}],
           "descriptors": {"old_distance": stored}}  # fmt: skip
    MeasuresResult.from_dict(old)  # not registered today, but described: accepted
    page = render_report({"measures": old})
    assert "old_distance ↓" in page and "as it was in 2025" in page
    assert "<span class='nw'>[0, ∞]</span>" in page
    with pytest.raises(ValueError, match="'old_distance' is not a registered measure"):
        MeasuresResult.from_dict({"pairs": old["pairs"]})


def test_moved_study_and_report_names_warn_and_resolve():
    import mechequiv.report as old_report
    import mechequiv.study.steps as old_steps
    from mechequiv.study import report, zoo_models

    with pytest.warns(DeprecationWarning, match=r"moved to mechequiv\.study\.report\.write_report"):
        assert old_report.write_report is report.write_report
    with pytest.warns(DeprecationWarning, match=r"mechequiv\.study\.registry\.SECTIONS"):
        assert old_steps.STEPS is SECTIONS
    with pytest.warns(DeprecationWarning, match="group_means"):
        assert old_steps.group_means is zoo_models.group_means
    with pytest.raises(AttributeError, match="no attribute 'Step'"):
        old_steps.Step  # noqa: B018


def test_results_written_before_sections_still_render_and_summarise():
    """The former format: slice shifts as labelled entries of ``delta``, no descriptors."""
    from mechequiv.study.report import summarise
    from tests.report.example import synthetic_results

    old = synthetic_results()
    old["tensorsim"]["backdoor"]["delta"] |= {
        "slice shift, class 3 (poisoned)": 0.3,
        "slice shift, largest other class": 0.1,
    }
    page = render_report(old)
    assert "<td>slice shift, class 3 (poisoned)</td><td class='num'>0.300</td>" in page
    backdoor = [line for line in summarise(old) if line.startswith("Backdoor:")]
    assert backdoor == [
        "Backdoor: whole-model change detectors: tensor similarity 0.24, weight cosine 0.15, "
        "slice shift, class 3 (poisoned) 0.3, slice shift, largest other class 0.1."
    ]
