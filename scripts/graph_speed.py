"""``make gpu-check``'s CUDA-graph step: the eager and the graph run's training steps/s.

    python scripts/graph_speed.py EAGER_RUN_DIR GRAPH_RUN_DIR

Each run directory is a ``fit`` of the same config and seed, the second with
``--model.init_args.cuda_graph true``. Prints ``perf/updates_per_s`` of each run's last epoch
(the first epoch holds the warm-up and the capture; the rate counts the device's work too:
the FiniteGuard check on an epoch's last step waits for it), their ratio, and the largest parameter
difference between the two final checkpoints (informative only: the runs collect with their
own parameters, so they drift apart; the CPU test asserts equality step for step). Fails if
either run logged no rate or a graph parameter is not finite.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import torch


def last_rate(run: Path) -> float:
    with open(run / "metrics.csv") as f:
        rates = [
            float(r["perf/updates_per_s"]) for r in csv.DictReader(f) if r.get("perf/updates_per_s")
        ]
    if not rates:
        raise SystemExit(f"error: {run}/metrics.csv has no perf/updates_per_s")
    return rates[-1]


def parameters(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return {k: v.float() for k, v in state["state_dict"].items() if v.is_floating_point()}


def main(eager: Path, graph: Path) -> None:
    slow, fast = last_rate(eager), last_rate(graph)
    print(f"eager step:      {slow:9.1f} steps/s  ({eager})")
    print(f"CUDA-graph step: {fast:9.1f} steps/s  ({graph})")
    print(f"speed-up:        {fast / slow:9.2f}x")
    a, b = parameters(eager), parameters(graph)
    if not all(torch.isfinite(v).all() for v in b.values()):
        raise SystemExit("error: the CUDA-graph run's parameters are not all finite")
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"max |parameter difference| after the runs: {diff:.3g} (the runs drift apart)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
