"""weightcast against what users would pick instead: the same rows, at every size, in memory and from HDF5.

For each size it writes one synthetic run of 30 steps (the optimiser-like trajectories of ``scale.py``, float32,
chunks of 5 steps x 2^18 parameters) and follows the paper's protocol: fit steps 0-4 -> 5-29 (LFD-2 reads
steps 0 and 4, LFN all five input steps), forecast 25 steps from steps 0-4. Every operation runs in a fresh
process, so that each has its own peak RSS (VmHWM); imports happen before the clock starts, and so does the
load of the exact fits' compiled float32 loops (once per process; its time is printed on their lines as
"loops loaded in").

In memory (the steps an operation needs are read from the file into arrays before the clock starts; the
median of at least ``--repeat`` runs in one process, more until they take a second):

* bare pass 0,4,5-29: numpy's float32 ``sum`` of each step row the LFD-2 fit reads (steps 0 and 4 of X, all
  of Y: 27 of the 30 steps), split over ``--threads`` threads; with ``--device cuda``, a copy of those rows
  to the device, slab by slab, and a sum there;
* LFD-2 exact fit / paper epoch: ``LFD2Forecaster(solver="lstsq").fit(X, Y)``; one epoch of
  ``LFD2Forecaster(init="default", max_epochs=1)``, timed around its gradient pass (ratio to the bare pass);
* bare pass 0-29 and LFN exact fit: the same over all 30 steps, ``LFNForecaster(solver="lstsq")``;
* bare predict: the sum of steps 0 and 4 plus writing a new (1, 25, n_params) float32 array (``np.empty`` and
  ``fill``): the memory traffic of a forecast; predict: ``est.predict(X)`` into a new array. A new array's pages
  are mapped as they are first written, which on a virtual machine can cost more than the forecast (and varies
  from run to run: memory freed a few seconds before is handed back to the host, ``new_pages.py``), so the same
  pair also runs into a reused array whose pages are mapped already (``fill`` / ``est.predict(X, out=out)``):
  the cost of the forecast itself;
* peers, on the design matrix a user would build (``Z = X[0, steps].T``, ``T = Y[0].T``, float32 as the data):
  scikit-learn ``LinearRegression().fit(Z, T)`` and ``numpy.linalg.lstsq([Z, 1], T)``, building Z included; the
  ratio is their time over weightcast's fit of the same model (how many times faster weightcast is), and
  "max|diff|" compares their forecasts of every row with weightcast's (checked against 1e-5).

From HDF5 (cold reads: each run in a fresh process with the files first evicted from the page cache;
``--repeat`` rounds, each running every HDF5 operation once, so that an operation and its bare pass meet the
same disk; the time is the median of the rounds, the ratio the median of the rounds' ratios, each listed):

* bare read 0-29: chunk-aligned h5py ``read_direct`` of steps 0-29 into one reused buffer (what the fits read);
* LFD-2 / LFN exact fit, paper epoch: as above, on a lazy view of the file (ratio to the bare read); "reads" is
  the time spent inside the view's reads (in the background reader thread): a fit that overlaps reading and
  computing takes little more than its reads;
* bare read 0-4 + write: a bare read of the forecast's inputs plus a bare chunked write (and fsync) of a
  (1, 25, n_params) float32 file of random values (a disk may write a constant faster than a forecast's
  bytes, see ``scale.forecast_bytes``); predict to file: ``est.predict(view[:, 0:5], out=PATH)`` (ratio to it).

Sizes whose in-memory data plus an operation's working memory (measured at the previous size, per parameter)
would not fit in the memory available are skipped for that operation, with the reason printed.

Usage::

    nice -n 10 python benchmarks/peers.py --dir /work/out [--sizes 1e6 1e7 66960393] [--ops mem peers h5]
        [--threads 1] [--repeat 3] [--device cpu|cuda]

All files are removed at the end.
"""

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import forecast_bytes, op_read, op_read_write, peak_rss_mb, run_fresh, write_trajectories  # noqa: E402

N_STEPS, N_IN = 30, 5
HORIZON = N_STEPS - N_IN
SLAB = 2 ** 20
AGREE = 1e-5
MIN_TIMED_S, MAX_RUNS = 1.0, 100  # in memory: runs are repeated until they take this long, or this many
STEPS = {"lfd2": [0, N_IN - 1], "lfn": list(range(N_IN))}

