"""Study configuration: the shipped default, user overrides, quick mode, and refusals."""

from __future__ import annotations

import tomllib

import pytest

from mechequiv.study import default_config_text, load_config
from mechequiv.study.config import ConfigError
from mechequiv.study.registry import SECTIONS as STEPS
from mechequiv.study.settings import SCHEMA, check_tables


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
        ("[equivalnce]\nn = 3\n", "unknown table [equivalnce]; did you mean 'equivalence'?"),
        ("[zoo]\nsteps_ = 3\n", "unknown key zoo.steps_; did you mean 'steps'?"),
        ("[quick.zoo]\nseed = 3\n", "unknown key quick.zoo.seed; did you mean 'seeds'?"),
        ("[zoo\n", "not valid TOML"),
        ("zoo = 3\n", "zoo must be a table, got 3 (an integer)"),
        ('[zoo]\nseeds = "6"\n', "zoo.seeds must be an integer, got '6' (a string)"),
        ("[zoo]\nseeds = 6.0\n", "zoo.seeds must be an integer, got 6.0 (a float)"),
        ("[zoo]\nseeds = true\n", "zoo.seeds must be an integer, got True (a boolean)"),
        ("[zoo]\nseeds = 0\n", "zoo.seeds must be >= 1, got 0"),
        ('[zoo]\nenabled = "no"\n', "zoo.enabled must be true or false, got 'no' (a string)"),
        ("[measures]\nenabled = 0\n", "measures.enabled must be true or false, got 0"),
        (
            '[equivalence]\nbaselines = ["linear_cka", "cka"]\n',
            "equivalence.baselines[1]: unknown measure 'cka'; did you mean",
        ),
        ('[equivalence]\nbaselines = ["linear_cka", "cka"]\n', "(registered: "),
        ('[equivalence]\nbaselines = "linear_cka"\n', "equivalence.baselines must be an array"),
        ('[equivalence]\ndistance = "ridge_cv"\n', "repr_distance, ridge or"),
        (
            '[equivalence]\nrepresentation = "fourir"\n',
            "equivalence.representation must be one of ['fourier', 'residual'], got 'fourir' "
            "(a string); did you mean 'fourier'?",
        ),
        ('[identifiability]\ntask = "XAND"\n', "identifiability.task must name gates"),
        ("[identifiability]\nwidths = [2, 0]\n", "identifiability.widths[1] must be >= 1"),
        ("[tensorsim]\ngrokking = false\n", "tensorsim.grokking must be 'quick' or 'full'"),
        ("[tensorsim]\nbackdoor = {stepz = 3}\n", "unknown key tensorsim.backdoor.stepz"),
        ('[tensorsim]\ngrokking = {lr = "big"}\n', "tensorsim.grokking.lr must be a number"),
        ('[measures]\npairs = [["pizza-0"]]\n', "measures.pairs[0] must be a pair of model names"),
        (
            '[measures]\npairs = [["pizza-0", "clok-1"]]\n',
            "measures.pairs[0]: unknown model 'clok-1'; did you mean 'clock-1'?",
        ),
        (
            '[zoo]\nseeds = 4\n[measures]\npairs = [["pizza-0", "pizza-4"]]\n',
            "unknown model 'pizza-4'",
        ),
        ("[zoo]\nseeds = 2\n", "zoo.seeds must be >= 3 when [equivalence] is enabled"),
        ("[study]\nseed = -1\n", "study.seed must be >= 0"),
    ],
)
def test_bad_config_is_refused_with_the_key(tmp_path, text, message):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and str(f) in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[zoo]\nseeds = "x"\n[measures]\nenabled = "no"\n[quick.equivalence]\nn = 0\n')
    with pytest.raises(ConfigError) as info:
        load_config(f)
    for part in ("zoo.seeds", "measures.enabled", "quick.equivalence.n must be >= 1"):
        assert part in str(info.value)


def test_rules_across_steps_follow_what_is_enabled(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("[zoo]\nseeds = 2\n[equivalence]\nenabled = false\n")
    assert load_config(f).steps["zoo"]["seeds"] == 2


def test_the_default_passes_its_own_schema_and_names_every_step():
    default = tomllib.loads(default_config_text())
    assert check_tables(default.pop("quick"), "quick.") == []
    assert check_tables(default) == []
    assert list(SCHEMA) == ["study", *STEPS]
    # every value sits on one line, so --show-config can rewrite it in place
    for line in default_config_text().splitlines():
        if not line.startswith("#"):
            assert not line.rstrip().endswith(("[", "{", ",")), line


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="study config not found"):
        load_config(tmp_path / "nope.toml")


