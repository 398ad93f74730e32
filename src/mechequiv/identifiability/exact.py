"""``exact_equivalence(net_a, net_b, task)``: the exact overlap of two networks' explanation sets.

For a small Boolean MLP the audit enumerates every explanation of the paper's two kinds, so the
sets that interpretive equivalence can only sample are known exactly. This module compares them
for two networks on one task, modulo relabelling of hidden neurons (neurons have no names shared
across networks; inputs and the output are fixed).

Definitions (each set is a set of isomorphism classes, compared by a canonical form,
:mod:`.canonical`):

* **Circuit class**: an accepted circuit (every circuit reproducing the task, as in
  :func:`~.circuits.find_circuits`) as a layered graph of its kept neurons and edges, up to a
  permutation of the neurons within each hidden layer.
* **Interpretation class**: a circuit class whose every kept neuron is labelled by its gate,
  i.e. the truth table over the task rows of its chosen binarisation (constant neurons labelled
  constant). One class per consistent binarisation choice: the interpretations of
  ``completions="none"`` (:mod:`.interpretations`). Gates differing only on parent patterns the
  task never produces are the same class, so the comparison does not depend on the don't-care
  inflation of ``completions="all"``.
* **Algorithm**: a candidate formula (:mod:`.algorithms`) with at least one minimal mapping.
* **Alignment class** of an aligned algorithm: a minimal mapping up to neuron relabelling, i.e.
  per variable its hidden layer and the number of neurons (two disjoint-set assignments with the
  same sizes per layer differ by a permutation). Compared as ``(algorithm, shape)`` pairs.

Each overlap is the Jaccard index ``|A ∩ B| / |A ∪ B|`` of the two networks' classes, 1 when
both sets are empty (nothing distinguishes them). ``equivalent`` is the criterion
*all four Jaccard indices equal 1*: the networks admit exactly the same circuits,
interpretations, algorithms and alignment shapes, each class compared on its own (a single
relabelling that maps one network's whole set onto the other's is not required). A network and
any hidden-unit permutation of it are equivalent; the converse need not hold.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.identifiability._audit import IdentifiabilityReport, audit
from mechequiv.identifiability.canonical import canonical_form
from mechequiv.identifiability.circuits import Circuit, ablation_means, circuit_activations
from mechequiv.identifiability.interpretations import binarizations
from mechequiv.identifiability.network import MLPNet, as_mlp
from mechequiv.identifiability.tasks import BooleanTask, as_task

#: Default refusal threshold on the number of interpretation classes enumerated per network.
MAX_INTERPRETATIONS = 500_000
_CONSTANT = -1  # label of a neuron that is constant over the task rows
_DEFINITIONS = {
    "circuits": "accepted circuits as layered graphs of kept neurons and edges, modulo "
    "permutations of hidden neurons within each layer",
    "interpretations": "circuit classes with every kept neuron labelled by its binarised truth "
    "table over the task rows (constant neurons labelled -1); one per consistent binarisation "
    "choice (completions='none'), modulo hidden-neuron permutations",
    "algorithms": "candidate formulas with at least one minimal mapping (string form)",
    "alignments": "(algorithm, per-variable (hidden layer, number of neurons)) of each minimal "
    "mapping: a mapping modulo hidden-neuron permutations",
    "jaccard": "|A & B| / |A | B|; 1 when both sets are empty",
    "equivalent": "all four Jaccard indices equal 1",
}


@dataclass(frozen=True)
class Overlap:
    """Sizes of two class sets and of their intersection, with the Jaccard index."""

    n_a: int
    n_b: int
    shared: int

    @property
    def jaccard(self) -> float:
        union = self.n_a + self.n_b - self.shared
        return 1.0 if union == 0 else self.shared / union

    def to_dict(self) -> dict[str, Any]:
        return {"n_a": self.n_a, "n_b": self.n_b, "shared": self.shared, "jaccard": self.jaccard}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Overlap:
        return cls(int(d["n_a"]), int(d["n_b"]), int(d["shared"]))

    @classmethod
    def of(cls, a: frozenset[Any], b: frozenset[Any]) -> Overlap:
        return cls(len(a), len(b), len(a & b))


@dataclass(frozen=True)
class SharedAlgorithm:
    """An algorithm aligned in both networks: its minimal-mapping shapes in each, as
    ``((layer, n_neurons) per variable) -> number of minimal mappings of that shape``."""

    formula: str
    variables: tuple[str, ...]
    shapes_a: dict[tuple[tuple[int, int], ...], int]
    shapes_b: dict[tuple[tuple[int, int], ...], int]

    @property
    def shape_overlap(self) -> Overlap:
        return Overlap.of(frozenset(self.shapes_a), frozenset(self.shapes_b))

    def to_dict(self) -> dict[str, Any]:
        def enc(shapes: dict[tuple[tuple[int, int], ...], int]) -> list[dict[str, Any]]:
            return [
                {"shape": [list(s) for s in shape], "mappings": n}
                for shape, n in sorted(shapes.items())
            ]

        return {
            "formula": self.formula,
            "variables": list(self.variables),
            "shapes_a": enc(self.shapes_a),
            "shapes_b": enc(self.shapes_b),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SharedAlgorithm:
        def dec(items: list[dict[str, Any]]) -> dict[tuple[tuple[int, int], ...], int]:
            return {tuple(tuple(s) for s in it["shape"]): int(it["mappings"]) for it in items}

        return cls(d["formula"], tuple(d["variables"]), dec(d["shapes_a"]), dec(d["shapes_b"]))


@dataclass(frozen=True)
class ExactEquivalence:
    """Exact overlap of two networks' explanation sets on one task (see the module docstring
    for every definition; ``definitions`` repeats them in the serialised result).

    ``algorithms_a`` / ``algorithms_b``: the aligned algorithms of each network; ``shared``:
    those aligned in both, with their minimal-mapping shapes. ``n_mappings_a`` / ``_b``: minimal
    mappings (with multiplicity). ``settings``: the audit settings both networks were audited
    with, including the task row order, on which the one-directional pair convention depends.
    """

    name_a: str
    name_b: str
    task: str
    circuits: Overlap
    interpretations: Overlap
    algorithms: Overlap
    alignments: Overlap
    algorithms_a: tuple[str, ...]
    algorithms_b: tuple[str, ...]
    shared: tuple[SharedAlgorithm, ...]
    n_mappings_a: int
    n_mappings_b: int
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def equivalent(self) -> bool:
        """All four Jaccard indices equal 1."""
        return all(
            o.jaccard == 1.0
            for o in (self.circuits, self.interpretations, self.algorithms, self.alignments)
        )

    @property
    def criterion(self) -> str:
        return _DEFINITIONS["equivalent"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name_a": self.name_a,
            "name_b": self.name_b,
            "task": self.task,
            "equivalent": self.equivalent,
            "criterion": self.criterion,
            "circuits": self.circuits.to_dict(),
            "interpretations": self.interpretations.to_dict(),
            "algorithms": self.algorithms.to_dict(),
            "alignments": self.alignments.to_dict(),
            "algorithms_a": list(self.algorithms_a),
            "algorithms_b": list(self.algorithms_b),
            "shared": [s.to_dict() for s in self.shared],
            "n_mappings_a": self.n_mappings_a,
            "n_mappings_b": self.n_mappings_b,
            "settings": dict(self.settings),
            "seconds": dict(self.seconds),
            "definitions": dict(_DEFINITIONS),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExactEquivalence:
        return cls(
            name_a=d["name_a"],
            name_b=d["name_b"],
            task=d["task"],
            circuits=Overlap.from_dict(d["circuits"]),
            interpretations=Overlap.from_dict(d["interpretations"]),
            algorithms=Overlap.from_dict(d["algorithms"]),
            alignments=Overlap.from_dict(d["alignments"]),
            algorithms_a=tuple(d["algorithms_a"]),
            algorithms_b=tuple(d["algorithms_b"]),
            shared=tuple(SharedAlgorithm.from_dict(s) for s in d["shared"]),
            n_mappings_a=int(d["n_mappings_a"]),
            n_mappings_b=int(d["n_mappings_b"]),
            settings=dict(d.get("settings", {})),
            seconds={k: float(v) for k, v in d.get("seconds", {}).items()},
        )

    def summary(self) -> str:
        def line(what: str, o: Overlap) -> str:
            return f"  {what:<16} {o.n_a:>9,} vs {o.n_b:>9,}, shared {o.shared:>9,} (J={o.jaccard:.3f})"

        verdict = "equivalent" if self.equivalent else "not equivalent"
        lines = [
            f"Exact interpretive overlap of {self.name_a} and {self.name_b} on {self.task}: "
            f"{verdict}",
            line("circuits", self.circuits),
            line("interpretations", self.interpretations),
            line("algorithms", self.algorithms),
            line("alignments", self.alignments),
        ]
        for s in self.shared[:5]:
            lines.append(
                f"    {s.formula}: {sum(s.shapes_a.values())} vs {sum(s.shapes_b.values())} "
                f"minimal mapping(s), shapes J={s.shape_overlap.jaccard:.2f}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"ExactEquivalence({self.name_a!r} vs {self.name_b!r} on {self.task}: "
            f"equivalent={self.equivalent}, J(circuits)={self.circuits.jaccard:.3f}, "
            f"J(interpretations)={self.interpretations.jaccard:.3f}, "
            f"J(algorithms)={self.algorithms.jaccard:.3f}, "
            f"J(alignments)={self.alignments.jaccard:.3f})"
        )


# ---------------------------------------------------------------------------------------------
# class keys of one network


def _structure(
    circuit: Circuit, n_inputs: int
) -> tuple[list[list[int]], list[list[tuple[Any, ...]]]]:
    """Kept nodes per layer (hidden..., output) and their parents' positions."""
    layers = [*circuit.hidden, (0,)]
    prev: Sequence[int] = range(n_inputs)
    nodes, parents = [], []
    for l, kept in enumerate(layers):
        pos = {j: k for k, j in enumerate(prev)}
        mask = circuit.edge_masks[l]
        nodes.append(list(kept))
        parents.append([tuple(pos[j] for j in prev if mask[i, j]) for i in kept])
        prev = kept
    return nodes, parents


