"""Checkpoints: stacked weights (and optimiser state) of all seeds per step, in safetensors.

Layout of ``out_dir``::

    config.json                      ZooConfig.to_dict()
    history.json                     evaluation history (see mechequiv.zoo.train)
    checkpoints/step_{step:08d}.safetensors
        "param/<name>"   (n_seeds, ...) weights
        "exp_avg/<name>", "exp_avg_sq/<name>"   AdamW moments
        metadata: {"step": str(step), "identity": json of ZooConfig.identity()}

Every file is written atomically (temporary file + rename), so an interrupt leaves the previous
complete checkpoint.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file, safe_open

from mechequiv._io import atomic_write, atomic_write_json
from mechequiv.errors import MechequivError
from mechequiv.zoo.config import ZooConfig

_STEP_FILE = re.compile(r"^step_(\d{8})\.safetensors$")


class CheckpointMismatchError(MechequivError):
    """A checkpoint or output folder belongs to a different zoo config."""


def checkpoint_path(out_dir: str | os.PathLike, step: int) -> Path:
    return Path(out_dir) / "checkpoints" / f"step_{step:08d}.safetensors"


def list_steps(out_dir: str | os.PathLike) -> list[int]:
    """Sorted steps that have a complete checkpoint file under ``out_dir``."""
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for f in folder.iterdir() if (m := _STEP_FILE.match(f.name)))


def _identity_json(config: ZooConfig) -> str:
    return json.dumps(config.identity(), sort_keys=True)


def check_config_dir(out_dir: str | os.PathLike, config: ZooConfig) -> None:
    """Write ``config.json`` into a new folder, or check that an existing one has ``config``'s identity."""
    path = Path(out_dir) / "config.json"
    if path.exists():
        found = ZooConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if found.identity() != config.identity():
            diff = sorted(
                k for k in config.identity() if found.identity().get(k) != config.identity()[k]
            )
            raise CheckpointMismatchError(
                f"{out_dir} holds a zoo with a different config (fields differing: {diff}); "
                "use another out_dir or the same config"
            )
    atomic_write_json(path, config.to_dict())


def save_checkpoint(
    out_dir: str | os.PathLike,
    config: ZooConfig,
    step: int,
    params: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Save stacked ``params`` (and the AdamW moments of ``optimizer``) at ``step``."""
    tensors = {f"param/{k}": v.detach().contiguous() for k, v in params.items()}
    if optimizer is not None:
        for name, p in params.items():
            state = optimizer.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    tensors[f"{key}/{name}"] = state[key].detach().contiguous()
    meta = {"step": str(step), "identity": _identity_json(config)}
    return atomic_write(
        checkpoint_path(out_dir, step), lambda p: save_file(tensors, str(p), metadata=meta)
    )


def load_checkpoint(
    out_dir: str | os.PathLike, config: ZooConfig, step: int
) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """Stacked params and AdamW moments saved at ``step``; raises if saved under another config.

    Returns ``(params, moments)`` with ``moments[name] = {"exp_avg": ..., "exp_avg_sq": ...}``
    (empty when the checkpoint has no optimiser state).
    """
    path = checkpoint_path(out_dir, step)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint for step {step} at {path}; have {list_steps(out_dir)}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("identity") != _identity_json(config):
        raise CheckpointMismatchError(
            f"checkpoint {path} was saved under a different zoo config; expected identity "
            f"{_identity_json(config)}, found {meta.get('identity')}"
        )
    raw = load_file(str(path))
    params = {k.split("/", 1)[1]: v for k, v in raw.items() if k.startswith("param/")}
    moments: dict[str, dict[str, torch.Tensor]] = {}
    for key, v in raw.items():
        kind, _, name = key.partition("/")
        if kind in ("exp_avg", "exp_avg_sq"):
            moments.setdefault(name, {})[kind] = v
    return params, moments
