"""Congruity (Sun & Toneva, ICLR 2026): are two models' implementation sets distinguishable?

Each round draws a co-interpretive implementation of each model (h1* = GetImpl(h1),
h2* = GetImpl(h2)) and records two indicators, [d(h1, h1*) <= d(h1, h2')] and
[d(h2, h2*) <= d(h2, h1')], where d compares the models' representations on the task. With s the
sum over n rounds, the paper's score is 1 - |s/n - 1| in [0, 1]: 1 when a model's own
implementations are no closer to it than the other's, 0 when they always are.

What the sources say. The paper's algorithm compares a model's own implementation with "the
other" (h'); whether h' is the other model or one of its implementations is not settled by the
text available here, and its figure pivots on implementations. The authors' code (``point_test`` in their toy experiment) works with
implementations throughout: it draws two implementations of algorithm 1 and one of algorithm 2,
asks whether the first is more similar (ridge R^2) to the second than to the third, over 20
trials, and tests *one direction at a time* with a one-sided normal bound.

Here ``cross="implementation"`` (default) compares against a fresh implementation of the other
model (h2' = h2*), which compares implementation sets, as the principle of interpretive
equivalence and the authors' code do: for equivalent models each indicator is a fair coin.
``cross="model"`` compares against the other model itself (h2' = h2); then d(h1, h2) is one
fixed number, the fraction of rounds with d(h1, h1*) <= d(h1, h2) converges to the quantile of
d(h1, h2) among h1's own distances, and even for equivalent models that quantile is uniform on
[0, 1], so the score is not calibrated. The two directions are tested separately (exact sign
tests, combined by Holm's correction) and a pair whose directions disagree is flagged
``discordant``: summed, opposite one-sided results would cancel (see
:mod:`mechequiv.equivalence.stats`).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from mechequiv import measures
from mechequiv._progress import track
from mechequiv.equivalence.distance import Distance, resolve_distance
from mechequiv.equivalence.reprs import hidden_representations
from mechequiv.equivalence.samplers import Sampler, draw
from mechequiv.equivalence.stats import (
    bootstrap_intervals,
    congruity_score,
    direction_tests,
    z_test_distinguishable,
)
from mechequiv.parallel.backend import Backend
from mechequiv.parallel.pairs import map_pairs
from mechequiv.parallel.store import JsonStore
from mechequiv.validation import ValidationError, check_choice, check_int, context

Cross = Literal["model", "implementation"]
Ties = Literal["half", "own", "other"]
Reprs = Callable[[torch.nn.Module, Any], Any]

# Distances closer than this (relative) count as a tie, whatever tie_atol says.
_TIE_RTOL = 1e-9


@dataclass(frozen=True)
class CongruityResult:
    """The Congruity score of one pair of models, with its uncertainty and raw material.

    ``score``: the paper's 1 - |s/n - 1| with its bootstrap interval [``ci_low``, ``ci_high``].
    ``rate_1`` / ``rate_2``: the fraction of rounds in which model 1's (model 2's) own
    implementation was at least as close to it as the other's (ties per ``ties``), each with its
    bootstrap interval (``rate_1_low``, ``rate_1_high``, ...) and its own exact one-sided sign
    test ``p_value_1`` / ``p_value_2`` (H0: own implementations are no closer).
    ``p_value``: the overall test, Holm over the two directions (min(1, 2 min(p_1, p_2))); the
    pair is ``distinguishable`` when it is below 1 - ``level``, i.e. when either direction
    rejects. ``discordant``: the directions disagree significantly (one direction's own
    implementations closer, the other's significantly farther; see
    :func:`mechequiv.equivalence.stats.direction_tests`): the score, which sums the directions,
    then hides the disagreement and should not be read as equivalence.
    ``distinguishable_z``: the reference code's normal-bound rule, true when either direction
    passes it on its n trials.
    ``distances``: per-round d(h1, h1*), d(h1, h2 or h2*), d(h2, h2*), d(h2, h1 or h1*) under
    ``d11``, ``d12``, ``d22``, ``d21``; with a certified distance also their brackets
    ``d11_bounds`` ... (lists of [lower, upper]).
    ``sources``: per round, which pool member model 1's and model 2's implementations came from
    (-1 when the sampler does not say); the bootstrap resamples members too when it knows them.
    ``reprs``: which GetReprs produced the representations (its ``repr`` or function name).
    ``rejected_1`` / ``rejected_2``: candidate implementations the sampler rejected (behaviour
    checks) while drawing model 1's (model 2's) ``n`` implementations.
    """

    score: float
    ci_low: float
    ci_high: float
    n: int
    rate_1: float
    rate_2: float
    p_value: float
    distinguishable_z: bool
    distances: dict[str, list[Any]] = field(repr=False)
    distance: str = "repr_distance"
    reprs: str = "hidden_representations"
    cross: str = "implementation"
    ties: str = "half"
    tie_atol: float = 1e-5
    level: float = 0.95
    seed: int = 0
    rejected_1: int = 0
    rejected_2: int = 0
    rate_1_low: float = float("nan")
    rate_1_high: float = float("nan")
    rate_2_low: float = float("nan")
    rate_2_high: float = float("nan")
    p_value_1: float = float("nan")
    p_value_2: float = float("nan")
    discordant: bool = False
    sources: list[list[int]] | None = field(default=None, repr=False)

    @property
    def distinguishable(self) -> bool:
        """Either direction's exact one-sided sign test rejects at 1 - ``level`` after Holm's
        correction over the two directions (``p_value``)."""
        return self.p_value < 1.0 - self.level

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (read back with :meth:`from_dict`)."""
        d = asdict(self)
        d["distinguishable"] = self.distinguishable
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CongruityResult:
        """Inverse of :meth:`to_dict`; also reads results written before the per-direction
        statistics existed (their per-direction tests and rate intervals are recomputed from
        the stored distances under the stored tie rule; ``p_value`` becomes the Holm test)."""
        d = dict(d)
        d.pop("distinguishable", None)  # a property, recorded for readers of the JSON
        known = {f for f in cls.__dataclass_fields__}
        d = {k: v for k, v in d.items() if k in known}
        if "p_value_1" in d:
            return cls(**d)
        ind = _indicators(d["distances"], d.get("ties", "half"), d.get("tie_atol", 1e-5))
        level = d.get("level", 0.95)
        tests = direction_tests(ind, 1.0 - level)
        ci = bootstrap_intervals(ind, np.random.default_rng(d.get("seed", 0)), 2000, level)
        d.update(
            p_value=tests["p_value"], p_value_1=tests["p_value_1"],
            p_value_2=tests["p_value_2"], discordant=tests["discordant"],
            rate_1_low=ci["rate_1"][0], rate_1_high=ci["rate_1"][1],
            rate_2_low=ci["rate_2"][0], rate_2_high=ci["rate_2"][1],
        )  # fmt: skip
        return cls(**d)

    def __repr__(self) -> str:
        verdict = "distinguishable" if self.distinguishable else "not distinguishable"
        flag = "; DISCORDANT directions (the score hides a one-sided difference)" * self.discordant
        return (
            f"Congruity {self.score:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}] "
            f"({self.level:.0%} bootstrap CI, n={self.n}); own implementation closer: "
            f"model 1 {self.rate_1:.2f} [{self.rate_1_low:.2f}, {self.rate_1_high:.2f}] "
            f"(p={self.p_value_1:.3g}), model 2 {self.rate_2:.2f} "
            f"[{self.rate_2_low:.2f}, {self.rate_2_high:.2f}] (p={self.p_value_2:.3g}); "
            f"{verdict} (Holm p={self.p_value:.3g}){flag}; d={self.distance}, "
            f"cross={self.cross}, ties={self.ties}"
        )


