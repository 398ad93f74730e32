"""The study's experiments, one module each (``zoo``, ``equivalence``, ``tensorsim``,
``identifiability``, ``measures``), each a :class:`~mechequiv.study.sections.base.Section`:
its settings dataclass, ``run(ctx, settings) -> Result``, its summary, its report section and its
default TOML. :mod:`mechequiv.study.registry` lists them, one line each.

This package ``__init__`` imports nothing, so that a section's code fingerprint (which counts the
packages a module's import runs) does not reach the other sections.
"""
