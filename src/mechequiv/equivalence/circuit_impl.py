"""GetImpl and GetReprs from one discovered circuit, label-free.

:func:`circuit_congruity_setup` turns a :class:`~mechequiv.equivalence.discovery.Circuit` per
model into what :func:`~mechequiv.equivalence.congruity` needs: each model's sampler
(:func:`circuit_sampler`: resample ablation outside its circuit, or the one-point set when the
circuit holds every component) and one :class:`~mechequiv.equivalence.reprs.CircuitReprs`
reading each model's own circuit nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from mechequiv.equivalence.circuits import BehaviourCheck, ResampleAblation
from mechequiv.equivalence.discovery import Circuit
from mechequiv.equivalence.reprs import CircuitReprs
from mechequiv.equivalence.samplers import OnePointSet, Sampler
from mechequiv.tokens import TokenPolicy


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
    :class:`~mechequiv.equivalence.reprs.CircuitReprs` over all of them."""
    models, circuits = list(models), list(circuits)
    if len(models) != len(circuits):
        raise ValueError(f"{len(models)} models but {len(circuits)} circuits")
    samplers = tuple(circuit_sampler(c, inputs, check) for c in circuits)
    return samplers, CircuitReprs(dict(zip(models, circuits, strict=True)), tokens=tokens)