def _inputs(task: Any) -> Any:
    """Task inputs: a tensor/array, or an object with an ``inputs`` attribute."""
    return getattr(task, "inputs", task)


def _indicator(own: Sequence[float], other: Sequence[float], ties: str, atol: float) -> float:
    """own, other: (value, lower, upper) of the two distances. A tie when the certified brackets,
    widened by ``atol``, overlap, or the values agree to ``_TIE_RTOL``: the comparison is then
    within the distances' accuracy and no evidence either way."""
    (v_own, lo_own, hi_own), (v_other, lo_other, hi_other) = own, other
    overlap = lo_own <= hi_other + atol and lo_other <= hi_own + atol
    if overlap or abs(v_own - v_other) <= _TIE_RTOL * max(abs(v_own), abs(v_other)):
        return {"half": 0.5, "own": 1.0, "other": 0.0}[ties]
    return 1.0 if v_own < v_other else 0.0


def _indicators(distances: dict[str, list[Any]], ties: str, atol: float) -> np.ndarray:
    """(n, 2) indicators from a result's per-round distances (see :class:`CongruityResult`)."""

    def triples(key: str) -> list[tuple[float, float, float]]:
        bounds = distances.get(f"{key}_bounds") or [(v, v) for v in distances[key]]
        return [(v, lo, hi) for v, (lo, hi) in zip(distances[key], bounds, strict=True)]

    d = {k: triples(k) for k in ("d11", "d12", "d22", "d21")}
    n = len(d["d11"])
    return np.array(
        [[_indicator(d["d11"][k], d["d12"][k], ties, atol),
          _indicator(d["d22"][k], d["d21"][k], ties, atol)] for k in range(n)]
    ).reshape(n, 2)  # fmt: skip


