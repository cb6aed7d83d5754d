"""Evaluation videos (mier_pl/data/video.py): real MuJoCo frames (OSMesa) from a camera that tracks
the robot, the point families' 2-D picture, captions, mp4/GIF files, TensorBoard and W&B
logging from ``fit --model.init_args.eval.video_every``, and runs that go on without GL."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mier_pl.data import video as render
from mier_pl.data.rollout import Collector
from mier_pl.data.video import EpisodeRecorder, Video, gif_bytes, write_video
from mier_pl.envs import make_env
from tests.conftest import CONF, HAVE_GL, ROOT, needs_metaworld

# CI (.ci/run sets MIER_REQUIRE_GL=1) must render for real: there a missing library fails.
needs_osmesa = pytest.mark.skipif(
    not HAVE_GL,
    reason="MuJoCo rendering needs libosmesa6 and MUJOCO_GL=osmesa (scripts/install_gl.sh)",
)


def _robot_pixels(painter, env) -> np.ndarray:
    """Pixel mask of the robot's geoms (bodies ≥ 1) in the painter's view (segmentation)."""
    renderer = painter.renderer
    renderer.enable_segmentation_rendering()
    try:
        renderer.update_scene(env.data, painter.camera)
        seg = renderer.render()
    finally:
        renderer.disable_segmentation_rendering()
    import mujoco

    geom = np.where(seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM, seg[..., 0], -1)
    robot_geoms = np.flatnonzero(env.model.geom_bodyid >= 1)
    return np.isin(geom, robot_geoms)


def _read_frames(path: Path) -> np.ndarray:
    if path.suffix == ".gif":
        image = Image.open(path)
        frames = []
        for k in range(image.n_frames):
            image.seek(k)
            frames.append(np.asarray(image.convert("RGB")))
        return np.stack(frames)
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])


@needs_osmesa
def test_the_mujoco_camera_follows_the_robot():
    """Teleported 30 m along x, the cheetah stays in the middle of the frame."""
    env = make_env("cheetah-vel")
    env.reset(seed=0)
    painter = render._painter(env, 160, 120)
    try:
        centres = []
        for x in (0.0, 30.0):
            qpos = env.data.qpos.copy()
            qpos[0] = x
            env.set_state(qpos, env.data.qvel.copy())
            mask = _robot_pixels(painter, env)
            assert mask.mean() > 0.01, f"robot covers {mask.mean():.1%} of the frame at x={x}"
            ys, xs = np.nonzero(mask)
            centres.append((xs.mean() / 160, ys.mean() / 120))
        # Both times near the centre, and at the same place: the camera moved with it.
        for cx, cy in centres:
            assert 0.3 < cx < 0.7 and 0.3 < cy < 0.8
        assert abs(centres[0][0] - centres[1][0]) < 0.05
    finally:
        painter.close()


@needs_osmesa
def test_a_few_frames_of_a_mujoco_episode_make_a_captioned_video(tmp_path):
    env = make_env("walker-rand-params")
    env.reset(seed=0)
    recorder = EpisodeRecorder("walker-rand-params test task 3", "mass ×1.2", width=160, height=120)
    recorder.start(env)
    for _ in range(4):
        _, reward, *_ = env.step(np.zeros(env.action_space.shape))
        recorder.step(env, reward)
    video = recorder.video()
    assert video is not None and video.frames.shape == (5, 120, 160, 3)
    assert video.fps == 125  # walker dt = 0.008 s
    assert video.caption == (
        f"walker-rand-params test task 3 (mass ×1.2): return {recorder.episode_return:.2f}"
    )
    band, scene = video.frames[:, : render.CAPTION_HEIGHT], video.frames[:, 60:]
    assert band.mean() < scene.mean()  # the dark caption band with white text
    assert (band > 200).any()
    path = write_video(video, tmp_path / "walker")
    assert path.suffix == (".mp4" if render.mp4_available() else ".gif")
    assert len(_read_frames(path)) == 5


@needs_osmesa
@needs_metaworld
def test_a_meta_world_episode_films_the_arm_and_the_object_on_the_table():
    """ml1-reach: the fixed camera of ``MetaWorldEnv.render_camera`` sees the arm (down to the
    gripper) and the object, not a table from behind; frames of the asked size, captioned."""
    import mujoco

    from mier_pl.envs.meta_env import describe_task

    env = make_env("ml1-reach")
    task = env.test_tasks[0]
    env.set_task(task)
    env.reset(seed=0)
    assert describe_task(task).startswith("reach-v3 goal 0: (")
    recorder = EpisodeRecorder("ml1-reach test task 0", describe_task(task), width=160, height=120)
    recorder.start(env)
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, (5, 4)).astype(np.float32)
    for action in actions:
        _, reward, *_ = env.step(action)
        recorder.step(env, reward)
    video = recorder.video()
    assert video is not None and video.frames.shape == (6, 120, 160, 3)
    assert video.fps == 80  # Meta-World's 0.0125 s step
    assert video.caption.startswith("ml1-reach test task 0 (reach-v3 goal 0: (")
    scene = video.frames[:, render.CAPTION_HEIGHT :].astype(float)
    assert scene.std() > 20 and (scene[-1] != scene[0]).any()  # not blank; the arm moved

    painter = render._painter(env, 160, 120)
    try:
        painter.renderer.enable_segmentation_rendering()
        painter.renderer.update_scene(env.data, painter.camera)
        seg = painter.renderer.render()
    finally:
        painter.close()
    model = env.model
    geom = np.where(seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM, seg[..., 0], -1)

    def pixels(body: str) -> int:
        """Pixels of the geoms of ``body`` and of the bodies below it."""
        root, bodies = model.body(body).id, set()
        for b in range(model.nbody):
            a = b
            while a > 0 and a != root:
                a = model.body_parentid[a]
            if a == root:
                bodies.add(b)
        return int(np.isin(geom, np.flatnonzero(np.isin(model.geom_bodyid, list(bodies)))).sum())

    assert pixels("right_arm_base_link") > 0.05 * geom.size  # the arm
    # measured at 160×120: arm 1408 pixels (7 %), gripper 17, the 2-cm object 8
    assert pixels("hand") > 8 and pixels("obj") > 3  # the gripper and the object


def test_the_point_video_shows_the_goal_and_the_moving_point(tmp_path):
    env = make_env("point-goal")
    task = env.test_tasks[0]  # goal at angle 1.5π: (0, −1)
    env.set_task(task)
    env.reset(seed=0)
    recorder = EpisodeRecorder("point-goal test task 0", "angle=4.71", width=160, height=160)
    recorder.start(env)
    for _ in range(12):
        _, reward, *_ = env.step(np.array([0.0, -1.0]))
        recorder.step(env, reward)
    video = recorder.video()
    assert video.frames.shape == (13, 160, 160, 3) and video.fps == render.POINT_FPS
    assert recorder.episode_return == pytest.approx(-sum(abs(-0.1 * k + 1.0) for k in range(1, 13)))

    def centroid(frame, rgb):
        mask = (np.abs(frame.astype(int) - rgb).sum(-1) < 60)[render.CAPTION_HEIGHT :]
        ys, xs = np.nonzero(mask)
        assert len(xs) > 5
        return xs.mean(), ys.mean() + render.CAPTION_HEIGHT

    blue, green = (31, 119, 180), (44, 160, 44)  # tab:blue point, tab:green goal
    (x0, y0), (x1, y1) = centroid(video.frames[0], blue), centroid(video.frames[-1], blue)
    gx, gy = centroid(video.frames[-1], green)
    assert y1 > y0 + 20 and abs(x1 - x0) < 3  # moved down the picture, towards the goal
    assert gy > y0 and abs(gx - x0) < 3  # the goal is straight below the start
    path = write_video(video, tmp_path / "point")
    assert len(_read_frames(path)) == 13


def test_gif_when_no_mp4_encoder(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "mp4_available", lambda: False)
    frames = np.zeros((3, 24, 32, 3), np.uint8)
    frames[1, :, :16] = 255
    path = write_video(Video(frames, 10.0, "c", 0.0), tmp_path / "clip.mp4")
    assert path == tmp_path / "clip.gif"
    back = _read_frames(path)
    assert back.shape == (3, 24, 32, 3) and back[1, 0, 0].tolist() == [255, 255, 255]
    assert Image.open(io.BytesIO(gif_bytes(Video(frames, 10.0, "c", 0.0)))).info["duration"] == 100


def test_rendering_leaves_the_evaluation_episodes_unchanged():
    def act(obs):
        import torch

        return torch.tanh(obs[:, [1, 0]] * 3 - 1)

    tasks = make_env("point-rotated").test_tasks[:3]
    plain = Collector("point-rotated", None, seed=4).run_episodes(tasks, act)
    recorders = {1: EpisodeRecorder("t", width=64, height=64)}
    filmed = Collector("point-rotated", None, seed=4).run_episodes(tasks, act, recorders)
    assert filmed.tolist() == plain.tolist()
    assert recorders[1].episode_return == pytest.approx(plain[1])
    assert len(recorders[1].frames) == 31  # the reset and 30 steps


@pytest.mark.e2e
@pytest.mark.parametrize(("gl", "display"), [("glfw", ":97"), ("", "")])
def test_without_gl_the_run_says_once_what_it_needs_and_goes_on(gl, display):
    """GLFW with a display that is not there fails for real (and a second attempt would abort
    the process); GLFW with no display at all is not tried."""
    code = """
