"""Sums over parameters, in one process or across the ranks of a torch.distributed job.

Fitting a linear farcaster is "map over parameter slabs, reduce small statistics": the exact solver
needs a (p x p) triangular factor and a (p x m) projection of the targets, the paper's solver a
(p x m) gradient and a few per-sequence sums, where p is the number of input steps read (+ 1) and m
the horizon. A reducer completes those sums. :class:`LocalReducer` (the default) has nothing to add;
:class:`TorchDistributedReducer` adds the other ranks' shares over a process group, so every rank
holds the same sequences and steps but only its own parameters, and every rank ends with the same
fitted coefficients. What is communicated never depends on the number of parameters.

Failures before a rank's first data collective (bad input on one rank, a shard that cannot be read,
ranks that disagree on shapes or settings) are reported to every rank, which all raise. A failure
later on (in the paper solver's epochs) stops the failing rank; the others stop when its process
exits or at the process group's timeout.
"""

import functools
import numbers
import zlib

import numpy as np
import torch

__all__ = ["LocalReducer", "TorchDistributedReducer", "shard_slice", "local_parameters"]

_N_FACTS = 8  # fixed length of an agreement round, so that any round matches any other


class LocalReducer:
    """The reducer of a single process: every sum over parameters is already complete.

    Attributes
    ----------
    rank : int, always 0
    world_size : int, always 1
    n_bytes : int, always 0 (nothing is communicated)
    n_collectives : int, always 0
    """

    rank = 0
    world_size = 1
    n_bytes = 0
    n_collectives = 0

    def sum(self, *values):
        """Sum each value (tensor or number) over the ranks; here, return the values."""
        return values[0] if len(values) == 1 else values

    def combine_qr(self, R, QtY):
        """Combine the ranks' streaming-QR factors; here, return them."""
        return R, QtY

    def agree(self, generator=None, **facts):
        """Check that the ranks agree on ``facts`` and share ``generator``'s state; here, nothing to do."""

    def _begin(self):
        pass

    def _end(self):
        pass

    def _fail(self, error):
        pass


LOCAL = LocalReducer()


