"""The end-to-end study on tiny settings: every step, results.json in the report's schema, the
cache on a second run, the HTML report, and the CLI's one-line errors."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from typer.testing import CliRunner

from mechequiv.cli import app
from mechequiv.errors import MechequivError
from mechequiv.study import default_config_text, load_config, run_study
from mechequiv.study.report import render_report, validate_results

TINY = """
[zoo]
seeds = 4
steps = 60
eval_every = 20
[equivalence]
n = 4
baselines = ["linear_cka", "procrustes"]
[tensorsim]
grokking = {p = 11, steps = 60, n_checkpoints = 5, n_phases = 2}
backdoor = {side = 6, n_train = 300, n_test = 100, clean_steps = 40, poison_steps = 40, checkpoint_every = 20, batch = 100}
[identifiability]
widths = [2]
seeds = 1
[measures]
pairs = [["pizza-0", "clock-0"]]
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    (d / "tiny.toml").write_text(TINY)
    logs: list[str] = []
    results = run_study(load_config(d / "tiny.toml"), d / "out", progress=False, log=logs.append)
    return d, results, logs


def test_every_step_runs_into_the_report_schema(tiny):
    d, results, logs = tiny
    validate_results(results)
    assert [k for k in ("zoo", "equivalence", "tensorsim", "identifiability", "measures")
            if k in results] == list(results["timings"])  # fmt: skip
    eq = results["equivalence"]
    assert eq["names"] == [f"pizza-{s}" for s in range(4)] + [f"clock-{s}" for s in range(4)]
    assert set(eq["baselines"]) == {"linear_cka", "procrustes"}
    assert eq["representation"].startswith("Fourier modules")
    assert eq["baseline_representation"].startswith("residual stream")
    assert results["measures"]["description"].startswith("residual stream")
    assert json.loads((d / "out" / "results.json").read_text())["summary"] == results["summary"]
    assert all(line.endswith(("running", "s")) for line in logs)


def test_second_run_reads_the_cache_and_a_changed_setting_recomputes_only_its_step(tiny):
    d, first, _ = tiny
    again = run_study(load_config(d / "tiny.toml"), d / "out", progress=False, log=lambda m: None)
    assert again["cached"] == list(first["timings"])
    assert again["equivalence"] == first["equivalence"]
    (d / "changed.toml").write_text(TINY.replace("n = 4", "n = 5"))
    changed = run_study(load_config(d / "changed.toml"), d / "out", progress=False,
                        log=lambda m: None)  # fmt: skip
    assert "equivalence" not in changed["cached"] and "zoo" in changed["cached"]
    assert changed["equivalence"]["n"] == 5


def test_a_bad_value_is_refused_before_any_step_runs(tmp_path):
    (tmp_path / "bad.toml").write_text(TINY + '\n[quick.measures]\nrepresentation = "raw"\n')
    with pytest.raises(MechequivError, match=r"quick.measures.representation must be one of"):
        run_study(load_config(tmp_path / "bad.toml"), tmp_path / "out", progress=False,
                  log=lambda m: None)  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_cli_study_writes_the_report(tiny):
    d, _, _ = tiny
    res = CliRunner().invoke(app, ["study", str(d / "tiny.toml"), "--out", str(d / "out")])
    assert res.exit_code == 0, res.output
    html = (d / "out" / "report.html").read_text()
    assert "Congruity" in html and "<img" in html


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "study config not found"),
        ("[zoo]\nsedes = 3\n", "unknown key zoo.sedes; did you mean 'seeds'?"),
        ('[zoo]\nenabled = "no"\n', "zoo.enabled must be true or false, got 'no'"),
        ('[zoo]\nseeds = "6"\n', "zoo.seeds must be an integer, got '6' (a string)"),
        ('[equivalence]\nbaselines = ["cka"]\n', "equivalence.baselines[0]: unknown measure 'cka'"),
        ('[measures]\npairs = [["pizza-0", "clock-9"]]\n', "unknown model 'clock-9'"),
        ("[zoo\n", "is not valid TOML"),
    ],
)
@pytest.mark.parametrize("show", [False, True])
def test_cli_study_bad_input_is_one_line_and_exit_2(tmp_path, text, message, show):
    f = tmp_path / "acts[layer].toml"  # brackets must survive rich's markup
    if text is not None:
        f.write_text(text)
    res = CliRunner().invoke(
        app, ["study", str(f), "--out", str(tmp_path / "out")] + (["--show-config"] if show else [])
    )
    assert res.exit_code == 2, res.output
    assert message in res.output and str(f) in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_show_config_prints_the_default_verbatim():
    res = CliRunner().invoke(app, ["study", "--show-config"], terminal_width=60)
    assert res.exit_code == 0
    assert res.stdout == default_config_text()