def circuit_key(circuit: Circuit, n_inputs: int) -> tuple[Any, ...]:
    """Canonical form of a circuit's kept graph modulo hidden-neuron permutations."""
    nodes, parents = _structure(circuit, n_inputs)
    return canonical_form(n_inputs, [[0] * len(n) for n in nodes], parents)


@functools.lru_cache(maxsize=1 << 16)
def _consistent(own: int, parent_tables: tuple[int, ...], m: int) -> bool:
    """Own bits a function of the parents' bits on the rows, and not a fully observed XOR/XNOR
    of two parents (the paper's ban; with unobserved patterns some completion is allowed)."""
    seen: dict[tuple[int, ...], int] = {}
    for r in range(m):
        pattern = tuple((t >> r) & 1 for t in parent_tables)
        bit = (own >> r) & 1
        if seen.setdefault(pattern, bit) != bit:
            return False
    if len(parent_tables) == 2 and len(seen) == 4:
        xor = all(bit == (p[0] ^ p[1]) for p, bit in seen.items())
        xnor = all(bit != (p[0] ^ p[1]) for p, bit in seen.items())
        return not (xor or xnor)
    return True


def interpretation_keys(
    net: MLPNet, circuit: Circuit, x: np.ndarray, means: Sequence[np.ndarray]
) -> list[tuple[Any, ...]]:
    """Canonical forms of every interpretation class of one circuit (``completions="none"``:
    one per consistent binarisation choice; their number equals
    ``count_interpretations(..., completions="none")``)."""
    n_inputs, m = x.shape[1], x.shape[0]
    acts = circuit_activations(net, circuit, x, means)
    nodes, parents = _structure(circuit, n_inputs)
    last = len(nodes) - 1
    options: list[list[tuple[int, ...]]] = []
    for l, kept in enumerate(nodes):
        values = np.rint(acts[-1]) if l == last else acts[l + 1]
        options.append([binarizations(values[:, i]) or (_CONSTANT,) for i in kept])
    keys: list[tuple[Any, ...]] = []
    flat = [(l, i) for l in range(len(nodes)) for i in range(len(nodes[l]))]
    chosen: list[list[int]] = [[0] * len(n) for n in nodes]

    def walk(k: int) -> None:
        if k == len(flat):
            keys.append(canonical_form(n_inputs, [list(c) for c in chosen], parents))
            return
        l, i = flat[k]
        opts = options[l][i]
        if opts == (_CONSTANT,):
            if l == last:
                return  # a constant output explains nothing (cannot happen for accepted circuits)
            chosen[l][i] = _CONSTANT
            walk(k + 1)
            return
        for t in opts:
            if l > 0:
                tables = tuple(
                    chosen[l - 1][p] for p in parents[l][i] if chosen[l - 1][p] != _CONSTANT
                )
                if not _consistent(t, tables, m):
                    continue
            chosen[l][i] = t
            walk(k + 1)

    walk(0)
    return keys


