"""Compare a user's two models: every representational measure on their hidden representations,
the functional measures on their outputs, and Congruity with its interval.

Models load from local files only (see :mod:`mechequiv.study.loading` for the formats): weights
with a declared architecture by default, pickled whole modules only with ``trust_pickle=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv._progress import track
from mechequiv.errors import MechequivError
from mechequiv.study.loading import load_model
from mechequiv.study.stimuli import check_stimuli, describe_stimuli, token_embedding
from mechequiv.tokens import POLICIES, TokenPolicy, pool_tokens

__all__ = ["Comparison", "compare_models", "load_model"]  # load_model: re-exported

Pair = tuple[nn.Module, nn.Module]


def input_form(model: nn.Module) -> str:
    """``"tokens"`` for a model whose first leaf module with weights is an embedding, else
    ``"features"`` (leaves without weights, such as TransformerLens hook points, are skipped)."""
    return "features" if token_embedding(model) is None else "tokens"


def task_inputs(task: Any, form: str) -> Any:
    """The task's stimuli as token ids or one-hot features (``task.features()``); arrays and
    tensors given as the task pass through."""
    if not hasattr(task, "inputs"):
        return task
    return task.features() if form == "features" and hasattr(task, "features") else task.inputs


#: The compare command's Distill: long enough to re-fit small MLPs from scratch; the
#: acceptance is stated, not implied.
DISTILL_SETTINGS: dict[str, Any] = {"steps": 1000, "lr": 3e-2, "max_kl": 0.2, "min_agreement": 0.9}

SAMPLER_KINDS = ("none", "distill", "symmetry", "circuit", "circuit-reprs")


def _sampler(
    kind: str, model: nn.Module, inputs: Any, seed: int, points: list[Any] | None = None
) -> Any:
    from mechequiv.equivalence import (
        ResampleAblation,
        SymmetryTransform,
        discover_circuit,
    )

    if kind == "distill":  # label-free: re-fit to the model's own outputs
        from mechequiv.equivalence.refit import Distill

        return Distill(inputs, **DISTILL_SETTINGS)
    if kind == "symmetry":  # the positive control: every other seed is distinguishable
        return SymmetryTransform()
    if kind == "circuit":
        # Heads and MLPs where the model has TransformerLens-style hook points, else the units
        # of the points read. Threshold 0.05 with faithfulness kept >= 0.9: the smallest
        # circuit that keeps the behaviour, so that something is left to resample. A circuit
        # that holds every component or is not faithful, or a metric that the counterfactual
        # does not move, raises here and becomes the congruity part's own error.
        comps = _candidates(model, inputs, points, units=False)
        circuit = discover_circuit(model, inputs, comps, threshold=0.05, min_faithfulness=0.9,
                                   seed=seed)  # fmt: skip
        return ResampleAblation(circuit, inputs=inputs)
    raise ValueError(f"sampler must be one of {SAMPLER_KINDS}, got {kind!r}")


def _congruity_circuit(model: nn.Module, inputs: Any, points: list[Any] | None) -> Any:
    """The circuit of the fixed configuration (``"circuit-reprs"``):
    :func:`~mechequiv.equivalence.discover_congruity_circuit` over every head and MLP unit
    where the model has TransformerLens-style hook points, else over the units of the points
    read."""
    from mechequiv.equivalence import discover_congruity_circuit

    return discover_congruity_circuit(model, inputs, _candidates(model, inputs, points, units=True))


def _candidates(model: nn.Module, inputs: Any, points: list[Any] | None, units: bool) -> list[Any]:
    """Heads and MLPs (``units``: MLP hidden units) where the model has TransformerLens-style
    hook points, else the units of the points read."""
    from mechequiv.equivalence import default_points, neurons, transformer_components

    try:
        return list(transformer_components(model, neurons=units))
    except ValueError:
        return [c for p in points or default_points(model) for c in neurons(model, inputs, p)]


PARTS = ("representational", "functional", "congruity")

NO_SAMPLER = (
    "no sampler chosen: pass distill (label-free re-fit), circuit (resample ablation outside a "
    "circuit found by ACDC-style patching, discover_circuit), circuit-reprs (that with the "
    "circuit's own outputs as representation: calibrated on compiled Tracr pairs, not on "
    "trained seeds) or symmetry (the positive control); none is calibrated on same-mechanism "
    "pairs of different trained seeds, so none is a default"
)

CONGRUITY_MEANING = (
    "Congruity is about 1 when each model's own implementations (drawn by the sampler) are no "
    "closer to it than the other model's, i.e. the models are not told apart at the level of "
    "mechanism, and falls towards 0 when they always are; each direction's exact sign test asks "
    "'are a model's own implementations closer?', Holm-adjusted over the two directions "
    "(distinguishable when p < 1 - level)."
)


@dataclass(frozen=True)
class Comparison:
    """Measures and Congruity for one pair of models.

    Each part (``"representational"``, ``"functional"``, ``"congruity"``) either has its
    results or its one-line error in ``errors``: a failing part never discards the others.
    ``skipped`` maps a measure that does not apply (e.g. CCA with fewer stimuli than features)
    to the reason. ``sampler`` names the implementation sampler each model got, ``points`` the
    hook points read from each model, ``tokens`` the token policy.
    """

    representational: dict[str, float]
    functional: dict[str, float]
    congruity: Any
    skipped: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    sampler: str = ""
    points: dict[str, list[str]] = field(default_factory=dict)
    tokens: str | int = "last"

    @property
    def verdict(self) -> str | None:
        """One line: distinguishable or not, with the Holm-adjusted per-direction p-value (None
        without Congruity)."""
        c = self.congruity
        if c is None:
            return None
        if c.distinguishable:
            return (
                f"distinguishable (Holm p={c.p_value:.3g} < {1 - c.level:.2g}): a model's own "
                f"implementations are closer to it; different mechanisms under {self.sampler}"
            )
        return (
            f"not distinguishable (Holm p={c.p_value:.3g}, n={c.n} rounds): no evidence "
            f"of different mechanisms under {self.sampler}{_power_note(c.n, c.level)}"
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Comparison:
        """Inverse of :meth:`to_dict` (derived entries such as ``verdict`` are recomputed)."""
        from dataclasses import fields

        from mechequiv.equivalence import CongruityResult

        c = d.get("congruity")
        if c is not None:
            c = CongruityResult(
                **{f.name: c[f.name] for f in fields(CongruityResult) if f.name in c}
            )
        return cls(
            representational=dict(d["representational"]),
            functional=dict(d["functional"]),
            congruity=c,
            skipped=dict(d.get("skipped", {})),
            errors=dict(d.get("errors", {})),
            sampler=d.get("sampler", ""),
            points={k: list(v) for k, v in d.get("points", {}).items()},
            tokens=d.get("tokens", "last"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (``congruity`` is None when that part failed)."""
        return {
            "representational": self.representational,
            "functional": self.functional,
            "congruity": None if self.congruity is None else self.congruity.to_dict(),
            "verdict": self.verdict,
            "p_value": None if self.congruity is None else self.congruity.p_value,
            "meaning": CONGRUITY_MEANING,
            "sampler": self.sampler,
            "points": self.points,
            "tokens": self.tokens,
            "skipped": self.skipped,
            "errors": self.errors,
        }


