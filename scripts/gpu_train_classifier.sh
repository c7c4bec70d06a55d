#!/usr/bin/env bash
# The GPU variant of the classifier recipe: a wider EmoVGG, 80 epochs, mixup, augmentation on the GPU
# (the training tensors live on the device; `augment` runs there). Meant for one H100/H200 in under
# 8 minutes; not yet run on a GPU (no device was lent to the session that wrote it).
# Usage: scripts/gpu_train_classifier.sh FER2013_DIR OUT_DIR   (FER2013_DIR holds train/ and publictest/)
set -euo pipefail
data=${1:?FER2013 directory with train/ and publictest/}
out=${2:?output checkpoint directory}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
time .venv/bin/emostream train classifier \
  --data "$data/train" --val "$data/publictest" --out "$out" \
  --device cuda --arch emo-vgg --widths 64,128,256,512 \
  --epochs 80 --batch-size 256 --lr 4e-3 --mixup 0.2 --minutes 8 --seed 0
.venv/bin/emostream eval classifier --data "$data/publictest" --model "$out" --device cuda
