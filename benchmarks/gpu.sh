#!/usr/bin/env bash
# The GPU checks and figures of the throughput issue, as one script (under 8 minutes on one H100/H200).
#
#   bash benchmarks/gpu.sh            # on a GPU machine: CUDA tests, then bench on cuda
#   bash benchmarks/gpu.sh --device cpu   # the dry run: the same steps, short, on the CPU
#
# Steps: (1) `python -m benchmarks.device_check`: MTCNN and the classifiers on the device against fp32
# torch on the CPU (the CUDA paths: MTCNN on cuda, the Hugging Face classifier in fp16), exit 1 on a
# mismatch; (2) `emostream bench --mode file` with Swin-T and with the
# default model on the four sample videos; (3) `emostream bench --mode live` with both models at 1, 4 and
# 16 cameras at 25 fps. Every bench prints one JSON line into $OUT (default ./gpu-results), and a
# summary table is printed at the end. Expects `make install` to have been run (a .venv).
set -euo pipefail
DEVICE=cuda
[[ "${1:-}" == "--device" ]] && DEVICE="${2:?--device needs a value}"
PY=${PY:-.venv/bin/python}
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
if [[ "$DEVICE" == "cpu" ]]; then
    SECONDS_LIVE=5 WARMUP=20 CAMERAS="1"
else
    SECONDS_LIVE=20 WARMUP=20 CAMERAS="1 4 16"
fi
echo "== device $DEVICE: models against fp32 on the CPU"
"$PY" -m benchmarks.device_check --device "$DEVICE"
bench() { "$PY" -m services.cli bench --device "$DEVICE" --json "$@"; }
for model in swin-tiny-random emo-vgg+mini-xception; do
    echo "== bench file $model"
    if [[ "$DEVICE" == "cpu" ]]; then
        bench --mode file --model "$model" --mosaic --frames 8 > "$OUT/file-$model.json"
    else
        bench --mode file --model "$model" > "$OUT/file-$model.json"
    fi
    for n in $CAMERAS; do
        echo "== bench live $model $n cameras"
        bench --mode live --model "$model" --cameras "$n" --fps 25 --seconds "$SECONDS_LIVE" \
            --warmup "$WARMUP" > "$OUT/live-$model-$n.json"
    done
done
"$PY" - "$OUT" <<'PY'
import json, sys, pathlib
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    r = json.loads(path.read_text())
    runs = {run["name"]: run for run in r["runs"]}
    if r["mode"] == "file":
        print(f"{path.stem}: monolith {runs['monolith']['fps']} fps, pipeline {runs['pipeline']['fps']} fps, x{r['ratio']}")
    else:
        for name, run in runs.items():
            cams = run["cameras"].values()
            p99 = max((c["p99_ms"] or 0) for c in cams)
            print(f"{path.stem} {name}: {run['annotated_fps']} annotated fps in all, "
                  f"min per camera {min(c['annotated_fps'] for c in cams)}, worst p99 {p99} ms")
PY
