"""Public entry points: ``tensor_similarity`` and ``tensor_inner``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mechequiv.errors import MechequivError
from mechequiv.tensorsim.attention import SeqNet, to_seq_net
from mechequiv.tensorsim.expand import full_symmetric_inner
from mechequiv.tensorsim.fullsym import two_layer_full_inner
from mechequiv.tensorsim.gaussian import gaussian_inner
from mechequiv.tensorsim.gram import gram_inner
from mechequiv.tensorsim.network import TensorNet, to_tensor_net

__all__ = [
    "FORMS",
    "SYMMETRIZE",
    "TensorInner",
    "json_floats",
    "tensor_inner",
    "tensor_similarity",
]

SYMMETRIZE = ("layer", "full", "none")
FORMS = ("weight", "gaussian")


def json_floats(a: np.ndarray) -> list | float | None:
    """Nested lists of floats, ``None`` where a value is NaN or infinite (JSON-safe)."""
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, None).tolist()


@dataclass(frozen=True)
class TensorInner:
    """Inner products of two models' tensors, per output coordinate and in total.

    ``similarity`` = ``sum(ab) / sqrt(sum(aa) sum(bb))``; ``per_class[k]`` =
    ``ab[k] / sqrt(aa[k] bb[k])`` (nan where a slice is zero in either model). ``ab``, ``aa``,
    ``bb`` share one positive scale factor per model (the recursion rescales to stay in range),
    so only ratios such as the cosines are meaningful unless ``scaled`` is False.
    """

    similarity: float
    per_class: np.ndarray
    ab: np.ndarray
    aa: np.ndarray
    bb: np.ndarray
    symmetrize: str
    form: str
    scaled: bool

    def to_dict(self) -> dict:
        return {
            "similarity": self.similarity,
            "per_class": json_floats(self.per_class),
            "ab": json_floats(self.ab),
            "aa": json_floats(self.aa),
            "bb": json_floats(self.bb),
            "symmetrize": self.symmetrize,
            "form": self.form,
            "scaled": self.scaled,
        }

    def __repr__(self) -> str:
        return (
            f"TensorInner(similarity={self.similarity:.6f}, n_out={self.ab.shape[0]}, "
            f"symmetrize={self.symmetrize!r}, form={self.form!r})"
        )


def check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")


def tensor_inner(
    model_a: object,
    model_b: object,
    *,
    symmetrize: str = "layer",
    form: str = "weight",
    residual: bool = True,
    n_ctx: int | None = None,
) -> TensorInner:
    """Inner products and cosines of two tensor-based models' input-output tensors.

    Parameters
    ----------
    model_a, model_b : nn.Module, BilinearMLP state dict or TensorNet
        Tensor-based models with the same input and output widths (see
        :func:`~mechequiv.tensorsim.network.to_tensor_net`).
    symmetrize : {"layer", "full", "none"}
        What is symmetrised before the Frobenius inner product (``form="weight"``):
        "layer" — each bilinear layer in its two input legs, the composed tree otherwise as is
        (Gram recursion, exact, any size); "full" — the whole composed tensor over all its input
        legs (the canonical tensor of the polynomial: similarity 1 iff the functions agree up to
        a positive scale). With at most one bilinear layer "full" equals "layer" and uses the
        recursion; with two, a closed form (:mod:`~mechequiv.tensorsim.fullsym`, O(h^2 d^3) for
        second-layer width h and input width d); deeper models are expanded, which only fits
        tiny models (MechequivError otherwise). "none" — no symmetrisation (not invariant to
        swapping L and R).
    form : {"weight", "gaussian"}
        "weight": Frobenius inner product of the padded tensors (input metric ``I`` on
        ``[1; x]``). "gaussian": ``E[<f_a(x), f_b(x)>]`` for ``x ~ N(0, I)`` (exact; at most one
        bilinear layer), see :mod:`mechequiv.tensorsim.gaussian`; ``symmetrize`` is then moot.
    residual : bool
        For state dicts only: whether the blocks are residual.
    n_ctx : int, optional
        For sequence models (``nn.Sequential`` of bias-free ``nn.Linear`` and
        :class:`~mechequiv.tensorsim.attention.PolynomialAttention`): compare the tensors that
        map ``n_ctx`` input positions to ``n_ctx`` output positions; per-output slices are
        summed over positions. Only ``form="weight"`` with "layer" or "none".

    Raises
    ------
    ValueError
        Input or output widths differ; a model's tensor is zero; bad option values.
    MechequivError
        A module is not tensor-based (named in the message); "full"/"gaussian" not tractable.
    """
    check_choice(symmetrize, "symmetrize", SYMMETRIZE)
    check_choice(form, "form", FORMS)
    a, b = as_nets(model_a, model_b, residual, n_ctx)
    check_dims(a, b)
    if isinstance(a, SeqNet) and (form != "weight" or symmetrize == "full"):
        raise MechequivError(
            "sequence models support form='weight' with symmetrize 'layer' or 'none'; got "
            f"form={form!r}, symmetrize={symmetrize!r}"
        )
    if form == "gaussian":
        return from_parts(*gaussian_inner(a, b), symmetrize, form, scaled=False)
    if uses_recursion(a, b, symmetrize):
        g = gram_inner(a, b, recursion_mode(symmetrize))
        return from_parts(g.ab, g.aa, g.bb, symmetrize, form, scaled=True)
    if a.n_bilinear == b.n_bilinear == 2:
        return from_parts(*two_layer_full_inner(a, b), symmetrize, form, scaled=False)
    return from_parts(*full_symmetric_inner(a, b), symmetrize, form, scaled=False)


def as_net(model: object, residual: bool, n_ctx: int | None) -> TensorNet | SeqNet:
    """A model as a :class:`TensorNet`, or with ``n_ctx`` (or given a SeqNet) a sequence net."""
    if isinstance(model, SeqNet):
        if n_ctx is not None and n_ctx != model.n_ctx:
            raise ValueError(f"this SeqNet was read for n_ctx={model.n_ctx}, not {n_ctx}")
        return model
    if n_ctx is None:
        return to_tensor_net(model, residual)
    return to_seq_net(model, n_ctx)


def as_nets(model_a: object, model_b: object, residual: bool, n_ctx: int | None):
    a, b = as_net(model_a, residual, n_ctx), as_net(model_b, residual, n_ctx)
    if type(a) is not type(b):
        raise TypeError("cannot compare a sequence model with a non-sequence model")
    if isinstance(a, SeqNet) and a.n_ctx != b.n_ctx:
        raise ValueError(f"the sequence nets have n_ctx {a.n_ctx} and {b.n_ctx}")
    return a, b


def recursion_mode(symmetrize: str) -> str:
    """The Gram recursion's mode for a ``symmetrize`` option ("full" = "layer" at degree <= 2)."""
    return "none" if symmetrize == "none" else "layer"


