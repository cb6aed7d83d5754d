"""mier_pl: MIER meta-RL (Model Identification and Experience Relabeling) on PyTorch Lightning."""

from mier_pl.envs import register_all

__version__ = "0.1.0"

register_all()
