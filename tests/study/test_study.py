"""The end-to-end study on tiny settings: every step, results.json in the report's schema, the
cache on a second run, the HTML report, and the CLI's one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mechequiv.cli import app
from mechequiv.errors import MechequivError
from mechequiv.report import validate_results
from mechequiv.study import load_config, run_study

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


def test_an_unknown_representation_is_refused_by_name(tiny):
    d, _, _ = tiny
    (d / "bad.toml").write_text(TINY.replace("n = 4\n", 'n = 4\nrepresentation = "raw"\n'))
    with pytest.raises(MechequivError, match=r"representation must be one of.*'raw'"):
        run_study(load_config(d / "bad.toml"), d / "out", progress=False, log=lambda m: None)


def test_cli_study_writes_the_report(tiny):
    d, _, _ = tiny
    res = CliRunner().invoke(app, ["study", str(d / "tiny.toml"), "--out", str(d / "out")])
    assert res.exit_code == 0, res.output
    html = (d / "out" / "report.html").read_text()
    assert "Congruity" in html and "<img" in html


@pytest.mark.parametrize(
    "args, message",
    [(["nope.toml"], "study config not found"), (["bad.toml"], "unknown key")],
)
def test_cli_study_bad_input_is_one_line(tmp_path, args, message):
    (tmp_path / "bad.toml").write_text("[zoo]\nsedes = 3\n")
    res = CliRunner().invoke(app, ["study", *[str(tmp_path / a) for a in args]])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_show_config_prints_the_default():
    res = CliRunner().invoke(app, ["study", "--show-config"])
    assert res.exit_code == 0 and "[equivalence]" in res.output
