#!/usr/bin/env bash
# The one GPU run that trains the neural reader's adapters (docs: docs/readers.md, "The neural
# reader"). Run from the repository root on a machine with a GPU, torch, transformers and
# safetensors; DATA is the folder `neural_data.py pack` wrote, OUT where the adapters and the
# training log go. Variants run in order of need, each written as soon as it is trained, so a
# run cut short still returns the first ones. SPLIT_VARIANTS= (empty) skips the split model.
set -euo pipefail
: "${OUT:?set OUT to the folder for the results}"
DATA=${DATA:-.carry/neural}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, transformers, safetensors; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
PYTHONUNBUFFERED=1 python3 benchmarks/reader/neural_train.py --data "$DATA" --out "$OUT" \
    --variants "${VARIANTS:-6:16,12:16,4:16}" --epochs "${EPOCHS:-4}" --questions-per-batch 32 \
    --log-every 50 2>&1 | tee "$OUT/train.out"
# then the split model with the compare head, the one that learned on CPU (benchmark notes,
# "Reader experiments"), with more layers reading the pair together
if [ -n "${SPLIT_VARIANTS-12:0@8}" ]; then
    mkdir -p "$OUT/split"
    PYTHONUNBUFFERED=1 python3 benchmarks/reader/neural_train.py --data "$DATA" --out "$OUT/split" \
        --variants "${SPLIT_VARIANTS-12:0@8}" --head compare --hard-negatives 0.5 --lr 1e-4 \
        --epochs "${EPOCHS:-4}" --questions-per-batch 32 --log-every 50 2>&1 | tee "$OUT/split/train.out"
fi
