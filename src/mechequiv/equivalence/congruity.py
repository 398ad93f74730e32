"""Congruity (Sun & Toneva, ICLR 2026): are two models' implementation sets distinguishable?

Each round draws a co-interpretive implementation of each model (h1* = GetImpl(h1),
h2* = GetImpl(h2)) and adds two indicators, [d(h1, h1*) <= d(h1, h2')] and
[d(h2, h2*) <= d(h2, h1')], where d compares the models' representations on the task. With s the
sum over n rounds, the score is 1 - |s/n - 1| in [0, 1]: 1 when a model's own implementations
are no closer to it than the other's (indistinguishable implementation sets), 0 when they
always are (clearly different interpretations).

What h2' is matters. The paper's indicator compares against the other *model* (h2' = h2,
``cross="model"``). Then d(h1, h2) is one fixed number, and the fraction of rounds with
d(h1, h1*) <= d(h1, h2) converges to the quantile of d(h1, h2) within h1's own distances: even
for equivalent models (h2 drawn from h1's implementation set) that quantile is uniform over
[0, 1], so the score is spread over [0, 1] instead of concentrating at 1, and the bootstrap
interval, which only sees the Monte Carlo error given h2, does not cover that spread. The
default ``cross="implementation"`` compares against a fresh implementation of the other model
(h2' = h2*, drawn in the same round), which compares the implementation *sets* as the
principle of interpretive equivalence states: for equivalent models each indicator is a fair
coin and the score concentrates at 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from mechequiv._progress import track
from mechequiv.equivalence.distance import Distance, resolve_distance
from mechequiv.equivalence.samplers import Sampler, draw
from mechequiv.equivalence.stats import (
    binomial_p_value,
    bootstrap_ci,
    congruity_score,
    z_test_distinguishable,
)
from mechequiv.measures._validate import check_choice, check_int
from mechequiv.parallel import Backend, JsonStore, get_backend

Cross = Literal["model", "implementation"]
Ties = Literal["half", "own", "other"]
Reprs = Callable[[torch.nn.Module, Any], Any]

# Distances closer than this (relative) count as a tie, whatever tie_atol says.
_TIE_RTOL = 1e-9


@dataclass(frozen=True)
class CongruityResult:
    """The Congruity score of one pair of models, with its uncertainty and raw material.

    ``rate_1`` / ``rate_2``: the fraction of rounds in which model 1's (model 2's) own
    implementation was at least as close to it as the other model (ties per ``ties``).
    ``distances``: per-round d(h1, h1*), d(h1, h2 or h2*), d(h2, h2*), d(h2, h1 or h1*).
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
    distances: dict[str, list[float]] = field(repr=False)
    distance: str = "repr_distance"
    reprs: str = "hidden_representations"
    cross: str = "implementation"
    ties: str = "half"
    tie_atol: float = 1e-5
    level: float = 0.95
    seed: int = 0
    rejected_1: int = 0
    rejected_2: int = 0

    @property
    def distinguishable(self) -> bool:
        """Exact one-sided binomial test at 1 - ``level`` (see :func:`binomial_p_value`)."""
        return self.p_value < 1.0 - self.level

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        d = asdict(self)
        d["distinguishable"] = self.distinguishable
        return d

    def __repr__(self) -> str:
        verdict = "distinguishable" if self.distinguishable else "not distinguishable"
        return (
            f"Congruity {self.score:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}] "
            f"({self.level:.0%} bootstrap CI, n={self.n}); own implementation closer: "
            f"{self.rate_1:.2f} (model 1), {self.rate_2:.2f} (model 2); {verdict} "
            f"(binomial p={self.p_value:.3g}); d={self.distance}, cross={self.cross}, ties={self.ties}"
        )


def _inputs(task: Any) -> Any:
    """Task inputs: a tensor/array, or an object with an ``inputs`` attribute."""
    return getattr(task, "inputs", task)


def _indicator(own: float, other: float, ties: str, atol: float) -> float:
    if abs(own - other) <= max(atol, _TIE_RTOL * max(abs(own), abs(other))):
        return {"half": 0.5, "own": 1.0, "other": 0.0}[ties]
    return 1.0 if own < other else 0.0


def _pair_samplers(sampler: Sampler | tuple[Sampler, Sampler]) -> tuple[Sampler, Sampler]:
    if isinstance(sampler, tuple):
        if len(sampler) != 2:
            raise ValueError("sampler must be one sampler or a pair (for model 1, for model 2)")
        return sampler
    return sampler, sampler


@dataclass
class _Model:
    """A model's representation and those of its sampled implementations."""

    rep: Any
    impls: list[Any]
    own: list[float]  # d(rep, impl_k)
    rejected: int = 0  # candidate draws the sampler rejected


class _Cache:
    """Representations and distances of models seen more than once (pool members)."""

    def __init__(self, reprs: Reprs, inputs: Any, dist: Distance) -> None:
        self.reprs, self.inputs, self.dist = reprs, inputs, dist
        self._reps: dict[int, tuple[torch.nn.Module, Any]] = {}
        self._dists: dict[tuple[int, int], float] = {}

    def rep(self, model: torch.nn.Module) -> Any:
        hit = self._reps.get(id(model))
        if hit is None or hit[0] is not model:
            hit = (model, self.reprs(model, self.inputs))
            self._reps[id(model)] = hit
        return hit[1]

    def distance(self, a: Any, b: Any) -> float:
        key = (id(a), id(b))
        if key not in self._dists:
            self._dists[key] = self.dist(a, b)
        return self._dists[key]


