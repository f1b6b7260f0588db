"""What the weight-sequence file checks cost: opening (the chunk check), and fletcher32 checksums.

Writes one recording-shaped file (n_sequences x n_steps x n_params float32, chunks of 16 steps x 65,536
parameters = 4 MiB) twice, with and without ``checksum=True``, one sequence at a time as the recorder
does (crash-safe), then measures, medians of ``--repeats`` runs:

* write: the recording (crash-safe, one-sequence appends);
* open: ``open_sequences`` (which checks every chunk of recorded data against the file) vs a bare
  ``h5py.File`` + dataset open, and the chunk count;
* read: every sequence read slab by slab (chunk-aligned, ``read_block``) from the page cache ("hot") and,
  after evicting the file from it (fsync + posix_fadvise DONTNEED; the host may still cache the virtual
  disk), "cold".

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/file_integrity.py --dir /tmp --gib 3
"""

import argparse
import os
import statistics
import time

import h5py
import numpy as np

from weightcast.io import SequenceWriter, open_sequences


def write(path, n_seq, n_steps, n_params, checksum):
    rng = np.random.default_rng(0)
    block = rng.normal(size=(16, n_params)).astype(np.float32)
    started = time.perf_counter()
    with SequenceWriter(path, n_seq, n_params, n_steps=n_steps, chunk_steps=16, checksum=checksum,
                        crash_safe=True, overwrite=True) as writer:
        for seq in range(n_seq):
            for t in range(0, n_steps, 16):
                writer.append(block[:min(16, n_steps - t)], sequence=seq)
    return time.perf_counter() - started


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def open_checked(path):
    started = time.perf_counter()
    open_sequences(path)
    return time.perf_counter() - started


def open_bare(path):
    started = time.perf_counter()
    with h5py.File(path, "r") as f:
        f["weights"].shape
    return time.perf_counter() - started


def read_all(path, slab=131072):
    view = open_sequences(path)
    n_seq, n_steps, n_params = view.shape
    out = np.empty((1, n_steps, slab), np.float32)
    started = time.perf_counter()
    for seq in range(n_seq):
        for p0 in range(0, n_params, slab):
            p1 = min(p0 + slab, n_params)
            view.read_block([seq], None, slice(p0, p1), out=out[:, :, :p1 - p0])
    view.close()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True, help="folder for the two files (about 2 x --gib GB)")
    parser.add_argument("--gib", type=float, default=3.0, help="size of each file in GiB")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n_params = int(args.gib * 2 ** 30 / (4 * args.sequences * args.steps)) // 131072 * 131072  # whole slabs
    gib = args.sequences * args.steps * n_params * 4 / 2 ** 30
    paths = {checksum: os.path.join(args.dir, f"integrity_{'fletcher32' if checksum else 'plain'}.h5")
             for checksum in (False, True)}
    results = {checksum: {"write": [], "open": [], "bare open": [], "hot read": [], "cold read": []}
               for checksum in paths}
    for _ in range(args.repeats):
        for checksum, path in paths.items():
            r = results[checksum]
            r["write"].append(write(path, args.sequences, args.steps, n_params, checksum))
            evict(path)
            r["cold read"].append(read_all(path))
            read_all(path)  # warm the cache
            r["hot read"].append(read_all(path))
            r["open"].append(statistics.median(open_checked(path) for _ in range(5)))
            r["bare open"].append(statistics.median(open_bare(path) for _ in range(5)))
    with h5py.File(paths[True], "r") as f:
        n_chunks = f["weights"].id.get_num_chunks()
    print(f"files: {args.sequences} x {args.steps} x {n_params:,} float32 = {gib:.2f} GiB, chunks (1, 16, 65536) "
          f"= 4 MiB, {n_chunks} chunks; medians of {args.repeats}")
    print(f"{'':12} | {'plain':>10} | {'fletcher32':>10} | ratio")
    for key, unit in (("write", "s"), ("open", "ms"), ("bare open", "ms"), ("hot read", "s"), ("cold read", "s")):
        plain, checked = (statistics.median(results[c][key]) for c in (False, True))
        scale = 1000 if unit == "ms" else 1
        print(f"{key:12} | {plain * scale:8.2f}{unit:>2} | {checked * scale:8.2f}{unit:>2} | {checked / plain:5.2f}")
    for key in ("write", "hot read", "cold read"):
        plain, checked = (gib / statistics.median(results[c][key]) for c in (False, True))
        print(f"{key + ' GiB/s':16}: plain {plain:.2f}, fletcher32 {checked:.2f}")
    plain_open = statistics.median(results[False]["open"])
    bare = statistics.median(results[False]["bare open"])
    print(f"open_sequences (checks {n_chunks} chunks) costs {1000 * (plain_open - bare):.1f} ms more than a bare open")
    for path in paths.values():
        os.remove(path)


if __name__ == "__main__":
    main()
