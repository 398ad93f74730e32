"""On-disk zoos: the config and the stacked weights of all seeds at chosen steps (safetensors).

Layout of ``out_dir``::

    config.json                              ZooConfig.to_dict()
    checkpoints/step_{step:08d}.safetensors
        "param/<name>", "buffer/<name>"      (n_seeds, ...) stacked weights
        "exp_avg/<name>", "exp_avg_sq/<name>"  AdamW moments (absent before the first update)
        metadata: "step", "identity" (JSON of ZooConfig.identity()), "history" (JSON, the
        evaluation history up to this step)

Every file is written atomically (temporary file + rename), so an interrupt leaves the previous
complete checkpoint; the history travels inside the checkpoint, so weights and history never
disagree.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mechequiv._io import atomic_write, atomic_write_json
from mechequiv.errors import MechequivError
from mechequiv.zoo.config import ZooConfig

_STEP_FILE = re.compile(r"^step_(\d{8})\.safetensors$")
_KINDS = ("param", "buffer", "exp_avg", "exp_avg_sq")


class CheckpointMismatchError(MechequivError):
    """A checkpoint or output folder belongs to a different zoo config."""


@dataclass(frozen=True, eq=False)
class Stacked:
    """Stacked state of all seeds at one step: ``(n_seeds, ...)`` tensors keyed by module name."""

    step: int
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    moments: dict[str, dict[str, torch.Tensor]]
    history: dict[str, Any]


def checkpoint_path(out_dir: str | os.PathLike[str], step: int) -> Path:
    """Where the checkpoint after ``step`` updates lives."""
    return Path(out_dir) / "checkpoints" / f"step_{step:08d}.safetensors"


def list_steps(out_dir: str | os.PathLike[str]) -> list[int]:
    """Sorted steps that have a complete checkpoint file under ``out_dir``."""
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for f in folder.iterdir() if (m := _STEP_FILE.match(f.name)))


def read_config(out_dir: str | os.PathLike[str]) -> ZooConfig:
    """The :class:`ZooConfig` saved in ``out_dir/config.json``."""
    path = Path(out_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {out_dir} is not a zoo folder")
    return ZooConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))


def prepare_dir(out_dir: str | os.PathLike[str], config: ZooConfig) -> None:
    """Write ``config.json`` into a new folder, or check that an existing one has ``config``'s identity."""
    if (Path(out_dir) / "config.json").exists():
        found = read_config(out_dir).identity()
        wanted = config.identity()
        if found != wanted:
            diff = sorted(k for k in wanted if found.get(k) != wanted[k])
            raise CheckpointMismatchError(
                f"{out_dir} holds a zoo with a different config (fields differing: {diff}); "
                "use another out_dir or the same config"
            )
    atomic_write_json(Path(out_dir) / "config.json", config.to_dict())


def _identity_json(config: ZooConfig) -> str:
    return json.dumps(config.identity(), sort_keys=True)


def save_stacked(
    out_dir: str | os.PathLike[str],
    config: ZooConfig,
    state: Stacked,
) -> Path:
    """Save ``state`` as the checkpoint after ``state.step`` updates."""
    tensors = {f"param/{k}": v.detach().contiguous() for k, v in state.params.items()}
    tensors |= {f"buffer/{k}": v.detach().contiguous() for k, v in state.buffers.items()}
    for name, moments in state.moments.items():
        tensors |= {f"{kind}/{name}": v.detach().contiguous() for kind, v in moments.items()}
    meta = {
        "step": str(state.step),
        "identity": _identity_json(config),
        "history": json.dumps(state.history),
    }
    return atomic_write(
        checkpoint_path(out_dir, state.step),
        lambda p: save_file(tensors, str(p), metadata=meta),
    )


def load_stacked(out_dir: str | os.PathLike[str], config: ZooConfig, step: int) -> Stacked:
    """The checkpoint after ``step`` updates; raises if it was saved under another config."""
    path = checkpoint_path(out_dir, step)
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint for step {step} at {path}; have {list_steps(out_dir)}"
        )
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("identity") != _identity_json(config):
        raise CheckpointMismatchError(
            f"checkpoint {path} was saved under a different zoo config; expected identity "
            f"{_identity_json(config)}, found {meta.get('identity')}"
        )
    raw = load_file(str(path))
    parts: dict[str, dict[str, torch.Tensor]] = {kind: {} for kind in _KINDS}
    for key, value in raw.items():
        kind, _, name = key.partition("/")
        parts[kind][name] = value
    moments: dict[str, dict[str, torch.Tensor]] = {}
    for kind in ("exp_avg", "exp_avg_sq"):
        for name, value in parts[kind].items():
            moments.setdefault(name, {})[kind] = value
    return Stacked(
        step=int(meta["step"]),
        params=parts["param"],
        buffers=parts["buffer"],
        moments=moments,
        history=json.loads(meta["history"]),
    )
