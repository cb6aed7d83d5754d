"""The capture-safe training step of ``--model.init_args.cuda_graph true`` (fast/cuda_graph.py).

No GPU here, so the step is rehearsed: the ``rehearse`` fixture lets the CPU pass the device
check and builds ``GraphedStep(capture=False)``, which runs the very step a CUDA graph would
capture, eagerly on the CPU, on its static buffers. What a capture needs and a CPU can show: no host sync, the same memory for every
input, output and state tensor in every step, optimiser states on the device, and the same
numbers as the ordinary step. The capture and replay themselves run in ``make gpu-check``.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from pytorch_lightning.callbacks import Callback

import mier_pl.modules.mier as mier_module
from mier_pl.data.batch import MetaBatch, TransitionBatch
from mier_pl.fast.cuda_graph import (
    GraphedStep,
    batch_tensors,
    capturable,
    graph_step_problem,
    states_to_param_devices_,
)
from mier_pl.functional import sac_losses
from tests.conftest import fit_debug
from tests.modules.sync_counter import SyncCounter, add_fit_callbacks, count_syncs_in_fit

STEPS = 12


def _fit(run_cli, *extra: str, graph: bool = True, steps: int = STEPS):
    return fit_debug(
        run_cli,
        "point_rotated.yaml",
        "--data.steps_per_epoch",
        str(steps),
        "--model.init_args.eval.interval",
        "0",
        "--model.init_args.cuda_graph",
        str(graph).lower(),
        *extra,
    )


@pytest.fixture
def rehearse(monkeypatch):
    monkeypatch.setattr(mier_module, "graph_step_problem", lambda *args: None)
    rehearsed = lambda step, **options: GraphedStep(step, **{**options, "capture": False})  # noqa: E731
    monkeypatch.setattr(mier_module, "GraphedStep", rehearsed)


def _state_tensors(module) -> dict[str, torch.Tensor]:
    """Every tensor a captured step reads or writes: static batch and outputs, parameters and
    buffers, optimiser states, the FiniteGuard's bookkeeping."""
    graph = module._graph
    out = {f"input/{k}": v for k, v in batch_tensors(graph.inputs).items()}
    out.update({f"output/{k}": v for k, v in graph.outputs.items()})
    out.update({f"param/{k}": v for k, v in module.named_parameters()})
    out.update({f"buffer/{k}": v for k, v in module.named_buffers()})
    for i, opt in enumerate(module.optimizers()):
        for j, state in enumerate(opt.optimizer.state.values()):
            out.update({f"opt{i}/{j}/{k}": v for k, v in state.items() if torch.is_tensor(v)})
    for names, site in module.finite_guard._sites.items():
        tensors = {"alive": site.alive, "good": site.good}
        tensors["values"] = site.values
        out.update({f"guard/{names[0]}/{k}": v for k, v in tensors.items()})
    return out


