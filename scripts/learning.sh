#!/usr/bin/env bash
# Re-measures docs/learning.md: MIER variants and the oracle on the point families, 3 seeds,
# then re-evaluation (python -m mier_pl evaluate), adapt, and the tables and curves
# (python -m mier_pl compare) in docs/learning/. About 3.5 hours on a 2-core CPU, one run at a time.
#   bash scripts/learning.sh [ROOT]   (runs land in ROOT, default runs/learning)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
ROOT=${1:-runs/learning}
RELEASE="--data.support iid --model.init_args.collect.adaptation_policy context --model.init_args.dynamics.inner_steps 2 --model.init_args.eval.adapt_steps 64 --model.init_args.dynamics.warmup_steps 0"
ORACLE="--model.init_args.context_source oracle"

fit() {  # fit FAMILY_DIR VARIANT SEED CONFIG ARGS...
  local dir=$1 name=$2 seed=$3 config=$4; shift 4
  [ -f "$ROOT/$dir/$name/s$seed/checkpoints/last.ckpt" ] && return
  $PY -m mier_pl fit --config "$config" --seed_everything "$seed" --trainer.max_epochs 40 \
    --model.init_args.eval.train_tasks 40 --trainer.enable_progress_bar false \
    --trainer.logger.init_args.save_dir "$ROOT/$dir" --trainer.logger.init_args.name "$name" \
    --trainer.logger.init_args.version "s$seed" "$@"
  $PY -m mier_pl evaluate "$ROOT/$dir/$name/s$seed" --repeats 5
}

adapt() {  # adapt FAMILY_DIR VARIANT SEED CONFIG
  local run=$ROOT/$1/$2/s$3
  [ -f "$run/adapt/results.json" ] && return
  $PY -m mier_pl adapt --config "$4" --ckpt_path "$run/checkpoints/last.ckpt" \
    --trainer.enable_progress_bar false --trainer.logger.init_args.save_dir "$run" \
    --trainer.logger.init_args.name "" --trainer.logger.init_args.version adapt
}

for seed in 0 1 2; do
  # point-goal: the release's settings, each option added in turn, the config (all of them), the oracle
  fit point_goal release "$seed" conf/point_goal.yaml $RELEASE
  fit point_goal uniform "$seed" conf/point_goal.yaml $RELEASE --model.init_args.collect.adaptation_policy uniform
  fit point_goal uniform_episodes "$seed" conf/point_goal.yaml $RELEASE --model.init_args.collect.adaptation_policy uniform --data.support episodes
  fit point_goal uniform_episodes_k5 "$seed" conf/point_goal.yaml --model.init_args.eval.adapt_steps 64 --model.init_args.dynamics.warmup_steps 0
  fit point_goal config_no_warmup "$seed" conf/point_goal.yaml --model.init_args.dynamics.warmup_steps 0
  fit point_goal config "$seed" conf/point_goal.yaml
  fit point_goal oracle "$seed" conf/point_goal.yaml $ORACLE
  adapt point_goal config "$seed" conf/point_goal.yaml
  # point-rotated: its config (the release's settings, measured best there) and the oracle
  fit point_rotated config "$seed" conf/point_rotated.yaml
  fit point_rotated oracle "$seed" conf/point_rotated.yaml $ORACLE
  adapt point_rotated config "$seed" conf/point_rotated.yaml
done

for family in point_goal point_rotated; do
  variants=()
  for v in release uniform uniform_episodes uniform_episodes_k5 config_no_warmup config oracle; do
    [ -d "$ROOT/$family/$v" ] && variants+=("$v=$ROOT/$family/$v")
  done
  $PY -m mier_pl compare "${variants[@]}" --out "docs/learning/$family" --title "$family, 40 epochs"
done
