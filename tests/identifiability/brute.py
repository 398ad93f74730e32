"""Independent brute-force enumerators (the reference code's semantics, written plainly).

Nothing here imports the package's enumeration code: circuits are run with torch on the
``nn.Sequential`` model, interpretations and mappings are enumerated one by one.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn


def layers(model: nn.Sequential) -> list[tuple[nn.Linear, nn.Module]]:
    mods = list(model)
    return [(mods[i], mods[i + 1]) for i in range(0, len(mods), 2)]


def masked_forward(model, x, node_masks, edge_masks, means=None):
    """Activations per layer (input first) with removed neurons/edges ablated.

    ``node_masks[l]`` masks the vector entering layer ``l`` (inputs first); ``means`` (per
    layer, input first) replace removed senders, ``None`` = zero ablation.
    """
    h = torch.as_tensor(x, dtype=torch.float64)
    acts = [h]
    for l, (lin, act) in enumerate(layers(model)):
        n = torch.as_tensor(node_masks[l], dtype=torch.float64)
        e = torch.as_tensor(edge_masks[l], dtype=torch.float64)
        mu = torch.zeros(h.shape[1], dtype=torch.float64) if means is None else means[l]
        h_in = h * n + mu * (1 - n)
        pre = h_in @ (lin.weight * e).T + mu @ (lin.weight * (1 - e)).T + lin.bias
        h = act(pre)
        acts.append(h)
    return [a.detach().numpy() for a in acts]


def covering_masks(n_out_active, n_in_active):
    out = []
    for bits in itertools.product((0, 1), repeat=n_out_active * n_in_active):
        m = np.array(bits, dtype=int).reshape(n_out_active, n_in_active)
        if (m.sum(axis=1) > 0).all() and (m.sum(axis=0) > 0).all():
            out.append(m)
    return out


def candidates(widths, min_node_sparsity=None):
    """Every candidate circuit as (hidden node masks, full-size edge masks)."""
    hidden = widths[1:-1]
    for masks in itertools.product(*[list(itertools.product((0, 1), repeat=w)) for w in hidden]):
        if all(all(m) for m in masks):
            continue
        removed = sum(w - sum(m) for w, m in zip(hidden, masks, strict=False))
        if min_node_sparsity is not None and not removed / sum(hidden) > min_node_sparsity:
            continue
        nodes = [(1,) * widths[0], *masks, (1,) * widths[-1]]
        per_layer = []
        for a, b in itertools.pairwise(nodes):
            ia = [i for i, v in enumerate(a) if v]
            ib = [i for i, v in enumerate(b) if v]
            full = []
            for sub in covering_masks(len(ib), len(ia)):
                m = np.zeros((len(b), len(a)), dtype=int)
                m[np.ix_(ib, ia)] = sub
                full.append(m)
            per_layer.append(full)
        for edges in itertools.product(*per_layer):
            yield nodes, edges


def circuit_key(nodes, edges):
    hidden = tuple(tuple(i for i, v in enumerate(m) if v) for m in nodes[1:-1])
    return hidden, tuple(np.asarray(e, dtype=bool).tobytes() for e in edges)


def accepted_circuits(model, x, y, min_node_sparsity=None, means=None):
    """{key: activations} of every candidate whose rounded output equals ``y``; and the
    number of candidates."""
    widths = [layers(model)[0][0].in_features] + [lin.out_features for lin, _ in layers(model)]
    found = {}
    n = 0
    for nodes, edges in candidates(widths, min_node_sparsity):
        n += 1
        acts = masked_forward(model, x, nodes, edges, means)
        if (np.round(acts[-1][:, 0]) == y).all():
            found[circuit_key(nodes, edges)] = (nodes, edges, acts)
    return found, n


def _tts(values):
    distinct = sorted(set(values.tolist()))
    out = []
    for lo, hi in itertools.pairwise(distinct):
        t = (lo + hi) / 2
        out.append(tuple(int(v > t) for v in values))
    return out


def interpretations(nodes, edges, acts, completions="all"):
    """Number of interpretations, enumerating every threshold choice and every completion
    (``completions="none"``: a local gate counts once if any completion is allowed)."""
    n_layers = len(nodes) - 1  # weight matrices
    values = [None, *acts[1:-1], np.round(acts[-1])]
    tts = {}
    for l in range(1, n_layers + 1):
        for i, v in enumerate(nodes[l]):
            if v:
                options = _tts(values[l][:, i])
                if options:  # constant neurons are left out (reference behaviour)
                    tts[(l, i)] = options
    neurons = list(tts)
    m = len(acts[0])
    total = 0
    for choice in itertools.product(*[tts[n] for n in neurons]):
        chosen = dict(zip(neurons, choice, strict=False))
        count = 1
        for (l, i), tt in chosen.items():
            if l == 1:
                continue
            parents = [
                (l - 1, j)
                for j in range(len(nodes[l - 1]))
                if nodes[l - 1][j] and edges[l - 1][i, j] and (l - 1, j) in chosen
            ]
            table = {}
            for r in range(m):
                key = tuple(chosen[p][r] for p in parents)
                if table.setdefault(key, tt[r]) != tt[r]:
                    count = 0
            if count == 0:
                break
            missing = [p for p in itertools.product((0, 1), repeat=len(parents)) if p not in table]
            n_ok = 0
            for fill in itertools.product((0, 1), repeat=len(missing)):
                full = {**table, **dict(zip(missing, fill, strict=False))}
                if len(parents) == 2 and (
                    all(full[(a, b)] == a ^ b for a, b in full)
                    or all(full[(a, b)] != a ^ b for a, b in full)
                ):
                    continue
                n_ok += 1
            count *= n_ok if completions == "all" else min(n_ok, 1)
        total += count
    return total


def evaluate(f, row, fixed, path=()):
    """Value of formula ``f`` on input ``row`` with nodes at paths in ``fixed`` forced."""
    if path in fixed:
        return fixed[path]
    if f.op == "var":
        return int(row[f.var])
    vals = [evaluate(c, row, fixed, (*path, i)) for i, c in enumerate(f.children)]
    if f.op == "not":
        return 1 - vals[0]
    return (vals[0] and vals[1]) if f.op == "and" else (vals[0] or vals[1])


@torch.no_grad()
def run_patched(model, x_row, patch=None):
    """Output of the full model on one row; ``patch = (hidden layer, neurons, values)``."""
    h = torch.as_tensor(x_row, dtype=torch.float64)
    for l, (lin, act) in enumerate(layers(model)):
        h = act(lin(h))
        if patch is not None and patch[0] == l:
            h = h.clone()
            h[list(patch[1])] = patch[2]
    return float(h[0])


@torch.no_grad()
def hidden_acts(model, x_row):
    h = torch.as_tensor(x_row, dtype=torch.float64)
    out = []
    for lin, act in layers(model):
        h = act(lin(h))
        out.append(h)
    return out[:-1]


def minimal_mappings(model, inputs, algorithm, pairs):
    """Every minimal mapping (tuple of (layer, neuron tuple) per variable) by exhaustive search
    over all disjoint complete assignments."""
    hidden = [lin.out_features for lin, _ in layers(model)][:-1]
    sets = [
        (l, s)
        for l, w in enumerate(hidden)
        for r in range(1, w + 1)
        for s in itertools.combinations(range(w), r)
    ]
    f = algorithm.formula
    passing = []
    for path in algorithm.variables:
        ok_sets = []
        for l, s in sets:
            ok = True
            for src, base in pairs:
                v_src = _node_value(f, path, inputs[src])
                expected = evaluate(f, inputs[base], {path: v_src})
                patch_vals = hidden_acts(model, inputs[src])[l][list(s)]
                out = run_patched(model, inputs[base], (l, s, patch_vals))
                if int(out > 0.5) != expected:
                    ok = False
                    break
            if ok:
                ok_sets.append((l, s))
        passing.append(ok_sets)
    complete = []

    def walk(i, used, chosen):
        if i == len(passing):
            complete.append(tuple(chosen))
            return
        for l, s in passing[i]:
            if used & {(l, j) for j in s}:
                continue
            walk(i + 1, used | {(l, j) for j in s}, [*chosen, (l, s)])

    walk(0, set(), [])

    def within(a, b):
        return all(
            la == lb and set(sa) <= set(sb) for (la, sa), (lb, sb) in zip(a, b, strict=False)
        )

    return [m for m in complete if not any(o != m and within(o, m) for o in complete)]


def _node_value(f, path, row):
    node = f
    for i in path:
        node = node.children[i]
    return evaluate(node, row, {})
