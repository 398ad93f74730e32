"""compare_models and `mechequiv compare` on the stimuli an outside researcher brings: numpy's
float64 rows, token ids beyond the vocabulary, NaN, positions past the sequence, one name where a
list is expected. Each is either used correctly or refused in one line before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from mechequiv import measures
from mechequiv.cli import app
from mechequiv.errors import MechequivError
from mechequiv.study import compare_models
from mechequiv.study.stimuli import check_stimuli

from .families import CTX, VOCAB, tokens

runner = CliRunner()


class TinyLM(nn.Module):
    """A causal-free token model with its own attribute names, as a researcher writes one."""

    def __init__(self, seed: int, d: int = 8) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.tok = nn.Embedding(VOCAB, d)
        self.mix = nn.Sequential(nn.Linear(d, d), nn.GELU())
        self.readout = nn.Linear(d, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.mix(self.tok(ids)).cumsum(1)  # position t sees tokens 0..t
        return self.readout(h)


def _mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 3)).eval()


def test_float64_rows_are_read_in_the_models_dtype() -> None:
    x64 = np.random.default_rng(0).normal(size=(40, 4))  # numpy's default dtype
    a, b = _mlp(0), _mlp(1)
    got = compare_models(a, b, x64, measures=["linear_cka"])
    want = compare_models(a, b, torch.as_tensor(x64, dtype=torch.float32), measures=["linear_cka"])
    assert got.representational == want.representational and not got.errors
    # float64 models keep float64 stimuli (nothing is rounded to float32)
    a64, b64 = a.double(), b.double()
    assert check_stimuli((a64, b64), torch.as_tensor(x64)).dtype == torch.float64


def test_nan_stimuli_are_refused_before_any_work() -> None:
    x = torch.randn(30, 4)
    x[7, 2] = float("nan")
    with pytest.raises(ValueError, match=r"1 NaN or infinite values \(first in row 7\)"):
        compare_models(_mlp(0), _mlp(1), x)


def test_ids_outside_the_vocabulary_are_refused_on_every_row() -> None:
    ids = tokens(20)
    ids[13, 2] = VOCAB + 4  # only a later row: running the first row would not see it
    with pytest.raises(ValueError) as e:
        compare_models(TinyLM(0), TinyLM(1), ids)
    assert str(e.value) == (
        f"model a (TinyLM) has an embedding of {VOCAB} tokens, so ids must lie in [0, {VOCAB}); "
        f"the stimuli hold ids 0..{VOCAB + 4} (1 outside, first in row 13)"
    )


def test_float_ids_for_a_token_model_are_refused() -> None:
    with pytest.raises(TypeError, match=r"reads token ids .* float32 of shape \(20, 6\)"):
        compare_models(TinyLM(0), TinyLM(1), tokens(20).float())


@pytest.mark.parametrize("position", [CTX, -CTX - 1])
def test_token_position_past_the_sequence_is_refused_up_front(position: int) -> None:
    with pytest.raises(ValueError, match=rf"its sequences have {CTX} positions"):
        compare_models(TinyLM(0), TinyLM(1), tokens(20), tokens=position)


def test_first_and_last_positions_are_accepted() -> None:
    first = compare_models(TinyLM(0), TinyLM(1), tokens(20), tokens=-CTX, measures=["linear_cka"])
    zero = compare_models(TinyLM(0), TinyLM(1), tokens(20), tokens=0, measures=["linear_cka"])
    assert first.representational == zero.representational


def test_concat_compares_each_positions_output_not_one_joined_softmax() -> None:
    a, b, ids = TinyLM(0), TinyLM(1), tokens(20)
    names = ["prediction_agreement", "jensen_shannon"]
    concat = compare_models(a, b, ids, tokens="concat", measures=names)
    every = compare_models(a, b, ids, tokens="all", measures=names)
    assert concat.functional == every.functional
    with torch.no_grad():  # independent: argmax per position
        agree = (a(ids).argmax(-1) == b(ids).argmax(-1)).double().mean().item()
    assert concat.functional["prediction_agreement"] == pytest.approx(agree, abs=1e-12)


def test_one_name_is_one_point_and_one_measure() -> None:
    a, b, ids = TinyLM(0), TinyLM(1), tokens(20)
    one = compare_models(a, b, ids, points="mix", measures="linear_cka")
    listed = compare_models(a, b, ids, points=["mix"], measures=["linear_cka"])
    assert one.representational == listed.representational
    assert one.points == {"a": ["mix"], "b": ["mix"]}


class _Blowup(nn.Module):
    """Finite stimuli, NaN activations: log of a negative number inside the model."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.act = nn.Identity()
        self.out = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(torch.log(self.lin(x))))


def test_nan_representations_are_the_parts_error_not_a_table_of_skips() -> None:
    torch.manual_seed(0)
    result = compare_models(_Blowup(), _Blowup(), torch.randn(30, 4), points=["act"])
    assert result.representational == {} and result.functional == {}
    assert result.errors["representational"].startswith("model a's representations hold")
    assert result.errors["functional"].startswith("model a's outputs hold")
    assert not set(result.skipped) & set(measures.names())


def test_cli_refuses_out_of_vocabulary_ids_in_one_line(tmp_path: Path) -> None:
    torch.save(TinyLM(0), tmp_path / "a.pt")
    bad = tokens(20).numpy()
    bad[3, 0] = -1
    np.save(tmp_path / "ids.npy", bad)
    res = runner.invoke(
        app,
        ["compare", str(tmp_path / "a.pt"), str(tmp_path / "a.pt"), "--trust-pickle",
         "--task", str(tmp_path / "ids.npy")],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "ids must lie in [0, 13)" in res.output and "first in row 3" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_integer_features_failure_says_to_save_floats() -> None:
    with pytest.raises(MechequivError, match=r"int64 of shape \(30, 4\), values 0..1.*float32"):
        compare_models(_mlp(0), _mlp(1), torch.randint(0, 2, (30, 4)))


@pytest.mark.parametrize("rows", [0, 1])
def test_fewer_than_two_stimuli_are_refused(rows: int) -> None:
    with pytest.raises(ValueError, match=rf"the stimuli hold {rows} rows? \(shape \({rows}, 4\)\)"):
        compare_models(_mlp(0), _mlp(1), torch.randn(rows, 4))


def test_a_part_where_no_requested_measure_applies_is_an_error_not_an_empty_table() -> None:
    # CCA needs more stimuli than features: 10 stimuli, 16 + 16 hidden features
    result = compare_models(
        _mlp(0), _mlp(1), torch.randn(10, 4), measures=["cca", "jensen_shannon"]
    )
    assert result.representational == {} and "cca" in result.skipped
    assert result.errors["representational"].startswith("none of the 1 measures applies (cca: ")
    assert "jensen_shannon" in result.functional and "functional" not in result.errors


def test_under_every_measure_a_part_that_cannot_apply_stays_skips() -> None:
    torch.manual_seed(3)
    wider = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 5)).eval()  # 5 outputs
    names = ["jensen_shannon", "logit_cosine"]  # both need the same number of outputs
    result = compare_models(_mlp(0), wider, torch.randn(30, 4))
    assert set(result.functional) == {"prediction_agreement"} and not result.errors
    assert "same number of classes" in result.skipped["jensen_shannon"]
    asked = compare_models(_mlp(0), wider, torch.randn(30, 4), measures=names)
    assert asked.functional == {}
    assert asked.errors["functional"].startswith("none of the 2 measures applies (jensen_shannon:")
