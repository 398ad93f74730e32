"""The one training loop: S models of one architecture trained at once on stacked weights.

Every trainer in mechequiv (the zoo's :func:`~mechequiv.zoo.train.train_zoo`, the demo's MLPs,
the tensor-similarity reproductions, the identifiability paper's recipe) runs on this module:

- :class:`SeedEnsemble` stacks the weights of S same-shaped models along a leading axis
  (``torch.func.stack_module_state``) and evaluates all of them in one functional forward
  (:class:`~mechequiv.zoo.batched.SeedBatched`): one batched matmul per layer, no per-model
  Python work.
- :class:`Optimiser` is the optimiser recipe (AdamW or Adam, linear warm-up) as a frozen value.
- :func:`train_step` is one update: forward, per-model losses ``(S,)``, one backward of their
  sum, one optimiser step over the stacked tensors. The models share no parameter and the
  optimisers are elementwise, so this is exactly S independent runs up to floating-point
  reassociation in the batched products.
- :func:`fit_ensemble` is the documented entry point for code outside the zoo: models, a batch
  function, a loss, an optimiser and a step count in; a frozen :class:`FitResult` out.

Nothing here synchronises with the host inside a step (losses stay tensors until a caller asks).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from mechequiv.zoo.batched import SeedBatched

#: ``loss(outputs, targets) -> (S,)``: one loss per model, outputs with a leading model axis.
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``batches(step) -> (inputs, targets)``, both with a leading model axis of size S.
Batches = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Optimiser:
    """An optimiser recipe applied to every model of an ensemble.

    ``name="adamw"`` (decoupled weight decay, :class:`torch.optim.AdamW`) or ``"adam"``
    (:class:`torch.optim.Adam`, L2 penalty folded into the gradient). The learning rate of the
    update at 0-based step ``t`` is ``lr * min(1, (t + 1) / warmup_steps)`` (no warm-up with
    ``warmup_steps`` 0 or 1).
    """

    name: Literal["adamw", "adam"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if self.name not in ("adamw", "adam"):
            raise ValueError(f"optimiser name must be 'adamw' or 'adam', got {self.name!r}")
        for what in ("lr", "weight_decay", "eps"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{what} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or value < 0 or (value == 0 and what != "weight_decay"):
                raise ValueError(f"{what} must be finite and positive, got {value}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int):
            raise TypeError(f"warmup_steps must be an int, got {type(self.warmup_steps).__name__}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")

    def lr_at(self, step: int) -> float:
        """Learning rate of the update at 0-based ``step``."""
        return self.lr * min(1.0, (step + 1) / max(1, self.warmup_steps))

    def build(self, params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
        """The torch optimiser over ``params`` (``foreach``: one multi-tensor kernel per
        operation instead of a Python loop over tensors; bit-identical to the loop)."""
        cls = torch.optim.AdamW if self.name == "adamw" else torch.optim.Adam
        return cls(
            list(params),
            lr=self.lr,
            betas=self.betas,
            eps=self.eps,
            weight_decay=self.weight_decay,
            foreach=True,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "betas": list(self.betas),
            "eps": self.eps,
            "warmup_steps": self.warmup_steps,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Optimiser:
        return cls(**{**d, "betas": tuple(d["betas"])})


class SeedEnsemble:
    """S same-shaped models as stacked tensors (the training state of one vectorised run).

    ``params`` and ``buffers`` map each state-dict name to a tensor with a leading axis of size
    S (model ``i`` is row ``i``). :meth:`forward` runs all S models at once.
    ``single_as_plain``: see :class:`~mechequiv.zoo.batched.SeedBatched` (one model computed
    bit for bit as the plain module; the zoo keeps the default, so that a seed's weights do not
    depend on how many seeds train beside it). ``device``: where the stacked tensors live
    (default: the models' own device); :meth:`models` copies the weights back into modules on
    the models' own device.
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        single_as_plain: bool = False,
        device: torch.device | None = None,
    ) -> None:
        if isinstance(models, nn.Module) or not isinstance(models, Sequence) or not models:
            raise TypeError("models must be a non-empty sequence of nn.Module")
        if not all(isinstance(m, nn.Module) for m in models):
            bad = next(type(m).__name__ for m in models if not isinstance(m, nn.Module))
            raise TypeError(f"models must be nn.Module instances, got {bad}")
        shapes = {k: v.shape for k, v in models[0].state_dict().items()}
        for i, m in enumerate(models[1:], start=1):
            other = {k: v.shape for k, v in m.state_dict().items()}
            if other != shapes:
                raise ValueError(
                    f"model {i} does not have the shapes of model 0; stack equal models"
                )
        params, buffers = stack_module_state(list(models))
        if device is not None:
            # Stacked on the models' device, then moved as new leaves (``.to`` alone would give
            # non-leaf tensors that an optimiser cannot hold); no copy when already there.
            params = {k: _leaf_on(v, device) for k, v in params.items()}
            buffers = {k: v.to(device) for k, v in buffers.items()}
        self.params: dict[str, torch.Tensor] = params
        self.buffers: dict[str, torch.Tensor] = buffers
        self.template: nn.Module = copy.deepcopy(models[0])
        self.base: nn.Module = copy.deepcopy(models[0]).to("meta")
        self.single_as_plain = bool(single_as_plain)

    @property
    def size(self) -> int:
        """S, the number of models."""
        return next(iter(self.params.values())).shape[0]

    def forward(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Outputs ``(S, n, ...)``; ``x`` is ``(S, n, ...)`` (use ``x.expand(S, ...)`` for
        inputs shared by every model: free, no copy)."""
        if self.single_as_plain and self.size == 1:
            # One model: the module's own forward on row 0 of each stacked tensor (views, so
            # gradients reach the stacked parameters). No op is rerouted, so any module trains
            # here (TransformerLens bridges, Hugging Face models), bit for bit as a plain loop.
            row = {k: v[0] for k, v in self.params.items()}
            buf = {k: v[0] for k, v in self.buffers.items()}
            single = functional_call(self.base, (row, buf), (x[0],), kwargs)
            single = getattr(single, "logits", single)  # HF-style output objects
            result: torch.Tensor = single.unsqueeze(0)
            return result
        with SeedBatched(self.single_as_plain):
            out: torch.Tensor = functional_call(
                self.base, (self.params, self.buffers), (x,), kwargs
            )
        return out

    def write_into(self, models: Sequence[nn.Module]) -> None:
        """Copy model ``i``'s current weights into ``models[i]``'s own parameters and buffers,
        by parameter name (not state-dict key: modules that alias weights under several
        state-dict keys, such as TransformerLens bridges, load correctly)."""
        if len(models) != self.size:
            raise ValueError(f"expected {self.size} models, got {len(models)}")
        with torch.no_grad():
            for i, model in enumerate(models):
                for name, p in model.named_parameters():
                    p.copy_(self.params[name][i])
                for name, b in model.named_buffers():
                    if name in self.buffers:
                        b.copy_(self.buffers[name][i])

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """Per-model state dicts (detached copies)."""
        merged = self.params | self.buffers
        return [{k: v[i].detach().clone() for k, v in merged.items()} for i in range(self.size)]

    def models(self) -> list[nn.Module]:
        """Independent ``nn.Module`` copies of the S models."""
        out = []
        for state in self.state_dicts():
            model = copy.deepcopy(self.template)
            model.load_state_dict(state)
            out.append(model)
        return out


def _leaf_on(v: torch.Tensor, device: torch.device) -> torch.Tensor:
    if v.device == device:
        return v
    return v.detach().to(device).requires_grad_(v.requires_grad)


def train_step(
    ensemble: SeedEnsemble,
    optimizer: torch.optim.Optimizer,
    lr: float | None,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: Loss,
    forward_kwargs: dict[str, Any] | None = None,
) -> torch.Tensor:
    """One update of every model: returns the per-model losses ``(S,)`` before it (detached).

    ``lr`` sets every parameter group's learning rate first; None keeps the groups' own."""
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    losses = loss(ensemble.forward(x, **(forward_kwargs or {})), y)
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    optimizer.step()
    return losses.detach()


def mean_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per model, in the logits' dtype (``F.cross_entropy``'s convention):
    ``(S, n, C), (S, n) -> (S,)``. The zoo's tasks use :func:`~mechequiv.zoo.runner.task_loss`
    (float64 log-softmax) instead."""
    if logits.shape[0] == 1:  # F.cross_entropy's own mean: bit for bit the plain loop's loss
        return nn.functional.cross_entropy(logits[0], labels[0]).unsqueeze(0)
    per_row = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return per_row.view(labels.shape).mean(1)


def adopt_optimizer(optimizer: torch.optim.Optimizer, ensemble: SeedEnsemble) -> None:
    """Point ``optimizer`` at ``ensemble``'s stacked parameters, keeping its state.

    ``optimizer`` holds the ensemble's parameters in ``named_parameters`` order: either those
    of an earlier ensemble of the same models (continuing a run in phases) or, for a single
    model, that model's own parameters (its moments gain the leading model axis).
    """
    new = list(ensemble.params.values())
    old = [p for group in optimizer.param_groups for p in group["params"]]
    if len(old) != len(new):
        raise ValueError(
            f"the optimizer holds {len(old)} parameters, the models have {len(new)}; pass the "
            "optimizer of these models"
        )
    mapping: dict[torch.Tensor, torch.Tensor] = {}
    for o, n in zip(old, new, strict=True):
        if o.shape not in (n.shape, n.shape[1:]):
            raise ValueError(f"optimizer parameter of shape {tuple(o.shape)} does not match "
                             f"the models' {tuple(n.shape)}")  # fmt: skip
        mapping[o] = n
        state = optimizer.state.pop(o, None)
        if state:
            optimizer.state[n] = {
                k: v.reshape(n.shape) if k != "step" and torch.is_tensor(v) else v
                for k, v in state.items()
            }
    for group in optimizer.param_groups:
        group["params"] = [mapping[p] for p in group["params"]]


@dataclass(frozen=True, eq=False)
class FitResult:
    """What :func:`fit_ensemble` returns: the S trained models' stacked weights and losses.

    ``losses`` is ``(steps_done, S)`` float64: every model's loss on the batch of each update
    (computed before that update). ``stopped_early`` is True when ``stop`` ended the run.
    """

    params: dict[str, torch.Tensor] = field(repr=False)
    buffers: dict[str, torch.Tensor] = field(repr=False)
    optimiser: Optimiser
    steps_done: int
    losses: torch.Tensor = field(repr=False)
    stopped_early: bool = False

    @property
    def n_models(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def state_dict(self, i: int) -> dict[str, torch.Tensor]:
        """Model ``i``'s state dict (copies)."""
        if not 0 <= i < self.n_models:
            raise IndexError(f"model index {i} outside [0, {self.n_models})")
        return {k: v[i].clone() for k, v in (self.params | self.buffers).items()}

    def load_into(self, models: Sequence[nn.Module]) -> None:
        """Copy the trained weights into ``models`` (same order and shapes as trained)."""
        if len(models) != self.n_models:
            raise ValueError(f"expected {self.n_models} models, got {len(models)}")
        for i, m in enumerate(models):
            m.load_state_dict(self.state_dict(i))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: weights and losses as nested lists."""
        return {
            "params": {k: v.tolist() for k, v in self.params.items()},
            "buffers": {k: v.tolist() for k, v in self.buffers.items()},
            "dtypes": {
                k: str(v.dtype).removeprefix("torch.")
                for k, v in (self.params | self.buffers).items()
            },
            "optimiser": self.optimiser.to_dict(),
            "steps_done": self.steps_done,
            "losses": self.losses.tolist(),
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitResult:
        def tensors(part: dict[str, Any]) -> dict[str, torch.Tensor]:
            return {
                k: torch.tensor(v, dtype=getattr(torch, d["dtypes"][k])) for k, v in part.items()
            }

        return cls(
            params=tensors(d["params"]),
            buffers=tensors(d["buffers"]),
            optimiser=Optimiser.from_dict(d["optimiser"]),
            steps_done=int(d["steps_done"]),
            losses=torch.tensor(d["losses"], dtype=torch.float64),
            stopped_early=bool(d["stopped_early"]),
        )


def fit_ensemble(
    models: Sequence[nn.Module],
    batches: Batches,
    loss: Loss,
    steps: int,
    optimiser: Optimiser,
    *,
    forward_kwargs: dict[str, Any] | None = None,
    stop: Callable[[int, torch.Tensor], bool] | None = None,
    single_as_plain: bool = True,
) -> FitResult:
    """Train ``models`` (left untouched) together for up to ``steps`` updates.

    Parameters
    ----------
    models : sequence of nn.Module
        S models of one architecture (equal state-dict shapes); their current weights are the
        starting point. Use ``FitResult.load_into(models)`` to write the result back.
    batches : ``step -> (x, y)``
        Inputs and targets of the update at 0-based ``step``, both with a leading axis of size
        S (``x.expand(S, *x.shape)`` shares one batch).
    loss : ``(outputs, y) -> (S,)``
        One loss per model; their sum is minimised, so each model follows its own gradient.
    steps : int
        Number of updates.
    optimiser : Optimiser
    forward_kwargs : dict, optional
        Keyword arguments of every model call.
    stop : ``(steps_done, losses (S,)) -> bool``, optional
        Called after each update with that update's per-model losses (float64); True ends
        the run (early stopping rules such as "the epoch's mean loss stopped improving").
    single_as_plain : bool
        With one model, compute bit for bit what a plain loop over the module computes
        (default); False gives bit for bit that model's row of a larger ensemble instead.

    Returns
    -------
    FitResult
    """
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if not isinstance(optimiser, Optimiser):
        raise TypeError(f"optimiser must be an Optimiser, got {type(optimiser).__name__}")
    ensemble = SeedEnsemble(models, single_as_plain)
    optimizer = optimiser.build(list(ensemble.params.values()))
    history: list[torch.Tensor] = []
    stopped = False
    for step in range(steps):
        x, y = batches(step)
        losses = train_step(ensemble, optimizer, optimiser.lr_at(step), x, y, loss, forward_kwargs)
        history.append(losses.to(torch.float64))
        if stop is not None and stop(step + 1, history[-1]):
            stopped = True
            break
    n = ensemble.size
    return FitResult(
        params={k: v.detach().clone() for k, v in ensemble.params.items()},
        buffers={k: v.detach().clone() for k, v in ensemble.buffers.items()},
        optimiser=optimiser,
        steps_done=len(history),
        losses=torch.stack(history) if history else torch.empty(0, n, dtype=torch.float64),
        stopped_early=stopped,
    )
