"""Interpretive equivalence (Sun & Toneva, ICLR 2026): Congruity of two models' implementation sets.

- :func:`congruity` / :func:`congruity_matrix`: the estimator, with bootstrap intervals and tests.
- :mod:`~mechequiv.equivalence.samplers`: GetImpl (symmetry transforms, retrained seeds, ...);
  :mod:`~mechequiv.equivalence.refit`: label-free GetImpl from the model alone.
- :mod:`~mechequiv.equivalence.distance`: d_repr (norm-bounded), its ridge variant, any measure.
"""

from mechequiv.equivalence.circuits import (
    BehaviourCheck,
    CircuitScan,
    Component,
    ResampleAblation,
    neurons,
    scan_components,
)
from mechequiv.equivalence.congruity import (
    CongruityMatrix,
    CongruityResult,
    congruity,
    congruity_matrix,
)
from mechequiv.equivalence.distance import resolve_distance, ridge_distance
from mechequiv.equivalence.fourier import FourierModuleReprs
from mechequiv.equivalence.patched import PatchedModel
from mechequiv.equivalence.refit import Distill, PerturbRefit
from mechequiv.equivalence.reprs import LayerReprs, default_points, hidden_representations
from mechequiv.equivalence.samplers import Retrained, Sampler, SymmetryTransform

__all__ = [
    "BehaviourCheck",
    "CircuitScan",
    "Component",
    "CongruityMatrix",
    "CongruityResult",
    "Distill",
    "FourierModuleReprs",
    "LayerReprs",
    "PatchedModel",
    "PerturbRefit",
    "ResampleAblation",
    "Retrained",
    "Sampler",
    "SymmetryTransform",
    "congruity",
    "congruity_matrix",
    "default_points",
    "hidden_representations",
    "neurons",
    "resolve_distance",
    "ridge_distance",
    "scan_components",
]
