"""Circuit discovery does not depend on how the model numbers its heads and units.

An exactly reparameterised copy (units or heads permuted, residual stream rotated) must give the
image of the original's circuit under the permutation, including for redundant units, where the
greedy search must not keep whichever copy happens to come last.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.equivalence import Component, discover_circuit, discover_congruity_circuit

# Hidden units of the hand-built network (input x in [0.5, 1.5]^2, outputs clipped to [-1, 1]):
# 0, 1: exact copies driving output 0 (each alone saturates it: either suffices);
# 2, 3: not copies (3 is twice as large, half the weight out) driving output 1, each alone
#       saturating it: the one that matters less alone (2, by its smaller activation) goes;
# 4: never read; 5: drives output 2 unsaturated (needed).
W_IN = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 1.0], [1.0, 0.0]]
W_OUT = [[2.0, 2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 1.0, 0.0, 0.0],
         [0.0, 0.0, 0.0, 0.0, 0.0, 0.4]]  # fmt: skip
CANONICAL = {0, 1, 3, 5}


def redundant_net(perm: np.ndarray | None = None) -> nn.Sequential:
    """The network, its hidden units permuted (new unit i is old unit ``perm[i]``)."""
    p = torch.as_tensor(np.arange(6) if perm is None else perm)
    net = nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 3), nn.Hardtanh())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(W_IN)[p])
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor(W_OUT)[:, p])
        net[2].bias.zero_()
    return net.double().eval()


def _inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(64, 2, generator=g, dtype=torch.float64) + 0.5


def _kept(
    net: nn.Module, order: str = "canonical", perm: np.ndarray | None = None, method: str = "auto"
) -> set[int]:
    """The discovered hidden units, as indices of the unpermuted network."""
    x = _inputs()
    comps = [Component("1", i) for i in range(6)]
    circuit = discover_circuit(net, x, comps, counterfactual=-x, metric="mse", order=order,
                               method=method)  # fmt: skip
    p = np.arange(6) if perm is None else perm
    return {int(p[c.index]) for c in circuit.nodes if c.index is not None}


def test_redundant_copies_stay_together_and_the_weaker_stand_in_goes():
    net = redundant_net()
    assert _kept(net) == CANONICAL
    x = _inputs()
    comps = [Component("1", i) for i in range(6)]
    circuit = discover_circuit(net, x, comps, counterfactual=-x, metric="mse")
    assert circuit.faithfulness == pytest.approx(1.0, abs=1e-12)
    # tested together: one score for both copies, the drop of removing both
    assert circuit.scores[comps[0]] == circuit.scores[comps[1]]
    # each copy alone is unnecessary in the final circuit (the other stands in); 3 and 5 are
    assert circuit.minimality == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(6))
def test_permuted_copy_gives_the_permuted_circuit(seed):
    perm = np.random.default_rng(seed).permutation(6)
    assert _kept(redundant_net(perm), perm=perm) == CANONICAL
    # with the attribution first pass too (its pruning, then the same order)
    assert _kept(redundant_net(perm), perm=perm, method="attribution") == CANONICAL


def test_index_order_depends_on_the_numbering():
    # the earlier search (kept for reproducing old results) keeps whichever copy comes last
    assert _kept(redundant_net(), order="index") == {0, 2, 5}
    perm = np.array([1, 0, 3, 2, 4, 5])  # swap each pair
    assert _kept(redundant_net(perm), order="index", perm=perm) == {1, 3, 5}


def _float32_copy(base: nn.Sequential, perm: np.ndarray, rotation: torch.Tensor) -> nn.Sequential:
    """``base`` with its hidden units permuted and reading inputs rotated by ``rotation``."""
    net = nn.Sequential(nn.Linear(4, 24), nn.ReLU(), nn.Linear(24, 3)).eval()
    p = torch.as_tensor(perm)
    with torch.no_grad():
        net[0].weight.copy_(base[0].weight[p] @ rotation)
        net[0].bias.copy_(base[0].bias[p])
        net[2].weight.copy_(base[2].weight[:, p])
        net[2].bias.copy_(base[2].bias)
    return net


def test_float32_network_permuted_and_rotated_gives_the_permuted_circuit():
    """A random float32 MLP, no exact ties: the copies' activations differ by float rounding
    only, and the order by effect must not be swayed by it (the index order gives several
    different circuits over the same copies)."""
    from scipy.stats import ortho_group

    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(4, 24), nn.ReLU(), nn.Linear(24, 3)).eval()
    x = torch.randn(128, 4)
    comps = [Component("1", i) for i in range(24)]
    found: dict[str, set[frozenset[int]]] = {"canonical": set(), "index": set()}
    for seed in range(5):
        rng = np.random.default_rng(seed)
        perm = rng.permutation(24)
        rotation = torch.as_tensor(ortho_group.rvs(4, random_state=rng), dtype=torch.float32)
        net = _float32_copy(base, perm, rotation)
        for order, kept in found.items():
            circuit = discover_circuit(net, x @ rotation, comps, metric="kl", threshold=0.01,
                                       min_faithfulness=0.95, order=order)  # fmt: skip
            assert circuit.faithfulness >= 0.95
            kept.add(frozenset(int(perm[c.index]) for c in circuit.nodes if c.index is not None))
    assert len(found["canonical"]) == 1
    assert 0 < len(next(iter(found["canonical"]))) < 24
    assert len(found["index"]) > 1


def test_order_is_checked():
    x = _inputs()
    with pytest.raises(ValueError, match="order must be 'canonical' or 'index'"):
        discover_circuit(redundant_net(), x, [Component("1", 0)], order="random")


def test_tracr_rotated_and_permuted_copy_gives_the_permuted_circuit():
    """histogram_alt: two of its MLP units, each a function of the position only, can each be
    dropped but not both; the index order kept a different one in rotated copies (the Tracr
    validity benchmark flagged both its rotated pairs distinguishable)."""
    pytest.importorskip("tracr")
    from mechequiv.zoo.tracr import compile_program
    from mechequiv.zoo.tracr_pairs import all_sequences, program, transformed_copy

    compiled = compile_program(program("histogram_alt"))
    seqs = all_sequences(program("histogram_alt").vocab, 5, False)
    x = compiled.model.encode(seqs)
    x = x[np.sort(np.random.default_rng(1).choice(len(x), 128, replace=False))]
    original = discover_congruity_circuit(compiled.model, x)
    assert 0 < len(original.nodes) < len(original.candidates)
    copy, head_perms, unit_perms = transformed_copy(compiled.model, np.random.default_rng(0))
    circuit = discover_congruity_circuit(copy, x)
    moved = {_old_name(c, head_perms, unit_perms) for c in circuit.nodes}
    assert moved == set(original.nodes)
    assert circuit.faithfulness == pytest.approx(original.faithfulness, abs=1e-9)


def _old_name(
    c: Component, head_perms: list[np.ndarray], unit_perms: list[np.ndarray]
) -> Component:
    """The component of the original model that component ``c`` of a transformed copy is."""
    layer = int(c.point.split(".")[1])
    perm = unit_perms[layer] if "mlp" in c.point else head_perms[layer]
    assert c.index is not None
    return Component(c.point, int(perm[c.index]), c.axis)
