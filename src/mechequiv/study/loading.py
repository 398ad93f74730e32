"""Load a user's model from local files, safely: weights plus a declared architecture by default.

Formats (local files only, never a hub download):

- a **Hugging Face folder** (``config.json`` with ``model_type`` + ``model.safetensors``): the
  class named in the config's ``architectures`` (``GPT2LMHeadModel``, ``BertForMaskedLM``,
  ``BertForSequenceClassification``...), so a model saved with its head has logits; without that
  field ``AutoModelForCausalLM``, else ``AutoModelForMaskedLM``, else ``AutoModel``. Missing or
  mis-shaped weights are refused (transformers would initialise them at random).
  ``transformer_lens=True`` wraps the loaded model in TransformerLens 4's ``TransformerBridge``
  (``TransformerBridge.boot_transformers`` without the hub; hook names ``blocks.0.hook_out``...).
- **weights + a TransformerLens config**: ``model.safetensors`` (or a ``.pt`` state dict) beside
  ``config.json`` or ``<stem>.json`` holding ``cfg.to_dict()`` of a TransformerLens model
  (``json.dump(model.cfg.to_dict(), f, default=str)``): a TransformerLens 4 native bridge
  (``TransformerBridge.boot_native``) or, with TransformerLens 2/3, a ``HookedTransformer``.
- a **zoo** folder or checkpoint (``config.json`` of a :class:`~mechequiv.zoo.ZooConfig` and
  ``checkpoints/step_*.safetensors``); choose the seed with ``seed=`` (``PATH:seed=3`` on the
  command line) and optionally the checkpoint with ``step=``.
- a **state dict of your own class** with ``model_class`` (``--model-class mynets:TinyGPT``):
  the class is imported from the module the caller names, never from the file, and built with
  the keyword arguments of the JSON beside the weights.
- a **pickled whole module** (``torch.save(model, path)``, ``.pt``/``.pth``) only with
  ``trust_pickle=True``: unpickling runs code from the file. Without it, ``.pt`` files are read
  with ``torch.load(weights_only=True)``, which accepts tensors and plain containers only.

Every problem with a file (missing, corrupt, truncated, invalid config, class not importable,
weights that do not fit the architecture) raises :class:`~mechequiv.errors.MechequivError` or
``FileNotFoundError`` with one line naming the file and the fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mechequiv.errors import MechequivError

PICKLE_HINT = (
    "unpickling runs code from the file: if you trust it, pass --trust-pickle "
    "(trust_pickle=True); or save weights with their architecture (Hugging Face "
    "save_pretrained, or a TransformerLens state dict in .safetensors beside its cfg .json)"
)

#: Where a model of the user's own class goes: no config file names code to run.
OWN_CLASS_HINT = (
    "a state dict of a model class of your own loads with --model-class MODULE:CLASS (its "
    "constructor's keyword arguments in the JSON beside the weights)"
)


def load_model(
    path: str | Path,
    *,
    trust_pickle: bool = False,
    transformer_lens: bool = False,
    seed: int | None = None,
    step: int | None = None,
    model_class: str | Callable[..., nn.Module] | None = None,
) -> nn.Module:
    """Load a model (in eval mode) from a local file or folder; see the module docstring.

    ``seed`` / ``step`` choose a zoo model; a string path may carry them as ``PATH:seed=3,step=500``.
    ``model_class`` (a class or a function returning a module, or ``"package.module:Name"`` /
    ``"path/to/file.py:Name"`` naming one) builds a model of your own from a state dict
    (``.safetensors``, a weights-only ``.pt``, or a folder holding one), with the keyword
    arguments of the JSON object beside it (``<stem>.json`` or ``config.json``; none: no
    arguments); every tensor must fit. Paths whose config mechequiv knows (Hugging Face,
    TransformerLens, zoo) and pickled modules load as they would without it, so one class can
    be given for a pair of which only one model needs it.
    """
    path, seed, step = _spec(path, seed, step)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if model_class is not None and not _declares_architecture(path):
        return _load_own_class(path, model_class).eval()
    if path.is_dir():
        model = _load_folder(path, transformer_lens, seed, step)
    elif path.suffix == ".safetensors":
        model = _load_weights_file(path, transformer_lens, seed, step)
    elif path.suffix in (".pt", ".pth"):
        model = _load_torch_file(path, trust_pickle, transformer_lens, seed, step)
    else:
        raise MechequivError(
            f"unknown model format {path.suffix or path.name!r}: expected a Hugging Face or zoo "
            "folder, .safetensors with its config .json beside it, or .pt/.pth"
        )
    if (seed is not None or step is not None) and not type(model).__module__.startswith(
        "mechequiv.zoo"
    ):
        # a seed or step would otherwise be ignored, and another model than asked for compared
        raise MechequivError(
            f"seed= and step= choose a model of a zoo folder; {path} holds a "
            f"{type(model).__name__}, which has none: drop ':seed=...'"
        )
    if transformer_lens and not hasattr(model, "hook_dict"):
        raise MechequivError(
            f"--transformer-lens wraps Hugging Face models; {path} holds a {type(model).__name__}"
        )
    return model.eval()


_SPEC = re.compile(r"^(?P<path>.+?):(?P<opts>(?:seed|step)=\d+(?:,(?:seed|step)=\d+)*)$")


def _spec(path: str | Path, seed: int | None, step: int | None) -> tuple[Path, Any, Any]:
    """Split ``PATH:seed=S,step=N`` (zoo models) into the path and its options."""
    m = _SPEC.match(str(path))
    if m is None or Path(str(path)).exists():
        return Path(path), seed, step
    opts = dict(kv.split("=") for kv in m["opts"].split(","))
    return (
        Path(m["path"]),
        int(opts["seed"]) if "seed" in opts else seed,
        int(opts["step"]) if "step" in opts else step,
    )


# -- configs ------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MechequivError(f"invalid config {path}: {_first_line(e)}") from e
    if not isinstance(data, dict):
        raise MechequivError(f"invalid config {path}: expected a JSON object")
    return data


def config_kind(config: dict[str, Any]) -> str:
    """``"hf"``, ``"zoo"``, ``"transformer_lens"`` or ``"unknown"`` for a parsed config JSON."""
    if "model_type" in config:
        return "hf"
    if {"task", "architecture", "seeds"} <= config.keys():
        return "zoo"
    if {"d_model", "n_layers", "n_ctx", "d_head"} <= config.keys():
        return "transformer_lens"
    return "unknown"


def _config_path(weights: Path) -> Path | None:
    """The config JSON beside a weights file (``<stem>.json``, else ``config.json``), or None."""
    candidates = (weights.with_suffix(".json"), weights.parent / "config.json")
    return next((c for c in candidates if c.is_file()), None)


def _config_beside(weights: Path) -> Path:
    found = _config_path(weights)
    if found is not None:
        return found
    raise MechequivError(
        f"{weights} holds weights without an architecture: put its config beside it "
        f"({weights.with_suffix('.json').name} or config.json: a TransformerLens cfg, a Hugging "
        "Face config or a zoo config)"
    )


def _unknown_config(path: Path) -> MechequivError:
    return MechequivError(
        f"{path} is not a config mechequiv knows: expected a Hugging Face config (model_type), "
        "a TransformerLens cfg (d_model, n_layers, n_ctx, d_head) or a zoo config "
        f"(task, architecture, seeds); {OWN_CLASS_HINT}"
    )


# -- folders and weight files -------------------------------------------------------------------


def _load_folder(
    path: Path, transformer_lens: bool, seed: int | None, step: int | None
) -> nn.Module:
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise MechequivError(
            f"{path} is a folder without config.json (a Hugging Face, TransformerLens or zoo "
            "config)"
        )
    config = _read_json(cfg_path)
    kind = config_kind(config)
    if kind == "hf":
        return load_hf_folder(path, transformer_lens=transformer_lens)
    if kind == "zoo":
        return _load_zoo(path, seed, step)
    if kind == "transformer_lens":
        weights = _single_weights(path)
        return _load_transformer_lens(config, _state_dict(weights), weights)
    raise _unknown_config(cfg_path)


def _single_weights(folder: Path) -> Path:
    found = sorted(folder.glob("*.safetensors")) or sorted(
        p for p in folder.glob("*.pt*") if p.suffix in (".pt", ".pth")
    )
    if len(found) != 1:
        raise MechequivError(
            f"{folder} should hold one weights file (.safetensors or .pt) beside config.json; "
            f"found {[p.name for p in found]}"
        )
    return found[0]


def _load_weights_file(
    path: Path, transformer_lens: bool, seed: int | None, step: int | None
) -> nn.Module:
    if path.parent.name == "checkpoints" and (path.parent.parent / "config.json").is_file():
        config = _read_json(path.parent.parent / "config.json")
        if config_kind(config) == "zoo":
            found = re.match(r"^step_(\d+)\.safetensors$", path.name)
            if found is None:
                raise MechequivError(
                    f"{path} is not a zoo checkpoint (step_<8 digits>.safetensors)"
                )
            return _load_zoo(path.parent.parent, seed, int(found[1]) if step is None else step)
    _config_beside(path)  # the missing-architecture message before reading any weights
    return _load_with_config(path, _state_dict(path), transformer_lens)


def _load_with_config(
    weights: Path, state: dict[str, torch.Tensor], transformer_lens: bool
) -> nn.Module:
    cfg_path = _config_beside(weights)
    config = _read_json(cfg_path)
    kind = config_kind(config)
    if kind == "transformer_lens":
        return _load_transformer_lens(config, state, weights)
    if kind == "hf":
        if weights.parent != cfg_path.parent:
            raise MechequivError(f"load the Hugging Face folder {cfg_path.parent}, not {weights}")
        return load_hf_folder(weights.parent, transformer_lens=transformer_lens)
    if kind == "zoo":
        raise MechequivError(
            f"{cfg_path} is a zoo config: pass the zoo folder (or its checkpoints/step_*.safetensors) "
            "with :seed=S"
        )
    raise _unknown_config(cfg_path)


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file or a weights-only .pt state dict."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise MechequivError(f"cannot read {path} as safetensors: {_first_line(e)}") from e
    obj = _torch_load(path, weights_only=True)
    if not _is_state_dict(obj):
        raise MechequivError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors")
    result: dict[str, torch.Tensor] = obj
    return result


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


# -- .pt files ----------------------------------------------------------------------------------


def _torch_load(path: Path, weights_only: bool) -> Any:
    """``torch.load`` on the CPU with every failure as one line naming the file."""
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if weights_only and found:
            raise MechequivError(
                f"{path} pickles Python objects (it needs {found[1]}), not only weights; "
                f"{PICKLE_HINT}"
            ) from e
        raise MechequivError(
            f"cannot read {path} as a torch file (corrupt, or not written by torch.save): "
            f"{_pickle_detail(e)}"
        ) from e
    except (AttributeError, ImportError) as e:
        raise MechequivError(f"cannot unpickle {path}: {_missing_class_hint(e)}") from e
    except (
        Exception
    ) as e:  # torch raises RuntimeError, EOFError, zipfile errors... for corrupt files
        raise MechequivError(f"cannot read {path} as a torch file: {_first_line(e)}") from e


def _missing_class_hint(e: BaseException) -> str:
    """What to do when a pickled module's class cannot be imported: the pickle names the module
    that defined the class, which must be importable where the file is loaded."""
    if isinstance(e, ModuleNotFoundError) and e.name:
        return (
            f"the model's class is defined in the module {e.name!r}, which is not importable "
            f"here: put the folder holding {e.name.split('.')[0]}.py on PYTHONPATH "
            "(or install its package)"
        )
    found = re.search(r"Can't get attribute '(\w+)' on <module '__main__'", str(e))
    if found:
        return (
            f"the model's class {found[1]} was defined in the script that saved it (__main__), "
            "so nothing else can import it: move the class into a module, put that module's "
            "folder on PYTHONPATH and save the model again"
        )
    return (
        f"{_first_line(e)} (the model's class must be importable: put the module that defines "
        "it on PYTHONPATH)"
    )


def _load_torch_file(
    path: Path, trust_pickle: bool, transformer_lens: bool, seed: int | None, step: int | None
) -> nn.Module:
    if trust_pickle:
        obj = _torch_load(path, weights_only=False)
        if isinstance(obj, nn.Module):
            return obj
        if not _is_state_dict(obj):
            raise MechequivError(
                f"{path} holds a {type(obj).__name__}, not a module{_nested_hint(obj)}: save the "
                "whole model with torch.save(model, path), or weights beside a config"
            )
    else:
        obj = _torch_load(path, weights_only=True)
    if _is_state_dict(obj):
        try:
            return _load_with_config(path, obj, transformer_lens)
        except MechequivError as e:
            if "without an architecture" not in str(e):
                raise
            raise MechequivError(
                f"{path} holds a state dict, not a module: put its config beside it "
                f"({path.with_suffix('.json').name} or config.json), or save the whole model "
                "with torch.save(model, path) and pass --trust-pickle"
            ) from e
    raise MechequivError(
        f"{path} holds a {type(obj).__name__}, not a module or a state dict of tensors"
        f"{_nested_hint(obj)}"
    )


def _nested_hint(obj: Any) -> str:
    """Training checkpoints often nest the state dict (``{"model": ..., "step": ...}``): name
    the entries that hold one, so the user knows what to save."""
    if not isinstance(obj, dict):
        return ""
    inner = [repr(k) for k, v in obj.items() if _is_state_dict(v) and v]
    modules = [repr(k) for k, v in obj.items() if isinstance(v, nn.Module)]
    if not inner and not modules:
        return ""
    where = ", ".join(inner + modules)
    return (
        f" (a checkpoint: the entry {where} holds the model; save that alone, e.g. "
        f"torch.save(checkpoint[{(inner + modules)[0]}], path))"
    )


# -- a class of the user's own ------------------------------------------------------------------


def _declares_architecture(path: Path) -> bool:
    """Whether ``path`` loads without a model class: a config mechequiv knows beside it (or in
    the folder), or a .pt file that is not a plain state dict (a pickled module, refused or
    loaded by the usual rules)."""
    config = path / "config.json" if path.is_dir() else _config_path(path)
    if config is None or not config.is_file():
        return False
    try:
        return config_kind(_read_json(config)) != "unknown"
    except MechequivError:  # unreadable: the class's own route reports it
        return False


def resolve_class(spec: str | Callable[..., nn.Module]) -> Callable[..., Any]:
    """``"package.module:Name"`` or ``"path/to/file.py:Name"`` as the class (or function
    returning a module) it names; importing the module runs its code: it is the user's own,
    named by the caller, never read from a model file."""
    if not isinstance(spec, str):
        if not callable(spec):
            raise MechequivError(f"model class {spec!r} is not a class or a function")
        return spec
    where, sep, name = str(spec).rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise MechequivError(
            f"model class {spec!r} should read MODULE:CLASS or FILE.py:CLASS (e.g. mynets:TinyGPT)"
        )
    import importlib
    import importlib.util

    try:
        if where.endswith(".py"):
            file = Path(where)
            if not file.is_file():
                raise FileNotFoundError(f"{file} does not exist")
            found = importlib.util.spec_from_file_location(f"_mechequiv_user_{file.stem}", file)
            if found is None or found.loader is None:
                raise ImportError(f"{file} is not a Python module")
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except Exception as e:  # the user's module may raise anything while it runs
        raise MechequivError(
            f"cannot import {where} for the model class {name}: {_first_line(e)} (put its folder "
            "on PYTHONPATH, or give the file: path/to/file.py:CLASS)"
        ) from e
    found_obj = getattr(module, name, None)
    if not callable(found_obj):
        raise MechequivError(f"{where} has no class or function named {name}")
    result: Callable[..., Any] = found_obj
    return result


def _load_own_class(path: Path, model_class: str | Callable[..., nn.Module]) -> nn.Module:
    weights = _single_weights(path) if path.is_dir() else path
    if weights.suffix not in (".safetensors", ".pt", ".pth"):
        raise MechequivError(
            f"a model class builds a model from a state dict (.safetensors or .pt); {weights} "
            "is neither"
        )
    build = resolve_class(model_class)
    name = getattr(build, "__name__", repr(build))
    config = _config_path(weights)
    kwargs = {} if config is None else _read_json(config)
    try:
        model = build(**kwargs)
    except Exception as e:  # the constructor's own complaint about its arguments
        source = f"the arguments in {config}" if config else "no arguments"
        raise MechequivError(f"cannot build {name} from {source}: {_first_line(e)}") from e
    if not isinstance(model, nn.Module):
        raise MechequivError(f"{name}(...) returned a {type(model).__name__}, not a torch module")
    _load_state(model, _state_dict(weights), weights)
    return model


# -- zoo ----------------------------------------------------------------------------------------


def _load_zoo(folder: Path, seed: int | None, step: int | None) -> nn.Module:
    from mechequiv.zoo import load_zoo

    try:
        zoo = load_zoo(folder, step)
    except (FileNotFoundError, ValueError, TypeError, KeyError, MechequivError) as e:
        raise MechequivError(f"cannot load the zoo in {folder}: {_first_line(e)}") from e
    except Exception as e:  # a corrupt checkpoint file
        raise MechequivError(f"cannot read the zoo in {folder}: {_first_line(e)}") from e
    if seed is None:
        if len(zoo.seeds) != 1:
            raise MechequivError(
                f"{folder} holds seeds {list(zoo.seeds)}: choose one with {folder}:seed=S"
            )
        seed = zoo.seeds[0]
    if seed not in zoo.seeds:
        raise MechequivError(f"seed {seed} is not in {folder}; its seeds are {list(zoo.seeds)}")
    return zoo.model(seed)


# -- TransformerLens ----------------------------------------------------------------------------


def _load_transformer_lens(
    config: dict[str, Any], state: dict[str, torch.Tensor], weights: Path
) -> nn.Module:
    try:
        import transformer_lens as tl
    except ImportError as e:
        raise MechequivError(
            f"{weights} has a TransformerLens config: pip install mechequiv[transformer-lens]"
        ) from e
    tl4 = hasattr(tl, "TransformerBridgeConfig")
    if tl4 and any(k.endswith(".attn.W_Q") for k in state):
        raise MechequivError(
            f"{weights} holds a TransformerLens 2/3 HookedTransformer (W_Q, W_K...), which "
            "TransformerLens 4 removed: load it with transformer-lens<4, or save the Hugging Face "
            "model and pass --transformer-lens"
        )
    arch = config.get("architecture")
    if tl4 and arch not in (None, "TransformerLensNative"):
        raise MechequivError(
            f"{weights} is a TransformerBridge over a Hugging Face {arch}, which its TransformerLens "
            "config cannot rebuild: save bridge.original_model.save_pretrained(DIR) and load DIR "
            "with --transformer-lens"
        )
    cfg = {k: _dtype(v) if k == "dtype" else v for k, v in config.items() if k != "device"}
    try:
        if tl4:
            model = tl.TransformerBridge.boot_native(tl.TransformerBridgeConfig.from_dict(cfg))
        else:  # TransformerLens 2/3; CI installs 4, so its tests skip there
            model = tl.HookedTransformer(tl.HookedTransformerConfig.from_dict(cfg))
    except Exception as e:
        raise MechequivError(
            f"invalid TransformerLens config for {weights}: {_first_line(e)}"
        ) from e
    _load_state(model, state, weights)
    result: nn.Module = model
    return result


def _dtype(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("torch."):
        found = getattr(torch, value.removeprefix("torch."), None)
        if isinstance(found, torch.dtype):
            return found
    return value


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], weights: Path) -> None:
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    if missing or unexpected:
        raise MechequivError(
            f"{weights} does not fit the declared architecture: missing {missing[:3]}"
            f"{'...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
            f"{'...' if len(unexpected) > 3 else ''}"
        )
    wrong = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if wrong:
        k = wrong[0]
        raise MechequivError(
            f"{weights} does not fit the declared architecture: {k} has shape "
            f"{tuple(state[k].shape)}, the config makes {tuple(own[k].shape)} "
            f"({len(wrong)} tensors differ)"
        )
    model.load_state_dict(state)


# -- Hugging Face -------------------------------------------------------------------------------


def load_hf_folder(path: str | Path, *, transformer_lens: bool = False) -> nn.Module:
    """A Hugging Face model folder through the head class its config names (local files only);
    ``transformer_lens=True`` wraps it in a TransformerLens 4 ``TransformerBridge``."""
    path = Path(path)
    try:
        import transformers
    except ImportError as e:
        raise MechequivError(f"{path} is a Hugging Face folder: pip install mechequiv[hf]") from e
    _read_json(path / "config.json")  # a clear message for invalid JSON
    with _quiet_transformers(transformers):
        try:
            config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        except Exception as e:
            raise MechequivError(f"invalid config {path / 'config.json'}: {_first_line(e)}") from e
        cls = _head_class(transformers, config, path)
        try:
            # Mismatches are reported (and refused) below, with the tensors named.
            model, info = cls.from_pretrained(
                path,
                config=config,
                local_files_only=True,
                output_loading_info=True,
                ignore_mismatched_sizes=True,
            )
        except Exception as e:  # truncated or corrupt weights, missing files
            raise MechequivError(
                f"cannot load the Hugging Face model in {path}: {_first_line(e)}"
            ) from e
    shapes = sorted(
        f"{k[0]} {tuple(k[1])} in the file, {tuple(k[2])} in the config"
        if isinstance(k, tuple) and len(k) == 3
        else str(k)
        for k in info.get("mismatched_keys", ())
    )
    if shapes:
        raise MechequivError(
            f"the weights in {path} do not fit its config.json ({len(shapes)} tensors): {shapes[0]}"
        )
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        raise MechequivError(
            f"the weights in {path} do not fit {cls.__name__}: {len(missing)} tensors missing "
            f"({missing[:3]}{'...' if len(missing) > 3 else ''}) would be initialised at random"
        )
    # Tensors the config has no place for (a config with fewer layers than the weights) would
    # be dropped silently, leaving a smaller model than the one that was saved.
    unexpected = sorted(info.get("unexpected_keys", ()))
    if unexpected:
        raise MechequivError(
            f"the weights in {path} do not fit {cls.__name__}: {len(unexpected)} tensors in the "
            f"file have no place in its config.json ({unexpected[:3]}"
            f"{'...' if len(unexpected) > 3 else ''}) and would be ignored"
        )
    if transformer_lens:
        return _bridge(model, path)
    result: nn.Module = model
    return result


def _head_class(transformers: Any, config: Any, path: Path) -> Any:
    """The class named in ``config.architectures``, else the first Auto head class that fits."""
    names = getattr(config, "architectures", None) or []
    if names:
        cls = getattr(transformers, names[0], None)
        if cls is None:
            raise MechequivError(
                f"{path / 'config.json'} names architecture {names[0]!r}, which transformers "
                f"{transformers.__version__} does not have (mechequiv never runs a folder's "
                "own model code)"
            )
        return cls
    for auto in ("AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoModel"):
        mapping = getattr(transformers, auto)._model_mapping
        if type(config) in mapping:
            return mapping[type(config)]
    raise MechequivError(f"no transformers model class for model_type {config.model_type!r}")


def _bridge(model: nn.Module, path: Path) -> nn.Module:
    try:
        from transformer_lens.model_bridge.sources import build_bridge_from_module
    except ImportError as e:
        raise MechequivError(
            "--transformer-lens needs TransformerLens 4 (TransformerBridge): "
            "pip install 'transformer-lens>=4'"
        ) from e
    arch = (getattr(model.config, "architectures", None) or [type(model).__name__])[0]
    try:
        return build_bridge_from_module(model, arch, hf_config=model.config)
    except Exception as e:
        raise MechequivError(
            f"TransformerLens cannot wrap {arch} from {path}: {_first_line(e)}"
        ) from e


@contextmanager
def _quiet_transformers(transformers: Any) -> Iterator[None]:
    """Silence transformers' loading reports and progress bars, restoring its settings after."""
    logging = transformers.utils.logging
    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def _pickle_detail(e: BaseException) -> str:
    """The informative line of torch's multi-paragraph unpickling errors."""
    boilerplate = (
        "Weights only load failed",
        "Please file",
        "Check the documentation",
        "In PyTorch",
    )
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(boilerplate)]
    return useful[-1] if useful else _first_line(e)


def _first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (library messages run to pages)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__
