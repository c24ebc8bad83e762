"""Score the pipeline on a question set (``question.schema.json`` lines).

Metrics: retrieval recall@1/3/5 and MRR (a hit is a retrieved passage holding one of
the question's evidence strings), answer accuracy, cited-evidence rate, citation
precision, abstention on unanswerable questions, invalid citation markers, latency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rag.answer.citations import check
from rag.errors import RagError
from rag.evaluation.metrics import (
    first_hit,
    holds_evidence,
    is_correct,
    mean_reciprocal_rank,
    percentile,
    recall_at,
)
from rag.types import Answer, Passage


@dataclass
class QuestionResult:
    id: str
    lang: str
    answerable: bool
    first_hit: int | None          # rank (1-based) of the first passage holding evidence
    correct: bool | None
    abstained: bool
    cited_evidence: bool | None
    citations: int
    precise_citations: int
    invalid_markers: int
    latency_ms: float
    answer: str = ""
    reader: str = ""  # who wrote the answer (a model, or its fallback)


@dataclass
class Report:
    results: list[QuestionResult] = field(default_factory=list)

    def metrics(self, lang: str | None = None) -> dict[str, float | int | None]:
        rs = [r for r in self.results if lang is None or r.lang == lang]
        ans = [r for r in rs if r.answerable]
        unans = [r for r in rs if not r.answerable]

        def share(xs: list[bool]) -> float | None:
            return round(sum(xs) / len(xs), 3) if xs else None

        lat = [r.latency_ms for r in rs]
        ranks = [r.first_hit for r in ans]
        cites = sum(r.citations for r in ans)
        return {
            "questions": len(rs),
            "recall@1": recall_at(ranks, 1),
            "recall@3": recall_at(ranks, 3),
            "recall@5": recall_at(ranks, 5),
            "mrr": mean_reciprocal_rank(ranks),
            "answer_accuracy": share([bool(r.correct) for r in ans]),
            "cited_evidence_rate": share([bool(r.cited_evidence) for r in ans]),
            "citation_precision": round(sum(r.precise_citations for r in ans) / cites, 3) if cites else None,
            "answered_when_answerable": share([not r.abstained for r in ans]),
            "abstention_rate_unanswerable": share([r.abstained for r in unans]),
            "invalid_markers": sum(r.invalid_markers for r in rs),
            "latency_p50_ms": percentile(lat, 50, digits=1),
            "latency_p95_ms": percentile(lat, 95, digits=1),
        }

    def to_dict(self) -> dict[str, Any]:
        langs = sorted({r.lang for r in self.results})
        return {"overall": self.metrics(), **{lang: self.metrics(lang) for lang in langs}}


def evaluate(pipeline: Any, questions: list[dict[str, Any]], recall_depth: int = 5) -> Report:
    """Run every question through ``pipeline`` (retrieval at ``recall_depth`` and ``ask``).
    Latencies are a running server's: the translator is loaded before the first question, as
    the page loads it when it starts (``rag bench`` times a cold start apart)."""
    if getattr(pipeline, "translator", None) is not None:
        pipeline.translator.warm()
    report = Report()
    for q in questions:
        history = q.get("history") or None
        evidence = q.get("evidence") or []
        answerable = q.get("answerable", True)
        passages: list[Passage] = pipeline.retrieve(q["q"], history, k=recall_depth)
        hit = first_hit((p.text for p in passages), evidence)
        answer: Answer = pipeline.ask(q["q"], history)
        precise = sum(holds_evidence(c.passage, evidence) for c in answer.citations)
        report.results.append(QuestionResult(
            id=q.get("id", ""), lang=q.get("lang", answer.language), answerable=answerable,
            first_hit=hit if evidence else None,
            correct=is_correct(answer.answer, q["answer"]) if answerable and q.get("answer") else None,
            abstained=answer.abstained,
            cited_evidence=precise > 0 if evidence else None,
            citations=len(answer.citations), precise_citations=precise,
            invalid_markers=len(check(answer.answer, answer.citations)),
            latency_ms=answer.timings_ms["total"], answer=answer.answer, reader=answer.reader))
    return report


#: Retriever variants `rag eval --compare` can run side by side (overrides of the
#: default retriever's settings); "default" is what the product uses.
RETRIEVAL_VARIANTS: dict[str, dict[str, Any]] = {
    "bm25": {"dense": False, "sentence_weight": 0.0, "lexical_weight": 0.0},
    "dense": {"sentence_weight": 0.0, "lexical_weight": 0.0, "bm25_weight": 0.0},
    "hybrid": {"sentence_weight": 0.0, "lexical_weight": 0.0, "bm25_weight": 0.5,
               "bm25_same_language_only": False},
    "dense+rerank": {"bm25_weight": 0.0},
    "hybrid+rerank": {"bm25_same_language_only": False},
    "default": {},
}


def compare(pipeline: Any, questions: list[dict[str, Any]], variants: Iterable[str],
            recall_depth: int = 5) -> dict[str, dict[str, Any]]:
    """Overall metrics of each retriever variant on the same questions, same index.

    "rerank" is the sentence-level rerank with the lexical bonus; "hybrid" fuses BM25 for
    every question, "default" only for questions in the articles' language.
    """
    from rag.answer.retrieval import Retriever

    results: dict[str, dict[str, Any]] = {}
    for name in variants:
        if name not in RETRIEVAL_VARIANTS:
            raise RagError(f"Unknown retriever variant {name!r}; choose from "
                           f"{', '.join(RETRIEVAL_VARIANTS)}.")
        retriever = Retriever.from_settings(pipeline.settings, pipeline.store, pipeline.embedder,
                                            **RETRIEVAL_VARIANTS[name])
        results[name] = evaluate(pipeline.with_retriever(retriever), questions, recall_depth).metrics()
    return results


def compare_readers(pipeline: Any, questions: list[dict[str, Any]], specs: Iterable[str],
                    recall_depth: int = 5) -> dict[str, dict[str, Any]]:
    """Overall metrics of each reader (``learned``, ``extractive``, ``llamacpp:…``) on the
    same questions, same index and retriever."""
    return {spec: evaluate(pipeline.with_reader(spec), questions, recall_depth).metrics() for spec in specs}
