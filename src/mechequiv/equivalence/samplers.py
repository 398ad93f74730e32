"""GetImpl: ways to draw a co-interpretive implementation of a model.

Here: :class:`SymmetryTransform` (the positive control), :class:`Retrained` (pools you form) and
:class:`OnePointSet` (the model is its own only implementation, e.g. when its circuit is the
whole model);
label-free samplers that re-fit to the model's own outputs are in
:mod:`mechequiv.equivalence.refit`, resample ablation outside a circuit in
:mod:`mechequiv.equivalence.circuits`.

A sampler is any object with ``sample(model, rng, exclude=()) -> model`` that returns a model
implementing the same interpretation (it changes only what lies outside the mechanism, or
nothing at all functionally). ``exclude`` lists models that must not be returned as they are
(Congruity passes the pair under comparison, so that a pool never hands back the anchor as
"an implementation of the other model").

A sampler that rejects candidate draws (a behaviour check) also offers
``draw(model, rng, exclude=()) -> Draw``, which returns the implementation together with how many
candidates it rejected and the accepted draw's behaviour statistics. Congruity records those in
its result: nothing is recorded on the sampler itself, so the numbers survive Ray and do not
depend on the order in which pairs run.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from torch import nn

from mechequiv.capture.protocol import symmetries
from mechequiv.equivalence import residual
from mechequiv.equivalence.fingerprint import model_fingerprint
from mechequiv.equivalence.patched import PatchedModel


@runtime_checkable
class Sampler(Protocol):
    """GetImpl: ``sample(model, rng, exclude)`` returns a co-interpretive implementation."""

    def sample(
        self, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
    ) -> nn.Module: ...


@dataclass(frozen=True)
class Draw:
    """One implementation drawn by a sampler: the model, the candidates rejected before it, and
    the accepted candidate's behaviour statistics (for example ``{"kl": ...}``)."""

    model: nn.Module
    rejected: int = 0
    stats: Mapping[str, float] = field(default_factory=dict)
    source: int | None = None  # which member of a finite pool it is (Retrained), else None


def draw(
    sampler: Sampler, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
) -> Draw:
    """Draw one implementation: ``sampler.draw`` where the sampler has one, else ``sample``."""
    if hasattr(sampler, "draw"):
        result: Draw = sampler.draw(model, rng, exclude=exclude)
        return result
    return Draw(sampler.sample(model, rng, exclude=exclude))


class DrawingSampler:
    """Base of samplers whose work is :meth:`draw` (an implementation with its rejected count
    and statistics); :meth:`sample` returns the drawn model."""

    def sample(
        self, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
    ) -> nn.Module:
        return self.draw(model, rng, exclude).model

    def draw(
        self, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
    ) -> Draw:
        raise NotImplementedError


class SymmetryTransform:
    """Exact function-preserving reparameterisations: the positive control of Congruity.

    Not an estimate of an implementation set: the set it samples is the model itself up to
    symmetry, so a model against its own transformed copy scores 1 and any other network,
    another seed of the same recipe included, is distinguishable. For implementations drawn
    from the model alone use :class:`~mechequiv.equivalence.refit.Distill` or
    :class:`~mechequiv.equivalence.refit.PerturbRefit`.

    For an MLP given as ``nn.Sequential`` of ``nn.Linear`` layers separated by elementwise
    activations, every hidden layer gets a random permutation of its units and, where the
    activation allows it, a random positive rescaling (ReLU, LeakyReLU, Identity: scale each
    unit's incoming weights and bias by c and its outgoing weights by 1/c) and random sign flips
    (odd activations such as tanh). The output function is unchanged up to float rounding.

    Residual-stream models without LayerNorm (the zoo's token transformer and residual bilinear
    network, a TransformerLens ``HookedTransformer`` with ``normalization_type=None``) get a
    random rotation of the residual stream, permutations and rescalings of MLP neurons,
    permutations of attention heads, and the bilinear units' permutations, L/R swaps and factor
    rescalings: see :mod:`mechequiv.equivalence.residual`. Any other model works by declaring
    its symmetries through the model protocol (``exact_symmetries()``, or
    :func:`~mechequiv.capture.protocol.register_model`); an undeclared one is refused with
    :class:`~mechequiv.capture.protocol.UnsupportedModelError` naming what is missing.

    Before the random draw each unit is brought to a canonical representative of its orbit
    (incoming weights and bias scaled to unit norm for homogeneous activations; the sign that
    makes the largest incoming weight positive for odd ones). So the draws for a model and for
    any symmetry-transformed copy of it have exactly the same distribution, which is what makes
    this sampler a calibrated positive control: without it, rescalings compound (the copy's
    implementations would be rescaled twice) and the copy would look distinguishable.

    Parameters
    ----------
    permute, rescale, flip_signs, rotate : bool
        Which symmetries to apply (unit and head permutations and bilinear swaps; rescalings;
        sign flips; the stream rotation), each where the model declares it.
    scale_range : (float, float)
        Log-uniform range of the positive rescaling factors.
    """

    def __init__(
        self,
        permute: bool = True,
        rescale: bool = True,
        flip_signs: bool = True,
        scale_range: tuple[float, float] = (0.5, 2.0),
        rotate: bool = True,
    ) -> None:
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high; got {scale_range}")
        self.permute, self.rescale, self.flip_signs = permute, rescale, flip_signs
        self.rotate, self.scale_range = rotate, scale_range
        self.draws = residual.Draws(permute, rescale, flip_signs, rotate, scale_range)

    def sample(
        self, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
    ) -> nn.Module:
        """A transformed deep copy of ``model`` (always a new object, so ``exclude`` holds)."""
        symmetries(model)  # the model must declare its symmetries: refused before copying
        new = copy.deepcopy(model)
        residual.apply(symmetries(new), rng, self.draws)
        return new


