"""A plain float64 view of an MLP: weights, biases and one elementwise activation per layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

_ACTIVATIONS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid")


@dataclass(frozen=True)
class Activation:
    """An elementwise, non-decreasing activation.

    ``name`` is one of ``identity``, ``relu``, ``leaky_relu`` (with ``slope``), ``tanh``,
    ``sigmoid``.
    """

    name: str
    slope: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.name!r}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.name == "identity":
            return x
        if self.name == "relu":
            result: np.ndarray = np.maximum(x, 0.0)
            return result
        if self.name == "leaky_relu":
            return np.where(x >= 0.0, x, self.slope * x)
        if self.name == "tanh":
            result = np.tanh(x)
            return result
        result = 1.0 / (1.0 + np.exp(-x))
        return result


@dataclass(frozen=True, eq=False)
class MLPNet:
    """Fully connected network ``x -> act_L(W_L ... act_0(W_0 x + b_0) ... + b_L)``.

    ``weights[l]`` has shape ``(n_out, n_in)`` as in ``torch.nn.Linear``; all float64.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[Activation, ...]

    @property
    def widths(self) -> tuple[int, ...]:
        """Layer sizes from the input to the output, e.g. ``(2, 3, 3, 1)``."""
        return (self.weights[0].shape[1], *(w.shape[0] for w in self.weights))

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        return self.widths[1:-1]

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Activations of every layer (input first, output last) for rows ``x``."""
        acts = [np.asarray(x, dtype=np.float64)]
        for w, b, act in zip(self.weights, self.biases, self.activations, strict=True):
            acts.append(act(acts[-1] @ w.T + b))
        return acts

    def run_from(self, layer: int, h: np.ndarray) -> np.ndarray:
        """Output for activations ``h`` (shape ``(..., widths[layer])``) of layer ``layer``."""
        for w, b, act in zip(
            self.weights[layer:], self.biases[layer:], self.activations[layer:], strict=True
        ):
            h = act(h @ w.T + b)
        return h

    def select_output(self, index: int) -> MLPNet:
        """The single-output network that keeps only output ``index`` (hidden layers shared)."""
        w_last = self.weights[-1][index : index + 1]
        b_last = self.biases[-1][index : index + 1]
        return MLPNet((*self.weights[:-1], w_last), (*self.biases[:-1], b_last), self.activations)


def _activation_from_module(module: nn.Module) -> Activation | None:
    if isinstance(module, nn.LeakyReLU):
        return Activation("leaky_relu", float(module.negative_slope))
    if isinstance(module, nn.ReLU):
        return Activation("relu")
    if isinstance(module, nn.Identity):
        return Activation("identity")
    if isinstance(module, nn.Tanh):
        return Activation("tanh")
    if isinstance(module, nn.Sigmoid):
        return Activation("sigmoid")
    return None


def _as_activation(a: str | Activation | float) -> Activation:
    if isinstance(a, Activation):
        return a
    if isinstance(a, str):
        return Activation("leaky_relu", 0.01) if a == "leaky_relu" else Activation(a)
    raise TypeError(f"activation must be a name or an Activation, got {type(a).__name__}")


def _to_numpy(a: object, what: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray | list | tuple):
        raise TypeError(f"{what} must be an array or tensor, got {type(a).__name__}")
    arr = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains non-finite values")
    return arr


def as_mlp(
    model: nn.Module | MLPNet | Sequence[tuple[object, object]],
    activation: str | Activation | Sequence[str | Activation] = "leaky_relu",
) -> MLPNet:
    """Read an MLP into an :class:`MLPNet`.

    Parameters
    ----------
    model
        An ``nn.Sequential`` of ``nn.Linear`` layers, each optionally followed by one elementwise
        activation (LeakyReLU, ReLU, Identity, Tanh, Sigmoid; a Linear with none gets the
        identity), an ``nn.Linear`` alone, an :class:`MLPNet`, or a list of ``(W, b)`` pairs with
        ``W`` of shape ``(n_out, n_in)``.
    activation
        Only for ``(W, b)`` lists: one activation for every layer, or one per layer. The string
        ``"leaky_relu"`` means slope 0.01 (the paper's default).
    """
    if isinstance(model, MLPNet):
        return model
    if isinstance(model, nn.Module):
        modules = list(model) if isinstance(model, nn.Sequential) else [model]
        weights: list[np.ndarray] = []
        biases: list[np.ndarray] = []
        acts: list[Activation | None] = []
        for module in modules:
            if isinstance(module, nn.Linear):
                weights.append(_to_numpy(module.weight, "Linear.weight"))
                bias = module.bias
                biases.append(
                    np.zeros(module.out_features) if bias is None else _to_numpy(bias, "bias")
                )
                acts.append(None)
                continue
            act = _activation_from_module(module)
            if act is None:
                raise TypeError(
                    "expected nn.Linear or an elementwise activation (LeakyReLU, ReLU, Identity, "
                    f"Tanh, Sigmoid), found {type(module).__name__}"
                )
            if not acts or acts[-1] is not None:
                raise TypeError(f"activation {type(module).__name__} must follow an nn.Linear")
            acts[-1] = act
        if not weights:
            raise TypeError("the model contains no nn.Linear layer")
        pairs = list(zip(weights, biases, strict=True))
        layer_acts = [a if a is not None else Activation("identity") for a in acts]
    elif isinstance(model, Sequence) and not isinstance(model, str):
        if len(model) == 0:
            raise ValueError("expected at least one (W, b) pair, got an empty list")
        pairs = []
        for i, item in enumerate(model):
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise TypeError(f"layer {i}: expected a (W, b) pair, got {type(item).__name__}")
            pairs.append((_to_numpy(item[0], f"W[{i}]"), _to_numpy(item[1], f"b[{i}]")))
        if isinstance(activation, str | Activation):
            layer_acts = [_as_activation(activation)] * len(pairs)
        else:
            layer_acts = [_as_activation(a) for a in activation]
            if len(layer_acts) != len(pairs):
                raise ValueError(
                    f"expected {len(pairs)} activations (one per layer), got {len(layer_acts)}"
                )
    else:
        raise TypeError(
            "model must be an nn.Sequential MLP, an MLPNet or a list of (W, b) pairs, "
            f"got {type(model).__name__}"
        )
    for i, (w, b) in enumerate(pairs):
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ValueError(
                f"layer {i}: W must be (n_out, n_in) and b (n_out,), got {w.shape} and {b.shape}"
            )
        if i and w.shape[1] != pairs[i - 1][0].shape[0]:
            raise ValueError(
                f"layer {i} expects {w.shape[1]} inputs but layer {i - 1} has "
                f"{pairs[i - 1][0].shape[0]} outputs"
            )
    return MLPNet(tuple(w for w, _ in pairs), tuple(b for _, b in pairs), tuple(layer_acts))
