"""mechequiv: do these two neural networks implement the same mechanism?

Subpackages, in the direction data flows:

- :mod:`mechequiv.capture` — activations out of models (hooks, patching, stores).
- :mod:`mechequiv.measures` — representational and functional similarity measures.
- :mod:`mechequiv.zoo` — tasks with known mechanisms and many-seed training.
- :mod:`mechequiv.equivalence` — interpretive equivalence (Congruity; Sun & Toneva).
- :mod:`mechequiv.tensorsim` — weight-only similarity of tensor-based models.
- :mod:`mechequiv.identifiability` — identifiability audits of small MLPs (Méloux et al.).
"""

from mechequiv.errors import MechequivError

__version__ = "0.1.0"
__all__ = ["MechequivError", "__version__"]
