"""A disk-backed activation store (zarr) for activations larger than memory.

Layout: a directory per capture holding a JSON manifest and a zarr group (``arrays/``) with one
array per point, rows along dim 0 in input order. A capture is written into
``.<name>.partial`` next to the target and renamed into place when complete, so the target is
either a complete store or absent. Progress is recorded in the manifest (written atomically)
after every batch; an interrupted capture resumes from the last recorded batch. Arrays are
stored uncompressed (activations compress poorly, and speed matters here). Needs the ``store``
extra (``zarr>=3``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mechequiv._io import atomic_write_json
from mechequiv.capture.batches import Batches
from mechequiv.capture.engine import Adapter, iter_capture
from mechequiv.capture.hooks import PatchValue
from mechequiv.capture.points import point_key, unique_points
from mechequiv.errors import MechequivError
from mechequiv.tokens import TokenPolicy

MANIFEST = "mechequiv_capture.json"
ARRAYS = "arrays"  # the zarr group, beside the manifest
FORMAT_VERSION = 1


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as e:  # pragma: no cover - zarr is a dev dependency
        raise MechequivError(
            "the activation store needs zarr>=3: pip install 'mechequiv[store]'"
        ) from e
    return zarr


class StoredArray:
    """One point's activations on disk: ``rows`` rows along dim 0, read back in row order."""

    def __init__(self, array: Any, name: str) -> None:
        self.array = array
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def dtype(self) -> np.dtype:
        result: np.dtype = np.dtype(self.array.dtype)
        return result

    @property
    def chunk_rows(self) -> int:
        result: int = self.array.chunks[0]
        return result

    def __len__(self) -> int:
        return self.rows

    def __repr__(self) -> str:
        return f"StoredArray({self.name!r}, shape={self.shape}, dtype={self.dtype})"

    def read(
        self, start: int = 0, stop: int | None = None, as_torch: bool = False
    ) -> np.ndarray | torch.Tensor:
        """Rows ``start:stop`` as a numpy array (or a CPU tensor with ``as_torch=True``)."""
        x = np.asarray(self.array[start : self.rows if stop is None else stop])
        return torch.from_numpy(x) if as_torch else x

    def batches(
        self, batch_size: int | None = None, as_torch: bool = False
    ) -> Iterator[np.ndarray | torch.Tensor]:
        """Consecutive batches of ``batch_size`` rows (default: the chunk size), in row order."""
        step = _check_batch_size(batch_size, self.chunk_rows)
        for lo in range(0, self.rows, step):
            yield self.read(lo, lo + step, as_torch)


