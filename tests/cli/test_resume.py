"""``mier_pl.cli.resume``: a checkpoint's settings against a config's, split by what a resume can change."""

from __future__ import annotations

from mier_pl.cli.resume import compare, config_name, model_settings

MIER = "mier_pl.modules.MIERModule"


def test_a_group_left_at_none_compares_as_its_dataclass_defaults():
    unset = model_settings(MIER, {"dynamics": None, "sac": None, "obs_dim": 2})
    given = model_settings(MIER, {"dynamics": {"hidden": 200}, "sac": {"hidden": [300, 300, 300]}})
    assert unset["dynamics.hidden"] == 200 and unset["sac.hidden"] == (300, 300, 300)
    assert "obs_dim" not in unset  # linked from the family, checked separately
    assert compare(unset, given) == ({}, {})


def test_shape_keys_block_a_resume_and_other_keys_are_changes():
    saved = model_settings(MIER, {"dynamics": {"hidden": 32, "lr": 1e-3}, "sac": {"lr": 3e-4}})
    now = model_settings(MIER, {"dynamics": {"hidden": 64, "lr": 1e-3}, "sac": {"lr": 1e-4}})
    shape, other = compare(saved, now)
    assert shape == {"dynamics.hidden": (32, 64)}
    assert other == {"sac.lr": (3e-4, 1e-4)}
    other_class = model_settings("mier_pl.modules.MetaModelModule", {})
    assert "class_path" in compare(saved, other_class)[0]


def test_each_resume_gets_its_own_config_file(tmp_path):
    assert config_name(tmp_path) == "config.yaml"
    (tmp_path / "config.yaml").write_text("a: 1\n")
    assert config_name(tmp_path) == "config.resume-1.yaml"
    (tmp_path / "config.resume-1.yaml").write_text("a: 2\n")
    assert config_name(tmp_path) == "config.resume-2.yaml"
