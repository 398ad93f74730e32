"""``audit(model, task)``: how many explanations fit one network (both strategies of the paper)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from torch import nn

from mechequiv._progress import track
from mechequiv.errors import MechequivError
from mechequiv.identifiability.algorithms import candidate_algorithms, count_skeletons
from mechequiv.identifiability.alignment import (
    Mapping,
    count_costs,
    count_mappings,
    input_pairs,
    list_mappings,
    passing_index,
    patched_bits,
    variable_locations,
)
from mechequiv.identifiability.budget import estimate_audit
from mechequiv.identifiability.circuits import (
    MAX_CANDIDATES,
    Circuit,
    ablation_means,
    check_candidates,
    count_candidates,
    find_circuits,
)
from mechequiv.identifiability.interpretations import COMPLETIONS, count_interpretations
from mechequiv.identifiability.network import MLPNet, as_mlp
from mechequiv.identifiability.tasks import BooleanTask, as_task

#: Most task rows (truth tables are int64 bitmasks).
MAX_ROWS = 62
#: Default refusal threshold on candidate formula skeletons (7,654 at depth 4 for two inputs;
#: depth 5 has 58,576,060).
MAX_SKELETONS = 100_000
#: Rough single-core cost per skeleton (generation and alignment, measured at depth 4), used only
#: to say how long a refused search would take.
_SECONDS_PER_SKELETON = 3e-3

#: Widest hidden layer the alignment search accepts without ``force`` (2**w subsets per layer).
MAX_ALIGNMENT_WIDTH = 16


#: Audit settings of the reference script (MelouxM/MI-identifiability, main.py at upstream commit
#: c08b08d, the last by its author; read in the public fork gwherb/MI-identifiability): zero
#: ablation, the full node set never tried, every don't-care completion counted, formulas up to
#: depth hidden layers + 1, one direction per input pair, and its width-dependent circuit
#: filter (``paper_min_node_sparsity``). ``audit(..., preset="paper")`` applies them.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "ablation": "zero",
        "include_full": False,
        "min_node_sparsity": "paper",
        "completions": "all",
        "max_depth": None,
        "pairs": "forward",
    }
}
_PRESET_DEFAULTS = {
    "ablation": "zero",
    "include_full": False,
    "min_node_sparsity": None,
    "completions": "all",
    "max_depth": None,
    "pairs": "forward",
}


def paper_min_node_sparsity(hidden_widths: Sequence[int]) -> float | None:
    """The reference script's circuit filter: keep circuits removing a fraction of hidden neurons
    strictly above 0.2 when the widest hidden layer has 4 neurons, 0.3 from 5 on, none below."""
    k = max(hidden_widths)
    if k > 4:
        return 0.3
    if k > 3:
        return 0.2
    return None


@dataclass(frozen=True, eq=False)
class IdentifiabilityReport:
    """Counts of explanations of one single-output network on one Boolean task.

    Where-then-what: ``interpretations[i]`` is the number of logic-gate interpretations of the
    ``i``-th accepted circuit (of ``n_candidates`` examined). What-then-where: ``algorithms``
    lists the candidate algorithms (of ``n_algorithms_tested``) with at least one minimal
    mapping and ``mappings_per_algorithm`` their minimal-mapping counts. ``circuits`` and
    ``mappings`` hold the objects themselves when the audit was asked for lists
    (``keep_lists=True``), else ``None``. A strategy that was not run has ``None`` counts.
    """

    name: str
    widths: tuple[int, ...]
    n_candidates: int | None
    interpretations: tuple[int, ...] | None
    n_algorithms_tested: int | None
    algorithms: tuple[str, ...] | None
    mappings_per_algorithm: tuple[int, ...] | None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    circuits: tuple[Circuit, ...] | None = None
    mappings: tuple[Mapping, ...] | None = None

    @property
    def n_circuits(self) -> int | None:
        return None if self.interpretations is None else len(self.interpretations)

    @property
    def n_interpretations(self) -> int | None:
        return None if self.interpretations is None else sum(self.interpretations)

    @property
    def n_algorithms(self) -> int | None:
        return None if self.algorithms is None else len(self.algorithms)

    @property
    def n_mappings(self) -> int | None:
        return None if self.mappings_per_algorithm is None else sum(self.mappings_per_algorithm)

    @property
    def hidden_width(self) -> int:
        """Widest hidden layer (the ``k`` of the paper's figure)."""
        return max(self.widths[1:-1])

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "widths": list(self.widths),
            "n_candidates": self.n_candidates,
            "n_circuits": self.n_circuits,
            "n_interpretations": self.n_interpretations,
            "interpretations": None if self.interpretations is None else list(self.interpretations),
            "n_algorithms_tested": self.n_algorithms_tested,
            "n_algorithms": self.n_algorithms,
            "n_mappings": self.n_mappings,
            "algorithms": None
            if self.algorithms is None
            else [
                {"formula": a, "mappings": n}
                for a, n in zip(self.algorithms, self.mappings_per_algorithm or (), strict=True)
            ],
            "settings": dict(self.settings),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }
        if self.circuits is not None:
            out["circuits"] = [c.to_dict() for c in self.circuits]
        if self.mappings is not None:
            out["mappings"] = [m.to_dict() for m in self.mappings]
        return out

    def summary(self) -> str:
        lines = [f"Identifiability audit of {self.name} (widths {list(self.widths)})"]
        if self.interpretations is not None:
            per = self.interpretations
            lines.append(
                f"  where-then-what: {self.n_circuits:,} circuits of {self.n_candidates:,} "
                f"candidates reproduce the task; {self.n_interpretations:,} interpretations"
                + (
                    f" (per circuit: median {int(np.median(per)):,}, max {max(per):,})"
                    if per
                    else ""
                )
            )
        if self.algorithms is not None:
            lines.append(
                f"  what-then-where: {self.n_algorithms} of {self.n_algorithms_tested} candidate "
                f"algorithms align, {self.n_mappings:,} minimal mappings"
            )
            for a, n in list(zip(self.algorithms, self.mappings_per_algorithm or (), strict=True))[
                :5
            ]:
                lines.append(f"    {a}: {n} mapping(s)")
            if len(self.algorithms) > 5:
                lines.append(f"    ... {len(self.algorithms) - 5} more")
        lines.append(
            "  settings: "
            + ", ".join(f"{k}={v}" for k, v in self.settings.items() if k != "task_rows")
        )
        if self.algorithms is not None and self.settings.get("pairs") == "forward":
            lines.append(
                "  (pairs='forward' tests each pair of task rows in one direction, earlier row as "
                "source: mapping counts depend on the task's row order)"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"IdentifiabilityReport({self.name!r}, widths={list(self.widths)}, "
            f"circuits={self.n_circuits}, interpretations={self.n_interpretations}, "
            f"algorithms={self.n_algorithms}, mappings={self.n_mappings})"
        )


