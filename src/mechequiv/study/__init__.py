"""The end-to-end study: a zoo trained here, compared by every method, written as results.json.

``mechequiv study`` (and ``make demo``) runs :func:`run_study` on :func:`load_config`'s default
study and renders the results with :func:`mechequiv.report.write_report`.
"""

from mechequiv.study.compare import Comparison, compare_models, load_model
from mechequiv.study.config import StudyConfig, default_config_text, load_config
from mechequiv.study.run import StudyContext, run_study

__all__ = [
    "Comparison",
    "StudyConfig",
    "StudyContext",
    "compare_models",
    "default_config_text",
    "load_config",
    "load_model",
    "run_study",
]
