"""Bad input gets a clear error, and no hook is ever left behind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mechequiv.capture import Point, capture, iter_capture, patching, recording, run_with_patches
from mechequiv.errors import MechequivError

from .conftest import Shared, TinyTransformer, hook_count


class Boom(nn.Module):
    """Raises on the second forward pass (so some batches succeed first)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("kaboom")
        return self.lin(x)


def test_unknown_point_lists_nearest_names(tiny: TinyTransformer, tokens: dict) -> None:
    with pytest.raises(ValueError, match=r"'blocks\.0\.mpl'.*nearest names: \['blocks\.0\.mlp'"):
        capture(tiny, tokens, ["blocks.0", "blocks.0.mpl"])
    assert hook_count(tiny) == 0


def test_model_error_names_rows_and_removes_hooks() -> None:
    model = Boom().train()
    with pytest.raises(MechequivError, match=r"RuntimeError on input rows 2:4: kaboom"):
        capture(model, torch.randn(6, 3), ["lin"], batch_size=2)
    assert hook_count(model) == 0
    assert model.training  # mode restored after the error too


def test_batch_dimension_disagreement(tiny: TinyTransformer, tokens: dict) -> None:
    bad = {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"][:5]}
    with pytest.raises(ValueError, match=r"disagree on the batch dimension.*'input_ids': 9.*5"):
        capture(tiny, bad, ["blocks.0"])
    with pytest.raises(ValueError, match=r"inputs\[1\]: tensors disagree"):
        capture(tiny, [(torch.zeros(2, 3).long(),), (torch.zeros(2, 3).long(), torch.ones(1, 3))],
                ["blocks.0"])  # fmt: skip
    with pytest.raises(ValueError, match=r"mask must have shape \(n, t\) with n = 9"):
        capture(tiny, tokens, ["blocks.0"], tokens="mean", mask=torch.ones(4, 6))
    with pytest.raises(ValueError, match="no tensor"):
        capture(tiny, {"flag": True}, ["blocks.0"])
    assert hook_count(tiny) == 0


def test_bad_kinds() -> None:
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="inputs must be a tensor"):
        capture(model, "text", [""])
    with pytest.raises(TypeError, match=r"torch\.nn\.Module or a mechequiv Adapter"):
        capture(lambda x: x, torch.zeros(1, 2), [""])
    with pytest.raises(ValueError, match="empty list"):
        capture(model, [], [""])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        capture(model, torch.zeros(2, 2), [""], batch_size=0)
    with pytest.raises(ValueError, match="mask must be 'auto'"):
        capture(model, torch.zeros(2, 2), [""], mask="yes")


def test_token_policy_on_wrong_shape_names_the_point(mlp: nn.Sequential) -> None:
    with pytest.raises(ValueError, match=r"point '0': pool_tokens expects"):
        capture(mlp, torch.randn(3, 5), ["0"], tokens="last")
    assert hook_count(mlp) == 0


def test_point_that_never_runs() -> None:
    model = nn.ModuleDict({"used": nn.Linear(2, 2), "unused": nn.Linear(2, 2)})
    model.forward = lambda x: model["used"](x)  # type: ignore[method-assign]
    with pytest.raises(MechequivError, match=r"'unused' ran 0 time"):
        capture(model, torch.zeros(3, 2), ["used", "unused"])
    assert hook_count(model) == 0


def test_shared_module_must_be_explicit() -> None:
    model = Shared()
    with pytest.raises(MechequivError, match=r"ran more than once.*call=i"):
        capture(model, torch.randn(4, 3), ["layer"])
    with pytest.raises(MechequivError, match=r"ran 3 time.*at least 4"):
        capture(model, torch.randn(4, 3), [Point("layer", call=3)])
    with pytest.raises(TypeError, match="tuple of 2, not a tensor"):
        capture(model, torch.randn(4, 3), [""])
    assert hook_count(model) == 0


def test_batch_not_along_dim0_is_refused() -> None:
    layer = nn.MultiheadAttention(4, 2)  # sequence-first layout: (t, n, d)
    model = nn.Sequential()
    model.attn = layer
    model.forward = lambda x: layer(*[x.transpose(0, 1)] * 3)[0]  # type: ignore[method-assign]
    with pytest.raises(MechequivError, match=r"shape \(7, 3, 4\) for a batch of 3 rows"):
        capture(model, torch.randn(3, 7, 4), [Point("attn", select=0)])
    assert hook_count(model) == 0


def test_closing_iterator_early_removes_hooks(mlp: nn.Sequential) -> None:
    it = iter_capture(mlp, torch.randn(6, 5), ["0"], batch_size=2)
    next(it)
    assert hook_count(mlp) > 0
    it.close()
    assert hook_count(mlp) == 0


def test_context_managers_remove_hooks_on_error(mlp: nn.Sequential) -> None:
    with pytest.raises(RuntimeError), recording(mlp, ["0"]):
        mlp(torch.randn(2, 4))  # wrong width
    with pytest.raises(RuntimeError), patching(mlp, {"0": torch.zeros_like}):
        mlp(torch.randn(2, 4))
    assert hook_count(mlp) == 0
    with pytest.raises(ValueError, match="nearest"):
        run_with_patches(mlp, torch.randn(2, 5), {"9": torch.zeros_like})
    assert hook_count(mlp) == 0


def test_call_all_needs_one_shape() -> None:
    class Growing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.Tanh()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.act(x), self.act(torch.cat([x, x], 1))], 1)

    model = Growing()
    with pytest.raises(MechequivError, match=r"call='all' stacks.*\[\(2, 3\), \(2, 6\)\]"):
        capture(model, torch.zeros(2, 3), [Point("act", call="all")])
    got = capture(model, torch.zeros(2, 3), [Point("act", call=1)])
    assert got[Point("act", call=1)].shape == (2, 6)
    assert hook_count(model) == 0