import warnings, numpy as np
from mier_pl.data.rollout import Collector
from mier_pl.data.video import EpisodeRecorder
c = Collector("cheetah-vel", None, seed=0)
act = lambda obs: __import__("torch").zeros(obs.shape[0], 6)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    recs = {0: EpisodeRecorder("a"), 1: EpisodeRecorder("b")}
    returns = c.run_episodes(c.train_tasks[:2], act, recs)
    c.run_episodes(c.train_tasks[:2], act, {0: EpisodeRecorder("c")})  # no second GL attempt
plain = Collector("cheetah-vel", None, seed=0).run_episodes(c.train_tasks[:2], act)
print([str(w.message) for w in caught if "videos" in str(w.message)])
print(returns.shape, [r.video() is None for r in recs.values()], plain.tolist() == returns.tolist())
"""
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    # GLFW with a display that does not exist: MuJoCo's GL context fails for real.
    env.update(MUJOCO_GL=gl, DISPLAY=display, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    messages, summary = out.stdout.strip().splitlines()[-2:]
    messages = eval(messages)  # a printed list of str
    assert len(messages) == 1, messages
    assert "apt-get install libosmesa6" in messages[0] and "MUJOCO_GL=osmesa" in messages[0]
    assert "MUJOCO_GL=egl" in messages[0]
    assert summary == "(2,) [True, True] True"


def test_should_render_every_kth_evaluation_and_the_last():
    from types import SimpleNamespace

    from mier_pl.modules.base import MetaTrainingModule
    from mier_pl.modules.common import EvalConfig

    def rendered(interval, video_every, max_epochs, zero=True):
        fake = SimpleNamespace(
            eval_cfg=EvalConfig(interval=interval, video_every=video_every),
            trainer=SimpleNamespace(is_global_zero=zero, max_epochs=max_epochs),
            _budget_spent=False,  # no env-step budget (collect.max_env_steps)
        )
        evals = [e for e in range(max_epochs) if MetaTrainingModule.should_eval(fake, e)]
        return [e for e in evals if MetaTrainingModule.should_render(fake, e)]

    assert rendered(2, 2, 9) == [3, 7, 8]  # evaluations 2 and 4, and the last epoch's
    assert rendered(1, 1, 3) == [0, 1, 2]
    assert rendered(2, 0, 9) == []
    assert rendered(2, 1, 9, zero=False) == []  # other DDP ranks never render


def _tensorboard_images(log_dir: Path) -> dict[str, list]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = log_dir.glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events), size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    return {tag: acc.Images(tag) for tag in acc.Tags()["images"]}


FIT_VIDEO = (
    "fit",
    "--config",
    CONF / "point_goal.yaml",
    "--config",
    CONF / "debug.yaml",
    "--trainer.enable_progress_bar",
    "false",
    "--model.init_args.eval.video_every",
    "1",
    "--model.init_args.eval.video_tasks",
    "1",
)


def test_fit_with_video_every_logs_videos_to_tensorboard(run_cli):
    cli = run_cli(*FIT_VIDEO)
    log_dir = Path(cli.trainer.log_dir)
    images = _tensorboard_images(log_dir)
    # debug: evaluation after both epochs; 1 task per split (the first evaluated one).
    assert sorted(images) == ["eval_video/test_task_0", "eval_video/train_task_0"]
    for summaries in images.values():
        assert [s.step for s in summaries] == [12, 24]  # global steps at the two evaluations
        for s in summaries:
            assert s.encoded_image_string[:6] == b"GIF89a" and (s.width, s.height) == (320, 240)
            assert Image.open(io.BytesIO(s.encoded_image_string)).n_frames == 31  # 30 steps
    files = sorted(p.name for p in (log_dir / "videos").iterdir())
    ext = "mp4" if render.mp4_available() else "gif"
    assert files == sorted(
        f"{split}_task_0_step_{step}.{ext}" for split in ("test", "train") for step in (12, 24)
    )


def test_wandb_offline_gets_the_videos_with_their_captions(run_cli, monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    logged = []
    original = WandbLogger.log_video

    def spy(self, key, videos, step=None, **kwargs):
        logged.append((key, step, kwargs["caption"][0]))
        return original(self, key, videos, step, **kwargs)

    monkeypatch.setattr(WandbLogger, "log_video", spy)
    cli = run_cli(
        *FIT_VIDEO, "--config", CONF / "logger" / "wandb.yaml", "--trainer.max_epochs", "1"
    )
    (logger,) = [lg for lg in cli.trainer.loggers if isinstance(lg, WandbLogger)]
    run = Path(logger.experiment.dir).parent.resolve()  # lightning_logs/wandb/offline-run-*
    logger.experiment.finish()
    assert run.parent == (tmp_path / "lightning_logs" / "wandb").resolve()
    media = sorted(p.name for p in (run / "files" / "media" / "videos" / "eval_video").iterdir())
    ext = "mp4" if render.mp4_available() else "gif"
    assert [n.split("_")[:3] for n in media] == [["test", "task", "0"], ["train", "task", "0"]]
    assert all(n.endswith(f".{ext}") for n in media)
    assert [(key, step) for key, step, _ in logged] == [
        ("eval_video/train_task_0", 12),
        ("eval_video/test_task_0", 12),
    ]
    for (_, _, caption), split in zip(logged, ("train", "test")):
        assert re.fullmatch(
            rf"point-goal {split} task 0 \(angle=[0-9.]+\): return -[0-9.]+", caption
        )


def test_notebook_helpers_find_the_adapt_videos(tmp_path):
    from mier_pl.analysis.results import task_videos, videos_html

    video = Video(np.zeros((2, 16, 16, 3), np.uint8), 10.0, "c", 0.0)
    for task in ("task_00", "task_03"):
        for name in ("mier_wr", "mier"):
            write_video(video, tmp_path / task / name)
    (tmp_path / "task_07").mkdir()  # an unfinished task: no videos yet
    found = task_videos(tmp_path)
    assert sorted(found) == [0, 3] and sorted(found[3]) == ["mier", "mier_wr"]
    html = videos_html(tmp_path)
    tag = "<video" if render.mp4_available() else "<img"
    assert html.count(tag) == 4 and "task 3" in html
    assert videos_html(tmp_path / "task_07") == ""


def test_warn_once_says_it_once():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            render.warn_once("test-key-unique", "said")
    assert [str(w.message) for w in caught] == ["said"]
