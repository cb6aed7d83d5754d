"""Tiny float64 models: one intra-op thread.

With two threads every tiny matmul pays an OpenMP barrier (~8 ms on a busy 2-core host
instead of ~3 µs), which alone would put the inner-loop tests over a minute.
"""

import torch

torch.set_num_threads(1)
