"""End-to-end ``fit`` through the CLI: every config starts, bad input fails early, resume works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import CONF, fit_debug, metric_series, needs_metaworld, read_metrics

DEBUG = CONF / "debug.yaml"
OVERLAYS = {"debug.yaml", "model_only.yaml", "pearl.yaml"}
FAMILY_CONFIGS = [
    pytest.param(name, marks=needs_metaworld) if name.startswith("ml") else name
    for name in sorted(p.name for p in CONF.glob("*.yaml") if p.name not in OVERLAYS)
]


def _fit(run_cli, config: str, *extra: str):
    return fit_debug(run_cli, config, *extra, epochs=None)


@pytest.mark.parametrize("config", FAMILY_CONFIGS)
def test_every_config_runs_one_debug_epoch(run_cli, config):
    cli = _fit(run_cli, config, "--trainer.max_epochs", "1")
    trainer = cli.trainer
    assert trainer.current_epoch == 1
    dm = cli.datamodule
    # initial exploration (1 × 20 steps per task) + one epoch (2 tasks × (20 + 20))
    assert dm.collector.env_steps == dm.num_train_tasks * 20 + 2 * 40
    assert int(dm.buffer.added.sum()) == dm.collector.env_steps
    ckpt = Path(trainer.log_dir) / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    rows = read_metrics(Path(trainer.log_dir) / "metrics.csv")
    assert metric_series(rows, "eval/test_return_mier_wr") or dm.num_test_tasks == 0
    assert all(torch.isfinite(torch.tensor(metric_series(rows, "model/outer_loss"))))


def test_dims_are_linked_from_the_family(run_cli):
    cli = _fit(run_cli, "cheetah_neg.yaml", "--trainer.max_epochs", "1")
    model = cli.model
    assert (model.hparams.obs_dim, model.hparams.act_dim) == (20, 6)
    assert model.meta.model.context_dim == 10
    assert not model.meta.model.separate  # dynamics family: joint model
    assert cli.datamodule.num_train_tasks == 10


def test_reward_only_family_uses_separate_models(run_cli):
    cli = _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "1")
    assert cli.model.meta.model.separate


def test_misspelt_key_is_rejected_before_running(run_cli, capsys):
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "point_goal.yaml", "--model.sac.lrr", "1e-4")
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert "lrr" in err


def test_unknown_family_lists_valid_ones(run_cli, capsys):
    with pytest.raises(SystemExit):
        _fit(run_cli, "point_goal.yaml", "--data.family", "cheeta-vel")
    err = capsys.readouterr().err
    assert "cheeta-vel" in err and "cheetah-vel" in err and "point-rotated" in err


def test_a_missing_optional_package_is_one_line_naming_the_install(run_cli, monkeypatch):
    monkeypatch.setattr("mier_pl.envs.meta_world.metaworld_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "ml1_reach.yaml")
    message = str(exc.value)
    assert message.startswith("error: ml1-reach: the Meta-World families need the optional")
    assert "make setup-metaworld" in message and "docs/metaworld.md" in message


def test_missing_checkpoint_is_named(run_cli, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "point_goal.yaml", "--ckpt_path", tmp_path / "nope.ckpt")
    assert "nope.ckpt does not exist" in str(exc.value)


def test_checkpoint_of_another_family_is_refused(run_cli):
    cli = _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "1")
    ckpt = Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "cheetah_neg.yaml", "--ckpt_path", ckpt)
    msg = str(exc.value)
    assert "'point-goal'" in msg and "'cheetah-negated-joints'" in msg and "obs_dim 2" in msg


def test_nan_loss_stops_with_the_loss_and_step_named(run_cli):
    with pytest.raises(
        FloatingPointError, match=r"sac/critic_loss=nan.*|non-finite loss at epoch 0, batch 0"
    ):
        _fit(run_cli, "point_goal.yaml", "--model.sac.reward_scale", ".nan")


def test_resume_continues_counters_buffers_and_optimizers(run_cli):
    first = _fit(run_cli, "point_rotated.yaml", "--trainer.max_epochs", "2")
    ckpt = Path(first.trainer.log_dir) / "checkpoints" / "last.ckpt"
    steps_after_two = first.datamodule.collector.env_steps
    saved = torch.load(ckpt, weights_only=True, map_location="cpu")
    replay = saved["ReplayDataModule"]["replay"]
    assert int(replay["added"].sum()) == steps_after_two  # the replay is in the checkpoint
    resumed = _fit(
        run_cli, "point_rotated.yaml", "--trainer.max_epochs", "3", "--ckpt_path", "last"
    )
    dm = resumed.datamodule
    # one more epoch of collection on top of the restored counter, and buffers kept
    assert dm.collector.env_steps == steps_after_two + 2 * 40
    assert int(dm.buffer.added.sum()) == steps_after_two + 2 * 40
    assert resumed.trainer.current_epoch == 3
    opt_state = resumed.trainer.optimizers[0].state_dict()["state"]
    # Adam step counts continue from the checkpoint: 2 epochs × 4 steps, then 4 more
    assert int(next(iter(opt_state.values()))["step"]) == 12


def test_same_seed_same_metrics(run_cli, tmp_path):
    a = _fit(run_cli, "point_goal.yaml", "--seed_everything", "3")
    b = _fit(run_cli, "point_goal.yaml", "--seed_everything", "3")
    rows_a = read_metrics(Path(a.trainer.log_dir) / "metrics.csv")
    rows_b = read_metrics(Path(b.trainer.log_dir) / "metrics.csv")
    assert a.trainer.log_dir != b.trainer.log_dir
    for key in ("model/outer_loss", "sac/critic_loss", "eval/test_return_mier_wr"):
        assert metric_series(rows_a, key) == metric_series(rows_b, key), key


def test_model_only_overlay_trains_the_model_without_sac(run_cli):
    cli = run_cli(
        "fit",
        "--config",
        CONF / "point_rotated.yaml",
        "--config",
        DEBUG,
        "--config",
        CONF / "model_only.yaml",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.max_epochs",
        "3",
    )
    from mier_pl.modules import MetaModelModule

    assert type(cli.model) is MetaModelModule
    rows = read_metrics(Path(cli.trainer.log_dir) / "metrics.csv")
    losses = metric_series(rows, "model/outer_loss")
    assert len(losses) == 12 and all(torch.isfinite(torch.tensor(losses)))


def test_matmul_precision_flag_is_applied(run_cli):
    """``--matmul_precision medium`` reaches torch; the run's losses stay those of float32 to
    within reduced-precision rounding (same seed, first epoch)."""
    default = _fit(run_cli, "point_goal.yaml", "--seed_everything", "5")
    try:
        fast = _fit(
            run_cli, "point_goal.yaml", "--seed_everything", "5", "--matmul_precision", "medium"
        )
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision("highest")
    rows_a = read_metrics(Path(default.trainer.log_dir) / "metrics.csv")
    rows_b = read_metrics(Path(fast.trainer.log_dir) / "metrics.csv")
    a, b = metric_series(rows_a, "sac/critic_loss"), metric_series(rows_b, "sac/critic_loss")
    assert len(a) == len(b) > 0
    assert b[0] == pytest.approx(a[0], rel=1e-2)


def test_unknown_matmul_precision_is_rejected(run_cli, capsys):
    with pytest.raises(SystemExit):
        _fit(run_cli, "point_goal.yaml", "--matmul_precision", "fast")
    assert "matmul_precision" in capsys.readouterr().err


def split_policy_state(state: dict) -> tuple[dict, dict]:
    """The inverse of the merge: the policy Adam's state as the former actor and α Adams'."""
    actor_group, alpha_group = state["param_groups"]
    n = len(actor_group["params"])
    actor = {
        "state": {k: v for k, v in state["state"].items() if int(k) < n},
        "param_groups": [actor_group],
    }
    alpha = {
        "state": {int(k) - n: v for k, v in state["state"].items() if int(k) >= n},
        "param_groups": [{**alpha_group, "params": [p - n for p in alpha_group["params"]]}],
    }
    return actor, alpha


def test_checkpoint_of_another_optimizer_layout_is_refused_in_one_line(run_cli, tmp_path, capsys):
    """A file from before actor and α shared one Adam (four optimiser states) is refused in one
    line naming both layouts, not by torch's ValueError halfway through the restore."""
    first = _fit(run_cli, "point_rotated.yaml", "--trainer.max_epochs", "2")
    new_ckpt = Path(first.trainer.log_dir) / "checkpoints" / "last.ckpt"
    saved = torch.load(new_ckpt, weights_only=True, map_location="cpu")
    model_state, critic_state, policy_state = saved["optimizer_states"]
    saved["optimizer_states"] = [model_state, critic_state, *split_policy_state(policy_state)]
    old_ckpt = tmp_path / "old_layout.ckpt"
    torch.save(saved, old_ckpt)

    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "point_rotated.yaml", "--trainer.max_epochs", "3", "--ckpt_path", old_ckpt)
    message = str(exc.value.code)
    assert message.startswith(f"error: checkpoint {old_ckpt} holds 4 optimiser state(s) with ")
    assert "this run's module steps 3 optimiser(s)" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("flag", "value", "range_"),
    [
        ("data.batch_size", "-5", "v>0"),
        ("model.init_args.collect.prior_steps", "-10", "v>0"),
        ("data.steps_per_epoch", "-1", "v>0"),
        ("model.init_args.dynamics.hidden", "0", "v>0"),
        ("data.meta_batch_size", "0", "v>0"),
        ("model.init_args.sac.tau", "0", "v>0 and v<=1"),
        ("model.init_args.eval.test_tasks", "-1", "v>=0"),
        ("adapt.val_fraction", "1.5", "v>0 and v<1"),
        ("torch_threads", "0", "v>0"),
    ],
)
def test_out_of_range_setting_is_refused_in_one_line_before_any_run(
    run_cli, capsys, tmp_path, flag, value, range_
):
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "point_goal.yaml", f"--{flag}", value)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: --{flag} {value} is out of range (allowed: {range_})\n"
    assert not (tmp_path / "lightning_logs").exists()  # no empty version_<n>/ left behind