@pytest.mark.parametrize("quick", [False, True])
def test_show_config_round_trips_through_a_file(tmp_path, quick):
    runner = CliRunner()
    flags = ["--quick"] if quick else []
    first = runner.invoke(app, ["study", "--show-config", *flags], terminal_width=40)
    assert first.exit_code == 0
    (tmp_path / "my.toml").write_text(first.stdout)
    tomllib.loads(first.stdout)
    again = runner.invoke(app, ["study", str(tmp_path / "my.toml"), "--show-config", *flags],
                          terminal_width=40)  # fmt: skip
    assert again.exit_code == 0 and again.stdout == first.stdout
    assert load_config(tmp_path / "my.toml", quick=quick).steps == load_config(quick=quick).steps


def test_quick_says_what_it_applied_and_what_it_kept(tmp_path):
    (tmp_path / "my.toml").write_text("[zoo]\nsteps = 300\n")
    res = CliRunner().invoke(app, ["study", str(tmp_path / "my.toml"), "--quick", "--show-config"])
    assert res.exit_code == 0
    assert "quick: applied zoo.seeds = 4" in res.stderr
    assert "kept your zoo.steps = 300" in res.stderr
    assert "steps = 300" in res.stdout and "quick:" not in res.stdout


def _without_run_details(html: str) -> str:
    """The report minus what legitimately differs between runs: the creation time and the
    run details (which steps this run read from the cache, this run's wall time)."""
    html = re.sub(r" · \d{4}-\d\d-\d\dT[\d:]+Z", "", html)
    return re.sub(r"<section id='run'>.*?</section>", "", html, flags=re.S)


def test_the_report_is_the_same_whether_steps_ran_or_were_resumed(tiny):
    d, fresh, _ = tiny
    resumed = run_study(load_config(d / "tiny.toml"), d / "out", progress=False,
                        log=lambda m: None)  # fmt: skip
    assert resumed["cached"] == list(fresh["timings"])
    from_file = json.loads((d / "out" / "results.json").read_text())
    raw = [render_report(r) for r in (fresh, resumed, from_file)]
    pages = [_without_run_details(page) for page in raw]
    assert pages[0] == pages[1] == pages[2]
    assert "(cached)" in raw[1] and "(cached)" not in raw[0]


def test_the_title_names_only_the_steps_that_ran(tiny, tmp_path):
    _, fresh, _ = tiny
    assert fresh["title"] == (
        "mechequiv study: Pizza vs Clock, grokking, backdoors and XOR circuits"
    )
    f = tmp_path / "s.toml"
    f.write_text("[tensorsim]\nenabled = false\n[identifiability]\nenabled = false\n")
    assert load_config(f).heading() == "mechequiv study: Pizza vs Clock"
    f.write_text('[tensorsim]\nbackdoor = false\n[zoo]\nenabled = false\n[equivalence]\n'
                 'enabled = false\n[measures]\nenabled = false\n[identifiability]\ntask = "AND"\n')  # fmt: skip
    assert load_config(f).heading() == "mechequiv study: grokking and AND circuits"
    f.write_text('[study]\ntitle = "my own"\n[tensorsim]\nenabled = false\n')
    assert load_config(f).heading() == "my own"


ONLY_IDENTIFIABILITY = """
[zoo]
enabled = false
[equivalence]
enabled = false
[tensorsim]
enabled = false
[measures]
enabled = false
[identifiability]
widths = [2]
seeds = 1
max_tries = 1
"""


def test_cli_study_errors_during_the_run_are_one_line(tmp_path):
    """A step that fails (no network converged) and an output folder that is a file."""
    (tmp_path / "s.toml").write_text(ONLY_IDENTIFIABILITY)
    res = CliRunner().invoke(app, ["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "no XOR network converged in 1 seeds per width" in res.output
    assert "Traceback" not in res.output
    assert [line for line in res.output.splitlines() if "error" in line] == [
        res.output.strip().splitlines()[-1]
    ]
    (tmp_path / "file").write_text("")
    res = CliRunner().invoke(
        app, ["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "file")]
    )
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_every_result_round_trips_through_its_section(tiny):
    """The study -> report contract cannot drift: each section's entry is its result's
    ``to_dict()``, and ``from_dict`` reads it back to the same entry."""
    from mechequiv.study.registry import SECTIONS

    _, results, _ = tiny
    for key in ("zoo", "equivalence", "tensorsim", "identifiability", "measures"):
        assert SECTIONS[key].load(results[key]).to_dict() == results[key], key
    backdoor = SECTIONS["tensorsim"].load(results["tensorsim"]).backdoor
    assert backdoor is not None and backdoor.slice_shift is not None
    shift = backdoor.slice_shift
    assert (
        f"slice moved {shift.poisoned:.3f}, every other class at most {shift.largest_other:.3f}"
        in (" ".join(results["summary"]))
    )
    assert not any("slice shift" in k for k in backdoor.delta or {})  # structured, not labels
    # descriptors saved with the result: the conventions the numbers were computed under
    assert set(results["equivalence"]["descriptors"]) == {"linear_cka", "procrustes"}
    assert results["measures"]["descriptors"]["procrustes"]["kind"] == "distance"
