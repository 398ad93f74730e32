"""GetImpl and GetReprs from one discovered circuit, label-free.

:func:`discover_congruity_circuit` finds the circuit with the settings the validity benchmarks
fix (:data:`CONGRUITY_DISCOVERY`); :func:`circuit_congruity_setup` turns a :class:`~mechequiv.equivalence.discovery.Circuit` per
model into what :func:`~mechequiv.equivalence.congruity` needs: each model's sampler
(:func:`circuit_sampler`: resample ablation outside its circuit, or the one-point set when the
circuit holds every component) and one :class:`~mechequiv.equivalence.reprs.CircuitReprs`
reading each model's own circuit nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from mechequiv.capture import run_with_patches
from mechequiv.equivalence.circuits import BehaviourCheck, ResampleAblation
from mechequiv.equivalence.components import Component, model_adapter
from mechequiv.equivalence.discovery import Circuit, discover_circuit, transformer_components
from mechequiv.equivalence.metrics import output_logits
from mechequiv.equivalence.reprs import CircuitReprs
from mechequiv.equivalence.samplers import OnePointSet, Sampler
from mechequiv.tokens import TokenPolicy

# discover_circuit settings for GetImpl by resample ablation. The metric is the KL to the
# model's own output distribution, the quantity ResampleAblation's behaviour check bounds (the
# default margin can rise while the distribution changes: measured on Tracr models, where such
# circuits fail the check). Faithfulness under that metric is 1 - KL(circuit) / KL(empty); with
# KL(empty) about 18 nats on trained modular-addition models, 0.999 keeps KL(circuit) near
# 0.02 nats on the discovery's counterfactual, so that random resamples stay inside the check's
# 0.05 (at 0.998, 3 of 5 Pizza circuits failed it by 0.06-0.09 nats:
# benchmarks/bench_external_validity.py --circuit).
CONGRUITY_DISCOVERY: dict[str, Any] = {
    "metric": "kl",
    "threshold": 0.002,
    "min_faithfulness": 0.999,
}


def discover_congruity_circuit(
    model: nn.Module, inputs: Any, components: Sequence[Component] | None = None
) -> Circuit:
    """:func:`~mechequiv.equivalence.discovery.discover_circuit` with
    :data:`CONGRUITY_DISCOVERY` over ``components`` (default: every attention head and every MLP
    hidden unit, :func:`transformer_components` with ``neurons=True``, the finest granularity
    the hook points offer, so that a side computation sharing an MLP layer with the circuit
    stays outside it). A model with a single output (a regression, such as a numerical Tracr
    program) is scored by ``"mse"`` instead: the softmax of one logit is constant, so its KL is
    identically 0 and would find nothing. The search order does not depend on the numbering of
    heads and units (``order="canonical"``), so two exactly reparameterised copies of a model
    (units permuted, residual stream rotated) get corresponding circuits, and
    :class:`~mechequiv.equivalence.reprs.CircuitReprs` that differ only by that
    reparameterisation."""
    comps = transformer_components(model, neurons=True) if components is None else components
    settings = dict(CONGRUITY_DISCOVERY)
    out = output_logits(run_with_patches(model_adapter(model), inputs, {}, progress=False))
    if out.shape[-1] == 1:
        settings["metric"] = "mse"
    return discover_circuit(model, inputs, comps, **settings)


def circuit_sampler(circuit: Circuit, inputs: Any, check: BehaviourCheck | None = None) -> Sampler:
    """Resample ablation outside ``circuit`` on ``inputs``; when the circuit holds every
    candidate there is nothing outside it to resample and the implementation set GetImpl can
    reach is the model alone: :class:`~mechequiv.equivalence.samplers.OnePointSet` (say so in
    results: such a pair is distinguishable unless the representations coincide)."""
    if not isinstance(circuit, Circuit):
        raise TypeError(
            f"circuit must be a Circuit (discover_circuit); got {type(circuit).__name__}"
        )
    if set(circuit.nodes) >= set(circuit.candidates):
        return OnePointSet(f"the circuit holds all {len(circuit.candidates)} candidate components")
    return ResampleAblation(circuit, inputs=inputs, check=check)


def circuit_congruity_setup(
    models: Sequence[nn.Module],
    circuits: Sequence[Circuit],
    inputs: Any,
    tokens: TokenPolicy = "last",
    check: BehaviourCheck | None = None,
) -> tuple[tuple[Sampler, ...], CircuitReprs]:
    """``(samplers, reprs)`` for ``congruity(h1, h2, inputs, sampler=samplers, reprs=reprs)``
    (or ``congruity_matrix``): one :func:`circuit_sampler` per model and a
    :class:`~mechequiv.equivalence.reprs.CircuitReprs` over all of them. Both may be sent to
    other processes (``congruity_matrix(..., backend="ray")``, Ray task arguments, pickle):
    the reprs recognises a deserialised copy of a model by its structure and weights
    (:func:`~mechequiv.equivalence.reprs.model_fingerprint`)."""
    models, circuits = list(models), list(circuits)
    if len(models) != len(circuits):
        raise ValueError(f"{len(models)} models but {len(circuits)} circuits")
    samplers = tuple(circuit_sampler(c, inputs, check) for c in circuits)
    return samplers, CircuitReprs(dict(zip(models, circuits, strict=True)), tokens=tokens)
