"""The order in which circuit discovery tests components, independent of their numbering.

A greedy search such as ACDC keeps, of two components that can each stand in for the other, the
one it tests last. Ordering the components by index makes the discovered circuit depend on how
the model happens to number its heads and units: an exactly reparameterised copy of the model
(heads or MLP units permuted, residual stream rotated) computes the same thing with the same
components, yet keeps a different subset of them. :func:`search_groups` orders the candidates
of each hook point by what they do instead, and groups the exactly interchangeable ones, so that
the circuit of a permuted copy is the image of the original's under the permutation.

Conventions
-----------
- Components of one hook point (the heads of a layer, the units of an MLP) run in parallel, so
  their order within the point is free; points keep the forward order (the search's own).
- Within a point, components are tested in increasing order of the *key*
  ``(effect, change, size, peak)``: the normalised drop of the behaviour when the component
  alone is ablated from the model the search starts from (the full model, or what the
  attribution pass left; the least important goes first), then the RMS change
  that ablation makes to its activation, the RMS of its activation and its largest magnitude.
  Every entry is computed over the task's inputs from the component's own activation (norms)
  or from the behaviour, so it is unchanged by permutations of units or heads and by
  orthogonal maps of the residual stream or of a head's own space. Two keys are
  compared entry by entry; entries within a relative ``1e-5`` (plus ``1e-6`` of the largest
  magnitude of that entry at the point, the float noise floor) count as equal. Only
  components equal on every entry fall back to their index.
- *Tied* components are grouped: same point, equal keys, and equal activations and ablation values on every input (elementwise, within ``1e-5``
  of the point's largest magnitude), as exact copies of a unit or head have. A group is tested
  and removed as one: it stays whole or goes whole. Two exact copies that each alone suffice
  are therefore both kept: the model gives no reason to prefer either, and a circuit must be
  invariant under every symmetry of the model (one that swaps the copies included) to be
  canonical; the circuit is closed under the symmetries that exchange exact copies, at the
  price of holding more than a minimal circuit would. Each copy's own necessity
  (removing it alone from the final circuit) is near zero, which the circuit's ``minimality``
  reports.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import torch

from mechequiv.equivalence.components import Component

# Relative tolerance for equal keys and tied activations, and the floor (share of the largest
# magnitude at the point) below which differences count as float noise. Float64 copies of a
# compiled model differ by ~1e-15 of the point's scale, float32 ones by ~1e-7.
TIE_RTOL = 1e-5
TIE_FLOOR = 1e-6


def search_groups(
    candidates: Sequence[Component],
    point_order: Mapping[str, int],
    effects: Mapping[Component, float],
    clean: Mapping[Component, torch.Tensor],
    ablated: Mapping[Component, torch.Tensor],
) -> list[list[Component]]:
    """Candidates grouped into tied sets and put in the order a reverse-forward sweep tests them.

    Parameters
    ----------
    candidates : every candidate component
    point_order : the forward-order rank of each hook point
    effects : each candidate's normalised drop of the behaviour when ablated alone; needed
        only for points with more than one candidate
    clean, ablated : each candidate's activation on the inputs and its ablation value

    Returns groups (lists of components, each in index order) from the last hook point to the
    first, within a point in increasing key order (see the module's conventions).
    """
    by_point: dict[str, list[Component]] = {}
    for c in candidates:
        by_point.setdefault(c.point, []).append(c)
    visit: list[list[Component]] = []
    for point in sorted(by_point, key=lambda p: -point_order[p]):
        comps = sorted(by_point[point], key=_index)
        if len(comps) == 1:
            visit.append(comps)
            continue
        visit += _ordered_groups(comps, effects, clean, ablated)
    return visit


def _index(c: Component) -> int:
    return -1 if c.index is None else c.index


def _ordered_groups(
    comps: list[Component],
    effects: Mapping[Component, float],
    clean: Mapping[Component, torch.Tensor],
    ablated: Mapping[Component, torch.Tensor],
) -> list[list[Component]]:
    keys = torch.tensor([_key(effects[c], clean[c], ablated[c]) for c in comps],
                        dtype=torch.float64)  # fmt: skip
    # the largest magnitude of each key entry at this point; effects are normalised, so the
    # whole behaviour (1) is their natural scale
    scale = keys.abs().amax(0)
    scale[0] = max(float(scale[0]), 1.0)
    groups = _tied(comps, keys, scale, clean, ablated)
    row = {c: i for i, c in enumerate(comps)}

    def compare(a: list[Component], b: list[Component]) -> int:
        close = _close(keys[row[a[0]]], keys[row[b[0]]][None], scale)[0]
        if bool(close.all()):
            return 0  # equal keys, not tied: index order (groups arrive sorted by first index)
        i = int((~close).nonzero()[0, 0])
        return -1 if keys[row[a[0]], i] < keys[row[b[0]], i] else 1

    return sorted(groups, key=functools.cmp_to_key(compare))


def _close(key: torch.Tensor, others: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Entrywise: is each row of ``others`` equal to ``key`` within the tolerance?"""
    tol = TIE_RTOL * torch.maximum(key.abs(), others.abs()) + TIE_FLOOR * scale
    return (others - key).abs() <= tol


def _key(effect: float, clean: torch.Tensor, ablated: torch.Tensor) -> list[float]:
    a = clean.double()
    change = (ablated.double() - a).pow(2).mean().sqrt() if a.numel() else a.new_zeros(())
    size = a.pow(2).mean().sqrt() if a.numel() else a.new_zeros(())
    peak = a.abs().max() if a.numel() else a.new_zeros(())
    return [float(effect), float(change), float(size), float(peak)]


def _tied(
    comps: list[Component],
    keys: torch.Tensor,
    key_scale: torch.Tensor,
    clean: Mapping[Component, torch.Tensor],
    ablated: Mapping[Component, torch.Tensor],
) -> list[list[Component]]:
    """Partition ``comps`` (index order) into groups with equal keys and equal activations."""
    scale = max(
        max(float(clean[c].abs().max()) if clean[c].numel() else 0.0 for c in comps),
        max(float(ablated[c].abs().max()) if ablated[c].numel() else 0.0 for c in comps),
    )
    atol = TIE_RTOL * scale
    groups: list[list[Component]] = []
    placed: set[int] = set()
    for i, c in enumerate(comps):
        if i in placed:
            continue
        group = [c]
        placed.add(i)
        same_key = _close(keys[i], keys, key_scale).all(-1)
        for j in same_key.nonzero().flatten().tolist():
            if j <= i or j in placed:
                continue
            d = comps[j]
            if _equal(clean[c], clean[d], atol) and _equal(ablated[c], ablated[d], atol):
                group.append(d)
                placed.add(j)
        groups.append(group)
    return groups


def _equal(a: torch.Tensor, b: torch.Tensor, atol: float) -> bool:
    if a.shape != b.shape:
        return False
    return a.numel() == 0 or float((a.double() - b.double()).abs().max()) <= atol