def _record(**columns: list[Any]) -> dict[str, list[Any]]:
    """Per-round distances for the result: values, plus [lower, upper] brackets when the distance
    certifies them."""
    out: dict[str, list[Any]] = {}
    for key, col in columns.items():
        out[key] = [float(getattr(c, "value", c)) for c in col]
    if any(hasattr(c, "lower") for col in columns.values() for c in col):
        for key, col in columns.items():
            out[f"{key}_bounds"] = [
                [float(getattr(c, "lower", getattr(c, "value", c))),
                 float(getattr(c, "upper", getattr(c, "value", c)))] for c in col
            ]  # fmt: skip
    return out


def _pair_samplers(sampler: Sampler | tuple[Sampler, Sampler]) -> tuple[Sampler, Sampler]:
    if isinstance(sampler, tuple):
        if len(sampler) != 2:
            raise ValueError("sampler must be one sampler or a pair (for model 1, for model 2)")
        return sampler
    return sampler, sampler


@dataclass
class _Model:
    """A model's representation and those of its sampled implementations."""

    rep: _Rep
    impls: list[_Rep]
    own: list[Any]  # d(rep, impl_k): floats or certified distances
    rejected: int = 0  # candidate draws the sampler rejected
    sources: list[int] = field(default_factory=list)  # pool member of each draw, -1 if unknown


@dataclass(frozen=True, eq=False)
class _Rep:
    """A representation and the key of the model it was taken from."""

    value: Any
    key: int


class _Cache:
    """Representations of the models of a run, and distances between them, bounded.

    Per representation, not per object drawn (in the spirit of netrep's ``partial_fit`` /
    ``finalize_fit``): each model's representation is taken once and cached only while the
    model is alive elsewhere (a weak reference), and a distance only while both its models
    are. The anchors and pool members (held by the caller and the samplers) stay cached for
    the whole run; a freshly sampled implementation is dropped as soon as its representation
    is taken, so its representation lives only in its own pair's draws. Memory is bounded by
    one pair's 2 n draws plus the persistent models, not by pairs x n.
    """

    def __init__(self, reprs: Reprs, inputs: Any, dist: Distance) -> None:
        self.reprs, self.inputs, self.dist = reprs, inputs, dist
        self._reps: weakref.WeakKeyDictionary[torch.nn.Module, _Rep] = weakref.WeakKeyDictionary()
        self._dists: dict[tuple[int, int], Any] = {}
        self._alive: dict[int, set[tuple[int, int]]] = {}  # model key -> its cached distances
        self._keys = itertools.count()

    def __getstate__(self) -> dict[str, Any]:
        # sent to Ray workers: the settings travel, representations are taken there
        return {"reprs": self.reprs, "inputs": self.inputs, "dist": self.dist}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["reprs"], state["inputs"], state["dist"])  # type: ignore[misc]

    def rep(self, model: torch.nn.Module) -> _Rep:
        hit = self._reps.get(model)
        if hit is None:
            hit = _Rep(self.reprs(model, self.inputs), next(self._keys))
            self._reps[model] = hit
            self._alive[hit.key] = set()
            # through a weak reference: a model that outlives the run must not keep the cache
            # (its representations, the inputs) alive
            weakref.finalize(model, _forget, weakref.ref(self), hit.key)
        return hit

    def _forget(self, key: int) -> None:
        for pair in self._alive.pop(key, ()):
            self._dists.pop(pair, None)

    def distance(self, a: _Rep, b: _Rep) -> Any:
        pair = (a.key, b.key)
        if pair in self._dists:
            return self._dists[pair]
        d = self.dist(a.value, b.value)
        if a.key in self._alive and b.key in self._alive:  # both models still held elsewhere
            self._dists[pair] = d
            self._alive[a.key].add(pair)
            self._alive[b.key].add(pair)
        return d

    def size(self) -> tuple[int, int]:
        """(cached representations, cached distances): for tests of the bound."""
        return len(self._reps), len(self._dists)


