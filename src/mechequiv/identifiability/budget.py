"""What an audit will cost, counted before it runs: candidates, formulas and a time estimate.

Every quantity here is counted, never materialised: candidate circuits by a product over
layers (:func:`~.circuits.count_candidates`), candidate formulas by
:func:`~.algorithms.count_skeletons`, neuron sets per layer as ``2**width - 1``. The time
estimate multiplies them by single-core unit costs measured on the project's 2-core machine
(``benchmarks/bench_identifiability_scale.py`` records estimate beside measurement for every
size it runs):

* circuit enumeration: ``_SECONDS_PER_CANDIDATE`` per candidate (0.2-4.8 us measured; the
  larger values at tiny sizes where overhead dominates);
* interpretation counts: one dynamic programme per *accepted* circuit, about
  ``_SECONDS_PER_ACCEPTED`` each; the number accepted is not known before enumeration, so the
  estimate assumes ``ACCEPTED_SHARE`` of the candidates (0.5-7 % observed on trained XOR
  networks) and says so;
* formula search: building the candidate family once (``_SECONDS_PER_SKELETON_BUILT`` per
  skeleton, cached per truth table and depth) plus the per-network search
  (``_SECONDS_PER_SKELETON_SEARCHED``), and the interchange runs over every neuron set.

The estimate is an order of magnitude, not a promise; it is what ``audit(..., budget_s=...)``
refuses on, before any work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mechequiv.identifiability.algorithms import count_skeletons
from mechequiv.identifiability.circuits import count_candidates

_SECONDS_PER_CANDIDATE = 1.5e-6
_SECONDS_PER_ACCEPTED = 4e-4
#: Assumed share of candidate circuits that reproduce the task (for the interpretation-count
#: part of the estimate only).
ACCEPTED_SHARE = 0.02
_SECONDS_PER_SKELETON_BUILT = 5e-4
_SECONDS_PER_SKELETON_SEARCHED = 3e-4
#: One interchange forward pass of one neuron set over all pairs.
_SECONDS_PER_NEURON_SET = 2e-6


@dataclass(frozen=True)
class AuditEstimate:
    """Counted sizes and estimated single-core seconds of each phase of an audit.

    ``n_skeletons`` is ``None`` when the formula family is too large even to count exactly;
    then ``n_skeletons_at_least`` is a lower bound and the formula-search time is a lower bound
    too. Phases that will not run have zero seconds.
    """

    widths: tuple[int, ...]
    n_candidates: int
    n_skeletons: int | None
    n_skeletons_at_least: int
    max_depth: int
    n_neuron_sets: int
    seconds_circuits: float
    seconds_interpretations: float
    seconds_formulas: float

    @property
    def seconds(self) -> float:
        return self.seconds_circuits + self.seconds_interpretations + self.seconds_formulas

    def describe(self) -> str:
        skel = (
            f"{self.n_skeletons:,}"
            if self.n_skeletons is not None
            else f"more than {self.n_skeletons_at_least:,}"
        )
        return (
            f"widths {list(self.widths)}: {self.n_candidates:,} candidate circuits "
            f"(~{_human(self.seconds_circuits)} to enumerate, "
            f"~{_human(self.seconds_interpretations)} of interpretation counts if "
            f"{ACCEPTED_SHARE:.0%} are accepted), {skel} formula skeletons of depth <= "
            f"{self.max_depth} and {self.n_neuron_sets:,} neuron sets "
            f"(~{_human(self.seconds_formulas)}); about {_human(self.seconds)} on one core"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "widths": list(self.widths),
            "n_candidates": self.n_candidates,
            "n_skeletons": self.n_skeletons,
            "n_skeletons_at_least": self.n_skeletons_at_least,
            "max_depth": self.max_depth,
            "n_neuron_sets": self.n_neuron_sets,
            "seconds_circuits": self.seconds_circuits,
            "seconds_interpretations": self.seconds_interpretations,
            "seconds_formulas": self.seconds_formulas,
            "seconds": self.seconds,
            "accepted_share_assumed": ACCEPTED_SHARE,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditEstimate:
        return cls(
            widths=tuple(int(w) for w in d["widths"]),
            n_candidates=int(d["n_candidates"]),
            n_skeletons=None if d["n_skeletons"] is None else int(d["n_skeletons"]),
            n_skeletons_at_least=int(d["n_skeletons_at_least"]),
            max_depth=int(d["max_depth"]),
            n_neuron_sets=int(d["n_neuron_sets"]),
            seconds_circuits=float(d["seconds_circuits"]),
            seconds_interpretations=float(d["seconds_interpretations"]),
            seconds_formulas=float(d["seconds_formulas"]),
        )


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.1f} min"
    if seconds < 3.2e7:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 3.156e7:.2g} years"


def estimate_audit(
    widths: Sequence[int],
    *,
    include_full: bool = False,
    min_node_sparsity: float | None = None,
    max_depth: int | None = None,
    where_then_what: bool = True,
    what_then_where: bool = True,
) -> AuditEstimate:
    """Count what an audit of a single-output MLP with layer sizes ``widths`` would examine and
    estimate its single-core time (see the module docstring for the unit costs).

    ``widths = (n_in, n_1, ..., n_L, n_out)``; a multi-output network is audited one output at
    a time, so the count is per output.
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) < 3 or any(w < 1 for w in widths):
        raise ValueError(
            f"widths must be (n_in, hidden..., n_out) with every entry >= 1, got {widths}"
        )
    single = (*widths[:-1], 1)
    hidden = widths[1:-1]
    depth = len(hidden) + 1 if max_depth is None else int(max_depth)
    if depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    n_candidates = count_candidates(single, include_full, min_node_sparsity)
    try:
        at_least = count_skeletons(depth, widths[0])
        n_skeletons: int | None = at_least
    except ValueError as err:  # too many to count exactly: the message holds a lower bound
        n_skeletons = None
        at_least = int(str(err).split("more than ")[1].split(" ")[0].replace(",", ""))
    n_sets = sum(2**w - 1 for w in hidden)
    n_pairs = 2 ** widths[0] * (2 ** widths[0] - 1) // 2
    circuits = interpretations = formulas = 0.0
    if where_then_what:
        circuits = n_candidates * _SECONDS_PER_CANDIDATE
        interpretations = n_candidates * ACCEPTED_SHARE * _SECONDS_PER_ACCEPTED
    if what_then_where:
        formulas = (
            at_least * (_SECONDS_PER_SKELETON_BUILT + _SECONDS_PER_SKELETON_SEARCHED)
            + n_sets * n_pairs * _SECONDS_PER_NEURON_SET
        )
    return AuditEstimate(
        widths=single,
        n_candidates=n_candidates,
        n_skeletons=n_skeletons,
        n_skeletons_at_least=at_least,
        max_depth=depth,
        n_neuron_sets=n_sets,
        seconds_circuits=circuits,
        seconds_interpretations=interpretations,
        seconds_formulas=formulas,
    )
