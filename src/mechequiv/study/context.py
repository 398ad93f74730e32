"""What a running section may use: the config, the output folder, objects shared between
sections, and a log. Kept apart from the runner so that sections and the runner both import it
and neither imports the other."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class StudyConfig(Protocol):
    """What a section reads of :class:`mechequiv.study.config.StudyConfig` (a protocol, so that
    this module imports no configuration code: the config imports the section registry, whose
    sections import this module)."""

    @property
    def seed(self) -> int: ...

    @property
    def steps(self) -> dict[str, dict[str, Any]]: ...


@dataclass
class StudyContext:
    """What a step may use: the config, the output folder, and objects shared between steps."""

    config: StudyConfig
    out: Path
    progress: bool | None = None
    log: Callable[[str], None] = print
    step_key: str = ""
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)

    def partial_path(self, what: str) -> Path:
        """Where the running step keeps resumable partial results (keyed like its cache)."""
        return self.out / "cache" / f"{what}-{self.step_key}.partial.json"

    def shared(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()`` once per study run (e.g. a trained zoo several steps compare)."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]

    def quiet(self) -> bool | None:
        """``disable`` for a progress bar: None shows it only on a terminal."""
        return None if self.progress is None else not self.progress


def versions() -> dict[str, str]:
    """Versions of what produced the results."""
    import numpy
    import torch

    import mechequiv

    return {"mechequiv": mechequiv.__version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}  # fmt: skip