def _forget(cache: weakref.ref[_Cache], key: int) -> None:
    alive = cache()
    if alive is not None:
        alive._forget(key)


def _prepare(
    model: torch.nn.Module,
    sampler: Sampler,
    exclude: Sequence[torch.nn.Module],
    n: int,
    cache: _Cache,
    rng: np.random.Generator,
    label: str,
    disable: bool | None,
) -> _Model:
    rep = cache.rep(model)
    impls: list[Any] = []
    rejected = 0
    sources: list[int] = []
    for _ in track(range(n), f"implementations of {label}", disable=disable):
        got = draw(sampler, model, rng, exclude)
        impls.append(cache.rep(got.model))
        rejected += got.rejected
        source = getattr(got, "source", None)
        sources.append(-1 if source is None else int(source))
        del got  # a fresh implementation dies here; its representation stays in impls
    return _Model(rep, impls, [cache.distance(rep, r) for r in impls], rejected, sources)


def _describe(reprs: Reprs) -> str:
    """A GetReprs' name for results and resume checks: a function's name, else its ``repr``."""
    return getattr(reprs, "__qualname__", None) or repr(reprs)


def _score_pair(
    a: _Model, b: _Model, cache: _Cache, cross: str, ties: str, tie_atol: float, n_boot: int,
    level: float, rng: np.random.Generator, name: str, seed: int,
) -> CongruityResult:  # fmt: skip
    dist = cache.distance
    n = len(a.impls)
    if cross == "model":
        if torch.equal(torch.as_tensor(a.rep.value), torch.as_tensor(b.rep.value)):
            raise ValueError(
                "the two models have identical representations, so no implementation can be "
                "closer than the other model: use cross='implementation' to compare "
                "implementation sets (as congruity_matrix does on its diagonal)"
            )
        d_ab = dist(a.rep, b.rep)
        d_ba = d_ab if _symmetric(name) else dist(b.rep, a.rep)
        cross_a, cross_b = [d_ab] * n, [d_ba] * n
    else:
        cross_a = [dist(a.rep, r) for r in b.impls]
        cross_b = [dist(b.rep, r) for r in a.impls]
    distances = _record(d11=a.own, d12=cross_a, d22=b.own, d21=cross_b)
    ind = _indicators(distances, ties, tie_atol)
    sources = [[sa, sb] for sa, sb in zip(a.sources, b.sources, strict=True)]
    known = any(v >= 0 for pair in sources for v in pair)
    ci = bootstrap_intervals(ind, rng, n_boot, level, np.array(sources) if known else None)
    tests = direction_tests(ind, 1.0 - level)
    return CongruityResult(
        score=congruity_score(ind), ci_low=ci["score"][0], ci_high=ci["score"][1], n=n,
        rate_1=float(ind[:, 0].mean()), rate_2=float(ind[:, 1].mean()),
        p_value=tests["p_value"],
        distinguishable_z=any(z_test_distinguishable(float(ind[:, k].mean()), n) for k in (0, 1)),
        distances=distances, distance=name, reprs=_describe(cache.reprs), cross=cross, ties=ties,
        tie_atol=tie_atol, level=level, seed=seed, rejected_1=a.rejected, rejected_2=b.rejected,
        rate_1_low=ci["rate_1"][0], rate_1_high=ci["rate_1"][1],
        rate_2_low=ci["rate_2"][0], rate_2_high=ci["rate_2"][1],
        p_value_1=tests["p_value_1"], p_value_2=tests["p_value_2"],
        discordant=tests["discordant"], sources=sources if known else None,
    )  # fmt: skip