def test_settings_that_clash_are_refused_before_any_run(run_cli, tmp_path):
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "point_goal.yaml", "--adapt.adapt_steps", "2")
    assert str(exc.value) == (
        "error: --adapt.adapt_steps 2 with --adapt.val_fraction 0.2 leaves an empty adapt or "
        "validation split; collect more"
    )
    assert not (tmp_path / "lightning_logs").exists()


def test_yaml_syntax_error_names_the_file(run_cli, capsys, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("data:\n  batch_size: [1\n")
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "point_goal.yaml", "--config", bad)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: config file {bad} is not valid YAML, line 3")
        and err.count("\n") == 1
    )


def test_model_only_overlay_before_debug_names_the_order(run_cli, capsys):
    """model_only.yaml then debug.yaml: debug's SAC sizes do not exist on MetaModelModule."""
    with pytest.raises(SystemExit):
        run_cli(
            "fit",
            "--config",
            CONF / "point_rotated.yaml",
            "--config",
            CONF / "model_only.yaml",
            "--config",
            DEBUG,
        )
    err = capsys.readouterr().err
    assert err.startswith("error: --model.init_args.sac.hidden is set but ")
    assert "MetaModelModule has no such option" in err and "give it after the configs" in err


@pytest.mark.parametrize("damage", ["empty", "truncated", "code"])
def test_damaged_checkpoint_is_refused_in_one_line(run_cli, tmp_path, damage):
    cli = _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "1")
    good = Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt"
    bad = tmp_path / f"{damage}.ckpt"
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    else:
        saved = torch.load(good, weights_only=True)
        saved["hook"] = print  # a pickled callable
        torch.save(saved, bad)
    with pytest.raises(SystemExit) as exc:
        _fit(run_cli, "point_goal.yaml", "--ckpt_path", bad)
    msg = str(exc.value)
    assert msg.startswith(f"error: checkpoint {bad} ") and "\n" not in msg
    if damage == "code":
        assert "holds pickled Python objects (code)" in msg and "will not be loaded" in msg
        assert "weights_only" not in msg
    else:
        assert "is damaged" in msg and "cut off" in msg