class TorchDistributedReducer(LocalReducer):
    """Sums over parameters across the ranks of a ``torch.distributed`` process group.

    Each rank fits on its own parameter shard of the same sequences and steps (its own array or
    file, a parameter range of a shared file, or the local shard of an FSDP model) and gets the same
    fitted coefficients. Tensors go through the group's backend: gloo on the CPU, nccl on the GPU.

    Parameters
    ----------
    group : ProcessGroup or None, default=None
        The group to reduce over; None is the default group, the one started by
        ``torch.distributed.init_process_group`` (by the user or under ``torchrun``). Give it a
        ``timeout`` so that a rank that dies late in a fit cannot hang the others.

    Attributes
    ----------
    rank, world_size : int
        This process's rank in ``group`` and the group's size.
    n_bytes : int
        Bytes this rank has handed to collectives so far (its payload; an all-gather then delivers
        ``world_size`` times as much to each rank).
    n_collectives : int
        Collective calls made so far.

    Examples
    --------
    Under ``torchrun --nproc-per-node 2 script.py``, with ``X_shard``, ``Y_shard`` this rank's
    parameters of the same sequences::

        import torch.distributed as dist
        from weightcast import LFD2Forecaster
        from weightcast.distributed import TorchDistributedReducer

        dist.init_process_group("gloo")
        est = LFD2Forecaster(random_state=0).fit(X_shard, Y_shard, reducer=TorchDistributedReducer())
        Y_pred_shard = est.predict(X_shard)  # per parameter: no communication
    """

    def __init__(self, group=None):
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("TorchDistributedReducer needs a torch.distributed process group: call "
                               "torch.distributed.init_process_group(...) first (torchrun sets up its "
                               "environment), or fit without a reducer for a single process")
        self._dist = dist
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        backend = str(dist.get_backend(group))
        # nccl moves CUDA tensors only; gloo moves CPU tensors (a mixed "cpu:gloo,cuda:nccl" uses nccl).
        self._device = (torch.device("cuda", torch.cuda.current_device()) if "nccl" in backend
                        else torch.device("cpu"))
        self.n_bytes = 0
        self.n_collectives = 0
        self._open = False

    def __repr__(self):
        return f"TorchDistributedReducer(rank={self.rank}, world_size={self.world_size})"

    # ------------------------------------------------------------------ data collectives
    def sum(self, *values):
        """Sum each value over the ranks in one all-reduce.

        Values are tensors (any shape and dtype; summed in float64, returned in their own dtype and
        device) or Python numbers (returned as int or float). One value in, one value out.
        """
        self._close_round()
        flat = [torch.as_tensor(v, dtype=torch.float64).reshape(-1).to(self._device) for v in values]
        buffer = torch.cat(flat)
        self._count(buffer)
        self._dist.all_reduce(buffer, group=self.group)
        out, start = [], 0
        for value, part in zip(values, flat):
            chunk = buffer[start:start + part.numel()]
            start += part.numel()
            if isinstance(value, torch.Tensor):
                out.append(chunk.reshape(value.shape).to(device=value.device, dtype=value.dtype))
            elif isinstance(value, numbers.Integral):
                out.append(int(round(float(chunk[0]))))
            else:
                out.append(float(chunk[0]))
        return out[0] if len(out) == 1 else tuple(out)

    def combine_qr(self, R, QtY):
        """Factor the ranks' stacked R and Q^T Y again: the QR of all rows, without normal equations.

        [R_1; ...; R_k] has the same R^T R as every rank's rows together (the Gram matrix is never
        formed, so nothing is squared), and the projected targets follow with the same Q. All ranks
        get the same factors from the same gathered bytes, whatever the number of parameters.
        """
        self._close_round()
        p = R.shape[0]
        local = torch.cat([R, QtY], dim=1).to(device=self._device, dtype=torch.float64).contiguous()
        stacked = torch.empty((self.world_size * p, local.shape[1]), device=self._device, dtype=torch.float64)
        self._count(local)
        self._all_gather(stacked, local, group=self.group)
        Q, R_all = torch.linalg.qr(stacked[:, :p])
        QtY_all = Q.T @ stacked[:, p:]
        return R_all.to(device=R.device, dtype=R.dtype), QtY_all.to(device=QtY.device, dtype=QtY.dtype)

    # ------------------------------------------------------------------ agreement and failures
    def _begin(self):
        self._open = True

    def _end(self):
        self._open = False

    def agree(self, generator=None, **facts):
        """Check that every rank is ready and agrees on ``facts``; give all ranks rank 0's ``generator``.

        ``facts`` are integers (shapes), arrays (compared by checksum) or a dict of estimator
        parameters (numbers, strings and None compared; objects skipped). Raises on every rank when
        some rank failed or the ranks disagree.
        """
        state = None if generator is None else generator.get_state()
        seeds = self._round(0, facts, state=state)
        # Same seed on every rank: nothing to send. Otherwise (no seed) all ranks take rank 0's state.
        if state is not None and (seeds != seeds[0]).any():
            state = state.to(self._device)
            self._count(state)
            self._dist.broadcast(state, src=self._global_rank(0), group=self.group)
            generator.set_state(state.cpu())

    def _fail(self, error):
        """Called with a local error: if the other ranks wait in an agreement round, tell them."""
        if self._open:
            self._round(1, {}, error=error)

    def _close_round(self):
        """Before the first data collective of a fit: one last round, so that local errors still surface."""
        if self._open:
            self._round(0, {})
            self._open = False

    def _round(self, failed, facts, error=None, state=None):
        """One agreement round: gather [failed, facts..., generator checksum] from every rank.

        Returns the ranks' generator checksums when no rank failed and all facts agree.
        """
        if len(facts) > _N_FACTS - 2:
            raise ValueError(f"at most {_N_FACTS - 2} facts per agreement round, got {list(facts)}")
        vector = torch.full((_N_FACTS,), -1, dtype=torch.int64)
        vector[0] = failed
        vector[1:1 + len(facts)] = torch.as_tensor([_fact_code(v) for v in facts.values()], dtype=torch.int64)
        if state is not None:
            vector[-1] = zlib.crc32(state.numpy().tobytes())
        vector = vector.to(self._device)
        gathered = torch.empty(self.world_size * _N_FACTS, dtype=torch.int64, device=self._device)
        self._count(vector)
        self._all_gather(gathered, vector, group=self.group)
        table = gathered.cpu().reshape(self.world_size, _N_FACTS)
        if table[:, 0].any():
            self._open = False
            messages = [None] * self.world_size
            self._dist.all_gather_object(messages, None if error is None else f"{type(error).__name__}: {error}",
                                         group=self.group)
            if error is not None:
                return  # the caller re-raises its own error
            failures = "; ".join(f"rank {r}: {m}" for r, m in enumerate(messages) if m is not None)
            raise RuntimeError(f"fit stopped on every rank because of an error on another rank ({failures})")
        for column, (name, value) in enumerate(facts.items(), start=1):
            values = table[:, column]
            if (values != values[0]).any():
                self._open = False
                shown = values.tolist() if isinstance(value, numbers.Integral) else "differing checksums"
                raise ValueError(f"the ranks disagree on {name} ({shown}): every rank must hold the same "
                                 "sequences and steps, with at least one parameter of its own, and use the "
                                 "same settings")
        return table[:, -1]

    def _all_gather(self, output, tensor, group):
        # torch 2.13 renamed all_gather_into_tensor to all_gather_single; older versions have only the former.
        gather = getattr(self._dist, "all_gather_single", None) or self._dist.all_gather_into_tensor
        gather(output, tensor, group=group)

    def _count(self, tensor):
        self.n_bytes += tensor.numel() * tensor.element_size()
        self.n_collectives += 1

    def _global_rank(self, group_rank):
        return group_rank if self.group is None else self._dist.get_global_rank(self.group, group_rank)