def _symmetric(name: str) -> bool:
    base = name.removeprefix("1 - ")
    return base in measures.names() and measures.get(base).symmetric


def _check_common(
    where: str, n: int, cross: str, ties: str, tie_atol: float, n_boot: int, level: float
) -> None:
    with context(where):  # the public function's name, added once to any refusal
        check_int(n, "n", 1)
        check_int(n_boot, "n_boot", 1)
        check_choice(cross, "cross", ("model", "implementation"))
        check_choice(ties, "ties", ("half", "own", "other"))
        if not tie_atol >= 0.0:
            raise ValidationError(f"tie_atol must be >= 0; got {tie_atol}")
        if not 0.0 < level < 1.0:
            raise ValidationError(f"level must be in (0, 1); got {level}")


def congruity(
    h1: torch.nn.Module,
    h2: torch.nn.Module,
    task: Any,
    n: int = 20,
    sampler: Sampler | tuple[Sampler, Sampler] | None = None,
    distance: str | Distance = "repr_distance",
    reprs: Reprs | None = None,
    cross: Cross = "implementation",
    ties: Ties = "half",
    tie_atol: float = 1e-5,
    seed: int = 0,
    n_boot: int = 2000,
    level: float = 0.95,
    progress: bool | None = None,
) -> CongruityResult:
    """Congruity of two models on a task, with bootstrap intervals and per-direction tests.

    Parameters
    ----------
    h1, h2 : torch.nn.Module
        The models (any architectures; representations may differ in width).
    task : tensor, array or object with ``.inputs``
        The stimuli on which representations are compared.
    n : int
        Rounds; each draws one implementation of each model.
    sampler : Sampler or (Sampler, Sampler)
        GetImpl (required): an object whose ``sample(model, rng)`` returns a co-interpretive
        implementation (see :mod:`mechequiv.equivalence.samplers` and
        :mod:`mechequiv.equivalence.refit`). There is no default, since each sampler estimates a
        different set: :class:`~mechequiv.equivalence.refit.Distill` and
        :class:`~mechequiv.equivalence.refit.PerturbRefit` from the model alone,
        :class:`~mechequiv.equivalence.samplers.Retrained` from pools you form,
        :class:`~mechequiv.equivalence.samplers.SymmetryTransform` is the positive control
        (a model against its own reparameterised copy scores 1; another seed scores 0).
    distance : str or callable
        ``"repr_distance"`` (the paper's two-way norm-bounded linear distance, default, with
        certified brackets), ``"ridge_authors"`` (the authors' code: RidgeCV over (0.1, 1, 10),
        one 90/10 split, R^2 averaged over columns, anchor -> other), ``"ridge_cv"``
        (mechequiv's nested ridge; ``"ridge"`` is its deprecated alias), any registered measure
        (similarities s become 1 - s), or a callable ``(R1, R2) -> float`` (or
        :class:`~mechequiv.measures.CertifiedDistance`).
    reprs : callable (model, inputs) -> array (n_stimuli, d), optional
        GetReprs. Default: :func:`mechequiv.equivalence.reprs.hidden_representations`.
    cross : {"implementation", "model"}
        What a model's own implementation is compared against: a fresh implementation of the
        other model (default: compares implementation sets, as the authors' code does;
        calibrated so that equivalent models score about 1) or the other model itself (not
        calibrated, see the module docstring; undefined when both models have identical
        representations).
    ties : {"half", "own", "other"}
        A tie counts 1/2 (default: a tie is no evidence either way, so identical
        implementation sets score 1), 1 (the literal <=), or 0.
    tie_atol : float
        Distances closer than this (or than 1e-9 relative) are a tie. A distance that certifies
        its accuracy (``"repr_distance"`` returns the bracket [lower, upper] that holds the exact
        value, see :func:`mechequiv.measures.repr_distance_bounds`) ties whenever the two
        brackets, widened by ``tie_atol``, overlap: its solver's tolerance then never decides a
        comparison. ``tie_atol`` covers the representations' own precision (a float32 model and
        its exactly rotated copy differ by rounding, a few 1e-7 in ``repr_distance``; different
        seeds are 0.1 to 1 apart).
    seed : int
        Seeds the implementation draws and the bootstrap.
    n_boot, level : int, float
        Bootstrap resamples (rounds resampled whole; pool members instead when the sampler says
        which member each draw came from) and interval level; ``level`` also sets the tests'
        significance 1 - level: each direction's exact one-sided sign test, combined by Holm's
        correction into the verdict, and the discordance flag (see :class:`CongruityResult`).

    Each round draws one implementation per model, excluding the two models themselves (a
    pool must not return the anchor as "an implementation of the other"); representations and
    distances of models drawn repeatedly (pool members) are computed once. The cost is 2 n
    implementation draws and about 4 n distance evaluations.
    """
    _check_common("congruity", n, cross, ties, tie_atol, n_boot, level)
    name, dist = resolve_distance(distance)
    s1, s2 = _pair_samplers(sampler if sampler is not None else _default_sampler())
    reprs = reprs or hidden_representations
    cache = _Cache(reprs, _inputs(task), dist)
    rng = np.random.default_rng(seed)
    a = _prepare(h1, s1, (h1, h2), n, cache, rng, "model 1", _disable(progress))
    b = _prepare(h2, s2, (h1, h2), n, cache, rng, "model 2", _disable(progress))
    return _score_pair(a, b, cache, cross, ties, tie_atol, n_boot, level, rng, name, seed)