# name: (where, what the line says, the line its ratio is taken to (None: itself), model)
OPERATIONS = {
    "mem_bare_fit": ("memory", "bare pass 0,4,5-29 (sum)", None, None),
    "mem_lfd2": ("memory", "LFD-2 exact fit", "mem_bare_fit", "lfd2"),
    "mem_paper": ("memory", "LFD-2 paper solver: one epoch", "mem_bare_fit", "lfd2"),
    "mem_bare_all": ("memory", "bare pass 0-29 (sum)", None, None),
    "mem_lfn": ("memory", "LFN exact fit", "mem_bare_all", "lfn"),
    "mem_bare_predict": ("memory", "bare predict: sum 0,4 + new out", None, None),
    "mem_predict": ("memory", "LFD-2 predict (new array)", "mem_bare_predict", "lfd2"),
    "mem_bare_predict_out": ("memory", "bare predict: sum 0,4 + fill out", None, None),
    "mem_predict_out": ("memory", "LFD-2 predict(out=reused array)", "mem_bare_predict_out", "lfd2"),
    "sk_lfd2": ("memory", "sklearn LinearRegression, LFD-2", "mem_lfd2", "lfd2"),
    "np_lfd2": ("memory", "numpy.linalg.lstsq, LFD-2", "mem_lfd2", "lfd2"),
    "sk_lfn": ("memory", "sklearn LinearRegression, LFN", "mem_lfn", "lfn"),
    "np_lfn": ("memory", "numpy.linalg.lstsq, LFN", "mem_lfn", "lfn"),
    "h5_bare_read": ("HDF5", "bare read 0-29 (h5py)", None, None),
    "h5_lfd2": ("HDF5", "LFD-2 exact fit", "h5_bare_read", "lfd2"),
    "h5_lfn": ("HDF5", "LFN exact fit", "h5_bare_read", "lfn"),
    "h5_paper": ("HDF5", "LFD-2 paper solver: one epoch", "h5_bare_read", "lfd2"),
    "h5_bare_rw": ("HDF5", "bare read 0-4 + write 25 steps", None, None),
    "h5_predict": ("HDF5", "LFD-2 predict to file", "h5_bare_rw", "lfd2"),
}
GROUPS = {"mem": [k for k in OPERATIONS if k.startswith("mem_")],
          "peers": [k for k in OPERATIONS if k[:3] in ("sk_", "np_")],
          "h5": [k for k in OPERATIONS if k.startswith("h5_")]}


# ---------------------------------------------------------------------------------------------- child side
def load(path, stop):
    """Steps 0..stop-1 of the file, in memory."""
    from weightcast.io import open_sequences

    return np.asarray(open_sequences(path)[:, :stop])


def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def in_threads(function, n, threads):
    """Run ``function(start, stop)`` over ``threads`` contiguous parts of range(n) at once."""
    if threads == 1:
        return [function(0, n)]
    cuts = np.linspace(0, n, threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, cuts[:-1], cuts[1:]))


def forecast_array(n):
    """A (1, 25, n) float32 array whose pages are already mapped: what a caller reusing ``out=`` holds."""
    out = np.empty((1, HORIZON, n), dtype=np.float32)
    out.fill(0.0)
    return out


def model_for(args, kind):
    """The exact weightcast model of ``kind``: the one the exact fit of this size saved, or fitted here."""
    path = os.path.join(args.dir, f"model_{kind}_{args.size}.pkl")
    if os.path.exists(path):
        with open(path, "rb") as handle:
            return pickle.load(handle)
    from weightcast import LFD2Forecaster, LFNForecaster
    from weightcast.io import open_sequences

    S = open_sequences(args.file)
    cls = LFD2Forecaster if kind == "lfd2" else LFNForecaster
    return cls(solver="lstsq", device=args.device, slab_size=SLAB).fit(S[:, :N_IN], S[:, N_IN:])


def save_model(args, kind, est):
    path = os.path.join(args.dir, f"model_{kind}_{args.size}.pkl")
    if not os.path.exists(path):
        with open(path + ".tmp", "wb") as handle:
            pickle.dump(est, handle)
        os.replace(path + ".tmp", path)


