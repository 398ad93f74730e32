"""Interpretive equivalence (Sun & Toneva, ICLR 2026): Congruity of two models' implementation sets.

- :func:`congruity` / :func:`congruity_matrix`: the estimator, with bootstrap intervals and tests.
- :mod:`~mechequiv.equivalence.samplers`: GetImpl (symmetry transforms, retrained seeds, ...).
- :mod:`~mechequiv.equivalence.distance`: d_repr (norm-bounded), its ridge variant, any measure.
"""

from mechequiv.equivalence.congruity import (
    CongruityMatrix,
    CongruityResult,
    congruity,
    congruity_matrix,
)
from mechequiv.equivalence.distance import resolve_distance, ridge_distance
from mechequiv.equivalence.reprs import hidden_representations
from mechequiv.equivalence.samplers import Retrained, Sampler, SymmetryTransform

__all__ = [
    "CongruityMatrix",
    "CongruityResult",
    "Retrained",
    "Sampler",
    "SymmetryTransform",
    "congruity",
    "congruity_matrix",
    "hidden_representations",
    "resolve_distance",
    "ridge_distance",
]
