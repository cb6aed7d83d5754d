"""Meta-World families (Yu et al., "Meta-World: A Benchmark and Evaluation for Multi-Task and
Meta Reinforcement Learning"): ML1 reach, push, pick-place and ML10, from the ``metaworld``
package (3.1, Gymnasium API; an optional dependency, docs/metaworld.md).

The task lists are the benchmark's own: ``metaworld.ML1(env_name, seed)`` gives 50 train and 50
test goals of one environment (the test goals from ``seed + 1``), ``metaworld.ML10(seed)`` 50
goals of each of 10 train environments and of 5 held-out test environments. The family seed is
the benchmark's seed. A task is a :class:`MetaWorldTask` naming the environment, the split and
the goal's index; the env keeps one ``metaworld`` env per environment it has run (ML1: one,
ML10: up to 15), built once, so :meth:`~mier_pl.envs.meta_env.MetaEnv.set_task` never rebuilds a
MuJoCo model. A goal takes effect at the next ``reset`` (Meta-World places the object and the
goal there; the collector always resets after switching task).

As the benchmark does for meta-RL, the goal is hidden: observations are Meta-World's 39 numbers
(hand, gripper, objects, the previous frame's of these, and the goal) with the goal's three
entries zero. Every Sawyer environment has the same observation space and 4-d actions (xyz
mocap displacement, gripper), so ML10's train and test environments share the spaces. Episodes
never terminate; they are truncated at the horizon (500, as the benchmark; ``--data.horizon``
changes it). ``info["success"]`` is Meta-World's success flag, and an episode succeeds when it
is ever true (``reports_success``; the collector and the evaluation report the rate).

MuJoCo 4: ``metaworld`` 3.1.1 declares ``mujoco==3.3.0`` and writes the 11 numbers of a MuJoCo
3 weld constraint into ``model.eq_data``, which has 12 columns in MuJoCo 4 (the 12th, 0 for a
weld with an explicit ``relpose``, is new). :func:`import_metaworld` replaces that one method,
``SawyerMocapBase.reset_mocap_welds``, with one writing the same 11 numbers and a 0, and only
when the installed MuJoCo has 12 columns; docs/metaworld.md has the measurements behind it.

Speed: each Meta-World env the family builds gets :func:`touching_object` on arrays and the
observation of :mod:`mier_pl.fast.meta_world_obs` (SciPy's quaternion without SciPy's per-call
overhead, packing without ``np.split``/``np.hstack``); both give the package's numbers.
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import mujoco
import numpy as np
from gymnasium import spaces

from mier_pl.envs.meta_env import MetaEnv
from mier_pl.fast import meta_world_obs

METAWORLD_VERSION = "3.1.1"
INSTALL_HINT = (
    "the Meta-World families need the optional metaworld package: run `make setup-metaworld` "
    "(metaworld 3.1.1 beside the project's MuJoCo 4) or pip install 'mier-pl[metaworld]' and "
    f"then pip install --no-deps metaworld=={METAWORLD_VERSION} (docs/metaworld.md)"
)
HORIZON = 500
# Meta-World's own step limit is lifted: the collector's horizon (500 or --data.horizon) cuts.
_NO_LIMIT = 2**62
# The goal's entries of the 39-d observation (zero: hidden, as ML1/ML10 have it).
GOAL_SLICE = slice(36, 39)
# Longest Meta-World ``rand_vec`` (object and goal positions) of the families here.
RAND_VEC_DIM = 6

_WELD_DATA = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0)


@dataclass(frozen=True)
class MetaWorldTask:
    """Goal ``goal`` (0..49) of Meta-World environment ``env_name`` in the benchmark's ``split``;
    ``rand_vec`` is Meta-World's vector of it (the object's start and the goal position, metres:
    3 or 6 numbers), so the same index under another benchmark seed is another task."""

    env_name: str
    split: str
    goal: int
    rand_vec: tuple[float, ...]

    def describe(self) -> str:
        """The videos' caption line, ``reach-v3 goal 3: (-0.08, 0.70, 0.02, 0.06, 0.88, 0.14)``
        (``rand_vec`` in metres, to the centimetre; the split is in the title), short enough
        for a 320-pixel frame where the dataclass's fields were cut off before the goal."""
        return f"{self.env_name} goal {self.goal}: ({', '.join(f'{x:.2f}' for x in self.rand_vec)})"


