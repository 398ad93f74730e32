"""Resample-ablation implementations (GetImpl) and the one-at-a-time patching scan.

Components are defined in :mod:`mechequiv.equivalence.components`. For finding a circuit prefer
:func:`~mechequiv.equivalence.discovery.discover_circuit` (cumulative ACDC-style search, metrics
that work on saturated outputs, counterfactual inputs, faithfulness): :func:`scan_components`
scores each component alone against a KL, which misses components whose activations do not vary
over the task and effects that saturated outputs hide. It is deprecated (a
``DeprecationWarning``) and kept for existing callers and as the peer in
``benchmarks/bench_circuits.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv.capture import Adapter, capture, derangement, run_with_patches
from mechequiv.equivalence.components import (
    Component,
    component_patches,
    component_slice,
    model_adapter,
)
from mechequiv.equivalence.discovery import Circuit
from mechequiv.equivalence.metrics import output_logits
from mechequiv.equivalence.patched import PatchedModel, output_distribution
from mechequiv.equivalence.samplers import Draw, DrawingSampler
from mechequiv.errors import MechequivError


def _kl(p: torch.Tensor, q: torch.Tensor) -> float:
    """Mean over rows (and positions) of KL(p || q), in nats; 0 log 0 = 0."""
    ratio = torch.where(
        p > 0, p * (torch.log(p) - torch.log(q.clamp_min(1e-300))), torch.zeros_like(p)
    )
    return float(ratio.sum(-1).mean())


def _relative_mse(clean: torch.Tensor, patched: torch.Tensor) -> float:
    """Mean squared difference over the variance of ``clean`` (its mean square when constant:
    a constant output is compared in scale; 0 when both are all zero)."""
    err = float(((patched - clean) ** 2).mean())
    scale = float(clean.var(unbiased=False)) if clean.numel() > 1 else 0.0
    if scale <= 1e-300:
        scale = float((clean**2).mean())
    if scale <= 1e-300:
        return 0.0 if err <= 1e-300 else float("inf")
    return err / scale


def _mse_allowance(check: BehaviourCheck, stats: dict[str, float]) -> str:
    return f", relative MSE {check.max_relative_mse}" if "relative_mse" in stats else ""


@dataclass
class BehaviourCheck:
    """Accept an implementation if its outputs stay close to the model's on the task.

    ``max_kl``: largest mean KL(model || implementation) of the output distributions (softmax of
    the last dimension), in nats. ``labels`` and ``max_accuracy_drop``: optionally also require
    the argmax accuracy to drop by at most that much.

    ``max_relative_mse``: for models with a single output (a number, e.g. a regression or a
    numerical RASP program), where the softmax over one logit is always 1 and the KL always 0
    (a check that could never fail), the draw's output must instead stay within this mean
    squared error relative to the variance of the model's output over the inputs (1 - R² when
    the means agree); statistic ``relative_mse``.
    """

    max_kl: float = 0.05
    labels: Any = None
    max_accuracy_drop: float = 0.02
    max_relative_mse: float = 0.05

    def __post_init__(self) -> None:
        for name in ("max_kl", "max_accuracy_drop", "max_relative_mse"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0):  # NaN fails too
                raise ValueError(f"BehaviourCheck.{name} must be a number >= 0; got {value!r}")

    def measure(self, clean_out: Any, patched_out: Any) -> dict[str, float]:
        clean, patched = output_logits(clean_out), output_logits(patched_out)
        p, q = torch.softmax(clean, dim=-1), torch.softmax(patched, dim=-1)
        stats = {"kl": _kl(p, q)}
        if clean.shape[-1] == 1:
            stats["relative_mse"] = _relative_mse(clean, patched)
        if self.labels is not None:
            y = torch.as_tensor(self.labels)

            def acc(d: torch.Tensor) -> float:
                return float((d.argmax(-1) == y).double().mean())

            stats["accuracy_drop"] = acc(p) - acc(q)
        return stats

    def passes(self, stats: dict[str, float]) -> bool:
        ok = stats["kl"] <= self.max_kl and stats.get("relative_mse", 0.0) <= self.max_relative_mse
        return ok and stats.get("accuracy_drop", 0.0) <= self.max_accuracy_drop


class ResampleAblation(DrawingSampler):
    """GetImpl by resample ablation: patch every component outside ``circuit`` with its values
    on other (counterfactual) task inputs, as Sun & Toneva patch non-circuit heads.

    Parameters
    ----------
    circuit : a :class:`~mechequiv.equivalence.discovery.Circuit` (its candidates are the
        components, and it must be faithful), or the components kept as they are
    components : all candidate components (the circuit's complement is ablated); default: the
        Circuit's candidates
    inputs : the task stimuli (implementations are defined on these rows)
    source : optional counterfactual inputs (each draw gives every row the activations of a
        random source row); default: the task inputs themselves, rows resampled by a random
        derangement on each draw
    check : BehaviourCheck
        Draws that change behaviour more than allowed (by default mean KL(model || draw) of the
        output distributions above 0.05 nats) are rejected and redrawn, up to ``max_tries`` per
        implementation; :meth:`draw` reports how many were rejected and the accepted draw's
        statistics (``kl``, ``accuracy_drop`` with labels, and ``changed``: the relative L2
        change of the ablated activations, 0 when resampling moves nothing). Congruity records
        them in its result. If no draw passes, a :class:`MechequivError` says so.
    min_faithfulness : a Circuit less faithful than this is refused up front.

    Circuit components are computed live: they respond to the ablation of components upstream.
    """

    def __init__(
        self,
        circuit: Circuit | Sequence[Component],
        components: Sequence[Component] | None = None,
        inputs: Any = None,
        source: Any = None,
        check: BehaviourCheck | None = None,
        max_tries: int = 20,
        min_faithfulness: float = 0.9,
    ) -> None:
        if isinstance(circuit, Circuit):
            if not circuit.faithfulness >= min_faithfulness:
                raise ValueError(
                    f"the circuit is not faithful: faithfulness {circuit.faithfulness:.3g} < "
                    f"{min_faithfulness} ({circuit.metric}); resampling outside it would change "
                    "the behaviour. Lower the discovery threshold or pass min_faithfulness"
                )
            components = circuit.candidates if components is None else components
            circuit = circuit.nodes
        if components is None:
            raise ValueError("components (all candidates) are needed when circuit is a list")
        if inputs is None:
            raise ValueError("inputs (the task stimuli) are needed to draw implementations")
        unknown = set(circuit) - set(components)
        if unknown:
            raise ValueError(
                f"circuit components not among the candidates: {sorted(map(str, unknown))}"
            )
        self.circuit = list(circuit)
        self.ablate = [c for c in components if c not in set(circuit)]
        if not self.ablate:
            raise ValueError("the circuit holds every component: nothing to resample")
        self.inputs, self.source = inputs, source
        self.check = check or BehaviourCheck()
        self.max_tries = max_tries

    def draw(
        self, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
    ) -> Draw:
        points = sorted({c.point for c in self.ablate})
        adapter = model_adapter(model)
        clean = capture(adapter, self.inputs, points, progress=False)
        src_inputs = self.inputs if self.source is None else self.source
        src = clean if self.source is None else capture(adapter, src_inputs, points, progress=False)
        n, n_src = next(iter(clean.values())).shape[0], next(iter(src.values())).shape[0]
        clean_out = run_with_patches(adapter, self.inputs, {}, progress=False)
        modules = adapter.hook_modules()
        last: dict[str, float] = {}
        for rejected in range(self.max_tries):
            rows = (
                derangement(n, rng)
                if self.source is None
                else torch.as_tensor(rng.integers(0, n_src, n))
            )
            values = {c: component_slice(src[c.point][rows], c) for c in self.ablate}
            impl = PatchedModel(model, component_patches(values, modules))
            last = self.check.measure(clean_out, impl(self.inputs))
            last["changed"] = _relative_change(clean, values)
            if self.check.passes(last):
                return Draw(impl, rejected, last)
        raise MechequivError(
            f"ResampleAblation could not preserve behaviour in {self.max_tries} draws (last: "
            f"{', '.join(f'{k} {v:.4g}' for k, v in last.items())}; allowed KL {self.check.max_kl}"
            f"{_mse_allowance(self.check, last)}): "
            "the circuit is probably missing components"
        )


def _relative_change(
    clean: Mapping[Hashable, torch.Tensor], values: dict[Component, torch.Tensor]
) -> float:
    num = sum(float(((v.double() - component_slice(clean[c.point], c).double()) ** 2).sum())
              for c, v in values.items())  # fmt: skip
    den = sum(float((component_slice(clean[c.point], c).double() ** 2).sum()) for c in values)
    return (num / den) ** 0.5 if den > 0 else 0.0


@dataclass(frozen=True)
class CircuitScan:
    """Effect of resample-ablating each component alone, and the circuit it implies."""

    scores: dict[Component, float] = field(repr=False)
    threshold: float
    metric: str

    @property
    def circuit(self) -> list[Component]:
        """Components whose effect exceeds ``threshold``, most important first."""
        return sorted(
            (c for c, s in self.scores.items() if s > self.threshold), key=lambda c: -self.scores[c]
        )

    def to_dict(self) -> dict[str, Any]:
        return {"scores": {str(c): s for c, s in self.scores.items()}, "threshold": self.threshold,
                "metric": self.metric, "circuit": [str(c) for c in self.circuit]}  # fmt: skip

    def __repr__(self) -> str:
        top = ", ".join(f"{c} {self.scores[c]:.3g}" for c in self.circuit[:8])
        return f"CircuitScan({len(self.circuit)}/{len(self.scores)} components above {self.threshold:g} by {self.metric}: {top})"


def scan_components(
    model: nn.Module | Adapter,
    inputs: Any,
    components: Sequence[Component],
    threshold: float = 0.01,
    source: Any = None,
    metric: Callable[[Any, Any], float] | None = None,
    repeats: int = 3,
    seed: int = 0,
) -> CircuitScan:
    """Patching scan: resample-ablate each component alone and score the change in behaviour.

    The default score is the mean KL(clean || patched) of the output distributions in nats
    (the head-patching scan of Sun & Toneva's code uses a KL of the final-token distribution);
    pass ``metric(clean_out, patched_out) -> float`` for a logit difference or similar. Each
    component is scored as the mean over ``repeats`` random resamplings. Components scoring
    above ``threshold`` form the circuit (:attr:`CircuitScan.circuit`), ready for
    :class:`ResampleAblation`.

    Deprecated: use :func:`~mechequiv.equivalence.discovery.discover_circuit`.
    """
    warnings.warn(
        "scan_components is deprecated: it scores one component at a time by KL and misses "
        "components that never vary; use discover_circuit (ACDC-style, faithfulness checked) "
        "and ResampleAblation(circuit)",
        DeprecationWarning,
        stacklevel=2,
    )
    if not components:
        raise ValueError("no components to scan")
    rng = np.random.default_rng(seed)
    points = sorted({c.point for c in components})
    model = model_adapter(model)
    modules = model.hook_modules()
    clean = capture(model, inputs, points, progress=False)
    src = clean if source is None else capture(model, source, points, progress=False)
    clean_out = run_with_patches(model, inputs, {}, progress=False)
    n, n_src = next(iter(clean.values())).shape[0], next(iter(src.values())).shape[0]
    score = metric or (lambda a, b: _kl(output_distribution(a), output_distribution(b)))
    draws = [derangement(n, rng) if source is None else torch.as_tensor(rng.integers(0, n_src, n))
             for _ in range(repeats)]  # fmt: skip
    scores = {}
    for c in components:
        vals = []
        for rows in draws:
            patches = component_patches({c: component_slice(src[c.point][rows], c)}, modules)
            vals.append(score(clean_out, run_with_patches(model, inputs, patches, progress=False)))
        scores[c] = float(np.mean(vals))
    return CircuitScan(
        scores, threshold, "kl" if metric is None else getattr(metric, "__name__", "metric")
    )