_RANK_LOCAL_PARAMS = ("verbose", "device")  # may differ between ranks without changing the fit


def _fact_code(value):
    """An integer that two ranks share exactly when they share ``value``."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, dict):
        simple = sorted((k, v) for k, v in value.items() if k not in _RANK_LOCAL_PARAMS
                        and (v is None or isinstance(v, (numbers.Number, str, bool))))
        return zlib.crc32(repr(simple).encode())
    return zlib.crc32(np.ascontiguousarray(value, dtype=np.int64).tobytes())


def as_reducer(reducer):
    """None -> the local reducer; otherwise the reducer itself, checked."""
    if reducer is None:
        return LOCAL
    if not isinstance(reducer, LocalReducer):
        raise TypeError(f"reducer must be None, LocalReducer or TorchDistributedReducer, got {reducer!r}")
    return reducer


def collective_fit(fit):
    """Decorate ``fit(self, ..., *, reducer=None)``: resolve the reducer, and report a local error
    to the other ranks while they can still hear it (see the module docstring)."""

    @functools.wraps(fit)
    def wrapper(self, *args, reducer=None, **kwargs):
        reducer = as_reducer(reducer)
        reducer._begin()
        try:
            return fit(self, *args, reducer=reducer, **kwargs)
        except Exception as error:
            reducer._fail(error)
            raise
        finally:
            reducer._end()

    return wrapper


# ---------------------------------------------------------------------- shards
def shard_slice(n_params, rank=None, world_size=None):
    """The contiguous parameter range of one rank: ``world_size`` near-equal parts of ``range(n_params)``.

    With ``rank``/``world_size`` None, those of the default process group. Use it to read a rank's
    shard of a shared array or HDF5 dataset: ``X[:, :, shard_slice(X.shape[2])]``.

    Examples
    --------
    >>> from weightcast.distributed import shard_slice
    >>> [shard_slice(10, r, 3) for r in range(3)]
    [slice(0, 4, None), slice(4, 7, None), slice(7, 10, None)]
    """
    if rank is None or world_size is None:
        import torch.distributed as dist

        if not dist.is_initialized():
            raise RuntimeError("shard_slice needs rank and world_size, or an initialised process group")
        rank, world_size = dist.get_rank(), dist.get_world_size()
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    base, extra = divmod(n_params, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def local_parameters(module):
    """This rank's parameters of ``module``, flattened into one 1-D float tensor (detached copy).

    For an FSDP-sharded module (``torch.distributed.fsdp.fully_shard``) these are the local shards
    (``DTensor.to_local()``); for a plain module, all parameters. Recording it at each step gives the
    rank's (n_steps, n_params_local) trajectory to fit and forecast.
    """
    parts = []
    for parameter in module.parameters():
        data = parameter.detach()
        if hasattr(data, "to_local"):
            data = data.to_local()
        parts.append(data.reshape(-1).float().cpu())
    return torch.cat(parts) if parts else torch.zeros(0)