def test_nan_stop_says_no_checkpoint_exists_yet(run_cli):
    with pytest.raises(FloatingPointError) as exc:
        _fit(run_cli, "point_goal.yaml", "--model.sac.reward_scale", ".nan")
    msg = str(exc.value)
    assert "No checkpoint has been written yet" in msg and "intact" not in msg


def test_nan_stop_after_a_resume_names_the_intact_checkpoint(run_cli):
    first = _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "1")
    ckpt = Path(first.trainer.log_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(FloatingPointError) as exc:
        _fit(
            run_cli,
            "point_goal.yaml",
            "--trainer.max_epochs",
            "2",
            "--ckpt_path",
            "last",
            "--model.sac.reward_scale",
            ".nan",
        )
    assert f"Checkpoint {ckpt}: the previous last.ckpt (epoch 0) is intact" in str(exc.value)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 0


def test_default_root_dir_moves_logs_checkpoints_and_resume(run_cli, tmp_path, capsys):
    root = tmp_path / "scratch"
    first = _fit(run_cli, "point_goal.yaml", "--trainer.default_root_dir", root)
    run = root / "lightning_logs" / "point-goal" / "version_0"
    assert Path(first.trainer.log_dir) == run
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "metrics.csv").is_file()
    assert not (tmp_path / "lightning_logs").exists()
    resumed = _fit(
        run_cli,
        "point_goal.yaml",
        "--trainer.default_root_dir",
        root,
        "--trainer.max_epochs",
        "3",
        "--ckpt_path",
        "last",
    )
    assert resumed.trainer.current_epoch == 3 and Path(resumed.trainer.log_dir) == run
    assert f"resuming from {run / 'checkpoints' / 'last.ckpt'}" in capsys.readouterr().out
    # an explicit save_dir still wins over default_root_dir
    other = _fit(
        run_cli,
        "point_goal.yaml",
        "--trainer.default_root_dir",
        root,
        "--trainer.logger.init_args.save_dir",
        tmp_path / "explicit",
        "--trainer.max_epochs",
        "1",
    )
    assert Path(other.trainer.log_dir) == tmp_path / "explicit" / "point-goal" / "version_0"