def smallest_p(n: int) -> float:
    """The smallest Holm-adjusted p-value that ``n`` rounds can give: each direction's exact
    one-sided sign test is at best 0.5**n (every round won, no ties), doubled by Holm."""
    return min(1.0, 2.0 * 0.5**n)


def _power_note(n: int, level: float) -> str:
    """``; 5 rounds cannot reach ...`` when no outcome of ``n`` rounds could be distinguishable,
    so "not distinguishable" says nothing about the models."""
    if smallest_p(n) < 1 - level:
        return ""
    enough = next(k for k in range(n, 64) if smallest_p(k) < 1 - level)
    return (
        f"; but {n} rounds cannot reach p < {1 - level:.2g} whatever the models (the smallest "
        f"attainable is {smallest_p(n):.3g}): use n >= {enough}"
    )


def representational_measures(
    ra: Any, rb: Any, names: list[str] | None = None, progress: bool | None = False
) -> tuple[dict[str, float], dict[str, str]]:
    """Every representational measure (or ``names``) on one pair: ``(values, skipped)``, where
    ``skipped`` maps a measure that does not apply (e.g. CCA with n <= d) to the reason."""
    from mechequiv import measures as M

    names = names or M.names(functional=False)
    values, skipped = {}, {}
    for name in track(names, "measures", disable=None if progress is None else not progress):
        try:
            values[name] = M.get(name)(ra, rb)
        except ValueError as e:
            skipped[name] = str(e)
    return values, skipped


