"""Study configuration: the shipped default, user overrides, quick mode, and refusals."""

from __future__ import annotations

import pytest

from mechequiv.errors import MechequivError
from mechequiv.study import default_config_text, load_config
from mechequiv.study.steps import STEPS


def test_default_config_names_every_step_in_order():
    cfg = load_config()
    assert cfg.enabled() == list(STEPS)
    assert cfg.steps["equivalence"]["n"] == 30 and not cfg.quick
    assert "[quick.zoo]" in default_config_text()


def test_quick_overrides_only_what_it_names():
    full, quick = load_config(), load_config(quick=True)
    assert quick.steps["zoo"]["seeds"] < full.steps["zoo"]["seeds"]
    assert quick.steps["zoo"]["eval_every"] == full.steps["zoo"]["eval_every"]
    assert quick.to_dict()["quick"] is True


def test_user_file_overrides_and_its_quick_table_wins(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("[equivalence]\nn = 7\n[identifiability]\nenabled = false\n"
                 "[quick.equivalence]\nn = 3\n")  # fmt: skip
    assert load_config(f).steps["equivalence"]["n"] == 7
    assert "identifiability" not in load_config(f).enabled()
    assert load_config(f, quick=True).steps["equivalence"]["n"] == 3


@pytest.mark.parametrize(
    "text, message",
    [
        ("[equivalnce]\nn = 3\n", "unknown key 'equivalnce'"),
        ("[zoo]\nsteps_ = 3\n", "unknown key zoo.'steps_'"),
        ("[quick.zoo]\nseed = 3\n", "unknown key quick.zoo.'seed'"),
        ("[zoo\n", "not valid TOML"),
        ("zoo = 3\n", "must be a table"),
    ],
)
def test_bad_config_is_refused_with_the_key(tmp_path, text, message):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(MechequivError, match=message):
        load_config(f)


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="study config not found"):
        load_config(tmp_path / "nope.toml")
