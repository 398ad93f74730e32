"""Model zoo: tasks with known mechanisms, small architectures, many seeds trained at once.

>>> from mechequiv.zoo import modular_addition, transformer, train_zoo
>>> zoo = train_zoo(modular_addition(23), transformer(alpha=0.0), seeds=range(4), steps=10)
>>> model = zoo.model(0); logits = model(zoo.task.inputs)        # (p*p, p)

- Tasks (:mod:`mechequiv.zoo.tasks`): ``modular_addition``, ``boolean``, ``histogram``; every
  task holds all rows (``inputs``, ``labels``), a seeded train/test split and its ``seed``.
- Architectures (:mod:`mechequiv.zoo.models`): ``mlp``, ``transformer`` (attention rate alpha),
  ``bilinear``.
- Training: :func:`train_zoo` (vectorised over seeds, checkpoints, resume), :func:`load_zoo`,
  :func:`load_checkpoint`.
- Mechanism labels (:mod:`mechequiv.zoo.labels`): gradient symmetricity, distance irrelevance,
  key Fourier frequencies; ``zoo.labels()``.
- Presets: :func:`pizza_clock` trains Pizza (alpha=0) and Clock (alpha=1) transformers.
- Compiled ground truth (:mod:`mechequiv.zoo.tracr`, needs ``tracr-pypi``): RASP programs
  (:data:`~mechequiv.zoo.rasp_programs.PROGRAMS`) compiled by Tracr into torch transformers with
  hook points and their known circuit; :func:`compile_program`, :func:`with_distractor`.
"""

from mechequiv.zoo.checkpoints import CheckpointMismatchError
from mechequiv.zoo.config import ZooConfig
from mechequiv.zoo.labels import MechanismLabels, mechanism_labels
from mechequiv.zoo.models import Architecture, bilinear, mlp, transformer
from mechequiv.zoo.presets import pizza_clock, pizza_clock_recipe
from mechequiv.zoo.result import History, Zoo, load_checkpoint, load_zoo
from mechequiv.zoo.tasks import Task, boolean, get_task, histogram, modular_addition
from mechequiv.zoo.tracr import (
    CompiledProgram,
    Program,
    TracrCircuit,
    TracrTransformer,
    compile_program,
    with_distractor,
)
from mechequiv.zoo.train import train_zoo

__all__ = [
    "Architecture",
    "CheckpointMismatchError",
    "CompiledProgram",
    "History",
    "MechanismLabels",
    "Program",
    "Task",
    "TracrCircuit",
    "TracrTransformer",
    "Zoo",
    "ZooConfig",
    "bilinear",
    "boolean",
    "compile_program",
    "get_task",
    "histogram",
    "load_checkpoint",
    "load_zoo",
    "mechanism_labels",
    "mlp",
    "modular_addition",
    "pizza_clock",
    "pizza_clock_recipe",
    "train_zoo",
    "transformer",
    "with_distractor",
]
