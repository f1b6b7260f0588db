"""Bytes communicated by a fit over parameter shards, for several n_params (2 gloo processes, loopback).

For each total n_params (split in two shards) prints, per rank, what the reducer handed to collectives
(``TorchDistributedReducer.n_bytes``; an all-gather then delivers world_size times its payload to
each rank) and how many collectives it made:
  exact fit     LFN, solver="lstsq" (one pass: agreement rounds + one all-gather of [R | Q^T Y]);
  paper setup   LFD-2, solver="paper": everything outside the epochs (agreement, n_params, the warm
                start's exact fit, the per-sequence first change, the first validation loss);
  paper epoch   one epoch (one all-reduce per minibatch of [gradient, L1 total, change sums], one
                for the validation loss): the difference between 2 epochs and 1.
The bytes do not depend on n_params; the last column checks the exact fit's bytes against the
formula 2 x 64 + (p x (p + m)) x 8 for p = n_in + 1 columns and m target steps. These fits are
seeded (random_state=0); the last line shows what an unseeded fit adds (rank 0's generator state).

Usage: python benchmarks/distributed_bytes.py [--n-params 1000 10000 100000 1000000]
"""

import argparse
import socket
from datetime import timedelta

import numpy as np
import torch

N_SEQUENCES, N_VALIDATION, N_IN, M, BATCH_SIZE = 8, 2, 10, 10, 4


def _data(n_sequences, n_params, seed):
    rng = np.random.default_rng(seed)
    decay = 0.85 ** np.arange(N_IN + M, dtype=np.float32)[None, :, None]
    start, end = rng.normal(size=(2, n_sequences, 1, n_params)).astype(np.float32)
    S = end + (start - end) * decay
    return S[:, :N_IN], S[:, N_IN:]


def _worker(rank, world_size, port, sizes, queue):
    import torch.distributed as dist

    from weightcast import LFD2Forecaster, LFNForecaster
    from weightcast.distributed import TorchDistributedReducer, shard_slice

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size, timeout=timedelta(seconds=120))
    reducer = TorchDistributedReducer()

    def measure(fit):
        bytes_before, calls_before = reducer.n_bytes, reducer.n_collectives
        fit()
        return reducer.n_bytes - bytes_before, reducer.n_collectives - calls_before

    rows = []
    for n_params in sizes:
        shard = shard_slice(n_params, rank, world_size)
        X, Y = (a[:, :, shard] for a in _data(N_SEQUENCES, n_params, seed=0))
        X_val, Y_val = (a[:, :, shard] for a in _data(N_VALIDATION, n_params, seed=1))
        exact = measure(lambda: LFNForecaster(solver="lstsq", device="cpu", random_state=0).fit(
            X, Y, reducer=reducer))
        unseeded = measure(lambda: LFNForecaster(solver="lstsq", device="cpu").fit(X, Y, reducer=reducer))
        paper = {}
        for epochs in (1, 2):
            est = LFD2Forecaster(max_epochs=epochs, patience=epochs, batch_size=BATCH_SIZE, device="cpu",
                                 random_state=0)
            paper[epochs] = measure(lambda: est.fit(X, Y, validation_data=(X_val, Y_val), reducer=reducer))
        epoch = tuple(b - a for a, b in zip(paper[1], paper[2]))
        setup = tuple(a - b for a, b in zip(paper[1], epoch))
        rows.append((n_params, shard.stop - shard.start, exact, setup, epoch, unseeded))
    queue.put((rank, rows))
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-params", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--world-size", type=int, default=2)
    args = parser.parse_args()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = torch.multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_worker, args=(r, args.world_size, port, args.n_params, queue))
                 for r in range(args.world_size)]
    for process in processes:
        process.start()
    results = dict(queue.get(timeout=1800) for _ in processes)
    for process in processes:
        process.join(timeout=60)

    p = N_IN + 1
    formula = 2 * 64 + p * (p + M) * 8
    print(f"{args.world_size} gloo processes on 127.0.0.1; {N_SEQUENCES} sequences, {N_IN} input and {M} target "
          f"steps; paper solver: batch {BATCH_SIZE}, {N_VALIDATION} validation sequences")
    print("bytes handed to collectives by rank 0 (collective calls)")
    header = (f"{'n_params':>10} {'rank 0 shard':>12} {'exact fit':>16} {'paper setup':>16} "
              f"{'paper epoch':>16} {'exact = formula':>16}")
    print(header)
    for n_params, local, exact, setup, epoch, _ in results[0]:
        same_on_ranks = all(row[2:5] == (exact, setup, epoch) for row in
                            (r[[x[0] for x in r].index(n_params)] for r in results.values()))
        print(f"{n_params:>10,} {local:>12,} {exact[0]:>9,} B ({exact[1]:>2}) {setup[0]:>9,} B ({setup[1]:>2}) "
              f"{epoch[0]:>9,} B ({epoch[1]:>2}) {str(exact[0] == formula):>16}"
              + ("" if same_on_ranks else "  (ranks differ!)"))
    constant = len({row[2:] for row in results[0]}) == 1
    print(f"bytes independent of n_params: {constant}")
    extra = {row[5][0] - row[2][0] for row in results[0]}
    print(f"an unseeded fit adds rank 0's generator state, sent once: {sorted(extra)} B "
          f"(torch.Generator state: {torch.Generator().get_state().numel():,} B)")


if __name__ == "__main__":
    main()
