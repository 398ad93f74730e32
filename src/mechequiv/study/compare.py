"""Compare a user's two models: every representational measure on their hidden representations,
the functional measures on their outputs, and Congruity with its interval.

Models load from local files only (no hub access):
- ``*.pt`` / ``*.pth``: a whole module saved with ``torch.save(model, path)`` (unpickling runs
  code: load only files you trust);
- ``*.safetensors`` with its zoo JSON config beside it (a zoo checkpoint);
- a folder with a Hugging Face ``config.json``: ``transformers.AutoModel`` with
  ``local_files_only=True`` (TransformerLens models are saved as whole modules, ``*.pt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mechequiv.errors import MechequivError


def load_model(path: str | Path) -> nn.Module:
    """Load a model from a local file or folder (see the module docstring for the formats)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise MechequivError(f"{path} is a folder without a Hugging Face config.json")
        try:
            from transformers import AutoModel
        except ImportError as e:
            raise MechequivError(
                "loading a Hugging Face folder needs transformers: pip install mechequiv[hf]"
            ) from e
        return AutoModel.from_pretrained(path, local_files_only=True).eval()
    if path.suffix == ".safetensors":
        from mechequiv.zoo import load_model as load_zoo_model

        return load_zoo_model(path).eval()
    if path.suffix in (".pt", ".pth"):
        model = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(model, nn.Module):
            raise MechequivError(
                f"{path} holds a {type(model).__name__}, not a module: save the whole model "
                "with torch.save(model, path), or a zoo checkpoint (.safetensors + config)"
            )
        return model.eval()
    raise MechequivError(
        f"unknown model format {path.suffix or path.name!r}: expected .pt/.pth, .safetensors "
        "(with its config) or a Hugging Face folder"
    )


def input_form(model: nn.Module) -> str:
    """``"tokens"`` for a model whose first leaf module is an embedding, else ``"features"``."""
    first = next((m for m in model.modules() if not list(m.children())), None)
    return "tokens" if isinstance(first, nn.Embedding) else "features"


def task_inputs(task: Any, form: str) -> Any:
    """The task's stimuli as token ids or one-hot features (``task.features()``); arrays and
    tensors given as the task pass through."""
    if not hasattr(task, "inputs"):
        return task
    return task.features() if form == "features" and hasattr(task, "features") else task.inputs


def _sampler(kind: str, model: nn.Module, inputs: Any, seed: int) -> Any:
    from mechequiv.equivalence import (
        ResampleAblation,
        SymmetryTransform,
        default_points,
        neurons,
        scan_components,
    )

    if kind in ("auto", "distill"):  # label-free: re-fit to the model's own outputs
        from mechequiv.equivalence.refit import Distill

        # long enough to re-fit small MLPs from scratch; the acceptance is stated, not implied
        return Distill(inputs, steps=1000, lr=3e-2, max_kl=0.2, min_agreement=0.9)
    if kind == "symmetry":  # the positive control: every other seed is distinguishable
        return SymmetryTransform()
    if kind == "circuit":
        comps = [c for p in default_points(model) for c in neurons(model, inputs, p)]
        scan = scan_components(model, inputs, comps, seed=seed)
        return ResampleAblation(scan.circuit, comps, inputs)
    raise ValueError(f"sampler must be 'auto', 'distill', 'symmetry' or 'circuit', got {kind!r}")


@dataclass(frozen=True)
class Comparison:
    """Measures and Congruity for one pair of models; ``skipped`` maps a measure that does not
    apply (e.g. CCA with fewer stimuli than features) to the reason."""

    representational: dict[str, float]
    functional: dict[str, float]
    congruity: Any
    skipped: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"representational": self.representational, "functional": self.functional,
                "congruity": self.congruity.to_dict(), "skipped": self.skipped}  # fmt: skip


def representational_measures(
    ra: Any, rb: Any, names: list[str] | None = None
) -> tuple[dict[str, float], dict[str, str]]:
    """Every representational measure (or ``names``) on one pair: ``(values, skipped)``, where
    ``skipped`` maps a measure that does not apply (e.g. CCA with n <= d) to the reason."""
    from mechequiv import measures as M

    values, skipped = {}, {}
    for name in names or M.names(functional=False):
        try:
            values[name] = M.get(name)(ra, rb)
        except ValueError as e:
            skipped[name] = str(e)
    return values, skipped


def _outputs(model: nn.Module, inputs: Any) -> torch.Tensor:
    from mechequiv.capture import run_with_patches

    out = run_with_patches(model, inputs, {}, progress=False)
    out = getattr(out, "logits", out)
    if not isinstance(out, torch.Tensor):
        raise MechequivError(f"the model returned {type(out).__name__}, not logits")
    return out[:, -1] if out.ndim == 3 else out


def compare_models(
    model_a: nn.Module,
    model_b: nn.Module,
    task: Any,
    *,
    measures: list[str] | None = None,
    n: int = 20,
    sampler: str = "auto",
    seed: int = 0,
) -> Comparison:
    """Every representational measure (or ``measures``) on the models' hidden representations
    (:func:`mechequiv.equivalence.hidden_representations`: every hidden layer or residual-stream
    block, last token), the functional measures on their outputs, and :func:`congruity` with
    ``n`` rounds. ``sampler``: ``"auto"`` = ``"distill"`` (label-free: networks of the same
    architecture distilled from each model's own outputs, :class:`~mechequiv.equivalence.refit.
    Distill` with 1000 steps, accepted within KL 0.2 nats and 90% argmax agreement; not
    calibrated on same-mechanism pairs, see benchmarks/results/external_validity*.json),
    ``"circuit"`` (resample ablation outside a circuit found by a patching scan) or
    ``"symmetry"`` (exact reparameterisations: the positive control, not an estimate).
    """
    from mechequiv import measures as M
    from mechequiv.equivalence import congruity, hidden_representations

    forms = {input_form(model_a), input_form(model_b)}
    if len(forms) > 1 and hasattr(task, "inputs"):
        raise MechequivError(
            "one model takes token ids and the other features; Congruity needs one set of "
            "stimuli that both read"
        )
    x = task_inputs(task, forms.pop())
    ra, rb = hidden_representations(model_a, x), hidden_representations(model_b, x)
    rep, skipped = representational_measures(ra, rb, measures)
    oa, ob = _outputs(model_a, x), _outputs(model_b, x)
    func = {name: M.get(name)(oa, ob) for name in M.names(functional=True)}
    samplers = (_sampler(sampler, model_a, x, seed), _sampler(sampler, model_b, x, seed))
    result = congruity(model_a, model_b, x, n=n, sampler=samplers, seed=seed, progress=False)
    return Comparison(rep, func, result, skipped)
