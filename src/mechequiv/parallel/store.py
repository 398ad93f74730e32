"""Results stores: one entry per stable key, written atomically, so interrupted runs resume.

A store belongs to one job: it records the job's ``settings`` and refuses to open for other
settings, so results computed under other parameters are never mixed in. Every ``put`` is
atomic (see :mod:`mechequiv._io`): after an interruption a store holds each finished result
complete and nothing half-written.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Literal

from mechequiv._io import atomic_write, atomic_write_json
from mechequiv.errors import MechequivError

Codec = Literal["json", "torch"]
# Keys become file names in a DirectoryStore: no separators, no leading dot (temporary files).
_SAFE_KEY = re.compile(r"[A-Za-z0-9_,=+\-][A-Za-z0-9_.,=+\-]{0,199}")
_SUFFIX = {"json": ".json", "torch": ".pt"}
_DIRECTORY_MANIFEST = "mechequiv_results.json"


def _json_value(value: Any, what: str) -> Any:
    """``value`` as it reads back from JSON (tuples become lists); refuse what JSON cannot hold."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{what} must be JSON-serialisable (dict, list, str, finite float, int, bool, None); "
            f"{e}. Tensors and state dicts need DirectoryStore(path, codec='torch')"
        ) from None


def _check_settings(saved: Any, settings: Any, path: Path) -> None:
    if saved != settings:
        raise ValueError(
            f"{path} holds results computed under other settings ({saved}, now {settings}); "
            "use another path"
        )


class ResultStore(ABC):
    """A persistent mapping from string keys to task results.

    ``put`` returns the value exactly as ``get`` will return it later, so a result computed now
    and one read back by a resumed run are identical.
    """

    @abstractmethod
    def keys(self) -> list[str]:
        """Keys of the stored results, sorted."""

    @abstractmethod
    def __contains__(self, key: object) -> bool: ...

    @abstractmethod
    def get(self, key: str) -> Any:
        """The result stored under ``key`` (``KeyError`` if absent)."""

    @abstractmethod
    def put(self, key: str, value: Any) -> Any:
        """Store ``value`` under ``key`` atomically; return it as ``get`` will."""

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(getattr(self, 'path', ''))!r}, {len(self)} results)"


class JsonStore(ResultStore):
    """All results in one JSON file ``{"settings": ..., "results": {key: value}}``.

    For small results (scores, statistics): each ``put`` rewrites the whole file atomically, so
    it suits up to a few thousand entries. Values must be JSON-serialisable.

    Parameters
    ----------
    path : path
        The JSON file (created on the first ``put``).
    settings : JSON-serialisable, optional
        What identifies the job; an existing file with other settings raises ``ValueError``.
    """

    def __init__(self, path: str | os.PathLike[str], settings: Any = None) -> None:
        self.path = Path(path)
        self.settings = _json_value(settings, "settings")
        self._results: dict[str, Any] = {}
        if self.path.exists():
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(saved, dict) or not isinstance(saved.get("results"), dict):
                raise MechequivError(
                    f"{self.path} is not a results store (expected a JSON object with "
                    "'settings' and 'results')"
                )
            _check_settings(saved.get("settings"), self.settings, self.path)
            self._results = saved["results"]

    def keys(self) -> list[str]:
        return sorted(self._results)

    def __contains__(self, key: object) -> bool:
        return key in self._results

    def get(self, key: str) -> Any:
        return self._results[key]

    def put(self, key: str, value: Any) -> Any:
        value = _json_value(value, f"the result for key {key!r}")
        self._results[key] = value
        atomic_write_json(self.path, {"settings": self.settings, "results": self._results})
        return value


class DirectoryStore(ResultStore):
    """One file per result in a directory, beside a manifest holding the settings.

    For large results: ``codec="torch"`` saves each value with ``torch.save`` and loads it with
    ``weights_only=True`` (tensors, state dicts, and dicts/lists of them and of plain Python
    values), ``codec="json"`` writes ``<key>.json``. Keys become file names, so they may hold
    only letters, digits and ``_ . , = + -`` (no leading dot).
    """

    def __init__(
        self, path: str | os.PathLike[str], settings: Any = None, codec: Codec = "json"
    ) -> None:
        if codec not in _SUFFIX:
            raise ValueError(f"codec must be one of {sorted(_SUFFIX)}; got {codec!r}")
        self.path = Path(path)
        self.codec = codec
        self.settings = _json_value(settings, "settings")
        manifest = self.path / _DIRECTORY_MANIFEST
        if manifest.is_file():
            saved = json.loads(manifest.read_text(encoding="utf-8"))
            _check_settings(saved, {"settings": self.settings, "codec": codec}, self.path)
        elif self.path.exists() and any(self.path.iterdir()):
            raise MechequivError(
                f"{self.path} is a non-empty directory without {_DIRECTORY_MANIFEST}: "
                "not a results store"
            )
        else:
            atomic_write_json(manifest, {"settings": self.settings, "codec": codec})

    def _file(self, key: str) -> Path:
        if not isinstance(key, str) or not _SAFE_KEY.fullmatch(key):
            raise ValueError(
                f"a DirectoryStore key must be 1-200 letters, digits or '_.,=+-' "
                f"(no leading dot); got {key!r}"
            )
        return self.path / f"{key}{_SUFFIX[self.codec]}"

    def keys(self) -> list[str]:
        suffix = _SUFFIX[self.codec]
        return sorted(
            p.name[: -len(suffix)]
            for p in self.path.glob(f"*{suffix}")
            if p.name != _DIRECTORY_MANIFEST and not p.name.startswith(".")
        )

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._file(key).is_file()

    def get(self, key: str) -> Any:
        path = self._file(key)
        if not path.is_file():
            raise KeyError(key)
        if self.codec == "json":
            return json.loads(path.read_text(encoding="utf-8"))
        import torch

        return torch.load(path, weights_only=True)

    def put(self, key: str, value: Any) -> Any:
        path = self._file(key)
        if self.codec == "json":
            value = _json_value(value, f"the result for key {key!r}")
            atomic_write_json(path, value)
        else:
            import torch

            atomic_write(path, lambda p: torch.save(value, p))
        return value


def as_store(store: ResultStore | str | os.PathLike[str] | None) -> ResultStore | None:
    """A store from a path: ``*.json`` -> :class:`JsonStore`, else :class:`DirectoryStore`
    (JSON codec), both without settings. A store or ``None`` passes through."""
    if store is None or isinstance(store, ResultStore):
        return store
    if isinstance(store, (str, os.PathLike)):
        path = Path(store)
        return JsonStore(path) if path.suffix == ".json" else DirectoryStore(path)
    raise TypeError(f"store must be a ResultStore, a path or None; got {type(store).__name__}")