class ActivationStore(Mapping[str, StoredArray]):
    """A completed capture on disk: ``store[name]`` is a :class:`StoredArray`.

    ``meta`` holds what the capture recorded (point names, token policy, input rows, tag).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            partial = _partial_path(self.path)
            hint = f" (an unfinished capture is at {partial})" if partial.exists() else ""
            raise MechequivError(f"no complete activation store at {self.path}{hint}")
        self.meta = json.loads(manifest.read_text(encoding="utf-8"))
        self.group = _zarr().open_group(str(self.path / ARRAYS), mode="r")

    def __getitem__(self, name: str) -> StoredArray:
        if name not in self.meta["rows"]:
            raise KeyError(f"no array {name!r} in {self.path}; arrays: {list(self.meta['rows'])}")
        return StoredArray(self.group[self.meta["arrays"][name]], name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.meta["rows"])

    def __len__(self) -> int:
        return len(self.meta["rows"])

    def __repr__(self) -> str:
        return f"ActivationStore({str(self.path)!r}, arrays={list(self)})"


def open_store(path: str | os.PathLike[str]) -> ActivationStore:
    """Open a completed activation store (MechequivError if it is missing or unfinished)."""
    return ActivationStore(path)


def paired_batches(
    x: StoredArray, y: StoredArray, batch_size: int | None = None, as_torch: bool = False
) -> Iterator[tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]]:
    """Batches ``(X_batch, Y_batch)`` of the same rows of two stored arrays, in row order.

    For streaming measures (``update(X_batch, Y_batch)``). The arrays must have the same number
    of rows; ``batch_size`` defaults to the larger of the two chunk sizes.
    """
    if x.rows != y.rows:
        raise ValueError(
            f"paired arrays must have the same rows; {x.name!r} has {x.rows}, "
            f"{y.name!r} has {y.rows}"
        )
    step = _check_batch_size(batch_size, max(x.chunk_rows, y.chunk_rows))
    for lo in range(0, x.rows, step):
        yield x.read(lo, lo + step, as_torch), y.read(lo, lo + step, as_torch)


def _check_batch_size(batch_size: int | None, default: int) -> int:
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None; got {batch_size!r}")
    return batch_size


def _partial_path(path: Path) -> Path:
    return path.parent / f".{path.name}.partial"


class StoreWriter:
    """Writes batches of activations into a store atomically and resumably.

    Parameters
    ----------
    path : path
        The store's final directory.
    fingerprint : dict (JSON)
        What identifies this capture (points, token policy, inputs...). A partial or complete
        store with another fingerprint is never mixed with this one: it raises unless
        ``overwrite=True``.
    chunk_rows : int, optional
        Rows per zarr chunk; default: the rows of the first batch.
    overwrite : bool
        Replace an existing store (complete or partial) with a fresh capture.

    Use as a context manager: a clean exit completes the store (rename into place); an exception
    leaves the partial store, which a writer with the same fingerprint resumes
    (``input_rows`` tells where to start).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fingerprint: Mapping[str, Any],
        chunk_rows: int | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.partial = _partial_path(self.path)
        self.fingerprint = json.loads(json.dumps(dict(fingerprint)))
        self.chunk_rows = None if chunk_rows is None else _check_batch_size(chunk_rows, 1)
        self.complete = False
        self._open: dict[str, Any] = {}  # name -> zarr array, to skip lookups per batch
        zarr = _zarr()
        done = not overwrite and (self.path / MANIFEST).is_file()
        if done and self._read(self.path / MANIFEST)["fingerprint"] == self.fingerprint:
            self.complete = True
            return
        if not overwrite and (self.partial / MANIFEST).is_file():
            state = self._check(self.partial / MANIFEST, "unfinished capture")
            self.input_rows, self.rows = state["input_rows"], state["rows"]
            self.arrays = state["arrays"]
            self.group = zarr.open_group(str(self.partial / ARRAYS), mode="r+")
            recorded = {self.arrays[name]: rows for name, rows in self.rows.items()}
            for key in list(self.group.array_keys()):
                arr = self.group[key]
                if key not in recorded:  # created after the last recorded batch
                    del self.group[key]
                elif arr.shape[0] != recorded[key]:  # rows written after the last record
                    arr.resize((recorded[key], *arr.shape[1:]))
        else:
            if done:  # a complete store with other settings: refuse
                self._check(self.path / MANIFEST, "complete store")
            shutil.rmtree(self.partial, ignore_errors=True)
            self.input_rows, self.rows, self.arrays = 0, {}, {}
            self.group = zarr.open_group(str(self.partial / ARRAYS), mode="w")
            self._record()

    @staticmethod
    def _read(manifest: Path) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
        return result

    def _check(self, manifest: Path, what: str) -> dict[str, Any]:
        state = self._read(manifest)
        if state.get("fingerprint") != self.fingerprint:
            raise MechequivError(
                f"the {what} at {manifest.parent} was made with other settings "
                f"({state.get('fingerprint')}, now {self.fingerprint}); pass overwrite=True to "
                "replace it"
            )
        return state

    def _record(self, complete: bool = False) -> None:
        atomic_write_json(
            self.partial / MANIFEST,
            {
                "version": FORMAT_VERSION,
                "fingerprint": self.fingerprint,
                "input_rows": self.input_rows,
                "rows": self.rows,
                "arrays": self.arrays,
                "complete": complete,
            },
        )

    def append(self, acts: Mapping[str, np.ndarray | torch.Tensor], input_rows: int) -> None:
        """Append one batch ``{name: array}``; ``input_rows`` = input rows consumed so far.

        Any string is a valid name: arrays are stored under generated keys (``a0``, ``a1``...)
        that the manifest maps to names.
        """
        for name, a in acts.items():
            x = _to_numpy(a)
            if x.ndim == 0:
                raise ValueError(f"array {name!r}: expected rows along dim 0; got a scalar")
            if name not in self.rows:
                chunks = (self.chunk_rows or max(1, x.shape[0]), *x.shape[1:])
                self.arrays[name] = f"a{len(self.arrays)}"
                self._open[name] = self.group.create_array(
                    self.arrays[name], shape=(0, *x.shape[1:]), chunks=chunks, dtype=x.dtype,
                    compressors=None, fill_value=0,
                )  # fmt: skip
                self.rows[name] = 0
            if name not in self._open:  # recorded before a resume
                self._open[name] = self.group[self.arrays[name]]
            self._open[name].append(x, axis=0)
            self.rows[name] += x.shape[0]
        self.input_rows = input_rows
        self._record()

    def finish(self) -> ActivationStore:
        """Mark complete and rename into place (replacing an older store at ``path``)."""
        if not self.complete:
            self._record(complete=True)
            old = self.path.parent / f".{self.path.name}.old"
            shutil.rmtree(old, ignore_errors=True)  # left by a crash during a replacement
            if self.path.exists():
                os.replace(self.path, old)
            os.replace(self.partial, self.path)
            shutil.rmtree(old, ignore_errors=True)
            self.complete = True
        return ActivationStore(self.path)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.finish()