def synchronize(device):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_epochs(device):
    """Wrap the paper solver's gradient pass (one minibatch = one epoch here: one run); returns its times."""
    import weightcast.linear as linear

    passes, gradient = [], linear.paper_gradient

    def timed_gradient(*a, **k):
        started = time.perf_counter()
        result = gradient(*a, **k)
        synchronize(device)
        passes.append(time.perf_counter() - started)
        return result

    linear.paper_gradient = timed_gradient
    return passes


def timed_reads():
    """Accumulate the time spent inside SequenceView reads (in whichever thread), and keep every RowReader made
    (their ``waited``: the time the computation waited for the reader thread)."""
    import threading

    import weightcast.rows as rows
    from weightcast.io import SequenceView

    total, lock, read_block, init = [0.0], threading.Lock(), SequenceView.read_block, rows.RowReader.__init__
    readers = []

    def register(self, *a, **k):
        init(self, *a, **k)
        readers.append(self)

    rows.RowReader.__init__ = register

    def timed_read_block(self, *a, **k):
        started = time.perf_counter()
        try:
            return read_block(self, *a, **k)
        finally:
            with lock:
                total[0] += time.perf_counter() - started

    SequenceView.read_block = timed_read_block
    return total, readers


def peer_forecasts_agree(args, kind, forecast, X):
    """max |peer forecast - weightcast forecast| over every row and step (forecast: (n_params, 25))."""
    est = model_for(args, kind)
    ours = est.predict(X)[0]  # (25, n_params)
    return float(np.abs(forecast.T - ours).max())


def load_kernels():
    """Load the exact fit's compiled float32 loops as its first large float32 update would (numba's import and
    its machine code, compiled once per installation and cached), and return how long it took: a cost once
    per process, like an import, so it is paid before the clock starts and printed on the fit's line."""
    started = time.perf_counter()
    from weightcast.kernels import whitened_products

    whitened_products(np.ones((3, 2), np.float32), 1.0, np.ones((2, 8), np.float32), np.ones((25, 8), np.float32))
    return time.perf_counter() - started