def test_ckpt_path_last_looks_in_the_checkpoint_dirpath(run_cli, tmp_path):
    ckpts = tmp_path / "elsewhere"
    first = _fit(run_cli, "point_goal.yaml", "--checkpoint.dirpath", ckpts)
    assert (ckpts / "last.ckpt").is_file()
    resumed = _fit(
        run_cli,
        "point_goal.yaml",
        "--checkpoint.dirpath",
        ckpts,
        "--trainer.max_epochs",
        "3",
        "--ckpt_path",
        "last",
    )
    assert resumed.trainer.current_epoch == 3
    assert resumed.datamodule.collector.env_steps == first.datamodule.collector.env_steps + 2 * 40
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt"]  # no last-v1.ckpt
    assert resumed.trainer.log_dir == first.trainer.log_dir  # its curves continue there


def test_ckpt_path_last_resumes_only_a_run_whose_networks_fit(run_cli, capsys):
    debug = _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "1")
    with pytest.raises(SystemExit) as exc:  # the full-size config: no run of its shapes
        run_cli("fit", "--config", CONF / "point_goal.yaml", "--ckpt_path", "last")
    msg = str(exc.value)
    ckpt = Path(debug.trainer.log_dir) / "checkpoints" / "last.ckpt"
    assert msg.startswith("error: --ckpt_path last: no run under lightning_logs/point-goal fits")
    assert str(ckpt) in msg and "dynamics.hidden 32 (checkpoint) → 64 (this config)" in msg
    assert "\n" not in msg
    # a newer run of other shapes is skipped in favour of the newest one that fits
    wide = _fit(run_cli, "point_goal.yaml", "--model.init_args.sac.hidden", "[48,48]")
    capsys.readouterr()
    resumed = _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "2", "--ckpt_path", "last")
    out = capsys.readouterr().out
    assert resumed.trainer.log_dir == debug.trainer.log_dir != wide.trainer.log_dir
    assert "skipped 1 newer run(s) whose networks differ" in out and "sac.hidden" in out


