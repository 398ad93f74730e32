"""Boolean functions of 2 to 4 inputs, single or multi-output (Méloux et al. 2025)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import torch

from mechequiv.zoo.tasks.base import Task, check_int, split_indices

# The one gate table of mechequiv (identifiability.GATES is its two-input truth-table view).
# Each gate maps a (rows, n_inputs) 0/1 array to a (rows,) 0/1 array. IMP is the two-input
# implication x0 -> x1 and NIMP its negation x0 and not x1; the symmetric gates take any number
# of inputs. (np.asarray: numpy's stubs type a reduction along an axis as "scalar or array"; on a
# 2-D input it is an array.)
GATES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "AND": lambda x: np.asarray(x.all(axis=1)),
    "OR": lambda x: np.asarray(x.any(axis=1)),
    "XOR": lambda x: x.sum(axis=1) % 2 == 1,
    "NAND": lambda x: ~np.asarray(x.all(axis=1)),
    "NOR": lambda x: ~np.asarray(x.any(axis=1)),
    "XNOR": lambda x: x.sum(axis=1) % 2 == 0,
    "IMP": lambda x: ~x[:, 0] | x[:, 1],
    "NIMP": lambda x: x[:, 0] & ~x[:, 1],
}

#: Gates defined on exactly two inputs.
TWO_INPUT_GATES = ("IMP", "NIMP")


def gate_table(name: str, n_inputs: int = 2) -> tuple[int, ...]:
    """Outputs of gate ``name`` on the rows of :func:`truth_table` (``n_inputs``) as 0/1 ints:
    for two inputs the rows (0,0), (0,1), (1,0), (1,1)."""
    if name not in GATES:
        raise ValueError(f"unknown gate {name!r}; expected one of {sorted(GATES)}")
    if name in TWO_INPUT_GATES and n_inputs != 2:
        raise ValueError(f"{name} is a two-input gate, got n_inputs={n_inputs}")
    return tuple(int(v) for v in GATES[name](truth_table(n_inputs)))


def truth_table(n_inputs: int) -> np.ndarray:
    """All 2**n_inputs rows of 0/1 inputs in binary counting order (first input most significant)."""
    return np.array(list(itertools.product((0, 1), repeat=n_inputs)), dtype=bool)


def boolean(
    gates: str | Sequence[str] = "XOR",
    n_inputs: int = 2,
    n_repeats: int = 250,
    noise: float = 0.0,
    train_fraction: float = 0.8,
    seed: int = 0,
) -> Task:
    """Boolean gates learned jointly as outputs of one network, with an MSE loss on 0/1 targets.

    The data are the truth table repeated ``n_repeats`` times (``n_repeats * 2**n_inputs`` rows,
    each row of the table equally often, as in Méloux et al.'s uniform sampling), with optional
    Gaussian input noise of std ``noise`` drawn from ``seed``. Prediction = round(output).
    """
    names = (gates,) if isinstance(gates, str) else tuple(gates)
    if not names:
        raise ValueError("gates must name at least one gate")
    n_inputs = check_int(n_inputs, "n_inputs", 2)
    if n_inputs > 4:
        raise ValueError(f"n_inputs must be 2, 3 or 4, got {n_inputs}")
    n_repeats = check_int(n_repeats, "n_repeats", 1)
    for g in names:
        if g not in GATES:
            raise ValueError(f"unknown gate {g!r}; expected one of {sorted(GATES)}")
        if g in TWO_INPUT_GATES and n_inputs != 2:
            raise ValueError(f"{g} is a two-input gate, got n_inputs={n_inputs}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    table = truth_table(n_inputs)
    outs = np.stack([GATES[g](table) for g in names], axis=1)
    x = np.tile(table, (n_repeats, 1)).astype(np.float32)
    y = np.tile(outs, (n_repeats, 1)).astype(np.float32)
    if noise > 0:
        x = x + np.random.default_rng(seed).normal(0.0, noise, size=x.shape).astype(np.float32)
    train_idx, test_idx = split_indices(len(x), train_fraction, seed)
    return Task(
        name="boolean",
        inputs=torch.from_numpy(x),
        labels=torch.from_numpy(y),
        train_idx=train_idx,
        test_idx=test_idx,
        seed=seed,
        n_outputs=len(names),
        loss="mse",
        input_kind="features",
        kwargs={
            "gates": list(names),
            "n_inputs": n_inputs,
            "n_repeats": n_repeats,
            "noise": noise,
            "train_fraction": train_fraction,
            "seed": seed,
        },
    )
