"""Public entry points: ``tensor_similarity`` and ``tensor_inner``."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from mechequiv.errors import MechequivError
from mechequiv.tensorsim.attention import SeqNet, to_seq_net
from mechequiv.tensorsim.dense import dense_full_pair, reduce_inputs
from mechequiv.tensorsim.fullsym import TwoLayerNet, full_pair
from mechequiv.tensorsim.gaussian import gaussian_pair, gaussian_two_layer, standardize
from mechequiv.tensorsim.gram import SelfGram, cross_diag, self_gram
from mechequiv.tensorsim.network import TensorNet, to_tensor_net
from mechequiv.tensorsim.quartic import QuarticBudget

__all__ = [
    "FORMS",
    "SYMMETRIZE",
    "Engine",
    "TensorInner",
    "json_floats",
    "tensor_inner",
    "tensor_similarity",
]


SYMMETRIZE = ("full", "layer", "none")
FORMS = ("weight", "gaussian")


def json_floats(a: np.ndarray | float) -> list[Any] | float | None:
    """Nested lists of floats, ``None`` where a value is NaN or infinite (JSON-safe)."""
    a = np.asarray(a, dtype=np.float64)
    # numpy's stubs do not take None as a fill value (an object array results)
    result: list[Any] | float | None = np.where(np.isfinite(a), a, None).tolist()  # type: ignore[call-overload]
    return result


def _from_json(x: object) -> np.ndarray:
    # numpy's stubs do not take None (or an arbitrary nested list) here
    return np.array(np.where(np.equal(x, None), np.nan, x), dtype=np.float64)  # type: ignore[call-overload]


def _nan_if_none(x: float | None) -> float:
    return float("nan") if x is None else float(x)


@dataclass(frozen=True)
class TensorInner:
    """Inner products of two models' tensors, per output coordinate and in total.

    ``similarity`` = ``sum(ab) / sqrt(sum(aa) sum(bb))``; ``per_class[k]`` =
    ``ab[k] / sqrt(aa[k] bb[k])`` (nan where a slice is zero in either model). ``ab``, ``aa``,
    ``bb`` share one positive scale factor per model (the recursion rescales to stay in range),
    so only ratios such as the cosines are meaningful unless ``scaled`` is False.

    The skip path: ``skip_share_a`` = ``|S_a|^2 / |T_a|^2``, where ``S_a`` is the tensor of
    model a with every bilinear block's output set to zero (its residual identity path and the
    biases after it) and ``T_a`` its whole tensor, in the same inner product (0 without a
    residual connection or output bias). In residual models this path often carries most of
    the norm, so ``similarity`` can be high for models whose blocks are unrelated;
    ``block_similarity`` is the cosine of ``T_a - S_a`` and ``T_b - S_b``, what the blocks add
    (nan if the blocks of either model contribute nothing); ``block_per_class`` per output.
    """

    similarity: float
    per_class: np.ndarray
    ab: np.ndarray
    aa: np.ndarray
    bb: np.ndarray
    symmetrize: str
    form: str
    scaled: bool
    skip_share_a: float
    skip_share_b: float
    block_similarity: float
    block_per_class: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "similarity": self.similarity,
            "per_class": json_floats(self.per_class),
            "ab": json_floats(self.ab),
            "aa": json_floats(self.aa),
            "bb": json_floats(self.bb),
            "symmetrize": self.symmetrize,
            "form": self.form,
            "scaled": self.scaled,
            "skip_share_a": json_floats(self.skip_share_a),
            "skip_share_b": json_floats(self.skip_share_b),
            "block_similarity": json_floats(self.block_similarity),
            "block_per_class": json_floats(self.block_per_class),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorInner:
        """Inverse of :meth:`to_dict` (``None`` read back as nan)."""
        missing = {f for f in cls.__dataclass_fields__} - set(d)
        if missing:
            raise ValueError(f"TensorInner dict lacks {sorted(missing)}")
        arrays: dict[str, Any] = {
            k: _from_json(d[k]) for k in ("per_class", "ab", "aa", "bb", "block_per_class")
        }
        scalars: dict[str, Any] = {
            k: _nan_if_none(d[k])
            for k in ("similarity", "skip_share_a", "skip_share_b", "block_similarity")
        }
        return cls(
            **arrays, **scalars, symmetrize=str(d["symmetrize"]), form=str(d["form"]),
            scaled=bool(d["scaled"]),
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"TensorInner(similarity={self.similarity:.6f}, block_similarity="
            f"{self.block_similarity:.6f}, skip_share=({self.skip_share_a:.3f}, "
            f"{self.skip_share_b:.3f}), n_out={self.ab.shape[0]}, "
            f"symmetrize={self.symmetrize!r}, form={self.form!r})"
        )


def check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")


def tensor_inner(
    model_a: object,
    model_b: object,
    *,
    symmetrize: str = "full",
    form: str = "weight",
    residual: bool | None = None,
    n_ctx: int | None = None,
    mean: np.ndarray | None = None,
    cov: np.ndarray | None = None,
) -> TensorInner:
    """Inner products and cosines of two tensor-based models' input-output tensors.

    Parameters
    ----------
    model_a, model_b : nn.Module, list of modules, state dict or TensorNet
        Tensor-based models with the same input and output widths (see
        :func:`~mechequiv.tensorsim.network.to_tensor_net`; any bilinear layer following
        :mod:`~mechequiv.tensorsim.layers`).
    symmetrize : {"full", "layer", "none"}
        What is symmetrised before the Frobenius inner product (``form="weight"``):

        * "full" (default) — the whole composed tensor over all its input legs: the canonical
          tensor of the polynomial, so the similarity is 1 exactly when the two models compute
          the same function up to a positive scale (models of different depth are compared as
          polynomials). Up to one bilinear layer it equals "layer" (fast recursion); two
          layers: exact closed form, by the fastest of three routes: O(d_out m n^4 / 8) per
          model and O(d_out n^4 / 24) per pair, O(d_out m^2 n^3) or O(h^2 n^3) per pair, for
          hidden width h, stream width m and n input coordinates
          (:mod:`~mechequiv.tensorsim.fullsym`); deeper:
          exact from the polynomial's coefficients, small models only: exact similarity at
          this depth is #P-hard (``docs/tensorsim_complexity.md``). Refused, in one line, with
          the estimated number of coefficients beyond its limits.
        * "layer" — each bilinear layer symmetrised in its two inputs, the composed tree as
          is (Gram recursion, exact, linear in depth, any size). NOT a same-function test
          with two or more bilinear layers: the same function with its quadratic computed in
          the first rather than the second layer scores below 1. It is
          invariant to hidden permutations, factor rescalings, L/R swaps and basis changes.
        * "none" — no symmetrisation (not invariant to swapping L and R).
    form : {"weight", "gaussian"}
        "weight": Frobenius inner product of the padded tensors (input metric ``I`` on
        ``[1; x]``). "gaussian": ``E[<f_a(x), f_b(x)>]`` for ``x ~ N(mean, cov)`` (default
        N(0, I)), exact at any depth (:mod:`~mechequiv.tensorsim.gaussian`); also a
        same-function test; ``symmetrize`` is then moot.
    residual : bool
        Required for state dicts with bilinear blocks: whether the blocks are residual.
    n_ctx : int, optional
        For sequence models (``nn.Sequential`` of bias-free ``nn.Linear`` and
        :class:`~mechequiv.tensorsim.attention.PolynomialAttention`): compare the tensors that
        map ``n_ctx`` input positions to ``n_ctx`` output positions; per-output slices are
        summed over positions. Only ``form="weight"`` with "layer" or "none".
    mean, cov : array, optional
        The Gaussian of ``form="gaussian"`` (shapes (d_in,), (d_in, d_in)).

    Returns
    -------
    TensorInner
        The similarity, per-output cosines, and the skip-path share and block-only
        similarity beside them.

    Raises
    ------
    ValueError
        Input or output widths differ; a model's tensor is zero; bad option values; a state
        dict without ``residual``.
    MechequivError
        A module is not tensor-based (named in the message); "full"/"gaussian" too large.
    """
    check_choice(symmetrize, "symmetrize", SYMMETRIZE)
    check_choice(form, "form", FORMS)
    if form != "gaussian" and (mean is not None or cov is not None):
        raise ValueError("mean and cov are for form='gaussian'")
    a, b = as_nets(model_a, model_b, residual, n_ctx)
    check_dims(a, b)
    check_seq_options(a, symmetrize, form)
    a, b = same_depth([a, b], symmetrize, form)
    engine = Engine(symmetrize, form, mean, cov)
    return engine.result(engine.prepare(a), engine.prepare(b))


def check_seq_options(net: TensorNet | SeqNet, symmetrize: str, form: str) -> None:
    if isinstance(net, SeqNet) and (form != "weight" or symmetrize == "full"):
        raise MechequivError(
            "sequence models (polynomial attention) support form='weight' with symmetrize="
            "'layer' or 'none' (the fully symmetrised and Gaussian forms of attention are not "
            f"implemented; 'layer' is not a same-function test); got form={form!r}, "
            f"symmetrize={symmetrize!r}"
        )


def same_depth(nets: list[Any], symmetrize: str, form: str) -> list[Any]:
    """Nets of one depth: the same-function forms raise shallower nets by identity layers;
    the layer-wise forms pair layers one to one and refuse different depths."""
    depths = {net.n_bilinear for net in nets}
    if len(depths) == 1:
        return nets
    if form == "gaussian" or symmetrize == "full":
        top = max(depths)
        return [net.raised_to(top) for net in nets]
    raise ValueError(
        f"the models have {' and '.join(str(d) for d in sorted(depths))} bilinear layers; the "
        f"{symmetrize!r} form pairs layers one to one (symmetrize='full' or form='gaussian' "
        "compare models of different depth as functions)"
    )


def as_net(model: object, residual: bool | None, n_ctx: int | None) -> TensorNet | SeqNet:
    """A model as a :class:`TensorNet`, or with ``n_ctx`` (or given a SeqNet) a sequence net."""
    if isinstance(model, SeqNet):
        if n_ctx is not None and n_ctx != model.n_ctx:
            raise ValueError(f"this SeqNet was read for n_ctx={model.n_ctx}, not {n_ctx}")
        return model
    if n_ctx is None:
        return to_tensor_net(model, residual)
    return to_seq_net(model, n_ctx)


def as_nets(
    model_a: object, model_b: object, residual: bool | None, n_ctx: int | None
) -> tuple[TensorNet | SeqNet, TensorNet | SeqNet]:
    a, b = as_net(model_a, residual, n_ctx), as_net(model_b, residual, n_ctx)
    if type(a) is not type(b):
        raise TypeError("cannot compare a sequence model with a non-sequence model")
    if isinstance(a, TensorNet) and isinstance(b, TensorNet):
        b = b.to(a.device)  # the computation runs where model_a's weights are
    if isinstance(a, SeqNet) and isinstance(b, SeqNet) and b.device != a.device:
        b = b.to(a.device)
    if isinstance(a, SeqNet) and isinstance(b, SeqNet) and a.n_ctx != b.n_ctx:
        raise ValueError(f"the sequence nets have n_ctx {a.n_ctx} and {b.n_ctx}")
    return a, b


def check_dims(a: TensorNet | SeqNet, b: TensorNet | SeqNet) -> None:
    if a.d_in != b.d_in:
        raise ValueError(f"input widths differ: model_a takes {a.d_in}, model_b takes {b.d_in}")
    if a.d_out != b.d_out:
        raise ValueError(f"output widths differ: model_a gives {a.d_out}, model_b gives {b.d_out}")


@dataclass(frozen=True, eq=False)
class Prepared:
    """One model made ready for pairing: its net, its skip net (None: no skip path is
    tracked), the self-recursion (scaled forms) and its self inner products (per output):
    ``tt`` = <T, T>, ``ts`` = <T, S>, ``ss`` = <S, S>."""

    net: TensorNet | SeqNet
    skip: TensorNet | None
    gram: SelfGram | None
    tt: np.ndarray
    ts: np.ndarray
    ss: np.ndarray


class Engine:
    """Computes one form's per-output inner products for prepared models (used by
    :func:`tensor_inner` and by the checkpoint matrices, which prepare each model once)."""

    def __init__(
        self,
        symmetrize: str,
        form: str,
        mean: np.ndarray | None = None,
        cov: np.ndarray | None = None,
    ) -> None:
        self.symmetrize, self.form, self.mean, self.cov = symmetrize, form, mean, cov
        # Two-layer nets prepared once (basis, squares, forms) for the many pairs a model
        # takes part in (whole, skip path; the checkpoint matrices); dropped with the net.
        self._two: weakref.WeakKeyDictionary[TensorNet, TwoLayerNet] = weakref.WeakKeyDictionary()
        # One budget for the packed quartics all those nets keep (bounded memory however many).
        self._budget = QuarticBudget()

    def two_layer(self, net: TensorNet) -> TwoLayerNet:
        """``net`` prepared for the exact two-layer forms (cached while ``net`` lives)."""
        prepared = self._two.get(net)
        if prepared is None:
            prepared = self._two[net] = TwoLayerNet(net, self._budget)
        return prepared

    def uses_recursion(self, net: TensorNet | SeqNet) -> bool:
        if self.form == "gaussian":
            return False
        return self.symmetrize != "full" or net.n_bilinear <= 1

    def pair(
        self,
        x: TensorNet | SeqNet,
        y: TensorNet | SeqNet,
        gx: SelfGram | None,
        gy: SelfGram | None,
    ) -> np.ndarray:
        """Per-output inner product of two nets (scaled by the self-recursions' factors)."""
        if gx is not None:
            assert gy is not None  # both sides prepared by the same engine
            return cross_diag(x, y, gx, gy, recursion_mode(self.symmetrize))
        # sequence nets always take the recursion (check_seq_options)
        assert isinstance(x, TensorNet) and isinstance(y, TensorNet)
        if x.n_bilinear == 2 and self.form == "gaussian":
            return gaussian_two_layer(self.two_layer(x), self.two_layer(y))
        if self.form == "gaussian":
            return gaussian_pair(x, y)
        # Both same-function forms work on the joint row space of the first maps (isometric).
        if x.n_bilinear == 2:
            return full_pair(self.two_layer(x), self.two_layer(y))
        return dense_full_pair(*reduce_inputs(x, y))

    def prepare(self, net: TensorNet | SeqNet) -> Prepared:
        if self.form == "gaussian":
            assert isinstance(net, TensorNet)  # sequence nets are refused (check_seq_options)
            net = standardize(net, self.mean, self.cov)
        gram = self_gram(net, recursion_mode(self.symmetrize)) if self.uses_recursion(net) else None
        tt = gram.diag if gram is not None else self.pair(net, net, None, None)
        if not isinstance(net, TensorNet):
            zero = np.zeros_like(tt)
            return Prepared(net, None, gram, tt, zero, zero)
        skip = net.skip_net()
        ts = self.pair(net, skip, gram, gram)
        ss = self.pair(skip, skip, gram, gram)
        return Prepared(net, skip, gram, tt, ts, ss)

    def result(self, pa: Prepared, pb: Prepared) -> TensorInner:
        ab = self.pair(pa.net, pb.net, pa.gram, pb.gram)
        if pa.skip is None:
            zero = np.zeros_like(ab)
            a_sb = sa_b = sa_sb = zero
        else:
            assert pb.skip is not None  # both prepared alike (TensorNets track a skip net)
            a_sb = self.pair(pa.net, pb.skip, pa.gram, pb.gram)
            # <S_a, T_b> = <T_b, S_a>: with the small skip net second (cheaper recursion).
            sa_b = self.pair(pb.net, pa.skip, pb.gram, pa.gram)
            sa_sb = self.pair(pa.skip, pb.skip, pa.gram, pb.gram)
        return from_parts(
            ab, pa.tt, pb.tt, self.symmetrize, self.form, scaled=pa.gram is not None,
            skip=(pa.ss, pb.ss),
            block=(ab - a_sb - sa_b + sa_sb, pa.tt - 2 * pa.ts + pa.ss, pb.tt - 2 * pb.ts + pb.ss),
        )  # fmt: skip


def recursion_mode(symmetrize: str) -> str:
    """The Gram recursion's mode for a ``symmetrize`` option ("full" = "layer" at degree <= 2)."""
    return "none" if symmetrize == "none" else "layer"


def _cosines(ab: np.ndarray, aa: np.ndarray, bb: np.ndarray) -> tuple[float, np.ndarray]:
    """Total and per-output cosines; nan where a norm is (numerically) zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        per = ab / np.sqrt(aa * bb)
    per = np.where((aa > 0) & (bb > 0), per, np.nan)
    ta, tb = float(aa.sum()), float(bb.sum())
    total = float(ab.sum() / np.sqrt(ta * tb)) if ta > 0 and tb > 0 else float("nan")
    return total, per


def from_parts(
    ab: np.ndarray,
    aa: np.ndarray,
    bb: np.ndarray,
    symmetrize: str,
    form: str,
    scaled: bool,
    skip: tuple[np.ndarray, np.ndarray] | None = None,
    block: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> TensorInner:
    """Cosines from per-output inner products; a zero model is an error. ``skip``: the skip
    paths' self inner products (ss_a, ss_b); ``block``: (ab, aa, bb) of T - S."""
    total_aa, total_bb = float(aa.sum()), float(bb.sum())
    if total_aa <= 0 or total_bb <= 0:
        which = "model_a" if total_aa <= 0 else "model_b"
        raise ValueError(f"{which} has a zero tensor; its similarity is undefined")
    sim, per_class = _cosines(ab, aa, bb)
    if skip is None:
        skip = (np.zeros_like(aa), np.zeros_like(bb))
    if block is None:
        block = (ab, aa, bb)
    bab, baa, bbb = block
    # T - S is formed by subtraction: a block part below rounding of |T|^2 counts as zero.
    baa = np.where(baa > 1e-12 * total_aa, baa, 0.0)
    bbb = np.where(bbb > 1e-12 * total_bb, bbb, 0.0)
    block_sim, block_per = _cosines(bab, baa, bbb)
    return TensorInner(
        sim, per_class, ab, aa, bb, symmetrize, form, scaled,
        skip_share_a=float(skip[0].sum() / total_aa), skip_share_b=float(skip[1].sum() / total_bb),
        block_similarity=block_sim, block_per_class=block_per,
    )  # fmt: skip


def tensor_similarity(
    model_a: object,
    model_b: object,
    *,
    per_class: bool = False,
    details: bool = False,
    symmetrize: str = "full",
    form: str = "weight",
    residual: bool | None = None,
    n_ctx: int | None = None,
    mean: np.ndarray | None = None,
    cov: np.ndarray | None = None,
) -> float | np.ndarray | TensorInner:
    """Cosine between two tensor-based models' input-output tensors, from weights only.

    Returns a float; with ``per_class=True`` an array (d_out,) of per-output-slice cosines
    (``nan`` where a slice is zero); with ``details=True`` the whole :class:`TensorInner`
    (skip-path share and block-only similarity included). The default (``symmetrize="full"``)
    is 1 exactly when the two models compute the same function up to a positive scale; it is
    invariant to hidden-unit permutations, scale moved between a unit's factors, swapping L
    and R and invertible changes of basis between layers. See :func:`tensor_inner` for the
    options (``symmetrize="layer"`` for the fast layer-wise form of large deep models).

    Examples
    --------
    >>> import torch
    >>> from mechequiv.zoo.models import BilinearMLP
    >>> m = BilinearMLP(6, 5, 7, 3, n_layers=2)
    >>> round(tensor_similarity(m, m), 12)
    1.0
    """
    r = tensor_inner(
        model_a, model_b, symmetrize=symmetrize, form=form, residual=residual, n_ctx=n_ctx,
        mean=mean, cov=cov,
    )  # fmt: skip
    if details:
        return r
    return r.per_class if per_class else r.similarity
