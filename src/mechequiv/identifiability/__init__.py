"""Identifiability audits (Méloux et al., ICLR 2025): how many explanations fit one network?

``audit(model, task)`` runs both strategies of the paper on a Boolean MLP:

* where-then-what: every circuit that reproduces the task exactly (:mod:`.circuits`), and the
  number of logic-gate interpretations of each, counted without enumerating them
  (:mod:`.interpretations`);
* what-then-where: every candidate AND/OR/NOT algorithm (:mod:`.algorithms`) and its minimal
  neuron-set mappings passing interchange interventions (:mod:`.alignment`).

:func:`study_widths` trains a seed zoo per width and :func:`plot_counts` draws the paper's
width figure.

:func:`exact_equivalence` compares two networks' explanation sets exactly (circuits,
interpretations, algorithms and alignments modulo hidden-neuron relabelling): the ground truth
that interpretive-equivalence estimators such as Congruity can be checked against;
:func:`hand_built` builds networks with a designed gate decomposition, realised in several
ways, whose verdicts are known.
"""

from mechequiv.identifiability._audit import (
    IdentifiabilityReport,
    audit,
    estimate_candidates,
    paper_min_node_sparsity,
)
from mechequiv.identifiability._hand_built import (
    DESIGNS,
    REALISATIONS,
    Design,
    HandBuilt,
    Unit,
    hand_built,
    hand_built_zoo,
)
from mechequiv.identifiability.algorithms import (
    Algorithm,
    Formula,
    candidate_algorithms,
    count_skeletons,
)
from mechequiv.identifiability.alignment import Mapping
from mechequiv.identifiability.budget import AuditEstimate, estimate_audit
from mechequiv.identifiability.circuits import Circuit, count_candidates, find_circuits
from mechequiv.identifiability.exact import (
    ExactEquivalence,
    ExplanationClasses,
    compare_classes,
    exact_equivalence,
    explanation_classes,
)
from mechequiv.identifiability.interpretations import count_interpretations
from mechequiv.identifiability.network import Activation, MLPNet, as_mlp
from mechequiv.identifiability.study import WidthStudy, plot_counts, study_widths
from mechequiv.identifiability.tasks import (
    GATES,
    BooleanTask,
    TrainedMLP,
    boolean_task,
    make_mlp,
    train_mlp,
)

__all__ = [
    "DESIGNS",
    "GATES",
    "REALISATIONS",
    "Activation",
    "Algorithm",
    "AuditEstimate",
    "BooleanTask",
    "Circuit",
    "Design",
    "ExactEquivalence",
    "ExplanationClasses",
    "Formula",
    "HandBuilt",
    "IdentifiabilityReport",
    "MLPNet",
    "Mapping",
    "TrainedMLP",
    "Unit",
    "WidthStudy",
    "as_mlp",
    "audit",
    "boolean_task",
    "candidate_algorithms",
    "compare_classes",
    "count_candidates",
    "count_interpretations",
    "count_skeletons",
    "estimate_audit",
    "estimate_candidates",
    "exact_equivalence",
    "explanation_classes",
    "find_circuits",
    "hand_built",
    "hand_built_zoo",
    "make_mlp",
    "paper_min_node_sparsity",
    "plot_counts",
    "study_widths",
    "train_mlp",
]
