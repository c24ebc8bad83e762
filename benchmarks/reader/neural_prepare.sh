#!/usr/bin/env bash
# Rebuild the neural reader's training data from the public files, on CPU, into one folder
# for the GPU run (benchmarks/reader/neural_gpu.sh). Run from the repository root with the
# project's virtualenv active:
#   PIAF=piaf-v1.0.json XQUAD=DIR_WITH_xquad.{en,de,es}.json WORK=data OUT=.carry/neural \
#       benchmarks/reader/neural_prepare.sh
# PIAF v1.0 is etalab-ia/piaf-code's piaf-v1.0.json (MIT); XQuAD is google-deepmind/xquad
# (CC BY-SA 4.0). Steps already done (their output present) are skipped. The report splits
# (PIAF test, XQuAD test) are converted but never extracted nor packed.
set -euo pipefail
: "${PIAF:?path of piaf-v1.0.json}" "${XQUAD:?folder of xquad.en.json, xquad.de.json, xquad.es.json}"
WORK=${WORK:-data}
OUT=${OUT:-.carry/neural}
py=${PYTHON:-python}
data="$py benchmarks/reader/neural_data.py"
mkdir -p "$WORK"

[ -f "$WORK/piaf/fit.jsonl" ] || $py benchmarks/reader/piaf.py "$PIAF" "$WORK/piaf"
[ -f "$WORK/xquad/fit.jsonl" ] || $py benchmarks/reader/piaf.py "$XQUAD/xquad.en.json" "$WORK/xquad" --lang en --id-prefix xquad-en
for lang in de es; do
    [ -f "$WORK/xquad/fit_$lang.jsonl" ] || $data parallel --questions "$WORK/xquad/fit.jsonl" \
        --squad "$XQUAD/xquad.$lang.json" --lang "$lang" --out "$WORK/xquad/fit_$lang.jsonl"
done
# English questions over the French articles, the product's main case: every fit question,
# and the dev sample the readers' table uses (seed 0)
[ -f "$WORK/piaf/fit_en.jsonl" ] || $py benchmarks/reader/translate_questions.py "$WORK/piaf/fit.jsonl" "$WORK/piaf/fit_en.jsonl" --model marian
[ -f "$WORK/piaf/dev_en.jsonl" ] || $py benchmarks/reader/translate_questions.py "$WORK/piaf/dev.jsonl" "$WORK/piaf/dev_en.jsonl" --model marian --limit 250 --seed 0
for corpus in piaf xquad; do
    [ -f "$WORK/$corpus/index/CURRENT" ] || RAG_CORPUS_DIR="$WORK/$corpus/corpus" RAG_INDEX_DIR="$WORK/$corpus/index" rag ingest
done
[ -f index/CURRENT ] || rag ingest
extract() {  # INDEX QUESTIONS NAME
    [ -f "$WORK/$3.cands.jsonl" ] || $data extract --index "$1" --questions "$2" --out "$WORK/$3.cands.jsonl"
}
extract "$WORK/piaf/index" "$WORK/piaf/fit.jsonl" piaf_fit
extract "$WORK/piaf/index" "$WORK/piaf/fit_en.jsonl" piaf_fit_en
extract "$WORK/piaf/index" "$WORK/piaf/dev.jsonl" piaf_dev
extract "$WORK/piaf/index" "$WORK/piaf/dev_en.jsonl" piaf_dev_en
extract "$WORK/xquad/index" "$WORK/xquad/fit.jsonl" xquad_fit
extract "$WORK/xquad/index" "$WORK/xquad/fit_de.jsonl" xquad_fit_de
extract "$WORK/xquad/index" "$WORK/xquad/fit_es.jsonl" xquad_fit_es
extract "$WORK/xquad/index" "$WORK/xquad/dev.jsonl" xquad_dev
extract index rag/data/questions.jsonl team
$data pack --out "$OUT" \
    --set "fit:$WORK/piaf_fit.cands.jsonl" --set "fit:$WORK/piaf_fit_en.cands.jsonl" \
    --set "fit:$WORK/xquad_fit.cands.jsonl" --set "fit:$WORK/xquad_fit_de.cands.jsonl" \
    --set "fit:$WORK/xquad_fit_es.cands.jsonl" \
    --set "dev:$WORK/piaf_dev.cands.jsonl" --set "dev:$WORK/piaf_dev_en.cands.jsonl" \
    --set "dev:$WORK/xquad_dev.cands.jsonl" --set "dev:$WORK/team.cands.jsonl"