def _default_sampler() -> Sampler:
    # No default: each sampler answers a different question, and none is calibrated on
    # same-mechanism pairs of different seeds for every model (benchmarks/bench_external_validity.py).
    raise TypeError(
        "congruity needs sampler= (GetImpl): Distill(inputs) or PerturbRefit(inputs) (label-free, "
        "from the model's own outputs; mechequiv.equivalence.refit), Retrained(*groups) (pools of "
        "models you group), ResampleAblation(circuit, ...) (patch outside a circuit), or "
        "SymmetryTransform() (exact reparameterisations: the positive control, under which every "
        "other seed is distinguishable)"
    )


def _disable(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


@dataclass(frozen=True)
class CongruityMatrix:
    """Pairwise Congruity over a list of models (symmetric; the diagonal always compares
    implementation sets, since a model against itself under cross='model' is undefined)."""

    names: list[str]
    results: dict[tuple[int, int], CongruityResult] = field(repr=False)

    def _grid(self, attr: str) -> np.ndarray:
        m = len(self.names)
        out = np.full((m, m), np.nan)
        for (i, j), r in self.results.items():
            out[i, j] = out[j, i] = getattr(r, attr)
        return out

    @property
    def scores(self) -> np.ndarray:
        return self._grid("score")

    @property
    def ci_low(self) -> np.ndarray:
        return self._grid("ci_low")

    @property
    def ci_high(self) -> np.ndarray:
        return self._grid("ci_high")

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "pairs": [
                {"i": i, "j": j, **r.to_dict()} for (i, j), r in sorted(self.results.items())
            ],
        }

    def __repr__(self) -> str:
        width = max(len(s) for s in self.names)
        lines = [f"CongruityMatrix ({len(self.names)} models)"]
        for i, name in enumerate(self.names):
            row = " ".join(f"{v:5.2f}" for v in self.scores[i])
            lines.append(f"  {name.ljust(width)}  {row}")
        return "\n".join(lines)


