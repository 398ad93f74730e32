"""No package attribute shadows one of its submodules: ``import mechequiv.measures._cca as m``
must give a module, not the function the package re-exports (implementation modules are
private, ``_cca.py``, scikit-learn style)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import mechequiv


def _all_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(mechequiv.__path__, "mechequiv."):
        importlib.import_module(info.name)
        names.append(info.name)
    return names


def test_no_package_attribute_shadows_a_submodule() -> None:
    _all_modules()
    shadowed = []
    for name, module in sorted(sys.modules.items()):
        if not (name == "mechequiv" or name.startswith("mechequiv.")):
            continue
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            attr = getattr(module, info.name, None)
            sub = sys.modules.get(f"{name}.{info.name}")
            if attr is not None and attr is not sub:
                shadowed.append(f"{name}.{info.name} is a {type(attr).__name__}")
    assert not shadowed, shadowed


def test_a_dotted_import_gives_the_module() -> None:
    import mechequiv.equivalence._congruity as congruity_module
    from mechequiv.equivalence import congruity

    assert congruity_module.congruity is congruity
    assert importlib.import_module("mechequiv.measures._cca").__name__ == "mechequiv.measures._cca"
