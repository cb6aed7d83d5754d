"""Videos of evaluation episodes: frames, captions, encoding and logging.

An :class:`EpisodeRecorder` is handed to :meth:`~mier_pl.data.rollout.Collector.run_episodes`
for the env slots whose deterministic evaluation episode is to be watched; the collector calls
:meth:`~EpisodeRecorder.start` after the reset and :meth:`~EpisodeRecorder.step` after every
step of that slot, and nothing on any other path (collection and training never render).

- MuJoCo families: :class:`mujoco.Renderer` with a tracking camera on the robot's root body,
  set by the env class's ``render_camera`` (distance, elevation and azimuth as in Gymnasium
  v5's ``DEFAULT_CAMERA_CONFIG``; v5's cheetah and ant cameras are free, so they lose the robot
  after a few metres, hence tracking for all). The Meta-World families (an env holding MuJoCo
  envs, with their ``model`` and ``data``) set a free camera fixed on the table in their
  ``render_camera`` instead: the arm does not leave it. Headless machines need an OpenGL backend:
  ``MUJOCO_GL=osmesa`` with Debian's ``libosmesa6`` (software, any CPU machine) or
  ``MUJOCO_GL=egl`` on GPU nodes.
- The point families: a matplotlib picture of the plane (the point, its trail, the goal).

Every frame carries a caption band: the task's description and the return so far. Videos are
written as mp4 (H.264, with the ``imageio-ffmpeg`` package) or, without it, GIF; TensorBoard
gets an animated-GIF image summary (what ``SummaryWriter.add_video`` writes, encoded here with
Pillow, so moviepy is not needed) and W&B a ``wandb.Video`` of the file.

Rendering never stops a run: a recorder that cannot render (no GL backend, a family without a
renderer) says once why and what is needed, and the run goes on without that video.
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GL_HINT = (
    "MuJoCo videos need an OpenGL backend: on a headless CPU machine install libosmesa6 "
    "(apt-get install libosmesa6) and set MUJOCO_GL=osmesa; on a GPU node set MUJOCO_GL=egl "
    "(libegl1). MUJOCO_GL is read when mujoco is first imported, so set it before starting "
    "the run"
)
POINT_FPS = 10
CAPTION_HEIGHT = 44

_said: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Warn ``message`` the first time ``key`` is seen in this process."""
    if key not in _said:
        _said.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


# ----------------------------------------------------------------- painters
class _MujocoPainter:
    """Frames of a MuJoCo env from a camera that tracks its root body, or from the free camera
    its ``render_camera`` sets (``"type"``, ``"lookat"``: Meta-World)."""

    def __init__(self, env: Any, width: int, height: int) -> None:
        import mujoco

        model = env.model
        # The offscreen buffer must hold the frame (the Gymnasium XMLs' default is 640×480).
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self.renderer = mujoco.Renderer(model, height, width)
        # Software GL (OSMesa) spends most of a frame on these two (BENCHMARKS.md).
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self.camera = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(model, self.camera)
        config = {"trackbodyid": 1, "distance": 4.0, "elevation": -20.0, "azimuth": 90.0}
        config.update(getattr(env, "render_camera", {}))
        self.camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        for key, value in config.items():
            setattr(self.camera, key, value)
        self.fps = float(env.metadata.get("render_fps") or round(1.0 / env.dt))

    def __call__(self, env: Any) -> np.ndarray:
        self.renderer.update_scene(env.data, self.camera)
        return self.renderer.render()

    def close(self) -> None:
        self.renderer.close()  # explicitly: OSMesa's context cannot be freed at interpreter exit


