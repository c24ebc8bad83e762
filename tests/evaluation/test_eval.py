"""`rag eval` and its retriever comparison, on the real index."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import QUESTIONS_FILE, REPO_ROOT, clean_env

from rag.errors import RagError
from rag.evaluation.evaluate import RETRIEVAL_VARIANTS, compare


@pytest.mark.slow
def test_compare_runs_every_variant_on_the_same_questions(pipeline, questions):
    some = [q for q in questions if q.get("evidence")][:12]
    results = compare(pipeline, some, ["bm25", "dense", "hybrid", "default"])
    assert list(results) == ["bm25", "dense", "hybrid", "default"]
    for metrics in results.values():
        assert metrics["questions"] == 12 and metrics["invalid_markers"] == 0
        assert 0 <= metrics["recall@1"] <= metrics["recall@3"] <= metrics["recall@5"] <= 1
    # the variants really retrieve differently
    assert len({json.dumps(m["mrr"]) for m in results.values()}) > 1


@pytest.mark.slow
def test_default_variant_is_the_product(pipeline, questions, eval_report):
    results = compare(pipeline, questions, ["default"])
    assert results["default"]["recall@3"] == eval_report.metrics()["recall@3"]
    assert set(RETRIEVAL_VARIANTS) >= {"bm25", "dense", "hybrid", "hybrid+rerank", "default"}


def test_unknown_variant_is_a_clear_error(pipeline, questions):
    with pytest.raises(RagError, match="Unknown retriever variant 'colbert'"):
        compare(pipeline, questions[:2], ["colbert"])


def eval_cli(settings, tmp_path, *args: str) -> subprocess.CompletedProcess:
    """``rag eval`` on the first 4 questions of the set, over the session index."""
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(QUESTIONS_FILE.read_text(encoding="utf-8").splitlines()[:4]) + "\n",
                   encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "rag.cli", "eval", "--questions", str(few), *args],
                          capture_output=True, text=True, cwd=REPO_ROOT,
                          env=clean_env(RAG_INDEX_DIR=str(settings.index_dir)), timeout=300)


@pytest.mark.slow
def test_cli_eval_compare_json(settings, ingest_report, tmp_path):
    run = eval_cli(settings, tmp_path, "--compare", "bm25,default", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert set(data) == {"bm25", "default"} and data["default"]["questions"] == 4


@pytest.mark.slow
def test_readers_compared_on_the_same_retrieval(pipeline, questions, eval_report):
    from rag.evaluation.evaluate import compare_readers

    results = compare_readers(pipeline, questions, ["learned", "extractive"])
    assert list(results) == ["learned", "extractive"]
    learned, extractive = results["learned"], results["extractive"]
    # one retriever for both: retrieval figures equal; the default reader is the product
    assert learned["recall@3"] == extractive["recall@3"] == eval_report.metrics()["recall@3"]
    assert learned["answer_accuracy"] == eval_report.metrics()["answer_accuracy"]
    assert learned["invalid_markers"] == extractive["invalid_markers"] == 0
    with pytest.raises(RagError, match="Unknown reader 'bert'"):
        compare_readers(pipeline, questions[:1], ["bert"])


@pytest.mark.slow
def test_cli_eval_readers_json(settings, ingest_report, tmp_path):
    run = eval_cli(settings, tmp_path, "--readers", "learned,extractive", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert set(data) == {"learned", "extractive"} and data["learned"]["questions"] == 4
    bad = eval_cli(settings, tmp_path, "--readers", "nope")
    assert bad.returncode == 2 and "Unknown reader 'nope'" in bad.stderr and "Traceback" not in bad.stderr
