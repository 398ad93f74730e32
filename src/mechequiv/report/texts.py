"""The report's common prose: the introduction and the papers it cites (each study section
keeps its own text beside its code, :mod:`mechequiv.study.sections`).

Texts are plain strings (escaped when rendered); ``{cite:key}`` marks a citation of
:data:`REFERENCES` ``[key]``.
"""

from __future__ import annotations

from collections.abc import Sequence
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

_NUMBERS = {1: "one method", 2: "two complementary methods", 3: "three complementary methods"}


def intro(methods: Sequence[str], measures: bool) -> str:
    """The introduction naming the ``methods`` present (phrases such as "tensor similarity",
    in page order) and, when ``measures``, the classical measures; a report of a study with
    disabled steps does not announce them. All three methods with the measures, or nothing to
    be specific about, give :data:`INTRO`."""
    everything = ("interpretive equivalence (Congruity)", "tensor similarity",
                  "an identifiability audit")  # fmt: skip
    if (tuple(methods) == everything and measures) or not (methods or measures):
        return INTRO
    question = "Do these neural networks implement the same mechanism?"
    classical = "the classical representational similarity measures {cite:klabunde2025}"
    if not methods:
        return f"{question} This report compares them with {classical}."
    listed = methods[0] if len(methods) == 1 else ", ".join(methods[:-1]) + " and " + methods[-1]
    beside = f", next to {classical}" if measures else ""
    count = _NUMBERS.get(len(methods), f"{len(methods)} complementary methods")
    return f"{question} This report answers with {count}: {listed}{beside}."
