"""Study configuration: a TOML file with one table per step and a ``[quick]`` table of overrides.

The default study ships with the package (``default.toml``). A user's file is merged over it,
so it only needs the keys it changes; unknown steps or keys are refused with their names, since
a misspelt key that silently keeps its default would produce a study nobody asked for.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mechequiv.errors import MechequivError


def _merge(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key not in base:
            raise MechequivError(f"unknown key {where}{key!r}; expected one of {sorted(base)}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise MechequivError(f"{where}{key!r} must be a table, got {value!r}")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_config_text() -> str:
    """The TOML text of the default study."""
    return resources.files("mechequiv.study").joinpath("default.toml").read_text()


@dataclass(frozen=True)
class StudyConfig:
    """A resolved study configuration: ``steps[name]`` holds that step's settings.

    ``steps`` keeps the file's order; a step whose table has ``enabled = false`` is skipped.
    """

    title: str
    seed: int
    steps: dict[str, dict[str, Any]]
    quick: bool = False

    def enabled(self) -> list[str]:
        """The steps that run, in order."""
        return [s for s, c in self.steps.items() if c.get("enabled", True)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (what ``results.json`` records as the config used)."""
        return {"title": self.title, "seed": self.seed, "quick": self.quick,
                "steps": copy.deepcopy(self.steps)}  # fmt: skip


def load_config(path: str | Path | None = None, quick: bool = False) -> StudyConfig:
    """The default study, overridden by the TOML file at ``path`` and, with ``quick``, by its
    ``[quick]`` tables (the file's own ``[quick]`` wins over the default's).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    MechequivError
        The file is not valid TOML, or names a step or key the default does not have.
    """
    base = tomllib.loads(default_config_text())
    quick_over = base.pop("quick", {})
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"study config not found: {path}")
        try:
            user = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise MechequivError(f"{path} is not valid TOML: {e}") from e
        quick_over = _update(quick_over, user.pop("quick", {}))
        base = _merge(base, user, "")
    quick_cfg = _merge(base, quick_over, "quick.")  # validated even when not used
    merged = quick_cfg if quick else base
    study = merged.pop("study")
    return StudyConfig(title=study["title"], seed=int(study["seed"]), steps=merged, quick=quick)


def _update(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursive update without validation (the result is validated when applied)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
