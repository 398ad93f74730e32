"""compare_models and the `compare` CLI on small MLPs trained and saved in the test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mechequiv import measures
from mechequiv.cli import app
from mechequiv.demo import toy_task, train_toy_mlp
from mechequiv.errors import MechequivError
from mechequiv.study import compare_models, load_model

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("models")
    x, y = toy_task(600, 0, "rings")
    _, z = toy_task(600, 0, "sectors")
    nets = {"a": train_toy_mlp(x, y, 0, hidden=16, steps=300, lr=2e-2),
            "b": train_toy_mlp(x, y, 1, hidden=16, steps=300, lr=2e-2),
            "c": train_toy_mlp(x, z, 0, hidden=16, steps=300, lr=2e-2)}  # fmt: skip
    for k, net in nets.items():
        torch.save(net, d / f"{k}.pt")
    stimuli, _ = toy_task(120, 1, "rings")
    np.save(d / "stimuli.npy", stimuli.numpy())
    return d, nets, stimuli


def test_load_model_round_trips_a_saved_module(saved):
    d, nets, stimuli = saved
    back = load_model(d / "a.pt", trust_pickle=True)
    assert torch.equal(back(stimuli), nets["a"](stimuli))


def test_compare_models_reports_every_measure_and_congruity(saved):
    _, nets, stimuli = saved
    same = compare_models(nets["a"], nets["b"], stimuli, n=8)
    other = compare_models(nets["a"], nets["c"], stimuli, n=8, sampler="symmetry")
    itself = compare_models(nets["a"], nets["a"], stimuli, n=8, sampler="symmetry")
    measured = set(same.representational) | set(same.skipped) - {"congruity"}
    assert measured == set(measures.names(functional=False))
    assert set(same.functional) == set(measures.names(functional=True))
    assert same.functional["prediction_agreement"] > other.functional["prediction_agreement"]
    assert same.representational["linear_cka"] > other.representational["linear_cka"]
    # no sampler, no Congruity (none is calibrated to be a default), and it says so
    assert same.congruity is None and "no sampler chosen" in same.skipped["congruity"]
    # the positive control: a model is not told apart from itself, another task's model is
    assert not itself.congruity.distinguishable and itself.congruity.score > 0.8
    assert other.congruity.distinguishable and other.congruity.score < 0.2
    json.dumps(same.to_dict())


def test_compare_cli_table_and_json(saved):
    d, _, _ = saved
    args = [
        "compare",
        str(d / "a.pt"),
        str(d / "b.pt"),
        "--task",
        str(d / "stimuli.npy"),
        "--trust-pickle",
    ]
    args += ["--sampler", "symmetry"]
    res = runner.invoke(app, [*args, "--n", "4"])
    assert res.exit_code == 0, res.output
    assert "Congruity" in res.output and "linear_cka" in res.output
    res = runner.invoke(app, [*args, "--n", "4", "--json"])
    out = json.loads(res.output)
    assert 0 <= out["congruity"]["score"] <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.pt", "b.pt", "--task", "stimuli.npy"], "model not found"),
        (["a.pt", "b.pt", "--task", "nothere.npy"], "file not found"),
        (["a.pt", "b.pt", "--task", "stimuli.npy", "--sampler", "magic"], "sampler must be"),
        (["a.pt", "b.pt", "--task", "stimuli.npy", "--n", "0"], "n must be"),
        (["weights.pt", "b.pt", "--task", "stimuli.npy"], "not a module"),
        (["a.txt", "b.pt", "--task", "stimuli.npy"], "unknown model format"),
    ],
)
def test_compare_cli_bad_input_is_one_line(saved, args, message):
    d, nets, _ = saved
    torch.save(nets["a"].state_dict(), d / "weights.pt")
    (d / "a.txt").write_text("x")
    args = [str(d / a) if "." in a else a for a in args]
    res = runner.invoke(app, ["compare", *args, "--trust-pickle"])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output


def test_load_model_errors(tmp_path):
    with pytest.raises(MechequivError, match="config\\.json"):
        load_model(tmp_path)