def _single_output(net: MLPNet, task: BooleanTask, output: int | None) -> tuple[MLPNet, np.ndarray]:
    if net.widths[0] != task.n_inputs:
        raise ValueError(
            f"the network takes {net.widths[0]} inputs but the task has {task.n_inputs}"
        )
    if not net.hidden_widths:
        raise ValueError(f"the network needs at least one hidden layer, got widths {net.widths}")
    n_out = net.widths[-1]
    if n_out != task.n_outputs:
        raise ValueError(f"the network has {n_out} outputs but the task has {task.n_outputs}")
    if output is None:
        if n_out != 1:
            raise ValueError(
                f"the network has {n_out} outputs; pass output=i to audit one (the network is "
                "split into single-output copies sharing the hidden layers, as in the paper)"
            )
        output = 0
    if not 0 <= output < n_out:
        raise ValueError(f"output must be in [0, {n_out}), got {output}")
    target = task.targets[:, output].astype(np.float64)
    if np.all(target == target[0]):
        raise ValueError(f"output {output} of task {task.name!r} is constant: nothing to explain")
    return net.select_output(output), target


def _check_solved(net: MLPNet, x: np.ndarray, target: np.ndarray, name: str) -> None:
    out = net.forward(x)[-1][:, 0]
    wrong = np.nonzero(np.rint(out) != target)[0]
    if len(wrong):
        rows = ", ".join(
            f"{x[r].astype(int).tolist()}: {out[r]:.3f} (target {int(target[r])})"
            for r in wrong[:4]
        )
        raise MechequivError(
            f"the network does not solve task {name!r} (rounded output must equal the target on "
            f"every row); wrong rows: {rows}"
        )


