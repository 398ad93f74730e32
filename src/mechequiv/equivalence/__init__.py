"""Interpretive equivalence (Sun & Toneva, ICLR 2026): Congruity of two models' implementation sets.

- :func:`congruity` / :func:`congruity_matrix`: the estimator, with bootstrap intervals and tests.
- :mod:`~mechequiv.equivalence.samplers`: GetImpl (symmetry transforms, retrained seeds, ...);
  :mod:`~mechequiv.equivalence.refit`: label-free GetImpl from the model alone.
- :mod:`~mechequiv.equivalence.distance`: d_repr (norm-bounded), the authors' ridge, any measure.
- :func:`discover_circuit` -> :class:`Circuit`: ACDC-style circuit discovery by exact patching
  (attribution patching first for large models), faithfulness / completeness / minimality;
  :class:`ResampleAblation` draws implementations that resample everything outside a circuit.
"""

from mechequiv.equivalence._congruity import (
    CongruityMatrix,
    CongruityResult,
    congruity,
    congruity_matrix,
)
from mechequiv.equivalence.circuit_impl import (
    CONGRUITY_DISCOVERY,
    circuit_congruity_setup,
    circuit_sampler,
    discover_congruity_circuit,
)
from mechequiv.equivalence.circuits import (
    BehaviourCheck,
    CircuitScan,
    ResampleAblation,
    scan_components,
)
from mechequiv.equivalence.components import Component, neurons
from mechequiv.equivalence.discovery import (
    Circuit,
    discover_circuit,
    evaluate_circuit,
    transformer_components,
)
from mechequiv.equivalence.distance import (
    resolve_distance,
    ridge_authors_distance,
    ridge_cv_distance,
    ridge_distance,
)
from mechequiv.equivalence.fingerprint import model_fingerprint
from mechequiv.equivalence.fourier import FourierModuleReprs, FourierModules
from mechequiv.equivalence.metrics import BehaviourMetric
from mechequiv.equivalence.patched import PatchedModel
from mechequiv.equivalence.refit import Distill, PerturbRefit
from mechequiv.equivalence.reprs import (
    CircuitReprs,
    LayerReprs,
    default_points,
    hidden_representations,
)
from mechequiv.equivalence.samplers import OnePointSet, Retrained, Sampler, SymmetryTransform

__all__ = [
    "CONGRUITY_DISCOVERY",
    "BehaviourCheck",
    "BehaviourMetric",
    "Circuit",
    "CircuitReprs",
    "CircuitScan",
    "Component",
    "CongruityMatrix",
    "CongruityResult",
    "Distill",
    "FourierModuleReprs",
    "FourierModules",
    "LayerReprs",
    "OnePointSet",
    "PatchedModel",
    "PerturbRefit",
    "ResampleAblation",
    "Retrained",
    "Sampler",
    "SymmetryTransform",
    "circuit_congruity_setup",
    "circuit_sampler",
    "congruity",
    "congruity_matrix",
    "default_points",
    "discover_circuit",
    "discover_congruity_circuit",
    "evaluate_circuit",
    "hidden_representations",
    "model_fingerprint",
    "neurons",
    "resolve_distance",
    "ridge_authors_distance",
    "ridge_cv_distance",
    "ridge_distance",
    "scan_components",
    "transformer_components",
]
