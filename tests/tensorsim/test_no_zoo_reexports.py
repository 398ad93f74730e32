"""tensorsim reads models through its layer protocol: it neither imports the zoo nor re-exports
the zoo's classes (the old names still resolve, with a DeprecationWarning)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from torch import nn

import mechequiv.tensorsim as tensorsim


def test_moved_names_warn_and_resolve_to_their_home() -> None:
    from mechequiv.zoo.models import BilinearMLP

    with pytest.warns(DeprecationWarning, match=r"import BilinearMLP from mechequiv\.zoo"):
        assert tensorsim.BilinearMLP is BilinearMLP
    with pytest.warns(DeprecationWarning, match="torch.nn"):
        assert tensorsim.Linear is nn.Linear
    assert not {"Bilinear", "BilinearMLP", "Linear", "Embedding"} & set(tensorsim.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = tensorsim.Nope


def test_reading_a_model_does_not_import_the_zoo() -> None:
    code = (
        "import sys, torch\n"
        "from mechequiv.tensorsim.network import to_tensor_net\n"
        "to_tensor_net(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)))\n"
        "print(sorted(m for m in sys.modules if m.startswith('mechequiv.zoo')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