def _truth_table(inputs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The target in lexicographic row order; the task must list every input pattern."""
    n = inputs.shape[1]
    if len(inputs) != 2**n:
        raise ValueError(
            f"what-then-where needs the full truth table ({2**n} rows for {n} inputs), got "
            f"{len(inputs)} rows; pass what_then_where=False to audit circuits only"
        )
    index = (inputs.astype(np.int64) << np.arange(n - 1, -1, -1)).sum(axis=1)
    table = np.zeros(2**n, dtype=np.int64)
    table[index] = target
    return table


def _check_skeletons(depth: int, n_inputs: int, max_skeletons: int) -> None:
    try:
        n = count_skeletons(depth, n_inputs)
        what = f"{n:,}"
    except ValueError as err:  # too many even to count exactly
        n, what = max_skeletons + 1, str(err).split(" skeletons")[0]
    if n > max_skeletons:
        hours = n * _SECONDS_PER_SKELETON / 3600
        raise MechequivError(
            f"what-then-where would test {what} candidate formula skeletons (AND/OR depth <= "
            f"{depth} over {n_inputs} inputs) > max_skeletons={max_skeletons:,}: roughly "
            f"{hours:,.1f} hours on one core at ~{_SECONDS_PER_SKELETON * 1e3:.0f} ms each; lower "
            "max_depth, pass what_then_where=False, or force=True"
        )


def estimate_candidates(
    model: nn.Module | MLPNet | Sequence[int],
    *,
    include_full: bool = False,
    min_node_sparsity: float | None = None,
) -> int:
    """Number of candidate circuits an audit would examine (a model or its layer widths; for a
    multi-output model, the count for one output)."""
    if isinstance(model, Sequence) and all(isinstance(w, int) for w in model):
        widths = (*model[:-1], 1)
    else:
        # not all ints: a module, an MLPNet or (weight, bias) pairs, which as_mlp checks
        mlp = as_mlp(cast("nn.Module | MLPNet | Sequence[tuple[object, object]]", model))
        widths = (*mlp.widths[:-1], 1)
    return count_candidates(widths, include_full, min_node_sparsity)


def audit(
    model: nn.Module | MLPNet | Sequence[tuple[object, object]],
    task: BooleanTask | str | Sequence[str],
    *,
    output: int | None = None,
    ablation: str = "zero",
    include_full: bool = False,
    min_node_sparsity: float | None = None,
    completions: str = "all",
    max_depth: int | None = None,
    pairs: str = "forward",
    where_then_what: bool = True,
    what_then_where: bool = True,
    keep_lists: bool = False,
    max_candidates: int = MAX_CANDIDATES,
    max_skeletons: int = MAX_SKELETONS,
    force: bool = False,
    budget_s: float | None = None,
    preset: str | None = None,
    name: str | None = None,
    progress: bool | None = False,
) -> IdentifiabilityReport:
    """Count every explanation of a Boolean MLP under both strategies of Méloux et al.

    Parameters
    ----------
    model
        ``nn.Sequential`` of ``nn.Linear`` and elementwise activations, an :class:`MLPNet` or
        ``(W, b)`` pairs (see :func:`~.network.as_mlp`). Evaluated in float64.
    task
        A :class:`~.tasks.BooleanTask` or gate name(s) (``"XOR"``); its rows are the inputs on
        which behaviour, activations and interventions are evaluated.
    output
        Which output to audit for a multi-output network (required then).
    ablation
        ``"zero"`` (the paper) or ``"mean"``: value given to removed neurons and edges.
    include_full
        Also try circuits keeping every hidden neuron (the paper does not).
    min_node_sparsity
        Keep only circuits removing a fraction of hidden neurons strictly above this;
        :func:`paper_min_node_sparsity` gives the paper's per-width choice.
    completions
        ``"all"`` (the paper) counts every completion of a neuron's local truth table on
        unobserved parent patterns as a distinct interpretation; ``"none"`` counts the
        consistent threshold assignments only (see :mod:`~.interpretations`).
    max_depth
        Largest AND/OR depth of candidate algorithms; default: hidden layers + 1 (the paper).
    pairs
        Interchange pair convention, ``"forward"`` (the paper) or ``"both"``; see
        :mod:`~.alignment`.
    where_then_what, what_then_where
        Which strategy to run.
    keep_lists
        Keep the accepted circuits and every minimal mapping in the report.
    preset
        ``"paper"``: the reference script's settings (:data:`PRESETS`), in particular its
        circuit filter at width >= 4 (node sparsity > 0.2 at width 4, > 0.3 from 5), which
        the defaults do not apply (a width-4 XOR audit then examines 1,067,648 candidate
        circuits instead of 168,672). The settings it fixes must be left at their defaults.
    name
        Label of the report (default: task and widths).
    progress
        Show a progress bar over circuits (``None``: only on an interactive terminal).
    max_candidates, max_skeletons, force
        Refuse (:class:`~mechequiv.errors.MechequivError`) when more than ``max_candidates``
        candidate circuits would be examined, more than ``max_skeletons`` candidate formula
        skeletons tested (counted first, :func:`~.algorithms.count_skeletons`; the message
        estimates the time), or a hidden layer is wider than ``MAX_ALIGNMENT_WIDTH`` for the
        alignment search, unless ``force``.
    budget_s
        Refuse (:class:`~mechequiv.errors.MechequivError`, before any work) when the estimated
        single-core time (:func:`~.budget.estimate_audit`: candidate circuits, formula skeletons
        and neuron sets counted, times measured unit costs) exceeds this many seconds; the
        message gives the counts and the estimate. Not overridden by ``force``. The cost of
        counting minimal mappings depends on where the network's units pass the interchange
        tests, so it is estimated (:func:`~.alignment.count_costs`) once the locations are
        known, and the audit is refused there, before any count, when the time spent plus that
        estimate exceeds the budget.
    """
    task = as_task(task)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)} or None, got {preset!r}")
        given = {
            "ablation": ablation, "include_full": include_full,
            "min_node_sparsity": min_node_sparsity, "completions": completions,
            "max_depth": max_depth, "pairs": pairs,
        }  # fmt: skip
        changed = sorted(k for k, v in given.items() if v != _PRESET_DEFAULTS[k])
        if changed:
            raise ValueError(f"preset={preset!r} fixes {changed}; leave them at their defaults")
        widths = as_mlp(model).hidden_widths
        chosen = dict(PRESETS[preset])
        if chosen["min_node_sparsity"] == "paper":
            chosen["min_node_sparsity"] = paper_min_node_sparsity(widths) if widths else None
        ablation, include_full = chosen["ablation"], chosen["include_full"]
        min_node_sparsity, completions = chosen["min_node_sparsity"], chosen["completions"]
        max_depth, pairs = chosen["max_depth"], chosen["pairs"]
    if len(task.inputs) > MAX_ROWS:
        raise ValueError(
            f"truth tables are stored as 64-bit masks: at most {MAX_ROWS} task rows, got "
            f"{len(task.inputs)}"
        )
    full_net = as_mlp(model)
    net, target = _single_output(full_net, task, output)
    x = task.inputs.astype(np.float64)
    label = name or f"{task.name} MLP{list(net.widths)}" + (
        "" if output is None else f" output {output}"
    )
    if pairs not in ("forward", "both"):
        raise ValueError(f"pairs must be 'forward' or 'both', got {pairs!r}")
    if completions not in COMPLETIONS:
        raise ValueError(f"completions must be one of {COMPLETIONS}, got {completions!r}")
    # refuse oversized searches before anything else, with the number
    if where_then_what:
        check_candidates(net.widths, include_full, min_node_sparsity, max_candidates, force)
    widest = max(net.hidden_widths)
    if what_then_where and widest > MAX_ALIGNMENT_WIDTH and not force:
        raise MechequivError(
            f"the alignment search tries 2**{widest} = {2**widest:,} neuron sets per layer "
            f"(widest hidden layer {widest} > {MAX_ALIGNMENT_WIDTH}); pass force=True"
        )
    depth = len(net.hidden_widths) + 1 if max_depth is None else max_depth
    if budget_s is not None:
        if not isinstance(budget_s, (int, float)) or not budget_s > 0:
            raise ValueError(f"budget_s must be a positive number of seconds, got {budget_s!r}")
        estimate = estimate_audit(
            net.widths, include_full=include_full, min_node_sparsity=min_node_sparsity,
            max_depth=depth, where_then_what=where_then_what, what_then_where=what_then_where,
        )  # fmt: skip
        if estimate.seconds > budget_s:
            raise MechequivError(
                f"the audit would not finish within budget_s={budget_s:,.0f} s: "
                f"{estimate.describe()}; raise budget_s, lower max_depth, filter circuits with "
                "min_node_sparsity, or run one strategy only"
            )
    if what_then_where and not force:
        _check_skeletons(depth, task.n_inputs, max_skeletons)
    _check_solved(net, x, target, task.name)
    settings = {
        "ablation": ablation,
        "include_full": include_full,
        "min_node_sparsity": min_node_sparsity,
        "completions": completions,
        "max_depth": depth,
        "pairs": pairs,
        "preset": preset,
        # the one-directional pairs follow the task's row order (the reference's follows its
        # Python hash seed): mapping counts depend on it
        "task_rows": task.inputs.tolist(),
    }
    seconds: dict[str, float] = {}
    n_candidates = interpretations = circuits = None
    if where_then_what:
        t0 = time.perf_counter()
        found, n_candidates = find_circuits(
            net,
            x,
            target,
            ablation=ablation,
            include_full=include_full,
            min_node_sparsity=min_node_sparsity,
            max_candidates=max_candidates,
            force=force,
        )
        seconds["circuits"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        means = ablation_means(net, x, ablation)
        interpretations = tuple(
            count_interpretations(net, c, x, means, completions)
            for c in track(found, "interpretations", disable=None if progress else True)
        )
        seconds["interpretations"] = time.perf_counter() - t0
        circuits = tuple(found) if keep_lists else None
    n_tested = algorithms = per_algorithm = mapping_list = None
    if what_then_where:
        t0 = time.perf_counter()
        algs = candidate_algorithms(_truth_table(task.inputs, target), depth)
        pair_list = input_pairs(len(x), pairs)
        bits = patched_bits(net, x, pair_list)
        index = passing_index(bits)  # shared by every candidate algorithm
        located = [(alg, variable_locations(alg, task.inputs, pair_list, bits, index))
                   for alg in algs]  # fmt: skip
        if budget_s is not None:
            # the counting cost depends on the network's passing locations: known only now,
            # and refused before any count is run
            counting = sum(min(count_costs(locs).values()) for _, locs in located)
            spent = sum(seconds.values()) + time.perf_counter() - t0
            if spent + counting > budget_s:
                raise MechequivError(
                    f"the audit would not finish within budget_s={budget_s:,.0f} s: counting the "
                    f"minimal mappings of {len(algs):,} formulas over the located neuron sets "
                    f"is estimated at ~{counting:,.1f} s after {spent:,.1f} s spent; raise "
                    "budget_s or lower max_depth"
                )
        kept_algs, counts, kept_maps = [], [], []
        for alg, locs in located:
            n = count_mappings(locs)
            if n:
                kept_algs.append(str(alg))
                counts.append(n)
                if keep_lists:
                    kept_maps.extend(list_mappings(alg, locs))
        n_tested, algorithms, per_algorithm = len(algs), tuple(kept_algs), tuple(counts)
        mapping_list = tuple(kept_maps) if keep_lists else None
        seconds["mappings"] = time.perf_counter() - t0
    return IdentifiabilityReport(
        name=label,
        widths=net.widths,
        n_candidates=n_candidates,
        interpretations=interpretations,
        n_algorithms_tested=n_tested,
        algorithms=algorithms,
        mappings_per_algorithm=per_algorithm,
        settings=settings,
        seconds=seconds,
        circuits=circuits,
        mappings=mapping_list,
    )
