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
    procrustes = next(m for m in listed if m["name"] == "procrustes")
    assert procrustes["options"] == {"alpha": 1.0, "score": "angular"}


@pytest.mark.parametrize("width", [60, 80, 132])
def test_measures_table_is_one_line_per_measure_within_the_width(width):
    res = runner.invoke(app, ["measures"], env={"COLUMNS": str(width)})
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= width
    names = measures.names()
    body = [line for line in lines if line.split(" ", 1)[0] in names]
    assert [line.split()[0] for line in body] == names  # one line each, names never cut
    cka = next(line for line in body if line.startswith("linear_cka "))
    assert cka.split()[1:4] == ["sim", "[0,", "1]"]
    if width >= 80:
        assert "linear kernel" in cka  # the convention's headline, as far as it fits


def test_measures_name_shows_one_measure_in_full():
    res = runner.invoke(app, ["measures", "procrustes"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    info = measures.get("procrustes")
    assert info.convention in " ".join(res.output.split())
    assert "alpha=1.0, score='angular'" in res.output and "procrustes.alpha=" in res.output
    one = json.loads(runner.invoke(app, ["measures", "procrustes", "--json"]).output)
    assert one["name"] == "procrustes" and one["options"]["score"] == "angular"
    bad = runner.invoke(app, ["measures", "cka"])
    assert bad.exit_code == 2 and "unknown measure 'cka'; did you mean" in bad.output
    assert len(bad.output.strip().splitlines()) == 1


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


def test_measure_json(npy_pair):
    d, X, Y = npy_pair
    res = runner.invoke(
        app, ["measure", str(d / "x.npy"), str(d / "y.npy"), "-m", "linear_cka", "-m", "cca",
              "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["shapes"] == [[50, 6], [50, 4]] and out["tokens"] is None
    got = {r["measure"]: r["value"] for r in out["results"]}
    assert got == pytest.approx(
        {"linear_cka": measures.linear_cka(X, Y), "cca": measures.cca(X, Y)}
    )
    assert out["results"][0]["kind"] == "similarity" and out["results"][0]["options"] == {}


def test_options_go_to_the_measure_they_name(npy_pair):
    d, X, Y = npy_pair
    args = ["measure", str(d / "x.npy"), str(d / "y.npy"), "--json"]
    res = runner.invoke(
        app, [*args, "-m", "rbf_cka", "-m", "knn_jaccard", "-o", "rbf_cka.debiased=true",
              "-o", "knn_jaccard.k=5"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    got = {r["measure"]: r for r in json.loads(res.output)["results"]}
    assert got["rbf_cka"]["value"] == pytest.approx(measures.rbf_cka(X, Y, debiased=True))
    assert got["rbf_cka"]["value"] != pytest.approx(measures.rbf_cka(X, Y))
    assert got["knn_jaccard"]["value"] == pytest.approx(measures.knn_jaccard(X, Y, k=5))
    assert got["rbf_cka"]["options"] == {"debiased": True}
    # the plain form still works where exactly one chosen measure takes the key
    res = runner.invoke(app, [*args, "-m", "linear_cka", "-m", "procrustes", "-o", "alpha=0.5"])
    got = {r["measure"]: r for r in json.loads(res.output)["results"]}
    assert got["procrustes"]["value"] == pytest.approx(measures.procrustes(X, Y, alpha=0.5))
    assert got["linear_cka"]["options"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-m", "knn_jaccard", "-m", "mutual_knn", "-o", "k=5"],
            "option 'k' is taken by knn_jaccard, mutual_knn: write knn_jaccard.k=... or mutual_knn.k=...",
        ),
        (["-m", "linear_cka", "-o", "alpha=3"], "no chosen measure takes option 'alpha'"),
        (
            ["-m", "procrustes", "-o", "procrustes.beta=1"],
            "procrustes has no option 'beta'; its options: alpha, score",
        ),
        (
            ["-m", "linear_cka", "-o", "cca.statistic=mean_rho2"],
            "option 'cca.statistic' is for measure 'cca', which is not chosen",
        ),
        (["--tokens", "middle"], "token"),
        (["-m", "procrustes", "-o", "procrustes.score=[x]"], "score"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(npy_pair, args, message):
    d, _, _ = npy_pair
    if "--tokens" in args:
        np.save(d / "x.npy", np.zeros((5, 3, 2)))
        np.save(d / "y.npy", np.zeros((5, 3, 2)))
    res = runner.invoke(app, ["measure", str(d / "x.npy"), str(d / "y.npy"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_an_empty_file_is_one_line_and_exit_2(npy_pair):
    d, _, _ = npy_pair
    (d / "empty.npy").write_bytes(b"")
    res = runner.invoke(app, ["measure", str(d / "x.npy"), str(d / "empty.npy")])
    assert res.exit_code == 2 and "cannot read" in res.output
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["measure"], "Missing argument 'x_path'. (see 'mechequiv measure --help')"),
        (["measure", "a.npy", "b.npy", "--bogus"], "No such option: --bogus"),
        (["nosuch"], "No such command 'nosuch'."),
        (["study", "--out"], "Option '--out' requires an argument."),
        (["demo", "--seed", "x"], "Invalid value for '--seed'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, message):
    res = runner.invoke(app, args, prog_name="mechequiv")
    assert res.exit_code == 2
    assert res.output.startswith("error: ") and message in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_help_still_exits_0():
    res = runner.invoke(app, ["measure", "--help"], prog_name="mechequiv")
    assert res.exit_code == 0 and "MEASURE.key=value" in " ".join(res.output.split())