class _PointPainter:
    """The point families' plane: the goal, the point and its trail, the unit circle."""

    def __init__(self, env: Any, width: int, height: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        dpi = 100
        self.figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        FigureCanvasAgg(self.figure)  # draws off-screen, whatever pyplot's backend is
        ax = self.figure.add_axes((0.02, 0.02, 0.96, 0.96 - CAPTION_HEIGHT / height))
        circle = np.linspace(0, 2 * math.pi, 100)
        ax.plot(np.cos(circle), np.sin(circle), color="0.85", lw=1)
        ax.plot([0], [0], "+", color="0.5")
        goal = env.goal
        ax.plot([goal[0]], [goal[1]], "*", color="tab:green", ms=14, label="goal")
        (self.trail,) = ax.plot([], [], "-", color="tab:blue", lw=1.5, alpha=0.7)
        (self.point,) = ax.plot([], [], "o", color="tab:blue", ms=8)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xticks([])
        ax.set_yticks([])
        self.ax, self.extent = ax, 0.0
        self._fit(1.5)
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.fps = float(POINT_FPS)

    def _fit(self, reach: float) -> None:
        """Widen the square view (centred on the origin) to show ``reach``; never narrows."""
        if reach > self.extent:
            self.extent = math.ceil(reach * 2 + 0.5) / 2  # half-unit steps, a margin
            self.ax.set_xlim(-self.extent, self.extent)
            self.ax.set_ylim(-self.extent, self.extent)

    def __call__(self, env: Any) -> np.ndarray:
        x, y = env.position
        self._fit(max(abs(x), abs(y)))
        self.xs.append(float(x))
        self.ys.append(float(y))
        self.trail.set_data(self.xs, self.ys)
        self.point.set_data([x], [y])
        self.figure.canvas.draw()
        return np.asarray(self.figure.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        self.figure.clear()


_gl_error: str | None = None  # why MuJoCo rendering failed in this process, once it has


def _no_display_for_glfw() -> bool:
    """MuJoCo would use GLFW (MUJOCO_GL unset or glfw) on Linux without an X/Wayland display."""
    backend = os.environ.get("MUJOCO_GL", "").lower()
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return sys.platform.startswith("linux") and backend in ("", "glfw") and headless


def _painter(env: Any, width: int, height: int) -> Any:
    """The painter of ``env``'s family; raises with the reason when there is none."""
    import mujoco
    from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

    global _gl_error
    # A Gymnasium MujocoEnv, or a family holding MuJoCo envs (Meta-World's: its current task's
    # model and data).
    if isinstance(env, MujocoEnv) or isinstance(getattr(env, "model", None), mujoco.MjModel):
        if _gl_error is None and _no_display_for_glfw():
            _gl_error = f"MUJOCO_GL is {os.environ.get('MUJOCO_GL') or 'unset'} (GLFW) and there is no display"
        if _gl_error is not None:  # a second attempt after a failed one can abort the process
            raise RenderUnavailable(f"{GL_HINT} ({_gl_error})")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # GLFW's own warnings; the reason is kept below
                return _MujocoPainter(env, width, height)
        except Exception as err:  # mujoco.FatalError, GL import errors, ...
            _gl_error = f"{type(err).__name__}: {err}"
            raise RenderUnavailable(f"{GL_HINT} ({_gl_error})") from err
    if hasattr(env, "position") and hasattr(env, "goal"):
        return _PointPainter(env, width, height)
    raise RenderUnavailable(
        f"{getattr(env, 'family', type(env).__name__)} has no video renderer "
        "(mier_pl/data/video.py draws MuJoCo families and the point families)"
    )


class RenderUnavailable(RuntimeError):
    """This env cannot be rendered here; the message says why and what is needed."""


# ----------------------------------------------------------------- captions
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # FreeType build of Pillow
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _fit_text(line: str, font: Any, width: float) -> str:
    """``line``, cut with an ellipsis to fit ``width`` pixels."""
    if font.getlength(line) <= width:
        return line
    while line and font.getlength(line + "…") > width:
        line = line[:-1]
    return line + "…"


def caption_frame(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``frame`` with ``lines`` (at most three) written in a dark band over its top."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rectangle((0, 0, image.width, CAPTION_HEIGHT), fill=(0, 0, 0, 170))
    font = _font(12)
    for k, line in enumerate(lines[:3]):
        text = _fit_text(line, font, image.width - 8)
        draw.text((4, 1 + 14 * k), text, fill=(255, 255, 255, 255), font=font)
    return np.asarray(image)


# ----------------------------------------------------------------- recorder
@dataclass
class Video:
    """One rendered episode: ``frames [T, H, W, 3]`` uint8, its frame rate and caption."""

    frames: np.ndarray
    fps: float
    caption: str
    episode_return: float


class EpisodeRecorder:
    """Frames of one episode, each captioned with ``title`` and the return so far.

    Args:
        title: which episode it is, e.g. ``"cheetah-vel train task 3"``.
        description: the task, e.g. ``"velocity=1.2"`` (:func:`mier_pl.envs.meta_env.describe_task`).
        width, height: frame size in pixels.
    """

    def __init__(
        self, title: str, description: str = "", *, width: int = 320, height: int = 240
    ) -> None:
        self.title, self.description = title, description
        self.width, self.height = width, height
        self.frames: list[np.ndarray] = []
        self.episode_return = 0.0
        self.steps = 0
        self.failed = False
        self.seconds = 0.0  # spent rendering (the episode's own steps not included)
        self._painter: Any = None
        self.fps = float(POINT_FPS)

    def start(self, env: Any) -> None:
        """Called after the episode's reset: the first frame."""
        start = time.perf_counter()
        try:
            self._painter = _painter(env, self.width, self.height)
        except RenderUnavailable as err:
            self.failed = True
            warn_once(str(err), f"continuing without videos: {err}")
            return
        except Exception as err:  # anything else a renderer raises: never the run's problem
            self.failed = True
            warn_once(f"start:{type(err).__name__}", f"continuing without videos: {err!r}")
            return
        self.fps = self._painter.fps
        self._capture(env)
        self.seconds += time.perf_counter() - start

    def step(self, env: Any, reward: float) -> None:
        """Called after each step of the episode."""
        self.episode_return += float(reward)
        self.steps += 1
        if not self.failed:
            start = time.perf_counter()
            self._capture(env)
            self.seconds += time.perf_counter() - start

    def _capture(self, env: Any) -> None:
        try:
            frame = self._painter(env)
            line = f"step {self.steps}   return {self.episode_return:.2f}"
            self.frames.append(caption_frame(frame, [self.title, self.description, line]))
        except Exception as err:
            self.failed = True
            self.close()
            warn_once(f"frame:{type(err).__name__}", f"continuing without videos: {err!r}")

    @property
    def caption(self) -> str:
        """``"<title> (<description>): return <R>"``, the W&B and TensorBoard caption."""
        task = f" ({self.description})" if self.description else ""
        return f"{self.title}{task}: return {self.episode_return:.2f}"

    def close(self) -> None:
        """Release the renderer (safe to call twice; never raises)."""
        painter, self._painter = self._painter, None
        if painter is not None:
            try:
                painter.close()
            except Exception as err:
                warn_once(f"close:{type(err).__name__}", f"could not close a renderer: {err!r}")

    def video(self) -> Video | None:
        """The episode's video (releasing the renderer), or None when it could not render."""
        self.close()
        if self.failed or not self.frames:
            return None
        return Video(np.stack(self.frames), self.fps, self.caption, self.episode_return)


# ----------------------------------------------------------------- encoding
def mp4_available() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def write_video(video: Video, path: str | Path) -> Path:
    """Write ``video`` to ``path`` with the suffix ``.mp4`` (H.264, needs ``imageio-ffmpeg``)
    or, without an mp4 encoder, ``.gif``; returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mp4_available():
        import imageio_ffmpeg

        path = path.with_suffix(".mp4")
        _, height, width, _ = video.frames.shape
        writer = imageio_ffmpeg.write_frames(
            str(path),
            (width, height),
            fps=video.fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            macro_block_size=2,
            ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in video.frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return path
    path = path.with_suffix(".gif")
    path.write_bytes(gif_bytes(video))
    return path


def save_video(video: Video, path: str | Path) -> Path | None:
    """:func:`write_video` that never raises: a failure is reported once, and gives None."""
    try:
        return write_video(video, path)
    except Exception as err:
        warn_once(f"write:{type(err).__name__}", f"could not write a video: {err!r}")
        return None


def gif_bytes(video: Video) -> bytes:
    """``video`` as a looping animated GIF.

    One 256-colour palette for all frames, taken from the first, middle and last ones, without
    dithering: far faster and smaller than a palette per frame (BENCHMARKS.md).
    """
    from PIL import Image

    frames = video.frames
    sample = np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]], axis=0)
    palette = Image.fromarray(sample).quantize(256, method=Image.Quantize.FASTOCTREE)
    images = [
        Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames
    ]
    out = io.BytesIO()
    images[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(round(1000 / video.fps), 20),
        loop=0,
    )
    return out.getvalue()


# ------------------------------------------------------------------ logging
def _tensorboard_video(logger: Any, tag: str, video: Video, step: int) -> None:
    from tensorboard.compat.proto.summary_pb2 import Summary

    _, height, width, channels = video.frames.shape
    image = Summary.Image(
        height=height, width=width, colorspace=channels, encoded_image_string=gif_bytes(video)
    )
    writer = logger.experiment
    writer._get_file_writer().add_summary(
        Summary(value=[Summary.Value(tag=tag, image=image)]), step
    )
    writer.add_text(f"{tag}/caption", video.caption, step)


def file_stem(tag: str, step: int) -> str:
    """A file name for ``tag`` at ``step``: ``train_task_3_step_40`` for ``eval_video/train_task_3``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", tag.rsplit("/", 1)[-1]) + f"_step_{step}"


def log_videos(
    loggers: Iterable[Any], videos: dict[str, Video], step: int, save_dir: str | Path | None
) -> list[Path]:
    """Write each of ``videos`` (tag → video) under ``save_dir`` and log it to the loggers
    that take videos: TensorBoard (an image summary of the animated GIF, plus the caption as
    text) and W&B (``wandb.Video`` of the file, with the caption). Returns the files written.

    Never raises: a logger that fails is reported once and skipped.
    """
    from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

    loggers = list(loggers)
    written: dict[str, Path] = {}
    if save_dir is not None:
        for tag, video in videos.items():
            if (path := save_video(video, Path(save_dir) / file_stem(tag, step))) is not None:
                written[tag] = path
    for logger in loggers:
        try:
            if isinstance(logger, TensorBoardLogger):
                for tag, video in videos.items():
                    _tensorboard_video(logger, tag, video, step)
            elif isinstance(logger, WandbLogger):
                for tag, video in videos.items():
                    source = written.get(tag)
                    if source is None:  # no run directory: a GIF beside W&B's own files
                        source = write_video(
                            video, Path(logger.save_dir or ".") / "videos" / file_stem(tag, step)
                        )
                    fmt = source.suffix.lstrip(".")
                    logger.log_video(
                        tag, [str(source)], step=step, caption=[video.caption], format=[fmt]
                    )
        except Exception as err:
            warn_once(
                f"log:{type(logger).__name__}",
                f"{type(logger).__name__} could not log a video; continuing without: {err!r}",
            )
    return list(written.values())
