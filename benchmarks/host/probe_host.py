"""Probe this host for the 'this machine' platform file: STREAM-style copy bandwidth, SGEMM
throughput and the per-operator overhead of PyTorch eager. Prints numbers; reproducible with
`python probe_host.py THREADS`."""
import statistics
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
torch.set_num_threads(threads)


def median_s(fn, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


n = 64 * 2**20  # 64 Mi floats = 256 MiB per array, far beyond the 8 MiB L3
src, dst = torch.ones(n), torch.empty(n)
dst.copy_(src)
t = median_s(lambda: dst.copy_(src), 15)
print(f"threads {threads}: copy bandwidth (STREAM convention, 2 x 256 MiB per copy): "
      f"{2 * n * 4 / t / 1e9:.1f} GB/s")
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
torch.mm(a, b)
t = median_s(lambda: torch.mm(a, b), 7)
print(f"threads {threads}: SGEMM 2048^3: {2 * 2048**3 / t / 1e9:.1f} GFLOP/s")
x, y = torch.ones(1), torch.ones(1)
t = median_s(lambda: torch.add(x, y), 2000)
print(f"threads {threads}: torch.add on one element (eager per-op overhead): {t * 1e6:.2f} us")
