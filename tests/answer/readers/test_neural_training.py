"""The neural reader's training path, end to end on CPU, with the real corpus and models.

Candidates of the team's questions are extracted from the real index, packed as the GPU
machine gets them, a two-layer adapter is trained a few steps on a slice (the loss must
fall), and the file it writes answers through ``rag ask --reader neural:FILE``: what a GPU
run writes loads back into the product.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import QUESTIONS_FILE, REPO_ROOT, clean_env

from rag.answer.readers.cross_encoder import read_adapter

pytestmark = pytest.mark.slow


def run(*args: str, cwd: Path = REPO_ROOT, timeout: int = 600, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def carry(tmp_path_factory, settings, ingest_report) -> Path:
    """The team's questions' candidates from the real index, packed as a GPU machine gets them."""
    folder = tmp_path_factory.mktemp("neural")
    cands = folder / "team.cands.jsonl"
    run("benchmarks/reader/neural_data.py", "extract", "--index", str(settings.index_dir),
        "--questions", str(QUESTIONS_FILE), "--out", str(cands), "-k", "4")
    rows = [json.loads(line) for line in cands.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 86 and all(r["cands"] for r in rows if r["answerable"])
    assert sum(c["y"] for r in rows for c in r["cands"]) > 40  # answers are found among the candidates
    run("benchmarks/reader/neural_data.py", "pack", "--out", str(folder / "carry"), "--set", f"fit:{cands}",
        "--set", f"dev:{cands}")
    return folder / "carry"


def train(carry: Path, out: Path, *args: str) -> list[dict]:
    """A few epochs on a slice of the packed data; each epoch's log line."""
    log = run("benchmarks/reader/neural_train.py", "--data", str(carry), "--out", str(out), "--limit", "6",
              "--questions-per-batch", "3", "--negatives", "3", "--epochs", "6", "--device", "cpu",
              "--threads", "1", *args)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [d for d in lines if "epoch" in d]


def assert_answers_with(adapter: Path, settings) -> None:
    """The adapter file answers through ``rag ask --reader neural:FILE``, citing real passages."""
    answer = run("-m", "rag.cli", "--reader", f"neural:{adapter}", "--translator", "none", "--index",
                 str(settings.index_dir), "--corpus", str(settings.corpus_dir), "ask",
                 "Quand le traité New START a-t-il été prolongé ?", "--json",
                 env=clean_env(RAG_READER_NEURAL_MIN_ANSWERABLE="0"))
    data = json.loads(answer)
    assert data["generator"] == "neural" and not data["abstained"]
    assert data["citations"] and all(c["quote"] in c["passage"] for c in data["citations"])


def test_train_on_cpu_then_answer_with_the_adapter(tmp_path: Path, carry: Path, settings):
    assert (carry / "base.safetensors").stat().st_size < 40 * 2**20  # fits what a GPU machine is sent
    epochs = train(carry, tmp_path, "--variants", "2:4", "--lr", "2e-3")
    assert len(epochs) == 6 and epochs[-1]["loss"] < epochs[0]["loss"]
    adapter = tmp_path / "neural-L2r4.safetensors"
    config, tensors = read_adapter(adapter)
    assert config.layers == 2 and config.rank == 4 and 0 < config.threshold < 1
    assert adapter.stat().st_size < 2**20
    assert_answers_with(adapter, settings)


def test_a_split_model_trains_on_cpu_then_answers(tmp_path: Path, carry: Path, settings):
    """The CPU-sized variant: e5's lower layer read apart and cached, the upper one trained
    whole under the compare head; its file answers through ``rag ask``."""
    epochs = train(carry, tmp_path, "--variants", "2:0@1", "--head", "compare", "--hard-negatives", "0.5",
                   "--lr", "1e-3")
    assert len(epochs) == 6 and epochs[-1]["loss"] < epochs[0]["loss"]
    adapter = tmp_path / "neural-L2r0s1c.safetensors"
    config, tensors = read_adapter(adapter)
    assert (config.split, config.head, config.rank) == (1, "compare", 0)
    assert all(k.startswith(("bert.encoder.layer.1.", "head.")) for k in tensors)
    assert_answers_with(adapter, settings)