def _prepare(model, sampler, exclude, n, cache: _Cache, rng, label, disable) -> _Model:
    rep = cache.rep(model)
    impls, rejected = [], 0
    for _ in track(range(n), f"implementations of {label}", disable=disable):
        got = draw(sampler, model, rng, exclude)
        impls.append(cache.rep(got.model))
        rejected += got.rejected
    return _Model(rep, impls, [cache.distance(rep, r) for r in impls], rejected)


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
        if torch.equal(torch.as_tensor(a.rep), torch.as_tensor(b.rep)):
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
    ind = np.array(
        [[_indicator(a.own[k], cross_a[k], ties, tie_atol),
          _indicator(b.own[k], cross_b[k], ties, tie_atol)]
         for k in range(n)]
    )  # fmt: skip
    lo, hi = bootstrap_ci(ind, rng, n_boot, level)
    p = float(ind.mean())
    return CongruityResult(
        score=congruity_score(ind), ci_low=lo, ci_high=hi, n=n,
        rate_1=float(ind[:, 0].mean()), rate_2=float(ind[:, 1].mean()),
        p_value=binomial_p_value(ind), distinguishable_z=z_test_distinguishable(p, 2 * n),
        distances={"d11": list(a.own), "d12": list(cross_a), "d22": list(b.own), "d21": list(cross_b)},
        distance=name, reprs=_describe(cache.reprs), cross=cross, ties=ties, tie_atol=tie_atol,
        level=level, seed=seed, rejected_1=a.rejected, rejected_2=b.rejected,
    )  # fmt: skip


def _symmetric(name: str) -> bool:
    from mechequiv import measures

    base = name.removeprefix("1 - ")
    return base in measures.names() and measures.get(base).symmetric


def _check_common(
    n: int, cross: str, ties: str, tie_atol: float, n_boot: int, level: float
) -> None:
    check_int(n, "n", 1)
    check_int(n_boot, "n_boot", 1)
    check_choice(cross, "cross", ("model", "implementation"))
    check_choice(ties, "ties", ("half", "own", "other"))
    if not tie_atol >= 0.0:
        raise ValueError(f"tie_atol must be >= 0; got {tie_atol}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}")


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
    """Congruity of two models on a task, with a bootstrap interval and a binomial test.

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
        ``"repr_distance"`` (Sun & Toneva's two-way norm-bounded linear distance, default),
        ``"ridge"`` (their code's ridge variant, anchor -> other), any registered measure
        (similarities s become 1 - s), or a callable ``(R1, R2) -> float``.
    reprs : callable (model, inputs) -> array (n_stimuli, d), optional
        GetReprs. Default: :func:`mechequiv.equivalence.reprs.hidden_representations`.
    cross : {"implementation", "model"}
        What a model's own implementation is compared against: a fresh implementation of the
        other model (default: compares implementation sets, calibrated so that equivalent models
        score about 1; see the module docstring) or the other model itself (the paper's literal
        indicator; undefined when both models have identical representations).
    ties : {"half", "own", "other"}
        A tie counts 1/2 (default: a tie is no evidence either way, so identical
        implementation sets score 1), 1 (the literal <=), or 0.
    tie_atol : float
        Distances closer than this (or than 1e-9 relative) are a tie. Distances are computed to
        finite precision (``repr_distance`` to a certified optimisation tolerance), and a
        difference at the level of that precision is no evidence: exactly function-preserving
        implementations otherwise look distinguishable by rounding alone (a float32 transformer
        and its exactly rotated copy are a few 1e-6 apart in ``repr_distance``; different seeds
        are 0.1 to 1 apart).
    seed : int
        Seeds the implementation draws and the bootstrap.
    n_boot, level : int, float
        Bootstrap resamples (rounds resampled whole) and interval level; ``level`` also sets the
        binomial test's significance (1 - level).

    Each round draws one implementation per model, excluding the two models themselves (a
    pool must not return the anchor as "an implementation of the other"); representations and
    distances of models drawn repeatedly (pool members) are computed once. The cost is 2 n
    implementation draws and about 4 n distance evaluations.
    """
    from mechequiv.equivalence.reprs import hidden_representations

    _check_common(n, cross, ties, tie_atol, n_boot, level)
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
    from mechequiv.equivalence.reprs import hidden_representations

    _check_common(n, cross, ties, tie_atol, n_boot, level)
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
    pairs = [(i, j) for i in range(m) for j in range(i if diagonal else i + 1, m)]
    found = get_backend(backend).map(
        job, pairs, keys=[f"{i},{j}" for i, j in pairs], store=store, progress=progress,
        description="congruity pairs",
    )  # fmt: skip
    return CongruityMatrix(names, {p: _from_dict(d) for p, d in zip(pairs, found, strict=True)})


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


def _from_dict(d: dict[str, Any]) -> CongruityResult:
    d = dict(d)
    d.pop("distinguishable")  # a property, recorded for readers of the JSON
    return CongruityResult(**d)


__all__ = ["CongruityMatrix", "CongruityResult", "congruity", "congruity_matrix"]
