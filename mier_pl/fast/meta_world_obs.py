"""Meta-World's observation without SciPy's per-call overhead (docs/metaworld.md): the same numbers.

Every Sawyer env builds the 18 numbers of the current frame (hand position, gripper opening,
objects' positions and quaternions) in ``SawyerXYZEnv._get_curr_obs_combined_no_goal``, most
of it in the envs' ``_get_quat_objects``, which all call
``scipy.spatial.transform.Rotation.from_matrix(<one 3x3>).as_quat()`` (SciPy's array-API
dispatch, ``det``, a gramian, ``isclose``, then the Cython kernel), the rest
``np.split``/``np.hstack`` packing (measured: BENCHMARKS.md). This module gives the same numbers,
bit for bit (tests/envs/test_meta_world.py), for less:

- :data:`FAST_ROTATION` stands in for the name ``Rotation`` in a Meta-World env module. For a
  single float64 3x3 that passes SciPy's orthogonality test with margin and has a positive
  determinant it runs SciPy's own arithmetic (Markley's method and the normalisation of SciPy
  1.17's ``_rotation_cy._from_matrix_orthogonal``, same operations in the same order) on
  Python floats; for anything else (a stack, a list, float32, a matrix SciPy would project by
  SVD or refuse) it calls SciPy, so the answer is SciPy's in every case.
- :func:`current_observation` is ``_get_curr_obs_combined_no_goal`` with the body ids looked
  up once and the objects written into the zero-padded vector directly.

:func:`install` binds both to one Meta-World env; the package itself is not edited.
"""

from __future__ import annotations

import math
import os
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

# SciPy's test is isclose(M Mᵀ, I, rtol=1e-5, atol=1e-12): off the diagonal |g| <= 1e-12, on it
# |g - 1| <= 1e-12 + 1e-5. The fast path asks for half of each, so a gramian that numpy's matmul
# rounds differently from ours (a few 1e-16) can never be orthogonal to one and not the other;
# in the margin SciPy decides.
_OFF_DIAGONAL_TOL = 0.5e-12
_DIAGONAL_TOL = 0.5e-5


def _scipy_rotation() -> type:
    from scipy.spatial.transform import Rotation

    return Rotation


class _Quaternion:
    """What :meth:`FastRotation.from_matrix` returns for one rotation: ``as_quat`` as SciPy's."""

    __slots__ = ("_quat",)

    def __init__(self, quat: tuple[float, float, float, float]) -> None:
        self._quat = quat

    def as_quat(self, canonical: bool = False, *, scalar_first: bool = False) -> np.ndarray:
        """The quaternion, scalar last unless ``scalar_first``; ``canonical``: w >= 0 (then the
        first nonzero of x, y, z positive), as SciPy's ``_quat_canonical_single``."""
        x, y, z, w = self._quat
        if canonical and (
            w < 0
            or (w == 0 and x < 0)
            or (w == 0 and x == 0 and y < 0)
            or (w == 0 and x == 0 and y == 0 and z < 0)
        ):
            x, y, z, w = -x, -y, -z, -w
        return np.array((w, x, y, z) if scalar_first else (x, y, z, w))


class FastRotation:
    """``scipy.spatial.transform.Rotation`` for Meta-World's one use, ``from_matrix(m).as_quat()``.

    Any other attribute (``from_euler``, ...) is SciPy's ``Rotation``'s, so a module that has
    this under the name ``Rotation`` keeps working whatever else it calls.
    """

    def from_matrix(self, matrix: Any, **kwargs: Any) -> Any:
        """SciPy's ``Rotation.from_matrix(matrix)``, computed here for one orthogonal float64
        3x3 with a positive determinant, by SciPy otherwise (then a real ``Rotation``)."""
        if kwargs or type(matrix) is not np.ndarray or matrix.shape != (3, 3):
            return _scipy_rotation().from_matrix(matrix, **kwargs)
        if matrix.dtype != np.float64:
            return _scipy_rotation().from_matrix(matrix)
        quat = _orthogonal_to_quat(matrix.tolist())
        if quat is None:
            return _scipy_rotation().from_matrix(matrix)
        return _Quaternion(quat)

    def __getattr__(self, name: str) -> Any:
        return getattr(_scipy_rotation(), name)


FAST_ROTATION = FastRotation()


