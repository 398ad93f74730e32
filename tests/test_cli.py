"""The command line: help, the measure registry, comparing .npy files, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mechequiv import measures
from mechequiv.cli import app

runner = CliRunner()


def test_help_explains_itself():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for word in ("measures", "measure", "demo", "same mechanism"):
        assert word in res.output


def test_measures_lists_every_measure_with_properties():
    res = runner.invoke(app, ["measures", "--json"])
    assert res.exit_code == 0
    listed = json.loads(res.output)
    assert [m["name"] for m in listed] == measures.names()
    cka = next(m for m in listed if m["name"] == "linear_cka")
    assert cka["kind"] == "similarity" and "orthogonal" in cka["invariances"]
    table = runner.invoke(app, ["measures"])
    assert table.exit_code == 0 and "debiased_cka" in table.output


@pytest.fixture
def npy_pair(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6))
    Y = X @ rng.normal(size=(6, 4))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    return tmp_path, X, Y


def test_measure_on_npy_files(npy_pair):
    d, X, Y = npy_pair
    res = runner.invoke(
        app, ["measure", str(d / "x.npy"), str(d / "y.npy"), "-m", "linear_cka", "-m", "cca"]
    )
    assert res.exit_code == 0, res.output
    assert f"{measures.linear_cka(X, Y):.6f}" in res.output
    assert f"{measures.cca(X, Y):.6f}" in res.output
    res = runner.invoke(
        app,
        [
            "measure",
            str(d / "x.npy"),
            str(d / "y.npy"),
            "-m",
            "procrustes",
            "-o",
            "score=euclidean",
        ],
    )
    assert f"{measures.procrustes(X, Y, score='euclidean'):.6f}" in res.output


def test_token_policy_option(tmp_path):
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(30, 4, 3)), rng.normal(size=(30, 4, 5))
    np.save(tmp_path / "a.npy", A)
    np.save(tmp_path / "b.npy", B)
    res = runner.invoke(
        app, ["measure", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--tokens", "-1"]
    )
    assert res.exit_code == 0, res.output
    assert f"{measures.linear_cka(A[:, -1], B[:, -1]):.6f}" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.npy", "y.npy"], "file not found"),
        (["x.npy", "short.npy"], "same number of samples"),
        (["x.npy", "y.npy", "-m", "cka"], "unknown measure"),
        (["x.npy", "y.npy", "-o", "alpha"], "key=value"),
        (["x.npy", "y.npy", "-m", "procrustes", "-o", "alpha=3"], "alpha must be in"),
        (["x.npy", "bad.npy"], "cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(npy_pair, args, message):
    d, X, _ = npy_pair
    np.save(d / "short.npy", X[:10])
    (d / "bad.npy").write_text("not an array")
    res = runner.invoke(app, ["measure", *[str(d / a) if a.endswith(".npy") else a for a in args]])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_bracketed_text_in_messages_is_shown_verbatim(tmp_path):
    """Rich markup must not eat ``[layer]`` from a path in an error message."""
    missing = tmp_path / "acts[layer].npy"
    res = runner.invoke(app, ["measure", str(missing), str(missing)])
    assert res.exit_code == 2
    assert f"file not found: {missing}" in res.output
    assert len(res.output.strip().splitlines()) == 1