# ---------------------------------------------------------------- --quick and the user's keys


def test_quick_keeps_the_users_own_values_and_says_so(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("[zoo]\nsteps = 300\n[equivalence]\nn = 30\n")  # n = 30 is the default
    cfg = load_config(f, quick=True)
    assert cfg.steps["zoo"]["steps"] == 300 and cfg.quick_kept == {"zoo.steps": 300}
    assert cfg.steps["zoo"]["seeds"] == 4 and cfg.quick_applied["zoo.seeds"] == 4
    # a value equal to the default (e.g. from --show-config) is not a choice: quick applies
    assert cfg.steps["equivalence"]["n"] == 10 and "equivalence.n" in cfg.quick_applied
    assert "zoo.steps" not in cfg.quick_applied
    recorded = cfg.to_dict()
    assert (
        recorded["quick_kept"] == {"zoo.steps": 300} and recorded["quick_applied"]["zoo.seeds"] == 4
    )
    assert "quick_applied" not in load_config(f).to_dict()


def test_the_users_quick_table_wins_in_quick_mode(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("[zoo]\nsteps = 300\n[quick.zoo]\nsteps = 50\n"
                 "[quick.tensorsim]\nbackdoor = false\n")  # fmt: skip
    cfg = load_config(f, quick=True)
    assert cfg.steps["zoo"]["steps"] == 50 and cfg.quick_kept == {}
    assert cfg.steps["tensorsim"]["backdoor"] is False
    assert cfg.quick_applied["tensorsim.backdoor"] is False
    assert load_config(f).steps["zoo"]["steps"] == 300


# ---------------------------------------------------------------- TOML output


def test_default_renders_as_the_shipped_file():
    assert load_config().to_toml() == default_config_text()


@pytest.mark.parametrize("quick", [False, True])
def test_a_resolved_config_round_trips_byte_identical(tmp_path, quick):
    f = tmp_path / "s.toml"
    f.write_text(
        '[study]\ntitle = "a \\"quoted\\" [title] é"\n'
        "[zoo]\nsteps = 300\n[equivalence]\nbaselines = []\n"
        "[tensorsim]\ngrokking = {p = 11, lr = 0.001, steps = 60}\n"
        '[measures]\npairs = [["clock-3", "pizza-2"]]\n'
        "[quick.zoo]\neval_every = 7\n[quick.tensorsim]\nbackdoor = false\n"
    )
    first = load_config(f, quick=quick)
    text = first.to_toml()
    tomllib.loads(text)  # valid TOML
    (tmp_path / "again.toml").write_text(text)
    again = load_config(tmp_path / "again.toml", quick=quick)
    assert again.steps == first.steps and again.title == first.title
    assert again.quick_tables == first.quick_tables
    assert again.to_toml() == text
    assert "# Pizza (attention rate 0)" in text  # the default's comments are kept


def test_a_user_value_equal_to_the_quick_one_is_not_reported_as_kept(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("[zoo]\nseeds = 4\nsteps = 300\n")
    cfg = load_config(f, quick=True)
    assert cfg.quick_kept == {"zoo.steps": 300} and "zoo.seeds" not in cfg.quick_applied


def test_an_explicit_quick_value_wins_even_when_it_equals_the_default_quick_value(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("[zoo]\nseeds = 5\n[quick.zoo]\nseeds = 4\n")
    assert load_config(f, quick=True).steps["zoo"]["seeds"] == 4
    f.write_text("[zoo]\nseeds = 5\n")
    assert load_config(f, quick=True).steps["zoo"]["seeds"] == 5


@pytest.mark.parametrize(
    "text", ["[zoo]\nseeds = 5\n", "[zoo]\nseeds = 5\n[quick.zoo]\nseeds = 4\n"]
)
def test_a_printed_config_resolves_like_its_source_in_both_modes(tmp_path, text):
    f = tmp_path / "s.toml"
    f.write_text(text)
    printed = tmp_path / "printed.toml"
    printed.write_text(load_config(f).to_toml())
    for quick in (False, True):
        assert load_config(printed, quick=quick).steps == load_config(f, quick=quick).steps
