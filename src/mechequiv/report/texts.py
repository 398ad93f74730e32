"""The report's prose: what each method does, how to read its figure, and the papers behind it.

Texts are plain strings (escaped when rendered); ``{cite:key}`` marks a citation of
:data:`REFERENCES` ``[key]``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple


class Reference(NamedTuple):
    authors: str
    title: str
    venue: str
    url: str


REFERENCES: dict[str, Reference] = {
    "sun2026": Reference(
        "Alan Sun, Mariya Toneva",
        "Tracking Equivalent Mechanistic Interpretations Across Neural Networks",
        "ICLR 2026",
        "https://arxiv.org/abs/2603.30002",
    ),
    "nissen2026": Reference(
        "Nissen Gonzalez, Albuquerque, Wroe, Cohen, Riggs Smith, Dooms",
        "When Are Two Networks the Same? Tensor Similarity for Mechanistic Interpretability",
        "arXiv 2026",
        "https://arxiv.org/abs/2605.15183",
    ),
    "meloux2025": Reference(
        "Maxime Méloux, François Portet, Silviu Maniu, Maxime Peyrard",
        "Everything, Everywhere, All at Once: Is Mechanistic Interpretability Identifiable?",
        "ICLR 2025",
        "https://arxiv.org/abs/2502.20914",
    ),
    "kornblith2019": Reference(
        "Simon Kornblith, Mohammad Norouzi, Honglak Lee, Geoffrey Hinton",
        "Similarity of Neural Network Representations Revisited",
        "ICML 2019",
        "https://arxiv.org/abs/1905.00414",
    ),
    "williams2021": Reference(
        "Alex H. Williams, Erin Kunz, Simon Kornblith, Scott W. Linderman",
        "Generalized Shape Metrics on Neural Representations",
        "NeurIPS 2021",
        "https://arxiv.org/abs/2110.14739",
    ),
    "raghu2017": Reference(
        "Maithra Raghu, Justin Gilmer, Jason Yosinski, Jascha Sohl-Dickstein",
        "SVCCA: Singular Vector Canonical Correlation Analysis for Deep Learning Dynamics and Interpretability",
        "NeurIPS 2017",
        "https://arxiv.org/abs/1706.05806",
    ),
    "morcos2018": Reference(
        "Ari S. Morcos, Maithra Raghu, Samy Bengio",
        "Insights on Representational Similarity in Neural Networks with Canonical Correlation",
        "NeurIPS 2018",
        "https://arxiv.org/abs/1806.05759",
    ),
    "kriegeskorte2008": Reference(
        "Nikolaus Kriegeskorte, Marieke Mur, Peter Bandettini",
        "Representational Similarity Analysis: Connecting the Branches of Systems Neuroscience",
        "Frontiers in Systems Neuroscience 2008",
        "https://doi.org/10.3389/neuro.06.004.2008",
    ),
    "huh2024": Reference(
        "Minyoung Huh, Brian Cheung, Tongzhou Wang, Phillip Isola",
        "The Platonic Representation Hypothesis",
        "ICML 2024",
        "https://arxiv.org/abs/2405.07987",
    ),
    "klabunde2025": Reference(
        "Max Klabunde, Tobias Schumacher, Markus Strohmaier, Florian Lemmerich",
        "Similarity of Neural Network Models: A Survey of Functional and Representational Measures",
        "ACM Computing Surveys 2025",
        "https://arxiv.org/abs/2305.06329",
    ),
    "zhong2023": Reference(
        "Ziqian Zhong, Ziming Liu, Max Tegmark, Jacob Andreas",
        "The Clock and the Pizza: Two Stories in Mechanistic Explanation of Neural Networks",
        "NeurIPS 2023",
        "https://arxiv.org/abs/2306.17844",
    ),
    "nanda2023": Reference(
        "Neel Nanda, Lawrence Chan, Tom Lieberum, Jess Smith, Jacob Steinhardt",
        "Progress Measures for Grokking via Mechanistic Interpretability",
        "ICLR 2023",
        "https://arxiv.org/abs/2301.05217",
    ),
}

# The papers behind each family of measures in the registry.
FAMILY_REFERENCES: dict[str, tuple[str, ...]] = {
    "cka": ("kornblith2019",),
    "cca": ("raghu2017", "morcos2018"),
    "shape": ("williams2021",),
    "rsa": ("kriegeskorte2008",),
    "neighbors": ("huh2024",),
    "regression": ("klabunde2025",),
    "functional": ("klabunde2025",),
}

INTRO = (
    "Do these neural networks implement the same mechanism? This report answers with three "
    "complementary methods — interpretive equivalence (Congruity), tensor similarity and an "
    "identifiability audit — next to the classical representational similarity measures "
    "{cite:klabunde2025}."
)

# The methods the introduction names, by results key, in page order.
_METHODS = {
    "equivalence": "interpretive equivalence (Congruity)",
    "tensorsim": "tensor similarity",
    "identifiability": "an identifiability audit",
}
_NUMBERS = {1: "one method", 2: "two complementary methods", 3: "three complementary methods"}


def intro(present: Collection[str]) -> str:
    """The introduction, naming only the methods whose results are ``present`` (a report of
    a study with disabled steps does not announce them)."""
    methods = [text for key, text in _METHODS.items() if key in present]
    measures = "measures" in present or "equivalence" in present  # baselines sit beside Congruity
    if (len(methods) == len(_METHODS) and measures) or not (methods or measures):
        return INTRO  # everything, or nothing to be specific about
    question = "Do these neural networks implement the same mechanism?"
    classical = "the classical representational similarity measures {cite:klabunde2025}"
    if not methods:
        return f"{question} This report compares them with {classical}."
    listed = methods[0] if len(methods) == 1 else ", ".join(methods[:-1]) + " and " + methods[-1]
    beside = f", next to {classical}" if measures else ""
    return f"{question} This report answers with {_NUMBERS[len(methods)]}: {listed}{beside}."


ZOO = (
    "The models compared below. Modular-addition transformers can learn the 'Pizza' or the "
    "'Clock' algorithm {cite:zhong2023}, two different mechanisms with the same behaviour; "
    "bilinear models grok modular addition {cite:nanda2023}; small MLPs learn Boolean gates."
)

EQUIVALENCE = (
    "Two models are interpretively equivalent when the sets of implementations of their "
    "mechanistic interpretations coincide {cite:sun2026}. Congruity estimates this without "
    "writing an interpretation down: each round draws an implementation that shares each "
    "model's interpretation (for example by resampling what lies outside its circuit, or by a "
    "symmetry of its weights) and asks whether a model's own implementation is closer to it, in "
    "representation distance on the task, than the other model's. The score is 1 − |s/n − 1| "
    "for s indicators over n rounds: 1 when the two implementation sets cannot be told apart, 0 "
    "when they always can. Brackets give a bootstrap confidence interval over rounds."
)

BASELINES = (
    "Representational similarity measures compare the models' activations on the same inputs, "
    "with no notion of an interpretation. They are shown beside Congruity on the same pairs: "
    "where they disagree, similar representations hide different mechanisms (or the reverse). "
    "In every panel darker means more similar; distances use the reversed colour scale."
)

TENSORSIM = (
    "A tensor-based model (linear and bilinear layers, no elementwise nonlinearity) computes a "
    "polynomial of its input: the whole network is one tensor. Tensor similarity is the cosine "
    "between two networks' symmetrised tensors, computed from the weights alone by a recursive "
    "contraction that never forms the tensor; it is invariant to weight-space symmetries and, for "
    "Gaussian inputs, equals a functional inner product {cite:nissen2026}. Comparing every "
    "checkpoint with every other shows phases of training as blocks, without any data."
)

BACKDOOR = (
    "A backdoor is trained in part-way (dashed line: the first poisoned step). Weight-based "
    "similarity can reveal the change while behaviour on clean data hardly moves {cite:nissen2026}. "
    "Δ is the mean similarity among poisoned-phase checkpoints minus the mean similarity between "
    "clean-phase and poisoned-phase checkpoints."
)

IDENTIFIABILITY = (
    "Is a mechanistic explanation unique? For small MLPs on Boolean tasks every candidate is "
    "enumerated: circuits (subnetworks that reproduce the behaviour), interpretations (algorithms "
    "consistent with a circuit) and mappings between an algorithm and the network's units that "
    "pass causal-abstraction tests {cite:meloux2025}. A count above 1 means the explanation is not "
    "identified by these criteria; each point is one trained network, the line the median."
)

MEASURES = (
    "Representational measures on selected pairs of models. ↑ marks a similarity (higher = more "
    "similar), ↓ a distance; the table below gives each measure's exact convention, range and "
    "invariances, from the measure registry."
)
