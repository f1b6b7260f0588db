"""Out-of-core fitting at DistilBERT scale: the paper's 60-step protocol streamed from an HDF5 file.

For each size it writes a synthetic trajectory file of one run of 60 steps (optimiser-like decaying
trajectories, float32, chunks of 5 steps x 2^18 parameters), then runs each operation in a fresh
subprocess, with the file evicted from the page cache first, and prints its wall time, its ratio to
the bare h5py pass over the same data in the same run, and its peak resident memory:

* read 0-29: a bare chunked h5py read of steps 0-29 (what the fit reads), slab by slab into one buffer;
* exact fit: LFD2Forecaster(solver="lstsq") fitted on steps 0-4 -> 5-29 (ratio to read 0-29);
* paper epoch: one epoch of the paper solver (init="default", max_epochs=1), timed around its pass;
  the whole fit (the epoch plus the pass that scores the final weights) is shown on the next line;
* read 30-34 + write: a bare read of the forecast's inputs plus a bare chunked write (and fsync) of a
  (1, 25, n_params) file of random floats (a disk may write a constant faster than a forecast's bytes);
* predict to file: forecast steps 35-59 from 30-34 into an HDF5 file (ratio to read 30-34 + write).

Usage::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/scale.py --dir /work [--sizes 1e6 1e7 66960393]

All files are removed at the end. Every operation runs on the CPU with one torch thread; imports
(torch, weightcast) happen before the clock starts; peak RSS includes them (about 0.4 GB).
"""

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

N_STEPS, N_IN, FIT_END, PREDICT_START = 60, 5, 30, 30
CHUNK_STEPS, CHUNK_PARAMS = 5, 2 ** 18
SLAB = 2 ** 20


# ---------------------------------------------------------------------------------------------- data
def write_trajectories(path, n_params, seed=0, n_steps=N_STEPS):
    """One run of ``n_steps`` steps: w_t = w_inf + (w_0 - w_inf) r^t + noise fading with the learning rate."""
    from weightcast.io import SequenceWriter

    rng = np.random.default_rng(seed)
    t = np.arange(n_steps, dtype=np.float32)[:, None]
    with SequenceWriter(path, 1, n_params, n_steps=n_steps, chunk_steps=CHUNK_STEPS,
                        chunk_params=CHUNK_PARAMS) as writer:
        for p0 in range(0, n_params, CHUNK_PARAMS):
            p1 = min(p0 + CHUNK_PARAMS, n_params)
            width = p1 - p0
            w_inf = rng.normal(0, 0.05, width).astype(np.float32)
            w_0 = w_inf + rng.normal(0, 0.02, width).astype(np.float32)
            rate = rng.uniform(0.85, 0.99, width).astype(np.float32)
            decay = rate[None, :] ** t
            noise = rng.normal(0, 2e-4, (n_steps, width)).astype(np.float32) * np.sqrt(decay)
            block = w_inf + (w_0 - w_inf) * decay + noise
            writer.write_slab(slice(p0, p1), block[None])


