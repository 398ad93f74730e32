"""The study cache: a result is reused only for the same settings, step version and code."""

from __future__ import annotations

import pytest

from mechequiv.study import StudyConfig, fingerprint, load_config, run_study
from mechequiv.study.registry import SECTIONS
from mechequiv.study.run import step_key
from mechequiv.study.sections import identifiability, measures
from tests.study.toy_section import ToyResult, ToySettings, toy_section


def _patched_source(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Pretend ``module``'s source changed (a comment appended)."""
    original = fingerprint.module_source
    monkeypatch.setattr(
        fingerprint,
        "module_source",
        lambda name: original(name) + (b"\n# edited\n" if name == module else b""),
    )


def _toy_step(ctx, s: ToySettings) -> ToyResult:
    from mechequiv.tokens import pool_tokens  # the code this step reaches

    _toy_step.calls += 1  # type: ignore[attr-defined]
    return ToyResult(value=s.x, pooled=pool_tokens is not None)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    _toy_step.calls = 0  # type: ignore[attr-defined]
    monkeypatch.setitem(SECTIONS, "toy", toy_section(_toy_step))
    cfg = StudyConfig("toy study", 0, {"toy": {"x": 1}})

    def run() -> dict:
        return run_study(cfg, tmp_path, progress=False, log=lambda m: None)

    return run


def test_an_unchanged_rerun_reuses_the_result(toy):
    assert toy()["cached"] == [] and _toy_step.calls == 1
    again = toy()
    assert again["cached"] == ["toy"] and again["toy"]["value"] == 1 and _toy_step.calls == 1


def test_a_new_step_version_recomputes(toy, monkeypatch):
    first = toy()
    assert first["versions"]["toy step"].startswith("version 1, code ")
    monkeypatch.setitem(SECTIONS, "toy", toy_section(_toy_step, version=2))
    assert toy()["cached"] == [] and _toy_step.calls == 2
    again = toy()
    assert again["cached"] == ["toy"] and _toy_step.calls == 2
    assert again["versions"]["toy step"].startswith("version 2, code ")


def test_changed_code_the_step_reaches_recomputes(toy, monkeypatch):
    toy()
    _patched_source(monkeypatch, "mechequiv.tokens")
    assert toy()["cached"] == [] and _toy_step.calls == 2


def test_changed_code_the_step_does_not_reach_keeps_the_cache(toy, monkeypatch):
    toy()
    _patched_source(monkeypatch, "mechequiv.identifiability._audit")
    assert toy()["cached"] == ["toy"] and _toy_step.calls == 1


def test_real_steps_depend_on_their_own_methods_only(monkeypatch):
    cfg = load_config()
    before = {name: step_key(name, cfg) for name in cfg.enabled()}
    _patched_source(monkeypatch, "mechequiv.tensorsim.experiments")
    after = {name: step_key(name, cfg) for name in cfg.enabled()}
    assert after["tensorsim"] != before["tensorsim"]
    assert after["zoo"] == before["zoo"] and after["identifiability"] == before["identifiability"]
    _patched_source(monkeypatch, "mechequiv.zoo.train")
    after = {name: step_key(name, cfg) for name in cfg.enabled()}
    # the equivalence and measures steps compare the zoo's models: they follow the zoo's code
    for name in ("zoo", "equivalence", "measures"):
        assert after[name] != before[name], name
    # identifiability trains on the zoo's one loop (zoo.ensemble): it follows that module
    monkeypatch.undo()
    _patched_source(monkeypatch, "mechequiv.zoo.ensemble")
    after = {name: step_key(name, cfg) for name in cfg.enabled()}
    assert after["identifiability"] != before["identifiability"]


def test_a_step_depends_on_its_own_helpers():
    roots, sources = fingerprint._function_roots(measures.run)
    reached = fingerprint.module_closure(roots)
    assert "mechequiv.zoo.presets" in reached  # through the shared zoo models
    assert "mechequiv.study.compare" in roots  # the measures it calls
    assert "mechequiv.tensorsim.experiments" not in reached
    assert len(sources) >= 2  # run and the result class it builds


def test_a_step_without_readable_source_still_gets_a_fingerprint(monkeypatch):
    import functools

    wrapped = functools.partial(identifiability.run)
    assert fingerprint.code_fingerprint(wrapped) == fingerprint.code_fingerprint(
        identifiability.run
    )
    step = identifiability.SECTION  # a callable-free object: its module is what it reaches
    first = fingerprint.code_fingerprint(step)
    assert first == fingerprint.code_fingerprint(step)
    _patched_source(monkeypatch, "mechequiv.study.sections.base")
    assert fingerprint.code_fingerprint(step) != first
