"""Typed batches, per-task replay, lockstep collection and the ReplayDataModule."""

from mier_pl.data.batch import MetaBatch, TransitionBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.data.datamodule import ReplayDataModule
from mier_pl.data.rollout import Collector

__all__ = ["Collector", "MetaBatch", "MultiTaskReplay", "ReplayDataModule", "TransitionBatch"]
