"""Retrieval: LangChain's standard retriever tests, document metadata, recall on the question set."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document as LCDocument
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.answer.retrieval import NewsRetriever

# Recall of the default settings on the team's question set (rag.evaluation.evaluate), with a
# margin of about 0.03 under what was measured; the lead adjusts these as retrieval improves.
RECALL_AT_3_MIN = 0.91           # measured 0.946
RECALL_AT_5_MIN = 0.93           # measured 0.959
RECALL_AT_3_MIN_EN = 0.86        # measured 0.892
RECALL_AT_5_MIN_EN = 0.89        # measured 0.919
RECALL_AT_3_MIN_FR = 0.97        # measured 1.000
RECALL_AT_5_MIN_FR = 0.97        # measured 1.000

METADATA = ("chunk_id", "doc_id", "start", "end", "title", "date", "score")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio  # runs the suite's async test (ainvoke) without asyncio-mode configuration
class TestNewsRetrieverStandard(RetrieversIntegrationTests):
    """langchain_tests' standard integration tests, on the session's real index."""

    @pytest.fixture(autouse=True)
    def _session_pipeline(self, pipeline) -> None:
        type(self)._pipeline = pipeline

    @property
    def retriever_constructor(self) -> type[NewsRetriever]:
        return NewsRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"retriever": self._pipeline.retriever, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "When was New START extended?"


# --------------------------------------------------------------------------- documents


@pytest.fixture(scope="module")
def lc_docs(pipeline) -> list[LCDocument]:
    return NewsRetriever(retriever=pipeline.retriever, k=5).invoke("When was New START extended?")


def test_langchain_documents_carry_their_metadata(lc_docs, pipeline):
    assert len(lc_docs) == 5
    for d in lc_docs:
        assert set(METADATA) <= set(d.metadata)
        m = d.metadata
        doc = pipeline.store.document(m["doc_id"])
        assert d.page_content == doc.text[m["start"]:m["end"]]
        assert m["title"] == doc.title and m["date"] == doc.date
        assert m["source"] == doc.source and m["outlet"] == doc.outlet
        assert isinstance(m["score"], float) and -1.0 <= m["score"] <= 1.0
        assert d.id == m["chunk_id"]
        assert [c.chunk_id for c in pipeline.store.chunks_of(m["doc_id"])].count(m["chunk_id"]) == 1


def test_langchain_documents_are_ranked(lc_docs):
    scores = [d.metadata["score"] for d in lc_docs]
    assert scores == sorted(scores, reverse=True)
    assert len({d.metadata["chunk_id"] for d in lc_docs}) == len(lc_docs)
    assert "5 février 2026" in lc_docs[0].page_content


def test_pipeline_hands_out_a_langchain_retriever(pipeline):
    retriever = pipeline.as_langchain_retriever(k=1)
    (doc,) = retriever.invoke("Qui est le porte-parole du Kremlin ?")
    assert "Peskov" in doc.page_content


def test_retrieve_returns_k_passages_with_sentences(pipeline):
    passages = pipeline.retrieve("When was New START extended?", k=4)
    assert len(passages) == 4
    assert [p.rank for p in passages] == [0, 1, 2, 3]
    for p in passages:
        assert p.document.text[p.chunk.start:p.chunk.end] == p.text
        assert p.sentences
        for s in p.sentences:
            assert p.chunk.start <= s.start < s.end <= p.chunk.end
    assert pipeline.retrieve("When was New START extended?", k=1)[0].chunk == passages[0].chunk


def test_english_and_french_twins_find_the_same_passages(pipeline):
    en = pipeline.retrieve("When was New START extended?", k=3)
    fr = pipeline.retrieve("Quand le traité New START a-t-il été prolongé ?", k=3)
    assert en[0].chunk.doc_id == fr[0].chunk.doc_id == "peskov-dialogue-new-start.txt"
    answer_chunk = {p.chunk for p in en if "5 février 2026" in p.text}
    assert answer_chunk and answer_chunk <= {p.chunk for p in fr}


def test_follow_up_retrieval_uses_the_history(pipeline):
    alone = pipeline.retrieve("And when does it expire?", k=3)
    followed = pipeline.retrieve("And when does it expire?", history=["When was New START extended?"], k=3)
    assert any("new start" in p.text.lower() for p in followed)
    assert [p.chunk for p in followed] != [p.chunk for p in alone]


# --------------------------------------------------------------------------- recall


def test_question_set_matches_its_schema(questions, question_schema):
    import jsonschema

    validator = jsonschema.Draft202012Validator(question_schema)
    for q in questions:
        validator.validate(q)
    assert len({q["id"] for q in questions}) == len(questions)
    assert {q["lang"] for q in questions} == {"en", "fr"}


def test_recall_overall(eval_report):
    m = eval_report.metrics()
    assert m["recall@3"] >= RECALL_AT_3_MIN, m
    assert m["recall@5"] >= RECALL_AT_5_MIN, m
    assert m["recall@1"] <= m["recall@3"] <= m["recall@5"]


@pytest.mark.parametrize("lang,at3,at5", [("en", RECALL_AT_3_MIN_EN, RECALL_AT_5_MIN_EN),
                                          ("fr", RECALL_AT_3_MIN_FR, RECALL_AT_5_MIN_FR)])
def test_recall_per_language(eval_report, lang, at3, at5):
    m = eval_report.metrics(lang)
    assert m["questions"] >= 30
    assert m["recall@3"] >= at3, m
    assert m["recall@5"] >= at5, m