class _Watch(Callback):
    """Each step: the batch Lightning passed, and shape and address of every state tensor."""

    def __init__(self) -> None:
        self.layouts: list[dict[str, tuple]] = []
        self.fed: list[bool] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batch = {k: v.clone() for k, v in batch_tensors(batch).items()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        static = batch_tensors(pl_module._graph.inputs)
        self.fed.append(all(torch.equal(static[k], v) for k, v in self.batch.items()))
        self.layouts.append(
            {k: (tuple(v.shape), v.data_ptr()) for k, v in _state_tensors(pl_module).items()}
        )


def test_graph_step_makes_no_host_sync_outside_logging_steps(run_cli, rehearse, monkeypatch):
    """Counted with no allowance for host-side optimiser reads (``host_side=()``): the plain
    model Adam's ``.item()`` on its CPU step count would be charged to every step; tensors
    made from Python data (a host→device copy on a GPU) count too. Lightning logs after batch
    4 and 9 and the guard checks there and on the epoch's last batch."""
    counter = SyncCounter(host_side=(), host_to_device=True)
    count_syncs_in_fit(monkeypatch, counter)
    with counter:
        _fit(run_cli, "--trainer.log_every_n_steps", "5")
    allowed = {(0, 4), (0, 9), (0, STEPS - 1)}
    unexpected = {step: calls for step, calls in counter.syncs.items() if step not in allowed}
    assert not unexpected, unexpected
    assert counter.syncs[(0, 4)] and counter.syncs[(0, 9)]  # the counter does see syncs


def test_eager_step_would_be_caught_by_the_same_count(run_cli, monkeypatch):
    """The control: the ordinary step's model Adam reads its host-side step count every step."""
    counter = SyncCounter(host_side=())
    count_syncs_in_fit(monkeypatch, counter)
    with counter:
        _fit(run_cli, "--trainer.log_every_n_steps", "5", graph=False, steps=3)
    assert all(counter.syncs[(0, i)] for i in range(3)), dict(counter.syncs)
    assert any("torch/optim/" in call for call in counter.syncs[(0, 1)])


def test_graph_step_keeps_every_tensor_in_place_and_optimiser_states_on_the_device(
    run_cli, rehearse, monkeypatch
):
    watch = _Watch()
    add_fit_callbacks(monkeypatch, watch)
    cli = _fit(run_cli)
    assert len(watch.layouts) == STEPS and all(watch.fed)  # each step saw Lightning's batch
    first = watch.layouts[0]
    assert len([k for k in first if k.startswith("opt")]) >= 3 * 3  # Adam states exist
    for step, layout in enumerate(watch.layouts[1:], start=1):
        moved = {k: (first[k], v) for k, v in layout.items() if first.get(k) != v}
        assert not moved and layout.keys() == first.keys(), (step, moved)
    module = cli.model
    for opt in module.optimizers():
        assert all(g["capturable"] and g["fused"] for g in opt.optimizer.param_groups)
        for state in opt.optimizer.state.values():
            assert state["step"].device == module.device and state["step"].dim() == 0
            assert all(v.device == module.device for v in state.values() if torch.is_tensor(v))
    assert cli.trainer.global_step == 3 * STEPS  # Lightning counted every optimiser step


@pytest.mark.parametrize(
    "source",
    [
        ("--model.init_args.context_source", "adapted"),
        ("--model.init_args.context_source", "oracle"),
        ("--data.sac_context_steps", "40"),  # SAC's contexts from their own static window
    ],
    ids=["adapted", "oracle", "sac_context_steps"],
)
def test_graph_step_matches_the_ordinary_step(run_cli, rehearse, source):
    """Same seed, so the same replay, batches and actor noise. The graph step's fused Adam
    rounds differently from the model's single-tensor Adam: 1.5e-8 measured after 12 steps,
    asserted to 1e-6 (a step on the previous batch instead: 1.5e-2 measured)."""
    eager = _fit(run_cli, *source, graph=False).model
    graphed = _fit(run_cli, *source).model
    ours = dict(graphed.named_parameters())
    compared = 0
    for name, value in eager.named_parameters():
        torch.testing.assert_close(ours[name], value, rtol=0, atol=1e-6, msg=name)
        compared += 1
    assert compared == len(ours) and any(n.startswith("sac.target_critic") for n in ours)


def test_graph_step_guard_names_the_first_non_finite_step(run_cli, rehearse, monkeypatch):
    """The losses are recorded inside the step and the step is named outside it: the check
    at the logging step after batch 4 still names batch 2, whose critic loss went NaN first."""
    critic_loss, calls = sac_losses.critic_loss, []

    def diverging(*args, **kwargs):
        loss, metrics = critic_loss(*args, **kwargs)
        calls.append(1)
        if len(calls) > 2:  # from batch 2 on
            loss = loss * float("nan")
            metrics["critic_loss"] = loss.detach()
        return loss, metrics

    monkeypatch.setattr(sac_losses, "critic_loss", diverging)
    with pytest.raises(FloatingPointError, match=r"at epoch 0, batch 2: sac/critic_loss=nan"):
        _fit(run_cli, "--trainer.log_every_n_steps", "5")
    assert len(calls) == 5  # stopped at the check after batch 4


def test_cli_refuses_cuda_graph_on_a_cpu_naming_the_fix(run_cli):
    with pytest.raises(SystemExit) as info:
        _fit(run_cli, "--trainer.accelerator", "cpu")
    message = str(info.value)
    assert "cuda_graph true needs a CUDA device" in message and "'cpu'" in message
    assert "--trainer.accelerator gpu" in message


@pytest.mark.parametrize(
    "device, precision, world_size, expected",
    [
        ("cuda", "32-true", 1, None),
        ("cuda", "16-mixed", 1, "GradScaler reads its overflow flag"),
        ("cuda", "bf16-mixed", 1, "--trainer.precision 32-true"),
        ("cuda", "32-true", 2, "--trainer.devices 1"),
        ("mps", "32-true", 1, "needs a CUDA device"),
    ],
)
def test_graph_step_refusals_name_the_problem_and_the_fix(device, precision, world_size, expected):
    problem = graph_step_problem(device, precision, world_size)
    if expected is None:
        assert problem is None
    else:
        assert expected in problem and "drop --model.init_args.cuda_graph" in problem


def test_an_ordinary_run_resumes_with_the_graph_step(run_cli, rehearse, caplog):
    """The checkpoint's Adam groups say non-capturable; the config's flags come back at resume
    and every state tensor is on the parameters' device before the first graph step. The
    graph run's checkpoint then resumes with the ordinary step."""
    _fit(run_cli, graph=False, steps=3)
    cli = _fit(run_cli, "--ckpt_path", "last", "--trainer.max_epochs", "2", steps=3)
    assert cli.trainer.global_step == 2 * 3 * 3
    assert "capturable False → True" in caplog.text
    for opt in cli.model.optimizers():
        assert all(g["capturable"] for g in opt.optimizer.param_groups)
    # ... and the graph run's checkpoint back to the ordinary step
    cli = _fit(run_cli, "--ckpt_path", "last", "--trainer.max_epochs", "3", graph=False, steps=3)
    assert cli.trainer.global_step == 3 * 3 * 3
    assert not any(g["capturable"] for g in cli.model.optimizers()[0].optimizer.param_groups)


def test_resumed_step_counts_move_to_the_parameters_device():
    """What a CUDA resume needs (a host step count beside device parameters), on the meta
    device: the CPU step of a non-capturable Adam moves to the parameter's device as float32."""
    cpu = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([cpu])
    cpu.grad = torch.ones(3)
    opt.step()
    meta = torch.nn.Parameter(torch.ones(3, device="meta"))
    opt.state = {meta: {**opt.state[cpu]}}
    states_to_param_devices_(opt)
    state = opt.state[meta]
    assert state["step"].device.type == "meta" and state["step"].dtype == torch.float32
    assert state["exp_avg"].device.type == "meta"


class _FakeCuda:
    """Just enough of ``torch.cuda`` for :class:`GraphedStep`'s CUDA path on a CPU: while a
    capture is under way a step records its work instead of running it (as kernels are
    recorded), and ``replay`` runs what was recorded, reading the static buffers as they are."""

    class Stream:
        def wait_stream(self, other) -> None:
            pass

    def __init__(self) -> None:
        self.capturing = False
        self.captures = 0

    def current_stream(self) -> _FakeCuda.Stream:
        return _FakeCuda.Stream()

    @contextlib.contextmanager
    def stream(self, stream):
        yield

    class CUDAGraph:
        def __init__(self) -> None:
            self.work: list = []

        def replay(self) -> None:
            for work in self.work:
                work()

    @contextlib.contextmanager
    def graph(self, graph, stream=None):
        self.capturing, self.graph_ = True, graph
        self.captures += 1
        yield
        self.capturing = False


def test_graphed_step_warms_up_captures_once_then_replays_each_step(monkeypatch):
    fake = _FakeCuda()
    for name in ("Stream", "current_stream", "stream", "CUDAGraph", "graph"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    total, python_runs = torch.zeros(()), []

    def step(batch):
        python_runs.append(1)

        def work():
            total.add_(batch.query.rew.sum())

        if fake.capturing:
            fake.graph_.work.append(work)
        else:
            work()
        return {"total": total}

    graphed = GraphedStep(step, capture=True, warmup=3)
    flags, outputs, expected = [], [], 0.0
    for i in range(7):
        batch = MetaBatch(torch.zeros(1, dtype=torch.long), _one(0.0), _one(float(i + 1)))
        expected += float(i + 1)
        out, replayed = graphed(batch)
        flags.append(replayed)
        outputs.append(out)
        assert float(out["total"]) == expected  # every step's batch counted exactly once
    assert flags == [False] * 4 + [True] * 3  # 3 warm-up steps, the capture, replays
    assert len(python_runs) == 4 and fake.captures == 1
    assert all(o is outputs[3] for o in outputs[3:])


def _one(rew: float) -> TransitionBatch:
    """A ``[1 task, 1]`` batch with reward ``rew``."""
    z = torch.zeros(1, 1, 2)
    return TransitionBatch(z, z[..., :1], torch.full((1, 1), rew), z, z[..., 0], z[..., 0])


def test_capturable_keeps_the_groups_and_settings_and_makes_them_fused_and_capturable():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    plain = torch.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=1e-3, eps=1e-6)
    graphed = capturable(plain)
    assert type(graphed) is torch.optim.Adam and len(graphed.param_groups) == 2
    for new, old in zip(graphed.param_groups, plain.param_groups):
        assert new["params"] == old["params"] and new["fused"] and new["capturable"]
        others = set(old) - {"params", "fused", "capturable"}
        assert {k: new[k] for k in others} == {k: old[k] for k in others}
    assert [g["lr"] for g in graphed.param_groups] == [1e-3, 0.5]
