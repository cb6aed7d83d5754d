"""Cost of one rendered evaluation episode per family (``python -m benchmarks.videos``).

For each family an episode is stepped with zero actions through
:meth:`~mier_pl.data.rollout.Collector.run_episodes` twice, without and with an
:class:`~mier_pl.data.video.EpisodeRecorder`, and the video is encoded as ``eval.video_every``
does (the mp4 or GIF file and TensorBoard's GIF). An episode that terminates early (the walker
falls) is scaled to the full horizon (200 steps, 30 for point) by its frame count. Prints a
Markdown table of seconds per full episode; MuJoCo families need a GL backend
(``MUJOCO_GL=osmesa`` with libosmesa6, or egl).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from mier_pl.data.rollout import Collector
from mier_pl.data.video import EpisodeRecorder, gif_bytes, mp4_available, write_video

FAMILIES = ("cheetah-vel", "ant-dir", "walker-rand-params", "point-goal")


def measure(family: str, width: int, height: int, out: Path) -> dict[str, float]:
    """Seconds for one episode of ``family``: stepping alone, rendering, file, TensorBoard GIF."""
    collector = Collector(family, None, seed=0)
    act_dim = collector.envs[0].action_space.shape[0]
    tasks = collector.train_tasks[:1]

    def act(obs):
        return torch.zeros(obs.shape[0], act_dim)

    start = time.perf_counter()
    collector.run_episodes(tasks, act)
    plain = time.perf_counter() - start
    recorder = EpisodeRecorder(f"{family} train task 0", width=width, height=height)
    start = time.perf_counter()
    collector.run_episodes(tasks, act, {0: recorder})
    filmed = time.perf_counter() - start
    video = recorder.video()
    if video is None:
        raise SystemExit(f"error: {family} gave no video (the warning above says why)")
    start = time.perf_counter()
    path = write_video(video, out / family)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    gif_bytes(video)
    tensorboard = time.perf_counter() - start
    scale = (collector.horizon + 1) / len(video.frames)  # the reset's frame and one per step
    return {
        "frames": len(video.frames),
        "episode_s": plain * scale,
        "render_s": (filmed - plain) * scale,
        "file_s": encode * scale,
        "file": path.suffix,
        "tensorboard_gif_s": tensorboard * scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.videos",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"mp4 encoder: {'imageio-ffmpeg' if mp4_available() else 'none (GIF files)'}")
    print("seconds per full episode (frames: those rendered, scaled to the horizon)")
    print("| family | frames | episode, no video | rendering | file | TensorBoard GIF | total |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            r = measure(family, args.width, args.height, Path(tmp))
            extra = r["render_s"] + r["file_s"] + r["tensorboard_gif_s"]
            print(
                f"| {family} | {r['frames']} | {r['episode_s']:.2f} s | {r['render_s']:.2f} s "
                f"| {r['file_s']:.2f} s ({r['file']}) | {r['tensorboard_gif_s']:.2f} s "
                f"| +{extra:.2f} s |"
            )


if __name__ == "__main__":
    main()