def _to_numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        # numpy has no bfloat16: store it as float32 (exact).
        return (a.float() if a.dtype == torch.bfloat16 else a).numpy()
    return np.asarray(a)


def capture_to_store(
    model: torch.nn.Module | Adapter,
    inputs: Any,
    points: Sequence[Hashable],
    path: str | os.PathLike[str],
    *,
    batch_size: int | None = None,
    tokens: TokenPolicy | None = None,
    mask: Any = "auto",
    patches: Mapping[Hashable, PatchValue] | None = None,
    device: torch.device | str | None = "auto",
    eval: bool = True,
    progress: bool | None = None,
    chunk_rows: int | None = None,
    tag: str = "",
    overwrite: bool = False,
) -> ActivationStore:
    """Capture like :func:`~mechequiv.capture.capture`, writing each batch to a zarr store.

    One array per point, named by the point's name (``Point.key``). The store appears at
    ``path`` only when complete. If a previous call was interrupted, calling again with the
    same settings resumes after the last batch written (the inputs must be the same, in the same
    order); if the store is already complete it is returned without running the model.

    Parameters
    ----------
    path : path
        Target directory (a manifest and a zarr group).
    chunk_rows : int, optional
        Rows per zarr chunk (default: the rows of the first batch).
    tag : str
        Free text that is part of the capture's fingerprint (e.g. the model's name and
        checkpoint), so a store from another model is not resumed or reused by mistake. The
        fingerprint also holds the point names, the token policy and the number of input rows.
    overwrite : bool
        Start afresh, replacing an existing (complete or partial) store.

    Other parameters as in :func:`~mechequiv.capture.capture`. bfloat16 activations are stored
    as float32.
    """
    points = unique_points(points)
    names = [point_key(p) for p in points]
    n = Batches(inputs, batch_size, mask).n
    fingerprint = {"points": names, "tokens": repr(tokens), "input_rows": n, "tag": tag}
    writer = StoreWriter(path, fingerprint, chunk_rows=chunk_rows, overwrite=overwrite)
    if writer.complete:
        return ActivationStore(writer.path)
    with writer:
        for got in iter_capture(
            model, inputs, points, batch_size=batch_size, tokens=tokens, mask=mask,
            patches=patches, device=device, eval=eval, progress=progress,
            start=writer.input_rows,
        ):  # fmt: skip
            writer.append(
                {name: got.acts[p] for name, p in zip(names, points, strict=True)}, got.stop
            )
    return writer.finish()
