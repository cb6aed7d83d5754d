#!/usr/bin/env bash
# `make gpu-check`: the first session with a GPU runs this once (issue 19). Under ten minutes:
# fit on one GPU (32-bit and 16-mixed), resume, adapt, the training step as one CUDA graph
# against the eager step (`--model.init_args.cuda_graph true`, steps/s of both printed), DDP on
# every visible GPU with the default strategy, the host-sync test on the GPU, and
# `python -m benchmarks --device cuda` (table printed, results in
# benchmarks/results_cuda.json). Stops at the first failure.
#
# GPU_CHECK_ACCELERATOR=cpu rehearses every command on the CPU (two gloo ranks for DDP,
# no 16-mixed, no benchmark; the CUDA-graph step must be refused there, naming the fix), so
# the command lines themselves are checked without a GPU.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-python}
ACCEL=${GPU_CHECK_ACCELERATOR:-gpu}

if [ "$ACCEL" = cpu ]; then
    NGPU=2
else
    NGPU=$($PY -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
    if [ "$NGPU" -lt 1 ]; then
        echo "gpu-check: no CUDA device is visible ($($PY -c 'import torch; print(torch.__version__)')):" >&2
        echo "  run it on a GPU machine with a CUDA build of torch (pip install torch==2.13.0 from" >&2
        echo "  https://download.pytorch.org/whl/<cuda tag>), or GPU_CHECK_ACCELERATOR=cpu to rehearse" >&2
        exit 1
    fi
fi

WORK=$(mktemp -d)
cd "$WORK"
echo "gpu-check: $NGPU device(s), accelerator $ACCEL, working in $WORK"
RUN=(--config "$ROOT/conf/point_rotated.yaml" --config "$ROOT/conf/debug.yaml"
     --trainer.enable_progress_bar false --trainer.accelerator "$ACCEL")
CKPT=lightning_logs/point-rotated/version_0/checkpoints/last.ckpt

step() {
    local name=$1 start=$SECONDS
    shift
    echo
    echo "== $name"
    "$@"
    echo "== $name: ok ($((SECONDS - start)) s)"
}

step "fit, one device" $PY -m mier_pl fit "${RUN[@]}" --trainer.devices 1
step "resume, one more epoch" \
    $PY -m mier_pl fit "${RUN[@]}" --trainer.devices 1 --ckpt_path last --trainer.max_epochs 3
step "adapt on one device" \
    $PY -m mier_pl adapt "${RUN[@]}" --trainer.devices 1 --ckpt_path "$CKPT" --tasks 0
if [ "$ACCEL" != cpu ]; then
    step "fit, one GPU, 16-mixed" \
        $PY -m mier_pl fit "${RUN[@]}" --trainer.devices 1 --trainer.precision 16-mixed
fi
# The CUDA-graph step: point-rotated at its full size, 2 epochs of 300 steps, eager then
# captured (same seed); the last epoch's steps/s of each (the first holds the capture).
graph_speed() {
    local speed=(--config "$ROOT/conf/point_rotated.yaml" --trainer.enable_progress_bar false
                 --trainer.accelerator gpu --trainer.devices 1 --trainer.max_epochs 2
                 --data.steps_per_epoch 300 --model.init_args.eval.interval 0
                 --model.init_args.collect.initial_exploration_repeats 1)
    $PY -m mier_pl fit "${speed[@]}" --trainer.logger.init_args.name speed-eager
    $PY -m mier_pl fit "${speed[@]}" --trainer.logger.init_args.name speed-graph \
        --model.init_args.cuda_graph true
    $PY "$ROOT/scripts/graph_speed.py" lightning_logs/speed-eager/version_0 \
        lightning_logs/speed-graph/version_0
}
# On a CPU there is nothing to capture on: the option must stop at setup with its message.
graph_refused() {
    local out
    if out=$($PY -m mier_pl fit "${RUN[@]}" --trainer.devices 1 --model.init_args.cuda_graph true 2>&1); then
        echo "gpu-check: --model.init_args.cuda_graph true was not refused on the CPU" >&2
        return 1
    fi
    grep -F "cuda_graph true needs a CUDA device" <<<"$out"
}
if [ "$ACCEL" != cpu ]; then
    step "training step as one CUDA graph against the eager step" graph_speed
else
    step "CUDA-graph step refused on the CPU (rehearsal)" graph_refused
fi
if [ "$NGPU" -gt 1 ]; then
    step "DDP on $NGPU devices (default strategy, no overlay)" \
        $PY -m mier_pl fit "${RUN[@]}" --trainer.devices "$NGPU"
fi
if [ "$ACCEL" != cpu ]; then
    # conf/debug.yaml leaves the accelerator at auto: on this host the test runs on the GPU,
    # where device-to-host copies are visible too.
    step "host syncs per training step, on the GPU" env PYTHONPATH="$ROOT" \
        $PY -m pytest -q -p no:cacheprovider "$ROOT/tests/modules/test_host_syncs.py"
    step "benchmark on CUDA" \
        env PYTHONPATH="$ROOT" $PY -m benchmarks --device cuda --seconds 1 --out "$ROOT/benchmarks/results_cuda.json"
fi
echo
echo "gpu-check passed ($SECONDS s)"
