"""Recognising a model after it was copied: :func:`model_fingerprint`.

Samplers and GetReprs hold the models they were built with and find them again by identity; a
model that travelled to a Ray worker, was pickled or deep-copied is a new object with the same
structure and weights, which its fingerprint recognises.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def model_fingerprint(model: nn.Module) -> str:
    """A digest of ``model``'s structure and state: every submodule's name and class, and every
    parameter's and buffer's name, dtype, shape and values (hex, 32 characters).

    Equal for a model and its copies (deepcopy, pickle, Ray) on any device; different as soon
    as one weight differs. Python attributes that are not tensors (hyperparameters of a
    custom module) are not read, so two models that differ only there share it.
    """
    h = hashlib.blake2b(digest_size=16)
    for name, module in model.named_modules():
        h.update(f"module {name} {type(module).__module__}.{type(module).__qualname__}\n".encode())
    for kind, named in (("param", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in named:
            h.update(f"{kind} {name} {t.dtype} {tuple(t.shape)}\n".encode())
            if t.layout == torch.strided and not t.is_meta and not t.is_quantized:
                # raw bytes of any dtype (bfloat16 has no numpy twin): reinterpret as uint8
                h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()
