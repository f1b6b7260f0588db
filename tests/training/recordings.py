"""Recordings for tests: a model whose parameters encode the step, finished, unfinished and killed runs."""

import os
import signal

import numpy as np
import torch

from weightcast.training import WeightRecorder, flatten_parameters


class Counter(torch.nn.Module):
    """Parameters that encode a value (sequence and step), so any snapshot can be checked exactly."""

    def __init__(self, n=3000):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(n // 3, 2))
        self.b = torch.nn.Parameter(torch.zeros(n - 2 * (n // 3)))

    def set_step(self, value):
        with torch.no_grad():
            self.a.copy_(value + torch.arange(self.a.numel(), dtype=torch.float32).reshape(self.a.shape) * 1e-3)
            self.b.fill_(-value)


def snapshot(model, sequence, step):
    """The flat parameters that :func:`record` stores for ``sequence`` at training step ``step``."""
    model.set_step(1000 * sequence + step)
    return flatten_parameters(model).numpy()


def record(path, n_sequences, n_steps, n_params=3000, stop_after=None, kill=False, **options):
    """Record ``n_sequences`` runs of ``n_steps`` snapshots; stop after ``stop_after`` snapshots in all.

    With ``kill``, the recording runs in a forked child that SIGKILLs itself right after its
    ``stop_after``-th snapshot; otherwise the recorder is closed there (or at the end).
    """
    if kill:
        pid = os.fork()
        if pid == 0:  # child
            try:
                torch.set_num_threads(1)
                record(path, n_sequences, n_steps, n_params, stop_after, on_stop=_kill_self, **options)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        return path
    on_stop = options.pop("on_stop", None)
    model = Counter(n_params)
    recorder = WeightRecorder(path, model, n_steps=n_steps, n_sequences=n_sequences, **options)
    taken = 0
    for seq in range(n_sequences):
        model.set_step(1000 * seq)
        recorder.start(model)
        taken += 1
        for step in range(1, n_steps):
            if stop_after is not None and taken >= stop_after:
                break
            model.set_step(1000 * seq + step)
            for _ in range(recorder.every):  # the snapshot is taken at the every-th training step
                recorder()
            taken += 1
        if stop_after is not None and taken >= stop_after:
            break
    if on_stop is not None:
        on_stop()
    recorder.close()
    return path


def _kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def expected(n_sequences, n_steps, n_params=3000):
    """Every snapshot :func:`record` takes: (n_sequences, n_steps, n_params)."""
    model = Counter(n_params)
    return np.stack([[snapshot(model, seq, step) for step in range(n_steps)] for seq in range(n_sequences)])