def uses_recursion(a: TensorNet, b: TensorNet, symmetrize: str) -> bool:
    """Whether the weight form is computed by the recursion (else by expansion, "full" only)."""
    if symmetrize == "full" and max(a.n_bilinear, b.n_bilinear) > 1:
        return False
    if a.n_bilinear != b.n_bilinear:
        raise ValueError(
            f"the models have {a.n_bilinear} and {b.n_bilinear} bilinear layers; the recursion "
            "pairs layers one to one (symmetrize='full' compares tiny models of equal degree)"
        )
    return True


def from_parts(
    ab: np.ndarray, aa: np.ndarray, bb: np.ndarray, symmetrize: str, form: str, scaled: bool
) -> TensorInner:
    """Cosines from per-output inner products; a zero model is an error."""
    total_aa, total_bb = float(aa.sum()), float(bb.sum())
    if total_aa <= 0 or total_bb <= 0:
        which = "model_a" if total_aa <= 0 else "model_b"
        raise ValueError(f"{which} has a zero tensor; its similarity is undefined")
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = ab / np.sqrt(aa * bb)
    per_class = np.where((aa > 0) & (bb > 0), per_class, np.nan)
    sim = float(ab.sum() / np.sqrt(total_aa * total_bb))
    return TensorInner(sim, per_class, ab, aa, bb, symmetrize, form, scaled)


def check_dims(a: TensorNet, b: TensorNet) -> None:
    if a.d_in != b.d_in:
        raise ValueError(f"input widths differ: model_a takes {a.d_in}, model_b takes {b.d_in}")
    if a.d_out != b.d_out:
        raise ValueError(f"output widths differ: model_a gives {a.d_out}, model_b gives {b.d_out}")


def tensor_similarity(
    model_a: object,
    model_b: object,
    *,
    per_class: bool = False,
    symmetrize: str = "layer",
    form: str = "weight",
    residual: bool = True,
    n_ctx: int | None = None,
) -> float | np.ndarray:
    """Cosine between two tensor-based models' input-output tensors, from weights only.

    Returns a float, or with ``per_class=True`` an array (d_out,) of per-output-slice cosines
    (``nan`` where a slice is zero). Invariant to hidden-unit permutations, scale moved between
    a unit's factors, swapping L and R ("layer"/"full"), and invertible changes of basis between
    layers; see :func:`tensor_inner` for the options.

    Examples
    --------
    >>> import torch
    >>> from mechequiv.zoo.models.bilinear import BilinearMLP
    >>> m = BilinearMLP(6, 5, 7, 3, n_layers=2)
    >>> round(tensor_similarity(m, m), 12)
    1.0
    """
    r = tensor_inner(
        model_a, model_b, symmetrize=symmetrize, form=form, residual=residual, n_ctx=n_ctx
    )
    return r.per_class if per_class else r.similarity