@dataclass(frozen=True, eq=False)
class ExplanationClasses:
    """One network's explanation classes on a task (the sets :func:`exact_equivalence`
    compares), computed once so that a network can be compared with many others.

    ``circuits`` and ``interpretations`` are sets of canonical forms; ``algorithms`` maps each
    aligned formula to its variable names and its minimal-mapping shapes with multiplicities;
    ``report`` is the audit they came from; ``settings`` the audit settings and task.
    """

    name: str
    task: str
    settings: dict[str, Any]
    circuits: frozenset[tuple[Any, ...]]
    interpretations: frozenset[tuple[Any, ...]]
    algorithms: dict[str, tuple[tuple[str, ...], Counter[tuple[tuple[int, int], ...]]]]
    report: IdentifiabilityReport
    seconds: float

    @property
    def alignments(self) -> frozenset[tuple[str, tuple[tuple[int, int], ...]]]:
        return frozenset((n, s) for n, (_, c) in self.algorithms.items() for s in c)

    def __repr__(self) -> str:
        return (
            f"ExplanationClasses({self.name!r} on {self.task}: {len(self.circuits):,} circuit, "
            f"{len(self.interpretations):,} interpretation, {len(self.algorithms)} algorithm, "
            f"{len(self.alignments)} alignment classes)"
        )


