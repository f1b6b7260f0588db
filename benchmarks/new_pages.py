"""What writing a new array costs on this machine, by how long ago its memory was freed.

``predict(X)`` returns a new (n_sequences, m, n_params) array, and the first write to each of its pages goes
through the kernel. On a virtual machine whose balloon device reports free memory to the host (virtio's free
page reporting), memory freed a moment ago is still backed by the host and cheap to reuse, while memory freed
a few seconds ago has been handed back and must be backed again: that costs many times more, and at large
sizes, where one forecast takes seconds, every new forecast array meets it. This script measures the effect
without weightcast: for each size it fills a (1, 25, n_params) float32 array, frees it, waits, and times
``np.empty`` + ``fill`` of a new one (the median of ``--repeat`` tries per wait).

Usage::

    python benchmarks/new_pages.py [--sizes 1e6 1e7 66960393] [--waits 0 0.5 2 5] [--repeat 3]
"""

import argparse
import glob
import os
import time

import numpy as np

HORIZON = 25
BALLOON = 0x0005  # virtio device id of the memory balloon
REPORTING = 5  # its feature bit for free page reporting


def free_page_reporting():
    """'on' / 'off' for a virtio balloon on this machine, or 'no virtio balloon'."""
    for device in glob.glob("/sys/bus/virtio/devices/*"):
        try:
            with open(os.path.join(device, "device")) as handle:
                if int(handle.read(), 16) != BALLOON:
                    continue
            with open(os.path.join(device, "features")) as handle:
                bits = handle.read().strip()
        except (OSError, ValueError):
            continue
        return "on" if len(bits) > REPORTING and bits[REPORTING] == "1" else "off"
    return "no virtio balloon"


def new_array_s(n, wait):
    """Seconds to create and fill a new forecast-shaped array, ``wait`` s after freeing one of that size."""
    previous = np.empty((1, HORIZON, n), np.float32)
    previous.fill(1.0)
    del previous
    time.sleep(wait)
    started = time.perf_counter()
    array = np.empty((1, HORIZON, n), np.float32)
    array.fill(1.0)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7, 66_960_393])
    parser.add_argument("--waits", nargs="+", type=float, default=[0.0, 0.5, 2.0, 5.0],
                        help="seconds between freeing an array and creating the next")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"virtio free page reporting: {free_page_reporting()}")
    print(f"{'n_params':>10} | " + " | ".join(f"wait {w:>4g} s" for w in args.waits) + " | ns/param of a new array")
    for n in (int(size) for size in args.sizes):
        per_param = [np.median([new_array_s(n, wait) for _ in range(args.repeat)]) / n * 1e9 for wait in args.waits]
        print(f"{n:>10} | " + " | ".join(f"{value:>11.1f}" for value in per_param) + " |", flush=True)


if __name__ == "__main__":
    main()