def _reset_mocap_welds_mujoco4(self) -> None:
    """``SawyerMocapBase.reset_mocap_welds`` for MuJoCo's 12-column ``eq_data``."""
    model = self.model
    if model.nmocap > 0 and model.eq_data is not None:
        for i in range(model.eq_data.shape[0]):
            if model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                model.eq_data[i, : len(_WELD_DATA)] = _WELD_DATA
                model.eq_data[i, len(_WELD_DATA) :] = 0.0


def metaworld_available() -> bool:
    """Whether the optional metaworld package is installed (nothing is imported)."""
    return importlib.util.find_spec("metaworld") is not None


@functools.cache
def import_metaworld():
    """The ``metaworld`` module, patched for MuJoCo 4 where needed; a clear error when absent."""
    try:
        import metaworld
        from metaworld.sawyer_xyz_env import SawyerMocapBase
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    if _eq_data_columns() > len(_WELD_DATA):
        SawyerMocapBase.reset_mocap_welds = _reset_mocap_welds_mujoco4
    return metaworld


def _eq_data_columns() -> int:
    model = mujoco.MjModel.from_xml_string(
        '<mujoco><worldbody><body name="a" mocap="true"/><body name="b"><freejoint/>'
        '<geom size=".1"/></body></worldbody><equality><weld body1="a" body2="b"/></equality>'
        "</mujoco>"
    )
    return int(model.eq_data.shape[1])


def touching_object(env: Any, object_geom_id: int) -> bool:
    """``SawyerXYZEnv.touching_object`` on arrays: whether both finger pads push on the object.

    The same sums as metaworld's (the constraint force ``efc_force[efc_address]`` of each
    contact between a pad and the object), over ``data.contact``'s geom and address arrays
    instead of a Python loop over contact objects (its cost: BENCHMARKS.md).
    Bound to each Meta-World env this family builds (the package itself is not changed).
    """
    data = env.data
    contact = data.contact
    geom = np.asarray(contact.geom).reshape(-1, 2)
    if geom.shape[0] == 0:
        return False
    force = data.efc_force[np.asarray(contact.efc_address)]
    with_object = (geom == object_geom_id).any(axis=1)
    left = with_object & (geom == data.geom("leftpad_geom").id).any(axis=1)
    right = with_object & (geom == data.geom("rightpad_geom").id).any(axis=1)
    return bool(force[left].sum() > 0 and force[right].sum() > 0)


@dataclass(frozen=True)
class _Benchmark:
    """A benchmark's environment classes and its tasks (``metaworld.Task``), by split."""

    classes: dict[str, type]
    tasks: dict[str, tuple[MetaWorldTask, ...]]
    data: dict[MetaWorldTask, Any]


@functools.lru_cache(maxsize=8)
def load_benchmark(benchmark: str, seed: int) -> _Benchmark:
    """``metaworld.ML1(<env>, seed)`` (``benchmark`` "ML1:<env>") or ``metaworld.ML10(seed)``.

    Cached: building one resets each environment 50 times per split (ML10: about 7 s).
    """
    mw = import_metaworld()
    if benchmark.startswith("ML1:"):
        bench = mw.ML1(benchmark.split(":", 1)[1], seed=seed)
    elif benchmark == "ML10":
        bench = mw.ML10(seed=seed)
    else:
        raise ValueError(f"unknown Meta-World benchmark {benchmark!r}: use 'ML1:<env>' or 'ML10'")
    classes = {**bench.train_classes, **bench.test_classes}
    tasks: dict[str, tuple[MetaWorldTask, ...]] = {}
    data: dict[MetaWorldTask, Any] = {}
    for split, raw in (("train", bench.train_tasks), ("test", bench.test_tasks)):
        counts: dict[str, int] = {}
        ours = []
        for t in raw:
            rand_vec = tuple(float(x) for x in pickle.loads(t.data)["rand_vec"])
            task = MetaWorldTask(t.env_name, split, counts.get(t.env_name, 0), rand_vec)
            counts[t.env_name] = task.goal + 1
            data[task] = t
            ours.append(task)
        tasks[split] = tuple(ours)
    return _Benchmark(classes, tasks, data)