def child(args):
    import torch

    import weightcast  # noqa: F401  (imports are not the operation: load them before the clock starts)
    from weightcast import LFD2Forecaster, LFNForecaster
    from weightcast.io import open_sequences

    torch.set_num_threads(args.threads)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports torch._dynamo
    op, device, threads, n = args.op, args.device, args.threads, args.size
    load_average = os.getloadavg()[0]
    result = {}
    exact_fit_on_cpu = op in ("mem_lfd2", "mem_lfn", "h5_lfd2", "h5_lfn") and device == "cpu"

    def repeat(function):
        """The median time of ``function``: at least ``--repeat`` runs, more (up to 100) until they take a
        second, so that the operations of a few milliseconds are not one scheduler hiccup away from their bare
        passes."""
        walls = []
        while len(walls) < args.repeat or (sum(walls) < MIN_TIMED_S and len(walls) < MAX_RUNS):
            started = time.perf_counter()
            function()
            synchronize(device)
            walls.append(time.perf_counter() - started)
        return float(np.median(walls))

    if op.startswith("h5_"):
        reads, readers = timed_reads()
        S = open_sequences(args.file)
        block = forecast_bytes(args.file, HORIZON) if op == "h5_bare_rw" else None
        if exact_fit_on_cpu:
            result["kernels_load_s"] = load_kernels()
        started = time.perf_counter()
        if op == "h5_bare_read":
            op_read(args.file, 0, N_STEPS)
        elif op in ("h5_lfd2", "h5_lfn"):
            cls = LFD2Forecaster if op == "h5_lfd2" else LFNForecaster
            est = cls(solver="lstsq", device=device, slab_size=SLAB).fit(S[:, :N_IN], S[:, N_IN:])
            result["coef"] = est.coef_.round(5).tolist()
        elif op == "h5_paper":
            passes = timed_epochs(device)
            LFD2Forecaster(init="default", max_epochs=1, device=device, slab_size=SLAB,
                           random_state=0).fit(S[:, :N_IN], S[:, N_IN:])
        elif op == "h5_bare_rw":
            op_read_write(args.file, args.out, block, start=0)
        elif op == "h5_predict":
            est = model_for(args, "lfd2")
            reads[0], started = 0.0, time.perf_counter()
            readers.clear()
            est.predict(S[:, :N_IN], out=args.out)
        synchronize(device)
        result["wall_s"] = time.perf_counter() - started
        if op == "h5_paper":
            result["wall_s"] = passes[0]
        if op in ("h5_lfd2", "h5_lfn"):
            save_model(args, op[3:], est)
        if op != "h5_bare_read" and op != "h5_bare_rw":
            result["reads_s"] = reads[0]
            result["waited_s"] = sum(reader.waited for reader in readers)
    else:
        S = load(args.file, N_IN if "predict" in op else N_STEPS)
        X, Y = S[:, :N_IN], S[:, N_IN:]
        loaded = rss_mb()
        if exact_fit_on_cpu:  # after the data are measured: its memory counts as the fit's
            result["kernels_load_s"] = load_kernels()
        if op in ("mem_bare_fit", "mem_bare_all"):
            steps = [0, N_IN - 1] + list(range(N_IN, N_STEPS)) if op == "mem_bare_fit" else list(range(N_STEPS))
            rows = [S[0, k] for k in steps]
            if device == "cpu":
                result["wall_s"] = repeat(lambda: in_threads(
                    lambda a, b: sum(float(row[a:b].sum()) for row in rows), n, threads))
            else:  # what a fit on the accelerator cannot do without: copy the rows there, slab by slab
                result["wall_s"] = repeat(lambda: [torch.from_numpy(row[a:a + SLAB]).to(device).sum()
                                                   for a in range(0, n, SLAB) for row in rows])
        elif op in ("mem_lfd2", "mem_lfn"):
            cls = LFD2Forecaster if op == "mem_lfd2" else LFNForecaster
            est = cls(solver="lstsq", device=device, slab_size=SLAB)
            result["wall_s"] = repeat(lambda: est.fit(X, Y))
            save_model(args, op[4:], est)
        elif op == "mem_paper":
            passes = timed_epochs(device)
            est = LFD2Forecaster(init="default", max_epochs=1, device=device, slab_size=SLAB, random_state=0)
            repeat(lambda: est.fit(X, Y))
            result["wall_s"] = float(np.median(passes))  # the epoch (one gradient pass per fit)
        elif op in ("mem_bare_predict", "mem_bare_predict_out"):
            rows, reused = [S[0, 0], S[0, N_IN - 1]], forecast_array(n) if op.endswith("_out") else None

            def bare_predict():
                out = np.empty((1, HORIZON, n), dtype=np.float32) if reused is None else reused
                in_threads(lambda a, b: (sum(float(row[a:b].sum()) for row in rows), out[:, :, a:b].fill(1.0)),
                           n, threads)

            result["wall_s"] = repeat(bare_predict)
        elif op == "mem_predict":
            est = model_for(args, "lfd2")
            result["wall_s"] = repeat(lambda: est.predict(X))
        elif op == "mem_predict_out":
            est, out = model_for(args, "lfd2"), forecast_array(n)
            result["wall_s"] = repeat(lambda: est.predict(X, out=out))
        else:  # the peers, on the rows a user would build
            kind = op[3:]
            steps = STEPS[kind]
            if op.startswith("sk_"):
                from sklearn.linear_model import LinearRegression

                def fit():
                    Z = np.stack([X[0, k] for k in steps], axis=1)
                    return LinearRegression().fit(Z, Y[0].T)

                result["wall_s"] = repeat(fit)
                model = fit()
                Z = np.stack([X[0, k] for k in steps], axis=1)
                forecast = model.predict(Z)
            else:
                def fit():
                    A = np.ones((n, len(steps) + 1), dtype=X.dtype)
                    for j, k in enumerate(steps):
                        A[:, j] = X[0, k]
                    return A, np.linalg.lstsq(A, Y[0].T, rcond=None)[0]

                result["wall_s"] = repeat(fit)
                A, W = fit()
                forecast = A @ W
            del S, Y
            result["max_diff"] = peer_forecasts_agree(args, kind, forecast, X)
        result["data_rss_mb"] = loaded
    result["peak_rss_mb"] = peak_rss_mb()
    result["load"] = load_average
    print(__import__("json").dumps(result))


