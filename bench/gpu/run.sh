#!/usr/bin/env bash
# The one prepared GPU run (device tool): rebuild the base encoder, fine-tune, ship the model back in parts.
#   carry: .carry (holds packed/ from bench/gpu/pack_base.py)
set -euo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 bench/gpu/unpack_base.py .carry/packed /tmp/base 2>&1 | tail -1
python3 bench/gpu/finetune.py --base /tmp/base --out /tmp/model "$@" | tee "$OUT/finetune.json"
tar -C /tmp -czf /tmp/model.tgz model
split -b 15m -d /tmp/model.tgz "$OUT/model.tgz.part"
ls -la "$OUT"
