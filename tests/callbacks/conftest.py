"""Tiny models: one intra-op thread (two threads pay an OpenMP barrier on every tiny matmul)."""

import torch

torch.set_num_threads(1)
