"""Helper script for the DDP test: run `fit` and dump this rank's parameters and replay.

Lightning's DDP launcher re-runs this very script for every rank, so each rank writes
``rank<k>.pt`` in the working directory.
"""

import sys

import torch

from mier_pl.cli.main import main

cli = main(sys.argv[1:])
rank = cli.trainer.global_rank
replay = cli.datamodule.buffer
torch.save(
    {
        "params": {k: v.detach().cpu() for k, v in cli.model.state_dict().items()},
        "obs": replay.all_transitions(0).obs.cpu(),
        "added": replay.added.clone(),
        "env_steps": cli.datamodule.collector.env_steps,
    },
    f"rank{rank}.pt",
)