class MetaWorldEnv(MetaEnv[MetaWorldTask]):
    """A Meta-World benchmark as a task family; concrete families set ``benchmark``.

    Attributes:
        benchmark: ``"ML1:<env>-v3"`` or ``"ML10"``.
        env_names: the benchmark's environments, train then held-out test (the task
            encoding's one-hot order; ML1: one).
        render_camera: the evaluation videos' camera (``mier_pl/data/video.py``): a free camera
            fixed on the workspace, from the front right of the robot, that shows the arm, the
            whole table and what is on it in every Sawyer scene. The MuJoCo families' camera,
            tracking body 1, looks at the table's underside from behind the robot here, and
            Meta-World's own cameras (``corner``...) render upside down (Meta-World flips
            them).
    """

    benchmark: ClassVar[str]
    env_names: ClassVar[tuple[str, ...]]
    max_episode_steps: ClassVar[int] = HORIZON
    reports_success: ClassVar[bool] = True
    task_type: ClassVar[type] = MetaWorldTask
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array", "depth_array"],
        "render_fps": 80,
    }
    render_camera: ClassVar[dict[str, Any]] = {
        "type": int(mujoco.mjtCamera.mjCAMERA_FREE),
        "lookat": (0.0, 0.6, 0.15),  # metres: the middle of the workspace, above the table
        "distance": 1.9,
        "elevation": -30.0,
        "azimuth": 150.0,
    }

    def __init__(self, family_seed: int | None = None, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        seed = self.default_family_seed if family_seed is None else family_seed
        self._benchmark = load_benchmark(self.benchmark, seed)
        self._envs: dict[str, Any] = {}
        self._inner: Any = None
        self._steps = 0
        self._init_tasks(family_seed)
        self.set_task(self.train_tasks[0])
        self.observation_space = self._inner.observation_space
        self.action_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)

    @classmethod
    def missing_dependency(cls) -> str | None:
        return None if metaworld_available() else INSTALL_HINT

    @classmethod
    def make_tasks(
        cls, rng: np.random.Generator, seed: int
    ) -> tuple[Sequence[MetaWorldTask], Sequence[MetaWorldTask]]:
        del rng  # the benchmark draws its goals from its own seed
        bench = load_benchmark(cls.benchmark, seed)
        return bench.tasks["train"], bench.tasks["test"]

    # ----------------------------------------------------------------- tasks
    def _env_for(self, env_name: str) -> Any:
        """The Meta-World env of ``env_name``, built on first use and kept."""
        env = self._envs.get(env_name)
        if env is None:
            env = self._benchmark.classes[env_name](render_mode=self.render_mode)
            env.max_path_length = _NO_LIMIT
            env.touching_object = types.MethodType(touching_object, env)
            meta_world_obs.install(env)  # the same observation without SciPy's overhead
            self._envs[env_name] = env
        return env

    def _apply_task(self, task: MetaWorldTask) -> None:
        data = self._benchmark.data.get(task)
        if data is None:
            raise ValueError(
                f"{self.family}: {task} is not a task of this family's benchmark (family seed "
                f"{self.family_seed}); use env.train_tasks[i] or env.test_tasks[i]"
            )
        env = self._env_for(task.env_name)
        env.set_task(data)
        self._inner = env

    @property
    def model(self) -> mujoco.MjModel:
        """The MuJoCo model of the current task's environment."""
        return self._inner.model

    @property
    def data(self) -> mujoco.MjData:
        return self._inner.data

    @property
    def frame_skip(self) -> int:
        return int(self._inner.frame_skip)

    def encode_task(self, task: MetaWorldTask) -> np.ndarray:
        """One-hot of the environment (ML10 only) and Meta-World's ``rand_vec`` (initial object
        and goal positions, metres; 3 or 6 numbers, zero-padded to 6)."""
        vec = np.zeros(RAND_VEC_DIM, np.float32)
        vec[: len(task.rand_vec)] = task.rand_vec
        if len(self.env_names) == 1:
            return vec
        onehot = np.zeros(len(self.env_names), np.float32)
        onehot[self.env_names.index(task.env_name)] = 1.0
        return np.concatenate([onehot, vec])

    # ------------------------------------------------------------- stepping
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)  # Meta-World's reset is a function of the task alone
        self._steps = 0
        obs, info = self._inner.reset()
        return obs, info

    def step(self, action: Any):
        a = self._check_action(action).astype(np.float32)
        obs, reward, _, _, info = self._inner.step(a)
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        return obs, float(reward), False, truncated, info

    def render(self):
        return self._inner.render()

    def close(self) -> None:
        for env in self._envs.values():
            env.close()


