"""Hand-built Boolean MLPs with a designed gate decomposition, realised in several ways.

Trained networks rarely share their aligned algorithms, so a calibration of interpretive
equivalence estimators against :func:`~.exact.exact_equivalence` has few positives. This module
builds networks whose answer is designed: each :class:`Design` is a two-hidden-layer LeakyReLU
network (the paper's architecture, LeakyReLU after every layer, output included) whose every
neuron computes a chosen gate of its parents, and :func:`hand_built` realises a design in
different ways that keep the gates:

* ``base``: the design's own weights;
* ``permuted``: hidden neurons permuted within each layer and positively rescaled (incoming
  weights and bias times ``c``, outgoing weights divided by ``c``); LeakyReLU is positively
  homogeneous, so every circuit computes exactly what it did (the audit's classes are unchanged);
* ``biased``: every hidden neuron's bias lowered by a fifth of its smallest "on" activation and
  its outgoing weights scaled to restore that level (other weights, the same gates, different
  activation values);
* ``redundant``: neuron 0 of each hidden layer duplicated, its outgoing weights split 0.3 / 0.7
  between the copies (one hidden neuron wider per layer, the same function);
* ``idle``: one extra neuron per hidden layer that computes a gate (``¬A`` in layer 1, a copy
  of neuron 0 in layer 2) but has zero outgoing weights;
* ``mixed``: ``biased``, then ``redundant``, then ``permuted``.

Designs with the same ``decomposition`` implement the same gate decomposition of the task
(possibly in different layers); designs of one task with different decompositions implement it
differently, e.g. XOR as ``(A∨B)∧¬(A∧B)``, as ``¬((A∧B)∨¬(A∨B))`` and as ``(A∧¬B)∨(¬A∧B)``.
Whether the audit agrees is an empirical question answered by :func:`~.exact.exact_equivalence`;
the benchmark uses the audit's verdict, not the design's, as ground truth. What it says (with
``include_full=True``, checked in the tests): ``base``, ``permuted`` and ``biased`` of one design
are exactly equivalent; a duplicated or idle neuron adds aligned algorithms (more neuron sets
pass the interchange tests), so the aligned-algorithm set is not invariant to redundancy;
decompositions that differ only by negated intermediate variables (``A∧B`` from copies of
``A, B`` or from ``¬A, ¬B``) align the same algorithms, their interpretations differ; and the
same formula computed in different layers (``A∧B`` in layer 1 or layer 2) aligns different sets.

Each :class:`HandBuilt` records the designed truth table of every hidden neuron (bit ``r`` =
task row ``r``, rows in ``boolean_task`` order ``00, 01, 10, 11``); :meth:`HandBuilt.check`
verifies that some threshold separates every neuron's "on" rows from its "off" rows and that
the rounded output is the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.identifiability.network import Activation, MLPNet
from mechequiv.identifiability.tasks import boolean_task, make_mlp

#: Negative slope of every LeakyReLU (the paper's).
SLOPE = 0.01
REALISATIONS = ("base", "permuted", "biased", "redundant", "idle", "mixed")


@dataclass(frozen=True)
class Unit:
    """One neuron of a design: ``gate`` (a readable name), weights on the previous layer's
    neurons (inputs ``A, B`` for layer 1) and bias."""

    gate: str
    weights: tuple[float, ...]
    bias: float


@dataclass(frozen=True)
class Design:
    """A gate decomposition of a two-input task as two hidden layers and an output unit."""

    name: str
    task: str
    decomposition: str
    layers: tuple[tuple[Unit, ...], ...]

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [
            (np.array([u.weights for u in layer], dtype=np.float64),
             np.array([u.bias for u in layer], dtype=np.float64))
            for layer in self.layers
        ]  # fmt: skip


def _u(gate: str, weights: Sequence[float], bias: float) -> Unit:
    return Unit(gate, tuple(float(w) for w in weights), float(bias))


_A, _B = _u("A", (1, 0), 0), _u("B", (0, 1), 0)
_AND = _u("A∧B", (1, 1), -1)
_NOR = _u("¬(A∨B)", (-1, -1), 1)

#: The designs, by name. Most hidden units have pre-activation 1 on their "on" rows and <= 0
#: on their "off" rows, up to the LeakyReLU leak of their parents; where one unit cannot (OR as
#: the count 0, 1, 1, 2 in ``XOR or-nand-l1``) the next layer reads it accordingly.
#: :meth:`HandBuilt.check` verifies that each neuron's gate is a threshold of its activation.
DESIGNS: dict[str, Design] = {
    d.name: d
    for d in (
        Design(
            "XOR or-nand-l2", "XOR", "(A∨B)∧¬(A∧B)",
            ((_A, _B, _AND),
             (_u("A∨B", (1, 1, -1), 0), _u("¬(A∧B)", (0, 0, -1), 1)),
             (_u("XOR", (1, 1), -1),)),
        ),
        Design(
            # OR as a count (0, 1, 1, 2) in layer 1, XOR = OR - 2 AND in layer 2
            "XOR or-nand-l1", "XOR", "(A∨B)∧¬(A∧B)",
            ((_u("A∨B", (1, 1), 0), _AND),
             (_u("XOR", (1, -2), 0),),
             (_u("XOR", (1,), 0),)),
        ),
        Design(
            "XOR not-and-or-nor", "XOR", "¬((A∧B)∨¬(A∨B))",
            ((_AND, _NOR),
             (_u("XOR", (-1, -1), 1),),
             (_u("XOR", (1,), 0),)),
        ),
        Design(
            "XOR nimp-or", "XOR", "(A∧¬B)∨(¬A∧B)",
            ((_u("A∧¬B", (1, -1), 0), _u("¬A∧B", (-1, 1), 0)),
             (_u("XOR", (1, 1), 0),),
             (_u("XOR", (1,), 0),)),
        ),
        Design(
            "AND l1", "AND", "A∧B",
            ((_AND,), (_u("A∧B", (1,), 0),), (_u("A∧B", (1,), 0),)),
        ),
        Design(
            "AND l2", "AND", "A∧B",
            ((_A, _B), (_u("A∧B", (1, 1), -1),), (_u("A∧B", (1,), 0),)),
        ),
        Design(
            "AND de-morgan", "AND", "¬(¬A∨¬B)",
            ((_u("¬A", (-1, 0), 1), _u("¬B", (0, -1), 1)),
             (_u("A∧B", (-1, -1), 1),),
             (_u("A∧B", (1,), 0),)),
        ),
        Design(
            "OR l2", "OR", "A∨B",
            ((_A, _B),
             (_u("A∨B", (1, 1), 0), _u("A∧B", (1, 1), -1)),
             (_u("A∨B", (1, -1), 0),)),
        ),
        Design(
            "OR de-morgan", "OR", "¬(¬A∧¬B)",
            ((_NOR,), (_u("A∨B", (-1,), 1),), (_u("A∨B", (1,), 0),)),
        ),
        Design(
            "OR nimp", "OR", "(A∧¬B)∨B",
            ((_u("A∧¬B", (1, -1), 0), _B), (_u("A∨B", (1, 1), 0),), (_u("A∨B", (1,), 0),)),
        ),
    )
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class HandBuilt:
    """A realised design: the network, its designed hidden gates and how it was built.

    ``gates[l][i]``: designed truth table of hidden neuron ``i`` of layer ``l`` over the task
    rows (bit ``r`` = row ``r``).
    """

    name: str
    design: str
    task: str
    decomposition: str
    realisation: str
    net: MLPNet
    gates: tuple[tuple[int, ...], ...]

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        return self.net.hidden_widths

    def model(self) -> nn.Sequential:
        """The network as a float64 ``nn.Sequential`` (:func:`~.tasks.make_mlp` layout)."""
        model = make_mlp(self.net.widths, slope=SLOPE)
        linears = [m for m in model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for lin, w, b in zip(linears, self.net.weights, self.net.biases, strict=True):
                lin.weight.copy_(torch.as_tensor(w))
                lin.bias.copy_(torch.as_tensor(b))
        return model

    def check(self) -> None:
        """Raise :class:`~mechequiv.errors.MechequivError` unless every hidden neuron separates
        its designed gate's on rows from its off rows and the rounded output is the task."""
        task = boolean_task(self.task)
        acts = self.net.forward(task.inputs.astype(np.float64))
        for l, tables in enumerate(self.gates):
            for i, table in enumerate(tables):
                on = np.array([(table >> r) & 1 for r in range(len(task.inputs))], dtype=bool)
                values = acts[l + 1][:, i]
                if on.all() or (~on).all() or values[on].min() <= values[~on].max():
                    raise MechequivError(
                        f"{self.name}: hidden neuron {i} of layer {l} does not compute its "
                        f"gate {table:04b} (values {np.round(values, 4).tolist()})"
                    )
        out = np.rint(acts[-1][:, 0])
        if not np.array_equal(out, task.targets[:, 0]):
            raise MechequivError(f"{self.name}: rounded output {out.tolist()} is not {self.task}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "design": self.design, "task": self.task,
            "decomposition": self.decomposition, "realisation": self.realisation,
            "weights": [w.tolist() for w in self.net.weights],
            "biases": [b.tolist() for b in self.net.biases],
            "gates": [list(g) for g in self.gates],
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HandBuilt:
        act = Activation("leaky_relu", SLOPE)
        net = MLPNet(
            tuple(np.asarray(w, dtype=np.float64) for w in d["weights"]),
            tuple(np.asarray(b, dtype=np.float64) for b in d["biases"]),
            (act,) * len(d["weights"]),
        )
        return cls(
            d["name"], d["design"], d["task"], d["decomposition"], d["realisation"], net,
            tuple(tuple(int(t) for t in g) for g in d["gates"]),
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# realisations: operations on a list of (W, b) and the gate tables of the hidden layers

_Layers = list[tuple[np.ndarray, np.ndarray]]
_ROWS = boolean_task("AND").inputs.astype(np.float64)


def _hidden(layers: _Layers) -> list[np.ndarray]:
    """Activations of the hidden layers on the task rows."""
    return _mlp(layers).forward(_ROWS)[1:-1]


def _mlp(layers: _Layers) -> MLPNet:
    act = Activation("leaky_relu", SLOPE)
    return MLPNet(
        tuple(w.copy() for w, _ in layers), tuple(b.copy() for _, b in layers),
        (act,) * len(layers),
    )  # fmt: skip


def _permute(layers: _Layers, gates: list[list[int]], rng: np.random.Generator) -> None:
    for l in range(len(layers) - 1):
        n = len(gates[l])
        perm = rng.permutation(n)
        scale = rng.uniform(0.5, 2.0, size=n)
        w, b = layers[l]
        layers[l] = (w[perm] * scale[:, None], b[perm] * scale)
        w_next, b_next = layers[l + 1]
        layers[l + 1] = (w_next[:, perm] / scale[None, :], b_next)
        gates[l] = [gates[l][p] for p in perm]


def _bias(layers: _Layers, gates: list[list[int]]) -> None:
    for l in range(len(layers) - 1):
        values = _hidden(layers)[l]
        w, b = layers[l]
        w_next, b_next = layers[l + 1]
        b, w_next = b.copy(), w_next.copy()
        for i, table in enumerate(gates[l]):
            on = np.array([(table >> r) & 1 for r in range(len(_ROWS))], dtype=bool)
            level = values[on, i].min()  # > 0: the neuron is on there
            b[i] -= 0.2 * level
            w_next[:, i] *= 1.0 / 0.8
        layers[l] = (w, b)
        layers[l + 1] = (w_next, b_next)


def _duplicate(layers: _Layers, gates: list[list[int]]) -> None:
    for l in range(len(layers) - 1):
        w, b = layers[l]
        w_next, b_next = layers[l + 1]
        layers[l] = (np.vstack([w, w[:1]]), np.append(b, b[0]))
        split = np.hstack([w_next, 0.7 * w_next[:, :1]])
        split[:, 0] *= 0.3
        layers[l + 1] = (split, b_next)
        gates[l] = [*gates[l], gates[l][0]]


def _idle(layers: _Layers, gates: list[list[int]]) -> None:
    for l in range(len(layers) - 1):
        w, b = layers[l]
        if l == 0:
            row, bias = np.array([-1.0, 0.0]), 1.0  # ¬A
            table = _table(1.0 - _ROWS[:, 0])
        else:
            row, bias = np.eye(w.shape[1])[0], 0.0  # a copy of the previous layer's neuron 0
            table = gates[l - 1][0]
        layers[l] = (np.vstack([w, row]), np.append(b, bias))
        w_next, b_next = layers[l + 1]
        layers[l + 1] = (np.hstack([w_next, np.zeros((w_next.shape[0], 1))]), b_next)
        gates[l] = [*gates[l], table]


def _table(bits: np.ndarray) -> int:
    return int(sum(1 << r for r, v in enumerate(bits) if v > 0.5))


def hand_built(design: str | Design, realisation: str = "base", *, seed: int = 0) -> HandBuilt:
    """Realise ``design`` (a name of :data:`DESIGNS` or a :class:`Design`) as ``realisation``
    (one of :data:`REALISATIONS`, see the module docstring); ``seed`` draws the permutation and
    scales of ``permuted`` and ``mixed``. The result is checked (:meth:`HandBuilt.check`)."""
    if isinstance(design, str):
        if design not in DESIGNS:
            raise ValueError(f"unknown design {design!r}; known: {sorted(DESIGNS)}")
        design = DESIGNS[design]
    if not isinstance(design, Design):
        raise TypeError(f"design must be a name or a Design, got {type(design).__name__}")
    if realisation not in REALISATIONS:
        raise ValueError(f"unknown realisation {realisation!r}; expected one of {REALISATIONS}")
    layers = design.weights()
    base = _hidden(layers)
    gates = [[_table(h[:, i] > 0.5) for i in range(h.shape[1])] for h in base]
    rng = np.random.default_rng(seed)
    if realisation in ("biased", "mixed"):
        _bias(layers, gates)
    if realisation in ("redundant", "mixed"):
        _duplicate(layers, gates)
    if realisation == "idle":
        _idle(layers, gates)
    if realisation in ("permuted", "mixed"):
        _permute(layers, gates, rng)
    built = HandBuilt(
        name=f"{design.name} | {realisation}",
        design=design.name,
        task=design.task,
        decomposition=design.decomposition,
        realisation=realisation,
        net=_mlp(layers),
        gates=tuple(tuple(g) for g in gates),
    )
    built.check()
    return built


def hand_built_zoo(
    tasks: Sequence[str] = ("XOR", "AND", "OR"),
    realisations: Sequence[str] = REALISATIONS,
    *,
    seed: int = 0,
) -> list[HandBuilt]:
    """Every design of ``tasks`` (a gate name or several) in every realisation (one seed for
    the permuted ones)."""
    if isinstance(tasks, str):
        tasks = (tasks,)
    unknown = [t for t in tasks if t not in {d.task for d in DESIGNS.values()}]
    if unknown:
        raise ValueError(f"no design for task(s) {unknown}; designed tasks: "
                         f"{sorted({d.task for d in DESIGNS.values()})}")  # fmt: skip
    return [
        hand_built(d, r, seed=seed)
        for d in DESIGNS.values() if d.task in tasks
        for r in realisations
    ]  # fmt: skip


__all__ = ["DESIGNS", "REALISATIONS", "Design", "HandBuilt", "Unit", "hand_built", "hand_built_zoo"]