# ---------------------------------------------------------------------------------------------- parent side
def mem_available_bytes():
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 66_960_393])
    parser.add_argument("--ops", nargs="+", default=["mem", "peers", "h5"],
                        help=f"operations or groups ({', '.join(GROUPS)}): {', '.join(OPERATIONS)}")
    parser.add_argument("--repeat", type=int, default=3,
                        help="in memory: the fewest timed runs in one process (median); HDF5: rounds of cold runs "
                             "(median)")
    parser.add_argument("--warmup", type=int, default=1, help="HDF5 rounds run first and not counted")
    parser.add_argument("--threads", nargs="+", type=int, default=[1],
                        help="torch, BLAS and bare-pass threads (several: each set of lines for each)")
    parser.add_argument("--device", default="cpu", help="weightcast's device (cpu or cuda)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the files go (needs 2x the data)")
    parser.add_argument("--child", dest="op", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.op:
        args.threads = args.threads[0]
        return child(args)

    wanted = []
    for name in args.ops:
        for op in GROUPS.get(name, [name]):
            if op not in OPERATIONS:
                parser.error(f"unknown operation {op!r}")
            if op not in wanted:
                wanted.append(op)
    order = [op for op in OPERATIONS if op in wanted]
    workdir = tempfile.mkdtemp(prefix="weightcast-peers-", dir=args.dir)
    print(f"files in {workdir}; {os.cpu_count()} CPUs, weightcast on {args.device}, slab {SLAB}; load average "
          f"at the start {os.getloadavg()[0]:.2f}", flush=True)
    header = (f"{'n_params':>10} | {'thr':>3} | {'where':<6} | {'operation':<33} | {'wall s':>8} | {'ns/param':>8} | "
              f"{'ratio':>6} | {'to':<16} | {'peak MB':>7} | {'load':>4} | notes")
    rows, results, extra = [header, "-" * len(header)], {}, {}
    try:
        for size in sorted(args.sizes):
            n = int(size)
            data_bytes = N_STEPS * n * 4
            if shutil.disk_usage(workdir).free < 2 * data_bytes:
                print(f"skipping n_params={n}: needs {2 * data_bytes / 1e9:.1f} GB of disk in {workdir}")
                continue
            path, out = os.path.join(workdir, f"run_{n}.h5"), os.path.join(workdir, "forecast.h5")
            started = time.perf_counter()
            write_trajectories(path, n, n_steps=N_STEPS)
            print(f"n_params={n}: wrote {data_bytes / 1e9:.2f} GB in {time.perf_counter() - started:.1f} s",
                  flush=True)
            for threads in args.threads:
                in_memory = [op for op in order if OPERATIONS[op][0] == "memory"]
                from_files = [op for op in order if OPERATIONS[op][0] == "HDF5"]

                def measured():  # in memory op by op, then the HDF5 rounds
                    for op in in_memory:
                        yield op, run_operation(args, op, n, threads, path, out, workdir, extra)
                    yield from run_rounds(args, from_files, n, threads, path, out, workdir).items()

                for op, result in measured():
                    if isinstance(result, str):  # skipped
                        line = (f"{n:>10} | {threads:>3} | {OPERATIONS[op][0]:<6} | {OPERATIONS[op][1]:<33} | "
                                f"{result}")
                    else:
                        results[(threads, n, op)] = result
                        line = format_row(threads, n, op, result, results)
                    rows.append(line)
                    print(line, flush=True)
            os.remove(path)
            for name in os.listdir(workdir):
                if name.startswith("model_"):
                    os.remove(os.path.join(workdir, name))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print("\n".join(rows))
    print("ratio: wall time over the 'to' line of the same size and threads; for the peers, their time over "
          "weightcast's fit (how many times faster weightcast is). thr: threads. peak MB: VmHWM (memory lines: "
          "including the data held). load: 1-minute load average when the process started.")
    summary(results)


def child_command(args, op, n, threads, path, out, workdir):
    return ["--child", op, "--size", n, "--file", path, "--out", out, "--dir", workdir,
            "--threads", threads, "--repeat", args.repeat, "--device", args.device]


def run_operation(args, op, n, threads, path, out, workdir, extra):
    """The result of the in-memory ``op`` (a dict), or why it was skipped (a str)."""
    held = N_STEPS * n * 4  # the data (or the inputs and the forecast), plus working memory
    peer = op[:3] in ("sk_", "np_")  # their working memory grows with the rows; weightcast's is bounded
    need = held + (extra.get(op, 400.0) * n if peer else extra.get(op, 1e9))
    available = mem_available_bytes()
    if need > 0.85 * available:
        return (f"skipped: needs about {need / 1e9:.1f} GB (data {held / 1e9:.1f} GB + working memory, "
                f"as measured at the smaller sizes), {available / 1e9:.1f} GB available")
    result = run_fresh(__file__, child_command(args, op, n, threads, path, out, workdir), threads=threads)
    over = max(0.0, result["peak_rss_mb"] - result["data_rss_mb"]) * 2 ** 20
    extra[op] = max(extra.get(op, 0.0), over / n if peer else over)
    return result


def run_rounds(args, ops, n, threads, path, out, workdir):
    """The results of the HDF5 ``ops``: ``--repeat`` rounds, each running every op once on cold files, so that
    an op and the bare pass it is compared with meet the same disk (whose speed drifts on a shared machine);
    every other round runs them in reverse order, so that a drift within a round does not always fall on the
    same op. ``--warmup`` rounds run first and are not counted: the fits' ratios were highest in the first round
    of every run (1.27-1.95 at 66,960,393 parameters), whose bare read came right after the file was written.
    Each result holds its rounds' times (``rounds_s``), their median (``wall_s``) and the largest peak RSS."""
    runs = {op: [] for op in ops}
    for round_ in range(-args.warmup, args.repeat) if ops else ():
        for op in (ops if round_ % 2 == 0 else ops[::-1]):
            result = run_fresh(__file__, child_command(args, op, n, threads, path, out, workdir),
                               cold=(path, out), threads=threads)
            if round_ >= 0:
                runs[op].append(result)
            if os.path.exists(out):
                os.remove(out)
    results = {}
    for op, done in runs.items():
        walls = [run["wall_s"] for run in done]
        middle = done[int(np.argsort(walls)[len(walls) // 2])]
        results[op] = dict(middle, rounds_s=walls, wall_s=float(np.median(walls)),
                           peak_rss_mb=max(run["peak_rss_mb"] for run in done))
    return results


def ratio_to(result, base):
    """result's time over base's: for HDF5 lines the median of the rounds' ratios (each op over the bare pass
    of the same round), for the others the ratio of the medians."""
    if "rounds_s" in result and "rounds_s" in base:
        return float(np.median(np.divide(result["rounds_s"], base["rounds_s"])))
    return result["wall_s"] / base["wall_s"]


def format_row(threads, n, op, result, results):
    where, what, reference, _ = OPERATIONS[op]
    notes, ratio, to = [], "", ""
    base = results.get((threads, n, reference))
    if base is not None:
        peer = op[:3] in ("sk_", "np_")
        ratio = f"{ratio_to(result, base):6.{1 if peer else 2}f}"
        to = "weightcast fit" if peer else OPERATIONS[reference][1][:16]
        if "rounds_s" in result and "rounds_s" in base:
            notes.append("rounds " + "/".join(f"{a / b:.2f}" for a, b in zip(result["rounds_s"], base["rounds_s"])))
    if "max_diff" in result:
        notes.append(f"max|diff| {result['max_diff']:.1e} ({'ok' if result['max_diff'] <= AGREE else 'FAIL'})")
    if "reads_s" in result:
        notes.append(f"reads {result['reads_s']:.2f} s, waited for {result['waited_s']:.2f} s")
    if "kernels_load_s" in result:
        notes.append(f"loops loaded in {result['kernels_load_s']:.2f} s")
    if "data_rss_mb" in result:
        notes.append(f"over data {result['peak_rss_mb'] - result['data_rss_mb']:.0f} MB")
    return (f"{n:>10} | {threads:>3} | {where:<6} | {what:<33} | {result['wall_s']:>8.3f} | "
            f"{result['wall_s'] / n * 1e9:>8.2f} | {ratio:>6} | {to:<16} | {result['peak_rss_mb']:>7.0f} | "
            f"{result['load']:>4.1f} | {'; '.join(notes)}")


def per_param_growth(results, threads, op, small, large):
    """op's time per parameter at size ``large`` over that at ``small``."""
    return (results[(threads, large, op)]["wall_s"] / large) / (results[(threads, small, op)]["wall_s"] / small)


def summary(results):
    """The figures the targets are about, each marked met or not."""
    if not results:
        return

    def ratio(key, reference):
        if key in results and key[:2] + (reference,) in results:
            return ratio_to(results[key], results[key[:2] + (reference,)])
        return None

    def verdict(value, limit, at_least=False):
        return "met" if (value >= limit if at_least else value <= limit) else "NOT met"

    print("\nsummary (target: figure, met or not)")
    for threads in sorted({t for t, _, _ in results}):
        sizes = sorted({n for t, n, _ in results if t == threads})
        for op in ("mem_lfd2", "mem_lfn", "mem_paper", "mem_predict", "mem_predict_out"):
            measured = [n for n in sizes if (threads, n, op) in results]
            if len(measured) >= 2:
                growth = per_param_growth(results, threads, op, measured[0], measured[-1])
                line = (f"  {threads} thr, memory, {OPERATIONS[op][1]}: time per parameter at {measured[-1]} over "
                        f"{measured[0]} <= 1.3: {growth:.2f}, {verdict(growth, 1.3)}")
                bare = OPERATIONS[op][2]
                if op == "mem_predict" and all((threads, k, bare) in results for k in (measured[0], measured[-1])):
                    # a new array's first writes cost what the machine charges for new pages (benchmarks/new_pages.py)
                    line += (f" (its bare pass, into a new array too: "
                             f"{per_param_growth(results, threads, bare, measured[0], measured[-1]):.2f})")
                print(line)
        for n in sizes:
            for op in ("mem_lfd2", "mem_lfn"):
                value = ratio((threads, n, op), OPERATIONS[op][2])
                if value is not None:
                    print(f"  {threads} thr, {n}, memory, {OPERATIONS[op][1]} over its bare pass <= 3: {value:.2f}, "
                          f"{verdict(value, 3)}")
            for op in ("sk_lfd2", "sk_lfn", "np_lfd2", "np_lfn"):
                value = ratio((threads, n, op), OPERATIONS[op][2])
                if value is not None:
                    agree = results[(threads, n, op)]["max_diff"]
                    print(f"  {threads} thr, {n}, {OPERATIONS[op][1]} over weightcast's fit >= 3: {value:.1f}, "
                          f"{verdict(value, 3, at_least=True)}; forecasts agree to {agree:.1e} "
                          f"(<= {AGREE}: {verdict(agree, AGREE)})")
        if sizes:
            n = sizes[-1]
            for op, limit in (("h5_lfd2", 1.15), ("h5_lfn", 1.15), ("h5_paper", 1.3), ("h5_predict", 1.3)):
                value = ratio((threads, n, op), OPERATIONS[op][2])
                if value is not None:
                    print(f"  {threads} thr, {n}, HDF5, {OPERATIONS[op][1]} over {OPERATIONS[OPERATIONS[op][2]][1]} "
                          f"<= {limit}: {value:.2f}, {verdict(value, limit)}")
        # memory lines: over the data held and, for predict, over the forecast it returns (n_params x 25 float32)
        peaks = [(results[k]["peak_rss_mb"] - results[k].get("data_rss_mb", 0)
                  - (k[1] * HORIZON * 4 / 2 ** 20 if k[2].startswith("mem_") and "predict" in k[2] else 0), k[1:])
                 for k in results
                 if k[0] == threads and not k[2].startswith(("sk_", "np_"))]
        for where, prefix in (("HDF5", "h5_"), ("memory, over the data and the returned forecast", "mem_")):
            chosen = [peak for peak in peaks if peak[1][1].startswith(prefix)]
            if chosen:
                worst, (n, op) = max(chosen)
                print(f"  {threads} thr, {where}: peak RSS of weightcast and the bare passes <= 1500 MB: at most "
                      f"{worst:.0f} MB ({OPERATIONS[op][1]}, {n}), {verdict(worst, 1500)}")


if __name__ == "__main__":
    main()