class _ML1Env(MetaWorldEnv):
    """ML1: one environment, 50 train and 50 test goals; tasks differ in the goal and the
    object's start only, so the dynamics are shared (reward-only, docs/algorithm.md §8)."""

    reward_only: ClassVar[bool] = True


class ML1ReachEnv(_ML1Env):
    """ml1-reach: move the gripper to a goal position."""

    family: ClassVar[str] = "ml1-reach"
    env_id: ClassVar[str] = "mier_pl/ML1Reach-v0"
    benchmark: ClassVar[str] = "ML1:reach-v3"
    env_names: ClassVar[tuple[str, ...]] = ("reach-v3",)


class ML1PushEnv(_ML1Env):
    """ml1-push: push a puck to a goal position."""

    family: ClassVar[str] = "ml1-push"
    env_id: ClassVar[str] = "mier_pl/ML1Push-v0"
    benchmark: ClassVar[str] = "ML1:push-v3"
    env_names: ClassVar[tuple[str, ...]] = ("push-v3",)


class ML1PickPlaceEnv(_ML1Env):
    """ml1-pick-place: pick a puck up and place it at a goal position."""

    family: ClassVar[str] = "ml1-pick-place"
    env_id: ClassVar[str] = "mier_pl/ML1PickPlace-v0"
    benchmark: ClassVar[str] = "ML1:pick-place-v3"
    env_names: ClassVar[tuple[str, ...]] = ("pick-place-v3",)


class ML10Env(MetaWorldEnv):
    """ml10: 10 train environments × 50 goals, 5 held-out test environments × 50 goals.

    The environments are different MuJoCo models (door, drawer, ...), so the dynamics change
    between tasks: the joint model and rollout relabeling (docs/algorithm.md §8).
    """

    family: ClassVar[str] = "ml10"
    env_id: ClassVar[str] = "mier_pl/ML10-v0"
    benchmark: ClassVar[str] = "ML10"
    reward_only: ClassVar[bool] = False
    env_names: ClassVar[tuple[str, ...]] = (
        "reach-v3",
        "push-v3",
        "pick-place-v3",
        "door-open-v3",
        "drawer-close-v3",
        "button-press-topdown-v3",
        "peg-insert-side-v3",
        "window-open-v3",
        "sweep-v3",
        "basketball-v3",
        "drawer-open-v3",
        "door-close-v3",
        "shelf-place-v3",
        "sweep-into-v3",
        "lever-pull-v3",
    )