class OnePointSet(DrawingSampler):
    """The implementation set {model}: every draw is the model itself, unchanged.

    This is what resample ablation outside a circuit gives when the circuit holds every
    component (nothing lies outside it to resample): the model is the only implementation of
    its interpretation that GetImpl can reach. Congruity is then still defined, but it asks a
    narrower question: d(h1, h1*) = 0 on every round, so h1's own implementation is closer than
    h2's unless the representations of h1 and h2's implementations coincide up to the
    distance's tolerance (a tie). A pair scored with it is distinguishable unless the two
    representations are equal up to a contraction both ways; results should say that the set
    was a single point (``reason``).

    Each draw returns the model wrapped as a :class:`~mechequiv.equivalence.patched.PatchedModel`
    with no patch, a new object (so Congruity's ``exclude`` holds) that computes exactly what the
    model computes.
    """

    def __init__(self, reason: str = "the implementation set is the model alone") -> None:
        self.reason = reason

    def draw(
        self, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
    ) -> Draw:
        return Draw(PatchedModel(model, {}), stats={"changed": 0.0})

    def __repr__(self) -> str:
        return f"OnePointSet({self.reason!r})"


class Retrained(DrawingSampler):
    """Implementations drawn from independently trained models of the same recipe.

    Parameters
    ----------
    groups : sequence of sequences of models
        Each inner sequence holds models trained with one recipe (e.g. the seeds of a zoo).
        ``sample(model)`` returns another member of the group that contains ``model``,
        uniformly at random among those not in ``exclude``. Models are matched by identity,
        else by :func:`~mechequiv.equivalence.fingerprint.model_fingerprint` (structure and
        weights as they were when the sampler was made), so copies made by Ray, pickle or
        deepcopy are recognised.
    """

    def __init__(self, *groups: Sequence[nn.Module]) -> None:
        if not groups:
            raise ValueError("Retrained needs at least one group of same-recipe models")
        self.groups = [list(g) for g in groups]
        # taken once: a copy of a member is recognised without hashing the pool on every draw
        self._keys = [[model_fingerprint(m) for m in g] for g in self.groups]

    def draw(
        self, model: nn.Module, rng: np.random.Generator, exclude: Sequence[nn.Module] = ()
    ) -> Draw:
        """:meth:`sample` with the drawn member's index in its group as ``source`` (Congruity's
        bootstrap resamples pool members through it)."""
        where = self._find(model)
        if where is None:
            raise ValueError(
                "the model is in none of the Retrained groups (models match by identity, else "
                "by structure and weights as they were when the sampler was made)"
            )
        gi, own = where
        excluded = {own}
        for e in exclude:
            found = self._find(e)
            if found is not None and found[0] == gi:
                excluded.add(found[1])
        others = [i for i in range(len(self.groups[gi])) if i not in excluded]
        if not others:
            raise ValueError("the model's recipe group has no other member to draw")
        pick = others[int(rng.integers(len(others)))]
        return Draw(self.groups[gi][pick], source=pick)

    def _find(self, model: nn.Module) -> tuple[int, int] | None:
        """(group, member) of ``model``: by identity, else by fingerprint (unique or refused)."""
        for gi, g in enumerate(self.groups):
            for i, m in enumerate(g):
                if m is model:
                    return gi, i
        key = model_fingerprint(model)
        hits = [(gi, i) for gi, ks in enumerate(self._keys) for i, k in enumerate(ks) if k == key]
        if len(hits) > 1:
            raise ValueError(
                f"this {type(model).__name__} has the structure and weights of {len(hits)} "
                "members of the Retrained groups, so which one it copies is ambiguous: pass "
                "the model objects the sampler was made with"
            )
        return hits[0] if hits else None
