#!/usr/bin/env bash
# The readers side by side on the neural reader's choose or report sets, through the product
# (`rag eval --readers`): one JSON line per set in OUT. Run from the repository root with the
# project's virtualenv active, after neural_prepare.sh (WORK holds its indexes and splits):
#   ROLE=dev READERS=neural:FILE,learned WORK=data OUT=dev.jsonl benchmarks/reader/neural_report.sh
#   ROLE=test READERS=neural:FILE,learned WORK=data OUT=report.jsonl benchmarks/reader/neural_report.sh
# The English PIAF sets are 250 questions machine-translated by opus-mt (seed 0), as the
# readers' table uses; the test one is written here the first time. Report sets are run once,
# after every choice is made on the dev sets.
set -euo pipefail
: "${READERS:?reader specs, e.g. neural:FILE,learned}" "${OUT:?file for the results}"
WORK=${WORK:-data}
ROLE=${ROLE:-dev}
py=${PYTHON:-python}
[ -f "$WORK/piaf/${ROLE}_en.jsonl" ] || $py benchmarks/reader/translate_questions.py \
    "$WORK/piaf/$ROLE.jsonl" "$WORK/piaf/${ROLE}_en.jsonl" --model marian --limit 250 --seed 0
: > "$OUT"
run() {  # NAME CORPUS_FOLDER QUESTIONS
    echo "== $1" >&2
    RAG_CORPUS_DIR="$2/corpus" RAG_INDEX_DIR="$2/index" rag eval --translator none --readers "$READERS" \
        --questions "$3" --json | $py -c "import json, sys; print(json.dumps({'set': '$1', **json.load(sys.stdin)}))" >> "$OUT"
}
run "piaf_${ROLE}" "$WORK/piaf" "$WORK/piaf/$ROLE.jsonl"
run "piaf_${ROLE}_en" "$WORK/piaf" "$WORK/piaf/${ROLE}_en.jsonl"
run "xquad_${ROLE}" "$WORK/xquad" "$WORK/xquad/$ROLE.jsonl"
run team . rag/data/questions.jsonl  # the shipped corpus and its index
