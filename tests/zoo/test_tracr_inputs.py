"""CompiledProgram.inputs is the program's sampler ``(rng, n, length) -> sequences`` (its
annotation said ``(n, length)``; found by mypy)."""

import numpy as np
import pytest

pytest.importorskip("tracr")

from mechequiv.zoo.rasp_programs import PROGRAMS
from mechequiv.zoo.tracr import compile_program


def test_inputs_draws_sequences_from_a_generator():
    compiled = compile_program(PROGRAMS["reverse"])
    program = PROGRAMS["reverse"]
    seqs = compiled.inputs(np.random.default_rng(0), 5, 3)
    assert len(seqs) == 5 and all(len(s) == 3 for s in seqs)
    assert all(t in program.vocab for s in seqs for t in s)
    assert seqs == compiled.inputs(np.random.default_rng(0), 5, 3)  # the rng decides
