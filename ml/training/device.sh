#!/usr/bin/env bash
# One training run on the GPU machine, from a bare machine (docs/training-gpu.md):
#   ml/training/device.sh [--budget-s 540] [--name NAME] [--train-probs] [--no-recalibrate] [--limit N] \
#       -- ML.TRAIN ARGUMENTS...
# Run from the repository root, with .device/ (from ../shared/tools/device-bundle.sh) carried.
# 1. installs the carried wheels (.device/whl: Keras and the two packages the GPU image lacks) into /tmp/site;
# 2. unpacks the data (.device/fer2013.tgz) into /tmp/data;
# 3. runs python -m ml.training.device_run with KERAS_BACKEND=jax (train, recalibrate, PublicTest,
#    optional TTA probabilities on Training, classifier timings) within --budget-s seconds, counted
#    from this script's start;
# and writes to $OUT: log.txt and what device_run writes (NAME.keras, history.csv, curves.png,
# report.json, train_tta_probs.npy), six files at most.
set -uo pipefail
started_at=$(date +%s.%N)
: "${OUT:?set OUT to the folder for what comes back}"
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 KERAS_BACKEND="${KERAS_BACKEND:-jax}" TF_CPP_MIN_LOG_LEVEL=3
{
  echo "device.sh $* ($(date -u +%FT%TZ), $(python3 --version), KERAS_BACKEND=$KERAS_BACKEND)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  if [ -d .device/whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .device/whl/*.whl \
      || { echo "error: could not install .device/whl" >&2; exit 2; }
    export PYTHONPATH="/tmp/site:$PWD"
  else
    export PYTHONPATH="$PWD"
  fi
  data=()
  if [ -f .device/fer2013.tgz ]; then
    mkdir -p /tmp/data && tar -C /tmp/data -xzf .device/fer2013.tgz || { echo "error: could not unpack .device/fer2013.tgz" >&2; exit 2; }
    data=(--data /tmp/data/fer2013)
  fi
  echo "ready after $(python3 -c "import time; print(round(time.time() - $started_at, 1))") s"
  python3 -m ml.training.device_run --out "$OUT" --started-at "$started_at" "${data[@]}" "$@"
} 2>&1 | tee "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