def test_explicit_checkpoint_of_other_shapes_is_refused_naming_the_keys(run_cli):
    debug = _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "1")
    ckpt = Path(debug.trainer.log_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(SystemExit) as exc:
        _fit(
            run_cli,
            "point_goal.yaml",
            "--model.init_args.dynamics.layers",
            "3",
            "--ckpt_path",
            ckpt,
        )
    assert f"checkpoint {ckpt} cannot be resumed" in str(exc.value)
    assert "dynamics.layers 2 (checkpoint) → 3 (this config)" in str(exc.value)


def test_resume_keeps_the_original_config_and_records_its_own(run_cli):
    first = _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "1")
    run = Path(first.trainer.log_dir)
    original = (run / "config.yaml").read_text()
    _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "2", "--ckpt_path", "last")
    _fit(run_cli, "point_goal.yaml", "--trainer.max_epochs", "3", "--ckpt_path", "last")
    assert (run / "config.yaml").read_text() == original
    assert "max_epochs: 1" in original
    assert "max_epochs: 2" in (run / "config.resume-1.yaml").read_text()
    assert "max_epochs: 3" in (run / "config.resume-2.yaml").read_text()


def test_learning_rate_given_at_resume_reaches_the_restored_optimizers(run_cli, capsys, caplog):
    first = _fit(run_cli, "point_rotated.yaml", "--trainer.max_epochs", "1")
    lrs = [g["lr"] for opt in first.trainer.optimizers for g in opt.param_groups]
    assert lrs == [1e-3, 3e-4, 3e-4, 3e-4]
    capsys.readouterr()
    resumed = _fit(
        run_cli,
        "point_rotated.yaml",
        "--trainer.max_epochs",
        "2",
        "--ckpt_path",
        "last",
        "--model.init_args.sac.lr",
        "1e-4",
    )
    model_opt, critic_opt, policy_opt = resumed.trainer.optimizers
    assert model_opt.param_groups[0]["lr"] == 1e-3
    assert [g["lr"] for g in [*critic_opt.param_groups, *policy_opt.param_groups]] == [1e-4] * 3
    assert int(next(iter(critic_opt.state.values()))["step"]) == 8  # Adam state kept: 4 + 4
    assert "sac.lr 0.0003 (checkpoint) → 0.0001 (this config)" in capsys.readouterr().out
    assert "optimizer 1 group 0 lr 0.0003 → 0.0001" in caplog.text


def test_fit_ends_with_a_summary_of_the_last_epoch(run_cli, capsys):
    cli = _fit(run_cli, "point_goal.yaml")
    out = capsys.readouterr().out
    ckpt = Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt"
    steps = cli.datamodule.collector.env_steps
    mier_wr = float(cli.trainer.callback_metrics["eval/test_return_mier_wr"])
    assert f"fit done after epoch 1, env steps {steps}, " in out
    assert f"MIER-wR test return {mier_wr:.2f}" in out and f"checkpoint: {ckpt}" in out


def test_print_config_shows_the_resolved_defaults(run_cli, capsys):
    with pytest.raises(SystemExit):
        run_cli("fit", "--config", CONF / "cheetah_vel.yaml", "--print_config")
    printed = capsys.readouterr().out
    assert "eval: null" not in printed and "seed_everything: 0" in printed
    # the module's defaults, not a null that hides them
    assert "    eval:\n      interval: 10\n      train_tasks: 10\n" in printed
    assert "      inner_steps: 2\n" in printed and "      adaptation_policy: context\n" in printed