def evict(path):
    """Drop ``path`` from this machine's page cache, so the next operation reads it from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- operations
def op_read(path, start, stop):
    with h5py.File(path, "r") as f:
        ds = f["weights"]
        n_params = ds.shape[2]
        buffer = np.empty((stop - start, min(SLAB, n_params)), dtype=ds.dtype)
        for p0 in range(0, n_params, SLAB):
            p1 = min(p0 + SLAB, n_params)
            ds.read_direct(buffer, np.s_[0, start:stop, p0:p1], np.s_[:, :p1 - p0])
    return {}


def forecast_bytes(path, m):
    """A ``(1, m, slab)`` block of random float32 values for op_read_write, built before the clock starts.

    A bare write must write bytes like a forecast's: this machine's disk writes a constant block about twice
    as fast as random floats (it compresses or deduplicates), which would flatter the bare pass."""
    with h5py.File(path, "r") as f:
        n_params = f["weights"].shape[2]
    return np.random.default_rng(1).random((1, m, min(SLAB, n_params)), dtype=np.float32)


def op_read_write(path, out, block, start=PREDICT_START):
    """The I/O a forecast does: read its 5 input steps from ``start``, write ``block.shape[1]`` steps (whole
    chunks, then fsync), each slab from ``block`` (see forecast_bytes)."""
    from weightcast.io.hdf5 import default_chunks

    started = time.perf_counter()
    op_read(path, start, start + N_IN)
    read_s = time.perf_counter() - started
    m = block.shape[1]
    with h5py.File(path, "r") as f:
        n_params = f["weights"].shape[2]
    words = block.reshape(-1).view(np.uint32)
    with h5py.File(out, "w", libver="latest") as f:
        ds = f.create_dataset("weights", (1, m, n_params), dtype=np.float32,
                              chunks=default_chunks(n_params, m, np.float32))
        for p0 in range(0, n_params, SLAB):
            p1 = min(p0 + SLAB, n_params)
            words[::1024] += 1  # no two 4 KiB pages of the file alike
            ds.write_direct(block, np.s_[:, :, :p1 - p0], np.s_[:, :, p0:p1])
    with open(out, "rb+") as handle:
        os.fsync(handle.fileno())
    return {"read_s": read_s}


def op_exact(path, model_path):
    from weightcast import LFD2Forecaster
    from weightcast.io import open_sequences

    S = open_sequences(path)
    est = LFD2Forecaster(solver="lstsq", device="cpu", slab_size=SLAB).fit(S[:, :N_IN], S[:, N_IN:FIT_END])
    with open(model_path, "wb") as handle:
        pickle.dump(est, handle)
    return {"coef": est.coef_.round(4).tolist()}


def op_paper(path):
    import weightcast.linear as linear
    from weightcast import LFD2Forecaster
    from weightcast.io import open_sequences

    passes = []
    gradient = linear.paper_gradient

    def timed_gradient(*args, **kwargs):  # one minibatch = the whole epoch here (one run)
        started = time.perf_counter()
        result = gradient(*args, **kwargs)
        passes.append(time.perf_counter() - started)
        return result

    linear.paper_gradient = timed_gradient
    S = open_sequences(path)
    est = LFD2Forecaster(init="default", max_epochs=1, device="cpu", slab_size=SLAB, random_state=0)
    est.fit(S[:, :N_IN], S[:, N_IN:FIT_END])
    return {"epoch_s": sum(passes), "n_epochs": est.n_epochs_}


def op_predict(path, model_path, out):
    from weightcast.io import open_sequences

    with open(model_path, "rb") as handle:
        est = pickle.load(handle)
    S = open_sequences(path)
    forecast = est.predict(S[:, PREDICT_START:PREDICT_START + N_IN], out=out)
    return {"shape": list(forecast.shape)}


def child(args):
    """Run one operation in this fresh process; print its timing and peak RSS as JSON."""
    import torch

    import weightcast  # noqa: F401  (imports are not the operation: load them before the clock starts)

    torch.set_num_threads(1)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports torch._dynamo
    operations = {
        "read": lambda: op_read(args.file, 0, FIT_END),
        "read_write": lambda: op_read_write(args.file, args.out, block),
        "exact": lambda: op_exact(args.file, args.model),
        "paper": lambda: op_paper(args.file),
        "predict": lambda: op_predict(args.file, args.model, args.out),
    }
    block = forecast_bytes(args.file, N_STEPS - PREDICT_START - N_IN) if args.op == "read_write" else None
    started = time.perf_counter()
    result = operations[args.op]()
    result["wall_s"] = time.perf_counter() - started
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def peak_rss_mb():
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_fresh(script, args, cold=(), threads=1):
    """Run ``python script *args`` in a fresh process (``threads`` BLAS/OpenMP threads) after evicting the files
    ``cold`` from the page cache; return the JSON object its last line prints."""
    for path in cold:
        if os.path.exists(path):
            evict(path)
    threads = str(threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    done = subprocess.run([sys.executable, os.path.abspath(script), *map(str, args)], capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{os.path.basename(script)} {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child(op, file, model, out, repeat):
    """Run ``op`` ``repeat`` times, each in a fresh process on a cold file; keep the fastest run."""
    best = None
    for _ in range(repeat):
        result = run_fresh(__file__, ["--child", op, "--file", file, "--model", model, "--out", out], cold=(file, out))
        if os.path.exists(out):
            os.remove(out)
        if best is not None:
            result["peak_rss_mb"] = max(result["peak_rss_mb"], best["peak_rss_mb"])
        key = "epoch_s" if op == "paper" else "wall_s"
        best = result if best is None or result[key] < best[key] else dict(best, peak_rss_mb=result["peak_rss_mb"])
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 66_960_393])
    parser.add_argument("--repeat", type=int, default=2, help="runs per operation; the fastest is shown")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the files go (needs 1.5x the data)")
    parser.add_argument("--child", dest="op", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.op:
        return child(args)

    workdir = tempfile.mkdtemp(prefix="weightcast-scale-", dir=args.dir)
    print(f"files in {workdir}; each operation in a fresh process, file evicted from the page cache "
          f"first (cold reads), fastest of {args.repeat} runs, 1 torch thread, slab {SLAB} parameters, "
          f"chunks (1, {CHUNK_STEPS}, {CHUNK_PARAMS})")
    header = f"{'n_params':>11} | {'operation':<30} | {'wall s':>8} | {'ratio':>6} | {'peak RSS MB':>11}"
    rows = [header, "-" * len(header)]
    try:
        for size in args.sizes:
            n_params = int(size)
            data_bytes = N_STEPS * n_params * 4
            free = shutil.disk_usage(workdir).free
            if free < 1.5 * data_bytes:
                print(f"skipping n_params={n_params}: needs {1.5 * data_bytes / 1e9:.1f} GB, "
                      f"{free / 1e9:.1f} GB free in {workdir}")
                continue
            path = os.path.join(workdir, f"run_{n_params}.h5")
            model = os.path.join(workdir, "model.pkl")
            out = os.path.join(workdir, "forecast.h5")
            started = time.perf_counter()
            write_trajectories(path, n_params)
            print(f"n_params={n_params}: wrote {data_bytes / 1e9:.2f} GB in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)

            read = run_child("read", path, model, out, args.repeat)
            exact = run_child("exact", path, model, out, args.repeat)
            paper = run_child("paper", path, model, out, args.repeat)
            io = run_child("read_write", path, model, out, args.repeat)
            predict = run_child("predict", path, model, out, args.repeat)
            base, io_base = read["wall_s"], io["wall_s"]
            lines = [("read 0-29 (bare h5py)", read["wall_s"], base, read),
                     ("exact fit (LFD-2, lstsq)", exact["wall_s"], base, exact),
                     ("paper solver: one epoch", paper["epoch_s"], base, paper),
                     ("  whole fit, max_epochs=1", paper["wall_s"], base, paper),
                     ("read 30-34 + write (bare)", io["wall_s"], io_base, io),
                     ("predict to file", predict["wall_s"], io_base, predict)]
            for name, seconds, reference, result in lines:
                rows.append(f"{n_params:>11} | {name:<30} | {seconds:>8.2f} | {seconds / reference:>6.2f} | "
                            f"{result['peak_rss_mb']:>11.0f}")
            print("\n".join(rows[-len(lines):]), flush=True)
            os.remove(path)
            os.remove(model)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print("\n".join(rows))
    print("ratio: wall time / 'read 0-29' of the same size (fits), or / 'read 30-34 + write' (predict).")


if __name__ == "__main__":
    main()