def _orthogonal_to_quat(m: list[list[float]]) -> tuple[float, float, float, float] | None:
    """SciPy 1.17's quaternion of rotation matrix ``m`` (rows), or None where SciPy would not
    take its plain path (not orthogonal within the margin, or a non-positive determinant)."""
    (a, b, c), (d, e, f), (g, h, i) = m
    # the gramian M Mᵀ (rows' dot products); `not (x <= tol)` also sends NaN to SciPy
    if not (
        abs(a * d + b * e + c * f) <= _OFF_DIAGONAL_TOL
        and abs(a * g + b * h + c * i) <= _OFF_DIAGONAL_TOL
        and abs(d * g + e * h + f * i) <= _OFF_DIAGONAL_TOL
        and abs(a * a + b * b + c * c - 1.0) <= _DIAGONAL_TOL
        and abs(d * d + e * e + f * f - 1.0) <= _DIAGONAL_TOL
        and abs(g * g + h * h + i * i - 1.0) <= _DIAGONAL_TOL
    ):
        return None
    # orthogonal, so the determinant is ±1 within 1e-5 and its sign is beyond rounding
    if not a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g) > 0.0:
        return None
    # Markley's choice among diag(M) and trace(M), first maximum on ties (_argmax4), and the
    # same expressions as _from_matrix_orthogonal: `1 - trace + 2 M_ii` is (1 - trace) + 2 M_ii.
    trace = a + e + i
    choice, best = 0, a
    if e > best:
        choice, best = 1, e
    if i > best:
        choice, best = 2, i
    if trace > best:
        choice = 3
    if choice == 0:
        x, y, z, w = 1 - trace + 2 * a, d + b, g + c, h - f
    elif choice == 1:
        x, y, z, w = b + d, 1 - trace + 2 * e, h + f, c - g
    elif choice == 2:
        x, y, z, w = c + g, f + h, 1 - trace + 2 * i, d - b
    else:
        x, y, z, w = h - f, c - g, d - b, 1 + trace
    # _normalize4: sqrt(x² + y² + z² + w²) summed left to right, each entry divided by it
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    return x / norm, y / norm, z / norm, w / norm


def current_observation(env: Any) -> Callable[[], np.ndarray]:
    """``SawyerXYZEnv._get_curr_obs_combined_no_goal`` of ``env`` with its body ids looked up
    once: hand position, finger distance / 0.1 clipped to [0, 1], then each object's position
    and quaternion interleaved in a zero-padded ``env._obs_obj_max_len`` vector.

    The numbers are the package's: the env's own ``_get_pos_objects`` and ``_get_quat_objects``
    in the same order, the norm as ``np.linalg.norm`` takes it (``sqrt(d.dot(d))``). A
    position/quaternion count that does not pair up goes to the package's method (which
    fails there as it always did).
    """
    from metaworld.sawyer_xyz_env import SawyerXYZEnv

    hand, right, left = (env.data.body(name).id for name in ("hand", "rightclaw", "leftclaw"))
    package = types.MethodType(SawyerXYZEnv._get_curr_obs_combined_no_goal, env)

    def observe() -> np.ndarray:
        xpos = env.data.xpos
        distance = xpos[right] - xpos[left]
        gripper = math.sqrt(distance.dot(distance)) / 0.1
        pos = env._get_pos_objects()
        quat = env._get_quat_objects()
        count = len(pos) // 3
        if len(pos) != 3 * count or len(quat) != 4 * count:
            return package()
        obs = np.zeros(4 + env._obs_obj_max_len)
        obs[:3] = xpos[hand]
        obs[3] = min(max(gripper, 0.0), 1.0)  # np.clip's answer, NaN included
        for k in range(count):
            obs[4 + 7 * k : 7 + 7 * k] = pos[3 * k : 3 * k + 3]
            obs[7 + 7 * k : 11 + 7 * k] = quat[4 * k : 4 * k + 4]
        return obs

    return observe


def install(env: Any) -> None:
    """Bind the fast observation to Meta-World env ``env`` (its numbers stay the package's).

    ``Rotation`` becomes :data:`FAST_ROTATION` in every module of ``env``'s class hierarchy that
    has SciPy's ``Rotation`` under that name (so for every env of those classes in this
    process: same answers); ``_get_curr_obs_combined_no_goal`` becomes
    :func:`current_observation` on this instance, unless its class overrides the package's.
    ``MIER_FAST_METAWORLD_OBS=0`` in the environment turns this off (the package's own
    observation, SciPy and all).
    """
    if os.environ.get("MIER_FAST_METAWORLD_OBS", "1") == "0":  # the fast path off
        return
    from metaworld.sawyer_xyz_env import SawyerXYZEnv

    scipy_rotation = _scipy_rotation()
    for cls in type(env).__mro__:
        module = sys.modules.get(cls.__module__)
        if module is not None and getattr(module, "Rotation", None) is scipy_rotation:
            module.Rotation = FAST_ROTATION
    own = type(env)._get_curr_obs_combined_no_goal
    if own is SawyerXYZEnv._get_curr_obs_combined_no_goal:
        env._get_curr_obs_combined_no_goal = current_observation(env)


def uninstall(env: Any) -> None:
    """Undo :func:`install` on ``env`` (and SciPy back in its classes' modules): the package's
    observation, for measuring and testing against it."""
    scipy_rotation = _scipy_rotation()
    for cls in type(env).__mro__:
        module = sys.modules.get(cls.__module__)
        if module is not None and getattr(module, "Rotation", None) is FAST_ROTATION:
            module.Rotation = scipy_rotation
    env.__dict__.pop("_get_curr_obs_combined_no_goal", None)