def _outputs(model: nn.Module, inputs: Any, tokens: TokenPolicy) -> torch.Tensor:
    from mechequiv.capture import run_with_patches

    out = run_with_patches(model, inputs, {}, progress=False)
    logits = out if isinstance(out, torch.Tensor) else getattr(out, "logits", None)
    if not isinstance(logits, torch.Tensor):
        kind = type(out).__name__
        raise MechequivError(
            f"{type(model).__name__} returns {kind} without logits (a model without an output "
            "head): functional measures need outputs; save the model with its head"
        )
    if logits.ndim < 3:
        return logits
    return pool_tokens(logits, tokens, _padding_mask(inputs))


def _padding_mask(inputs: Any) -> torch.Tensor | None:
    """The ``attention_mask`` of dict inputs (padded token batches), else None."""
    mask = inputs.get("attention_mask") if isinstance(inputs, dict) else None
    return None if mask is None else torch.as_tensor(mask)


class _BlockReprs:
    """GetReprs for Congruity: each model (or implementation) read at its own hook points,
    blocks that return tuples at their hidden state.

    ``points`` (model a) and ``points_b`` (model b; default ``points``); None means a model's
    default points. When the two lists differ, a model (or an implementation of it, which may
    be a new copy) is recognised by which list names its modules; :func:`_check_request`
    makes sure that is never ambiguous.
    """

    def __init__(
        self, points: list[Any] | None, tokens: TokenPolicy, points_b: list[Any] | None = None
    ) -> None:
        self.points, self.tokens = points, tokens
        self.points_b = points if points_b is None else points_b

    def select(self, model: nn.Module) -> list[Any]:
        """The hook points of ``model``: its list, else its default points."""
        from mechequiv.equivalence import default_points

        a, b = self.points, self.points_b
        if a == b:
            return list(a) if a is not None else default_points(model)
        fits_a, fits_b = _fits(model, a), _fits(model, b)
        if fits_a and fits_b:
            raise ValueError(
                f"{type(model).__name__} has the modules of both point lists ({a} and {b}): "
                "give one list for both models"
            )
        if fits_a or fits_b:
            return list(a if fits_a else b)  # type: ignore[arg-type]
        if a is None or b is None:
            return default_points(model)
        raise ValueError(f"{type(model).__name__} has neither the points {a} nor {b}")

    def resolve(self, model: nn.Module, inputs: Any) -> list[Any]:
        from mechequiv.capture.blocks import hidden_state_points
        from mechequiv.equivalence.patched import PatchedModel

        base = model.model if isinstance(model, PatchedModel) else model
        return hidden_state_points(base, inputs, self.select(base))

    def __call__(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        from mechequiv.capture import capture
        from mechequiv.equivalence import LayerReprs
        from mechequiv.equivalence.patched import PatchedModel

        points = self.resolve(model, inputs)
        if _padding_mask(inputs) is None:
            return LayerReprs(points, self.tokens)(model, inputs)
        # Padded batches: pool each sequence over its real tokens (capture reads the mask).
        base, patches = (
            (model.model, model.patches) if isinstance(model, PatchedModel) else (model, None)
        )
        acts = capture(base, inputs, points, patches=patches, tokens=self.tokens, progress=False)
        return torch.cat([acts[p].reshape(acts[p].shape[0], -1) for p in points], 1).double()

    def __repr__(self) -> str:
        where = "default points" if self.points is None else f"points={self.points}"
        if self.points_b != self.points:
            where += f", points_b={self.points_b}"
        return f"LayerReprs({where}, tokens={self.tokens!r})"


def _fits(model: nn.Module, points: list[Any] | None) -> bool:
    """Whether ``model`` has every module that ``points`` names."""
    from mechequiv.capture.hooks import named_hook_modules
    from mechequiv.capture.points import as_point

    if points is None:
        return False
    names = named_hook_modules(model)
    return all(as_point(p).module in names for p in points)


def check_arguments(measures: list[str] | None, n: int, sampler: str, tokens: TokenPolicy) -> None:
    """The arguments of :func:`compare_models` that need no model (ValueError / TypeError), so a
    command line can check them before it loads any model."""
    from mechequiv import measures as M
    from mechequiv.validation import check_int

    check_int(n, "n", 1)
    if sampler not in SAMPLER_KINDS:
        raise ValueError(f"sampler must be one of {SAMPLER_KINDS}, got {sampler!r}")
    for name in measures or []:
        if name not in M.names():
            raise ValueError(f"unknown measure {name!r}; `mechequiv measures` lists them")
    if isinstance(tokens, bool) or not (isinstance(tokens, int) or tokens in POLICIES):
        raise ValueError(f"token policy must be one of {POLICIES} or an int, got {tokens!r}")


def _check_request(
    models: tuple[nn.Module, nn.Module],
    measures: list[str] | None,
    n: int,
    sampler: str,
    points: list[Any] | None,
    tokens: TokenPolicy,
    points_b: list[Any] | None = None,
) -> None:
    """Every argument checked before any work starts (ValueError / TypeError)."""
    from mechequiv.capture.hooks import named_hook_modules
    from mechequiv.capture.points import as_point, resolve_modules
    from mechequiv.equivalence import default_points

    check_arguments(measures, n, sampler, tokens)
    reprs = _BlockReprs(points, tokens, points_b)
    for label, model, own in zip("ab", models, (reprs.points, reprs.points_b), strict=True):
        try:
            if own is not None:
                resolve_modules([as_point(p) for p in own], named_hook_modules(model))
            wanted = list(own) if own is not None else default_points(model)
            if reprs.select(model) != wanted:
                raise ValueError(
                    "it also has every module of the other model's points: give the same "
                    "--points for both models"
                )
        except ValueError as e:
            raise ValueError(f"model {label} ({type(model).__name__}): {e}") from e
    if sampler == "symmetry":  # a model that declares no symmetries is known before any work
        from mechequiv.capture import symmetries

        for label, model in zip("ab", models, strict=True):
            try:
                symmetries(model)
            except (ValueError, TypeError) as e:
                raise ValueError(f"--sampler symmetry: model {label}: {_one_line(e)}") from e


def _check_runs(model: nn.Module, inputs: Any, label: str, tokens: TokenPolicy) -> None:
    """Run the model on the first stimulus, so stimuli it cannot read fail before any work, and
    check a token position against the sequences' length."""
    from mechequiv.capture import run_with_patches
    from mechequiv.capture.batches import Batches

    try:
        first = next(iter(Batches(inputs, 1).chunks(0)), None)
        if first is None:
            raise ValueError("there are no stimuli")
        out = run_with_patches(model, first.batch, {}, progress=False)
    except (MechequivError, ValueError, TypeError) as e:
        raise MechequivError(
            f"model {label} ({type(model).__name__}) cannot read the stimuli: {_one_line(e)} "
            f"(the stimuli: {describe_stimuli(inputs)}{_positions_hint(model, inputs)}"
            f"{_float_hint(model, inputs)})"
        ) from e
    if isinstance(tokens, int):
        _check_position(tokens, _sequence_length(inputs, out), label, model)


def _positions_hint(model: nn.Module, inputs: Any) -> str:
    """``; 40 tokens per sequence, its config allows 16 positions`` when the stimuli are longer
    than the positions a Hugging Face or TransformerLens config declares (IndexError otherwise)."""
    ids = inputs.get("input_ids") if isinstance(inputs, dict) else inputs
    shape: tuple[int, ...] = tuple(getattr(ids, "shape", ()))
    if len(shape) != 2 or token_embedding(model) is None:
        return ""
    config, cfg = getattr(model, "config", None), getattr(model, "cfg", None)
    limit = next(
        (
            v
            for v in (
                getattr(config, "n_positions", None),
                getattr(config, "max_position_embeddings", None),
                getattr(cfg, "n_ctx", None),
            )
            if isinstance(v, int)
        ),
        None,
    )
    if limit is None or shape[1] <= limit:
        return ""
    return f"; {shape[1]} tokens per sequence, its config allows {limit} positions"


def _float_hint(model: nn.Module, inputs: Any) -> str:
    """A model without an embedding given integer stimuli (a 0/1 table saved as int) most
    likely wants them as floats; they are not cast, since a model may index with them."""
    if token_embedding(model) is not None or not isinstance(inputs, (torch.Tensor, np.ndarray)):
        return ""
    if torch.as_tensor(inputs[:1]).is_floating_point():
        return ""
    return "; a model without an embedding usually reads floats: save them as float32"


def _sequence_length(inputs: Any, out: Any) -> int | None:
    """The longest length a token position may index: the valid tokens of the shortest padded
    sequence, else the longest of the stimuli's and the outputs' sequence axes (None when
    neither is a sequence)."""
    mask = _padding_mask(inputs)
    if mask is not None:
        return int(mask.sum(dim=1).min())
    logits = out if isinstance(out, torch.Tensor) else getattr(out, "logits", None)
    lengths = (
        [int(logits.shape[1])] if isinstance(logits, torch.Tensor) and logits.ndim >= 3 else []
    )
    shape: tuple[int, ...] = tuple(getattr(inputs, "shape", ()))
    if len(shape) == 2 and not torch.as_tensor(inputs[:1]).is_floating_point():
        lengths.append(int(shape[1]))
    return max(lengths) if lengths else None


def _check_position(position: int, length: int | None, label: str, model: nn.Module) -> None:
    if length is not None and not -length <= position < length:
        raise ValueError(
            f"token position {position} is out of range for model {label} "
            f"({type(model).__name__}): its sequences have {length} positions "
            f"(use {-length}..{length - 1})"
        )


def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if isinstance(e, (MechequivError, ValueError, TypeError)):
        return text or type(e).__name__
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def compare_models(
    model_a: nn.Module,
    model_b: nn.Module,
    task: Any,
    *,
    measures: list[str] | None = None,
    n: int = 20,
    sampler: str = "none",
    seed: int = 0,
    points: list[Any] | None = None,
    tokens: TokenPolicy = "last",
    progress: bool | None = False,
    points_b: list[Any] | None = None,
) -> Comparison:
    """Representational measures on the models' hidden representations, functional measures on
    their outputs, and :func:`~mechequiv.equivalence._congruity` with ``n`` rounds.

    Parameters
    ----------
    measures : names, optional
        Registered measures to run (representational ones on the representations, functional
        ones on the outputs). Default: every measure.
    points : hook point names, optional
        Where to read both models (``"blocks.0.attn.hook_z"``, ``"transformer.h.3[0]"``...).
        Default: each model's :func:`~mechequiv.equivalence.default_points` (zoo blocks,
        TransformerLens residual stream, Hugging Face blocks, ``nn.TransformerEncoder`` layers,
        MLP hidden layers); blocks returning tuples are read at their hidden state.
    points_b : hook point names, optional
        Model b's points when its module names differ from model a's (default: ``points``).
    tokens : token policy
        For sequence activations and outputs (n, t, ...): ``"last"`` (default), ``"mean"``,
        ``"all"``, ``"concat"`` or a position (see :func:`mechequiv.tokens.pool_tokens`).
    sampler : ``"distill"`` (label-free: networks of the same architecture distilled from each
        model's own outputs, :class:`~mechequiv.equivalence.refit.Distill` with 1000 steps,
        accepted within KL 0.2 nats and 90% argmax agreement), ``"circuit"`` (resample
        ablation outside a circuit found by :func:`discover_circuit`), ``"circuit-reprs"``
        (the fixed label-free configuration of the validity benchmarks: the circuit over every
        head and MLP unit from :func:`~mechequiv.equivalence.discover_congruity_circuit`,
        resample ablation outside it, and GetReprs the circuit nodes' own outputs,
        :class:`~mechequiv.equivalence.CircuitReprs`, instead of the hook points; a model whose
        circuit is the whole model is its own only implementation, ``OnePointSet``; see
        docs/congruity_validity.md for where it is and is not valid) or ``"symmetry"`` (exact
        reparameterisations: the positive control, not an estimate). None of them is calibrated
        on same-mechanism pairs of different seeds (benchmarks/results/external_validity*.json),
        so none is a default: without a sampler the Congruity part is skipped, saying why.
    progress : bool or None
        Progress bars with counts and ETA for the measures and the Congruity rounds (``None``:
        on an interactive terminal).

    Bad arguments raise before any work starts. After that, each part that fails records its
    one-line error in :attr:`Comparison.errors` and the others still run.
    """
    from mechequiv import measures as M

    # one name where a list is expected would otherwise be read letter by letter
    points, points_b, measures = (
        [v] if isinstance(v, str) else v for v in (points, points_b, measures)
    )
    _check_request((model_a, model_b), measures, n, sampler, points, tokens, points_b)
    forms = {input_form(model_a), input_form(model_b)}
    if len(forms) > 1 and hasattr(task, "inputs"):
        raise MechequivError(
            "one model takes token ids and the other features; Congruity needs one set of "
            "stimuli that both read"
        )
    x = check_stimuli((model_a, model_b), task_inputs(task, forms.pop()))
    for label, model in zip("ab", (model_a, model_b), strict=True):
        _check_runs(model, x, label, tokens)
    reprs = _BlockReprs(points, tokens, points_b)
    wanted = set(measures or M.names())
    errors: dict[str, str] = {}
    rep_names = [m for m in M.names(functional=False) if m in wanted]
    func_names = [m for m in M.names(functional=True) if m in wanted]
    rep, skipped, resolved = _representational_part(
        (model_a, model_b), x, reprs, rep_names, progress, errors
    )
    func, func_skipped = _functional_part((model_a, model_b), x, tokens, func_names, errors)
    if measures is not None:
        parts = {"representational": (rep, rep_names), "functional": (func, func_names)}
        _nothing_applies(parts, skipped | func_skipped, errors)
    if sampler == "none":
        result, used = None, "none"
        skipped["congruity"] = NO_SAMPLER
    else:
        result, used = _congruity_part(
            (model_a, model_b), x, resolved, reprs, n, sampler, seed, progress, errors
        )
    used_points = {k: [str(p) for p in r] for k, r in zip("ab", resolved, strict=True) if r}
    return Comparison(rep, func, result, skipped | func_skipped, errors, used, used_points, tokens)


def _representational_part(
    models: Pair, x: Any, reprs: _BlockReprs, names: list[str], progress: bool | None,
    errors: dict[str, str],
) -> tuple[dict[str, float], dict[str, str], list[list[Any] | None]]:  # fmt: skip
    """(values, skipped, each model's resolved points); a failure goes to ``errors``."""
    values: dict[str, float] = {}
    skipped: dict[str, str] = {}
    resolved: list[list[Any] | None] = [None, None]
    try:
        resolved = [reprs.resolve(m, x) for m in models]
        if names:
            ra, rb = (
                _finite(reprs(m, x), label, "representations")
                for m, label in zip(models, "ab", strict=True)
            )
            values, skipped = representational_measures(ra, rb, names, progress)
    except Exception as e:  # the part's own error; the other parts still run
        errors["representational"] = _one_line(e)
    return values, skipped, resolved


def _nothing_applies(
    parts: dict[str, tuple[dict[str, float], list[str]]],
    skipped: dict[str, str],
    errors: dict[str, str],
) -> None:
    """A part whose measures were asked for by name and of which none applied has no result:
    its error (an empty table with exit code 0 would read as success). The reasons stay in
    ``skipped``. Under the default (every measure) a part that does not apply, such as the
    functional measures of two models with different output sizes, stays a list of skips."""
    for part, (values, names) in parts.items():
        if names and not values and part not in errors:
            first = next((k for k in names if k in skipped), None)
            why = f" ({first}: {skipped[first]})" if first else ""
            errors[part] = f"none of the {len(names)} measures applies{why}"


def _finite(values: torch.Tensor, label: str, what: str) -> torch.Tensor:
    """``values``, or the part's error when they hold NaN or inf (each measure would otherwise
    be refused one by one, leaving a table of skips that reads like a result)."""
    bad = int((~torch.isfinite(values)).sum())
    if bad:
        raise MechequivError(
            f"model {label}'s {what} hold {bad} NaN or infinite values of {values.numel()}"
        )
    return values


def _functional_part(
    models: Pair, x: Any, tokens: TokenPolicy, names: list[str], errors: dict[str, str]
) -> tuple[dict[str, float], dict[str, str]]:
    """(values, skipped) of the functional measures on the models' outputs."""
    from mechequiv import measures as M

    values: dict[str, float] = {}
    skipped: dict[str, str] = {}
    if not names:
        return values, skipped
    # Concatenating positions would join several output distributions into one vector (one
    # softmax, one argmax over positions x classes): under "concat" each position is a row.
    per_row: TokenPolicy = "all" if tokens == "concat" else tokens
    try:
        oa, ob = (
            _finite(_outputs(m, x, per_row), label, "outputs")
            for m, label in zip(models, "ab", strict=True)
        )
        for name in names:
            try:
                values[name] = M.get(name)(oa, ob)
            except ValueError as e:
                skipped[name] = str(e)
    except Exception as e:  # the part's own error; the other parts still run
        errors["functional"] = _one_line(e)
    return values, skipped


def _congruity_part(
    models: Pair, x: Any, resolved: list[list[Any] | None], reprs: _BlockReprs, n: int,
    sampler: str, seed: int, progress: bool | None, errors: dict[str, str],
) -> tuple[Any, str]:  # fmt: skip
    """(CongruityResult or None, the samplers used)."""
    from mechequiv.equivalence import congruity

    result, used = None, f"{sampler} (not built)"
    try:
        # a circuit sampler runs circuit discovery per model: the slow step before the rounds
        todo = track(
            list(zip(models, resolved, strict=True)),
            "implementation samplers",
            disable=None if progress is None else not progress,
        )
        chosen: Any = reprs
        if sampler == "circuit-reprs":
            from mechequiv.equivalence import circuit_congruity_setup

            circuits = [_congruity_circuit(m, x, r) for m, r in todo]
            built, chosen = circuit_congruity_setup(models, circuits, x, tokens=reprs.tokens)
        else:
            built = tuple(_sampler(sampler, m, x, seed, r) for m, r in todo)
        pair = (built[0], built[1])
        kinds = [type(s).__name__ for s in pair]
        used = kinds[0] if kinds[0] == kinds[1] else f"{kinds[0]} (a) / {kinds[1]} (b)"
        used += f" (sampler={sampler})"
        result = congruity(
            *models, x, n=n, sampler=pair, reprs=chosen, seed=seed, progress=progress
        )
    except Exception as e:  # the part's own error; the measures are kept
        headless = [type(m).__name__ for m in models if not _has_logits(m, x)]
        errors["congruity"] = (
            f"the sampler checks behaviour on output logits, which {', '.join(headless)} "
            f"lacks ({_one_line(e)})"
            if headless
            else _one_line(e)
        )
        if sampler == "distill" and not headless:
            # Distill's own hint (more steps, looser thresholds) cannot be acted on here
            settings = ", ".join(f"{k}={v}" for k, v in DISTILL_SETTINGS.items())
            errors["congruity"] += (
                f" [compare's Distill is fixed at {settings}; to change it, build "
                "mechequiv.equivalence.refit.Distill in Python and call congruity]"
            )
    return result, used


def _has_logits(model: nn.Module, inputs: Any) -> bool:
    from mechequiv.capture.batches import Batches

    try:
        _outputs(model, next(iter(Batches(inputs, 1).chunks(0))).batch, "last")
    except MechequivError:
        return False
    return True