def explanation_classes(
    net: nn.Module | MLPNet | Sequence[tuple[object, object]],
    task: BooleanTask | str | Sequence[str],
    *,
    output: int | None = None,
    ablation: str = "zero",
    include_full: bool = False,
    min_node_sparsity: float | None = None,
    max_depth: int | None = None,
    pairs: str = "forward",
    max_interpretations: int = MAX_INTERPRETATIONS,
    force: bool = False,
    name: str = "net",
) -> ExplanationClasses:
    """Audit one network and reduce its explanations to classes modulo hidden-neuron
    relabelling (definitions in the module docstring; settings as in :func:`~.audit.audit`).

    Refuses (:class:`~mechequiv.errors.MechequivError`) before enumerating when the network has
    more than ``max_interpretations`` interpretation classes (counted exactly first), unless
    ``force``.
    """
    if isinstance(max_interpretations, bool) or not isinstance(max_interpretations, int):
        raise TypeError(
            f"max_interpretations must be an int, got {type(max_interpretations).__name__}"
        )
    if max_interpretations < 0:
        raise ValueError(f"max_interpretations must be >= 0, got {max_interpretations}")
    task = as_task(task)
    t0 = time.perf_counter()
    net = as_mlp(net)
    report = audit(
        net, task, output=output, ablation=ablation, include_full=include_full,
        min_node_sparsity=min_node_sparsity, max_depth=max_depth, pairs=pairs,
        completions="none", keep_lists=True, name=name, force=force,
    )  # fmt: skip
    n_keys = report.n_interpretations or 0
    if n_keys > max_interpretations and not force:
        raise MechequivError(
            f"{name} has {n_keys:,} interpretation classes to enumerate (> max_interpretations="
            f"{max_interpretations:,}); raise max_interpretations, filter circuits with "
            "min_node_sparsity, or pass force=True"
        )
    single = net.select_output(output or 0)
    x = task.inputs.astype(np.float64)
    means = ablation_means(single, x, ablation)
    circuits = report.circuits or ()
    circ = frozenset(circuit_key(c, task.n_inputs) for c in circuits)
    interp = frozenset(k for c in circuits for k in interpretation_keys(single, c, x, means))
    algos: dict[str, tuple[tuple[str, ...], Counter[tuple[tuple[int, int], ...]]]] = {}
    for mp in report.mappings or ():
        shape = tuple((layer, len(neurons)) for layer, neurons in mp.locations)
        entry = algos.setdefault(str(mp.algorithm), (mp.algorithm.variable_names(), Counter()))
        entry[1][shape] += 1
    settings = {
        **report.settings,
        "output": output,
        "task_rows": task.inputs.tolist(),
        "task_targets": task.targets.tolist(),
    }
    settings.pop("completions", None)
    return ExplanationClasses(
        name=name,
        task=task.name + ("" if output is None else f" output {output}"),
        settings=settings,
        circuits=circ,
        interpretations=interp,
        algorithms=algos,
        report=report,
        seconds=time.perf_counter() - t0,
    )


