"""Algorithm 2's data (docs/algorithm.md §6): its settings, and one test task's real and synthetic replay.

The real part is the A transitions collected in the test task with φ₀ (step 1); the synthetic
part is a FIFO of relabeled train transitions (step 5), a one-task :class:`MultiTaskReplay`, so
it grows, wraps and checkpoints exactly like the train buffers. Every SAC update draws
``int(batch_size · real_fraction)`` real transitions and the rest synthetic (step 4).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import torch

from mier_pl.data.batch import TransitionBatch
from mier_pl.data.buffer import MultiTaskReplay
from mier_pl.ranges import (
    ClosedUnitInterval,
    NonNegativeFloat,
    NonNegativeInt,
    OpenUnitInterval,
    PositiveFloat,
    PositiveInt,
    check_ranges,
)

RelabelKind = Literal["rollout", "reward"]


@dataclass
class AdaptConfig:
    """Test-time adaptation with experience relabeling (docs/algorithm.md §6; defaults are the spec's).

    Attributes:
        adapt_steps: A, real transitions collected in the test task with φ₀ (200 or 400).
        posterior_steps: after identification on the A steps, this many more test-task
            steps with π(·|s, φ_T̂) (sampled), then identification again from φ₀ on all of
            them (0, the release). The data then reaches where the identified policy goes,
            not only where φ₀'s (or uniform) actions do: where the relabeled transitions'
            rewards must be predicted (ours, an option; docs/learning.md).
        context_steps: N, context-only gradient steps on the adapt split (10; 2 or 20 for
            some families, docs/algorithm.md §6 table).
        model_steps: M, full-model Adam steps with φ_T̂ frozen (0, or 100 for walker and
            cheetah-vel). In separate-models mode only the reward model moves (docs/algorithm.md §2).
        relabel: "rollout" (new actions from π, next state and reward from the model),
            "reward" (keep s, a, s', done; new reward) or "auto": reward for reward-only
            families, rollout otherwise.
        epochs: relabeling epochs; each is evaluated after it (10).
        loop_steps: loop steps per epoch (1000).
        refresh_every: make a new synthetic batch every this many loop steps of an epoch,
            counted from the epoch's first step (250).
        synthetic_tasks: train tasks drawn with replacement for one synthetic batch (20).
        synthetic_per_task: train transitions relabeled per drawn task (5000).
        batch_size: transitions per SAC update (256).
        real_fraction: share of real transitions in each SAC batch; int(256 · 0.05) = 12.
        sac_updates_per_step: SAC updates per loop step, each on its own batch (2).
        synthetic_capacity: FIFO capacity of the synthetic buffer, transitions (1e6).
        val_fraction: share of the A real transitions held out for validation (0.2).
        context_lr: context learning rate for the first ``fast_context_steps`` steps (0.01).
        late_context_lr: context learning rate after them (0.001).
        fast_context_steps: steps taken at ``context_lr`` (2).
        model_lr: Adam learning rate of the M full-model steps (1e-3).
        loss_threshold: the paper's gate: use synthetic data only if the validation loss
            after adaptation is below this value (paper: −3); ``None`` (the release) disables
            the gate. A closed gate trains SAC on the real transitions alone.
        rollback_on_divergence: undo the M model steps when they end with a validation loss
            above the context-only model's (ours; the release keeps them). A non-finite
            validation loss is always undone.
        method: what runs on a PEARL checkpoint (a MIER checkpoint always runs Algorithm 2).
            "auto": PEARL's own evaluation protocol, results of method ``pearl``. "relabel":
            experience relabeling of the PEARL policy with its inferred z fixed and a
            non-context model fitted on the exploration data (paper §4, last paragraph),
            results of method ``pearl_relabel`` (docs/pearl.md).
    """

    adapt_steps: PositiveInt = 200
    posterior_steps: NonNegativeInt = 0
    context_steps: NonNegativeInt = 10
    model_steps: NonNegativeInt = 0
    relabel: Literal["auto", "rollout", "reward"] = "auto"
    epochs: PositiveInt = 10
    loop_steps: PositiveInt = 1000
    refresh_every: PositiveInt = 250
    synthetic_tasks: PositiveInt = 20
    synthetic_per_task: PositiveInt = 5000
    batch_size: PositiveInt = 256
    real_fraction: ClosedUnitInterval = 0.05
    sac_updates_per_step: PositiveInt = 2
    synthetic_capacity: PositiveInt = 1_000_000
    val_fraction: OpenUnitInterval = 0.2
    context_lr: NonNegativeFloat = 0.01
    late_context_lr: NonNegativeFloat = 0.001
    fast_context_steps: NonNegativeInt = 2
    model_lr: PositiveFloat = 1e-3
    loss_threshold: float | None = None
    rollback_on_divergence: bool = True
    method: Literal["auto", "relabel"] = "auto"

    def __post_init__(self) -> None:
        check_ranges(self, "adapt")
        if (
            round(self.adapt_steps * self.val_fraction) < 1
            or round(self.adapt_steps * (1 - self.val_fraction)) < 1
        ):
            raise ValueError(
                f"--adapt.adapt_steps {self.adapt_steps} with --adapt.val_fraction "
                f"{self.val_fraction} leaves an empty adapt or validation split; collect more"
            )

    @property
    def real_count(self) -> int:
        """Real transitions per SAC batch: ``int(batch_size · real_fraction)`` (12 of 256)."""
        return int(self.batch_size * self.real_fraction)

    @property
    def sac_updates(self) -> int:
        """SAC updates per test task: epochs × loop steps × updates per step."""
        return self.epochs * self.loop_steps * self.sac_updates_per_step

    def relabel_kind(self, reward_only: bool) -> RelabelKind:
        if self.relabel == "auto":
            return "reward" if reward_only else "rollout"
        return self.relabel

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class RelabelReplay:
    """One test task's real transitions and FIFO synthetic buffer.

    Args:
        obs_dim: observation size.
        act_dim: action size.
        capacity: synthetic transitions kept; the oldest are overwritten first.
        device: where both live.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, capacity: int, device: torch.device | str = "cpu"
    ) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.synthetic = MultiTaskReplay(
            1, obs_dim, act_dim, capacity, device, initial_rows=min(capacity, 1 << 16)
        )
        self.real: TransitionBatch | None = None
        self.use_synthetic = True  # the paper's gate (AdaptConfig.loss_threshold) may close it

    @property
    def device(self) -> torch.device:
        return self.synthetic.device

    @property
    def synthetic_size(self) -> int:
        return int(self.synthetic.size()[0])

    def set_real(self, batch: TransitionBatch) -> None:
        """The test task's real transitions ``[A]``."""
        batch.check_dims(self.obs_dim, self.act_dim, "RelabelReplay.set_real")
        if batch.rew.dim() != 1:
            raise ValueError(
                f"RelabelReplay.set_real: expected a flat batch [A], got rew {tuple(batch.rew.shape)}"
            )
        self.real = batch.to(self.device)

    def add_synthetic(self, batch: TransitionBatch) -> None:
        """Append a synthetic batch ``[n]`` (FIFO: the oldest rows go first once full)."""
        self.synthetic.add([0], batch[None], pre_adapt=False)

    def sample(
        self,
        updates: int,
        batch_size: int,
        real_count: int,
        generator: torch.Generator | None = None,
    ) -> TransitionBatch:
        """``[updates, batch_size]``: per row, ``real_count`` real then the rest synthetic.

        With the gate closed every transition is real. Both parts are drawn uniformly with
        replacement, each in one gather.
        """
        if self.real is None:
            raise RuntimeError(
                "RelabelReplay.sample: no real transitions yet (Algorithm 2 step 1 has not run)"
            )
        if not self.use_synthetic:
            real_count = batch_size
        a = self.real.rew.shape[0]
        idx = torch.randint(a, (updates, real_count), device=self.device, generator=generator)
        real = self.real[idx]
        if real_count == batch_size:
            return real
        self.synthetic.check_nonempty([0], pre_adapt=False)
        ids = torch.zeros(updates, dtype=torch.long, device=self.device)
        synthetic = self.synthetic.sample(ids, batch_size - real_count, generator=generator)
        return TransitionBatch.cat([real, synthetic], dim=1)

    # ----------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        """Tensors and plain types only (checkpoints load with ``weights_only=True``)."""
        real = (
            {}
            if self.real is None
            else {f.name: getattr(self.real, f.name) for f in fields(self.real)}
        )
        return {
            "real": real,
            "synthetic": self.synthetic.state_dict(),
            "use_synthetic": self.use_synthetic,
        }

    def load_state_dict(self, state: dict) -> None:
        self.synthetic.load_state_dict(state["synthetic"])
        self.real = TransitionBatch(**state["real"]).to(self.device) if state["real"] else None
        self.use_synthetic = bool(state["use_synthetic"])
