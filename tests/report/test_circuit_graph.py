"""The circuit graph figure draws Circuit.graph() data."""

from __future__ import annotations

import pytest

from mechequiv.report.figures import circuit_graph


def test_circuit_graph_draws_every_candidate_and_the_edges(tmp_path):
    graph = {
        "nodes": [
            {"id": "blocks.0.attn.hook_z[0]", "layer": 0, "kind": "head", "in_circuit": True, "score": 0.4},
            {"id": "blocks.0.attn.hook_z[1]", "layer": 0, "kind": "head", "in_circuit": False, "score": 0.0},
            {"id": "blocks.0.hook_mlp_out", "layer": 0, "kind": "mlp", "in_circuit": True, "score": 0.9},
            {"id": "blocks.1.attn.hook_z[0]", "layer": 1, "kind": "head", "in_circuit": True, "score": 1.0},
        ],
        "edges": [["blocks.0.attn.hook_z[0]", "blocks.1.attn.hook_z[0]"],
                  ["blocks.0.hook_mlp_out", "blocks.1.attn.hook_z[0]"]],
        "edges_inferred": True,
    }  # fmt: skip
    fig = circuit_graph(graph, title="reverse")
    ax = fig.axes[0]
    assert len(ax.collections) == 4 and len(ax.lines) == 2
    assert ax.lines[0].get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["L0 attn", "L0 MLP", "L1 attn"]
    fig.savefig(tmp_path / "c.png")
    with pytest.raises(ValueError, match="no nodes"):
        circuit_graph({"nodes": []})