def congruity_matrix(
    models: Sequence[torch.nn.Module],
    task: Any,
    names: Sequence[str] | None = None,
    n: int = 20,
    sampler: Sampler | Sequence[Sampler] | None = None,
    distance: str | Distance = "repr_distance",
    reprs: Reprs | None = None,
    cross: Cross = "implementation",
    ties: Ties = "half",
    tie_atol: float = 1e-5,
    seed: int = 0,
    n_boot: int = 2000,
    level: float = 0.95,
    diagonal: bool = True,
    results_path: str | None = None,
    progress: bool | None = None,
    backend: str | Backend = "local",
) -> CongruityMatrix:
    """Congruity for every pair of models (and each model with itself when ``diagonal``).

    Each pair is scored as :func:`congruity` scores it, with seeds derived from ``seed`` and the
    pair's indices, so the result does not depend on the backend or on the order pairs finish.
    ``sampler`` may be one sampler or one per model. With ``results_path`` every finished pair
    is written atomically to that JSON file (a :class:`~mechequiv.parallel.JsonStore`, keys
    ``"i,j"``), and a rerun with the same settings resumes from it (a file written under other
    settings is refused). ``backend``: ``"local"`` (default: pairs run in this process and share
    representations and distances of repeatedly drawn models), ``"ray"``, or a
    :class:`~mechequiv.parallel.Backend` such as ``RayBackend(address=...)``: pairs become tasks.
    """
    _check_common("congruity_matrix", n, cross, ties, tie_atol, n_boot, level)
    m = len(models)
    if m < 1:
        raise ValueError("congruity_matrix needs at least one model")
    names = list(names) if names is not None else [f"model {i}" for i in range(m)]
    if len(names) != m:
        raise ValueError(f"{len(names)} names for {m} models")
    name, dist = resolve_distance(distance)
    job = _PairJob(
        models=list(models), samplers=_per_model(sampler, m), names=names, n=n,
        cache=_Cache(reprs or hidden_representations, _inputs(task), dist), distance=name,
        cross=cross, ties=ties, tie_atol=tie_atol, seed=seed, n_boot=n_boot, level=level,
    )  # fmt: skip
    settings = {"names": names, "n": n, "distance": name, "reprs": _describe(job.cache.reprs),
                "cross": cross, "ties": ties, "tie_atol": tie_atol, "seed": seed,
                "n_boot": n_boot, "level": level}  # fmt: skip
    store = None if results_path is None else JsonStore(results_path, settings)
    found = map_pairs(
        job, m, diagonal=diagonal, backend=backend, store=store, progress=progress,
        description="congruity pairs",
    )  # fmt: skip
    return CongruityMatrix(names, {p: CongruityResult.from_dict(d) for p, d in found.items()})


@dataclass
class _PairJob:
    """One pair of :func:`congruity_matrix` as a task: ``job((i, j)) -> result.to_dict()``."""

    models: list[torch.nn.Module]
    samplers: list[Sampler]
    names: list[str]
    n: int
    cache: _Cache
    distance: str
    cross: str
    ties: str
    tie_atol: float
    seed: int
    n_boot: int
    level: float

    def __call__(self, pair: tuple[int, int]) -> dict[str, Any]:
        i, j = pair
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, i, j]))
        models = (self.models[i], self.models[j])
        a = _prepare(
            models[0], self.samplers[i], models, self.n, self.cache, rng, self.names[i], True
        )
        b = _prepare(
            models[1], self.samplers[j], models, self.n, self.cache, rng, self.names[j], True
        )
        mode = "implementation" if i == j else self.cross
        return _score_pair(
            a, b, self.cache, mode, self.ties, self.tie_atol, self.n_boot, self.level,
            rng, self.distance, self.seed,
        ).to_dict()  # fmt: skip


def _per_model(sampler: Any, m: int) -> list[Sampler]:
    if sampler is None:
        _default_sampler()  # raises: the sampler is required
    if isinstance(sampler, Sequence) and not isinstance(sampler, (str, bytes)):
        if len(sampler) != m:
            raise ValueError(f"{len(sampler)} samplers for {m} models")
        return list(sampler)
    return [sampler] * m


__all__ = ["CongruityMatrix", "CongruityResult", "congruity", "congruity_matrix"]
