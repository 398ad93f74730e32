"""Zoo training in chunks of seeds through a backend equals the one-run zoo."""

from __future__ import annotations

import torch

from mechequiv.zoo import mlp, train_zoo
from mechequiv.zoo.tasks import boolean


def test_chunks_stack_into_the_same_zoo(tmp_path):
    task, arch = boolean("XOR"), mlp((8, 8), activation="leaky_relu")
    kw = dict(steps=40, eval_every=10, checkpoint_steps=(20,), lr=1e-2)
    whole = train_zoo(task, arch, seeds=range(5), progress=False, **kw)
    chunked = train_zoo(
        task, arch, seeds=range(5), chunks=2, out_dir=tmp_path, progress=False, **kw
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seeds-0-2", "seeds-3-4"]
    for k, v in whole.params.items():
        torch.testing.assert_close(chunked.params[k], v, rtol=1e-5, atol=1e-6)
    assert chunked.checkpoint_steps == [20, 40]
    x = task.inputs
    torch.testing.assert_close(chunked.load(20, 4)(x), whole.load(20, 4)(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        torch.as_tensor(chunked.history.test_acc), torch.as_tensor(whole.history.test_acc)
    )
    again = train_zoo(task, arch, seeds=range(5), chunks=2, out_dir=tmp_path, progress=False, **kw)
    assert all(torch.equal(again.params[k], chunked.params[k]) for k in whole.params)