def compare_classes(a: ExplanationClasses, b: ExplanationClasses) -> ExactEquivalence:
    """The exact overlap of two networks' explanation classes (see :func:`exact_equivalence`).

    Both must come from the same task and audit settings.
    """
    for what, obj in (("a", a), ("b", b)):
        if not isinstance(obj, ExplanationClasses):
            raise TypeError(f"{what} must be ExplanationClasses, got {type(obj).__name__}")
    if a.settings != b.settings:
        diff = sorted(k for k in a.settings if a.settings.get(k) != b.settings.get(k))
        raise ValueError(f"the two networks were audited with different settings or tasks: {diff}")
    shared = tuple(
        SharedAlgorithm(n, a.algorithms[n][0], dict(a.algorithms[n][1]), dict(b.algorithms[n][1]))
        for n in sorted(set(a.algorithms) & set(b.algorithms))
    )
    return ExactEquivalence(
        name_a=a.name,
        name_b=b.name,
        task=a.task,
        circuits=Overlap.of(a.circuits, b.circuits),
        interpretations=Overlap.of(a.interpretations, b.interpretations),
        algorithms=Overlap.of(frozenset(a.algorithms), frozenset(b.algorithms)),
        alignments=Overlap.of(a.alignments, b.alignments),
        algorithms_a=tuple(a.report.algorithms or ()),
        algorithms_b=tuple(b.report.algorithms or ()),
        shared=shared,
        n_mappings_a=a.report.n_mappings or 0,
        n_mappings_b=b.report.n_mappings or 0,
        settings={
            **{k: v for k, v in a.settings.items() if k != "task_targets"},
            "row_order_note": "pairs='forward' takes each unordered pair of task rows once, "
            "source = earlier row (task_rows order): mapping counts depend on that order",
        },
        seconds={a.name: a.seconds, f"{b.name} " if b.name == a.name else b.name: b.seconds},
    )


def exact_equivalence(
    net_a: nn.Module | MLPNet | Sequence[tuple[object, object]],
    net_b: nn.Module | MLPNet | Sequence[tuple[object, object]],
    task: BooleanTask | str | Sequence[str],
    *,
    names: tuple[str, str] = ("a", "b"),
    **settings: Any,
) -> ExactEquivalence:
    """The exact overlap of two networks' explanation sets on a Boolean task.

    Both networks are audited with the same ``settings`` (keywords of
    :func:`explanation_classes`: ``output``, ``ablation``, ``include_full``,
    ``min_node_sparsity``, ``max_depth``, ``pairs``, ``max_interpretations``, ``force``); their
    circuits, interpretations, aligned algorithms and minimal mappings are reduced to classes
    modulo hidden-neuron relabelling and compared by Jaccard indices (definitions in the module
    docstring). The networks may differ in width; with different depths pass ``max_depth`` so
    both test the same candidate algorithms.
    """
    if (
        not isinstance(names, tuple)
        or len(names) != 2
        or not all(isinstance(n, str) for n in names)
    ):
        raise TypeError(f"names must be a pair of strings, got {names!r}")
    unknown = set(settings) - _SETTINGS
    if unknown:
        raise TypeError(
            f"unknown setting(s) {sorted(unknown)}; expected some of {sorted(_SETTINGS)}"
        )
    task = as_task(task)
    mlp_a, mlp_b = as_mlp(net_a), as_mlp(net_b)
    if len(mlp_a.hidden_widths) != len(mlp_b.hidden_widths) and settings.get("max_depth") is None:
        raise ValueError(
            f"the networks have {len(mlp_a.hidden_widths)} and {len(mlp_b.hidden_widths)} hidden "
            "layers, so their default candidate-algorithm depths differ; pass max_depth"
        )
    a = explanation_classes(mlp_a, task, name=names[0], **settings)
    b = explanation_classes(mlp_b, task, name=names[1], **settings)
    return compare_classes(a, b)


_SETTINGS = {
    "output", "ablation", "include_full", "min_node_sparsity", "max_depth", "pairs",
    "max_interpretations", "force",
}  # fmt: skip

__all__ = [
    "ExactEquivalence",
    "ExplanationClasses",
    "Overlap",
    "SharedAlgorithm",
    "circuit_key",
    "compare_classes",
    "exact_equivalence",
    "explanation_classes",
    "interpretation_keys",
]
