"""The learned reader: a logistic model picks the sentence that answers, or abstains.

Each candidate sentence of the retrieved passages gets the few numbers of
:mod:`rag.answer.readers.features` (cosines with the question and with its neighbours, the
share of the question's words it and its context hold, whether it has the date, number
or name the question asks for, its passage's rank…). A logistic regression fitted on
public reading-comprehension data turns them into the probability that the sentence
holds the answer; a second one, over the best sentences' figures, into the
probability that the passages answer at all. The weights (a few dozen numbers) ship
in ``learned.json`` beside this file, with the data they were fitted on; they are
refitted by ``benchmarks/reader/fit.py``.

>>> reader = LearnedReader.from_config()
>>> reader.name
'learned'
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.citations import Claim
from rag.answer.framing import claim_for
from rag.answer.readers.base import Query, Trace
from rag.answer.readers.features import FEATURES, Candidate, featurize, fits_type
from rag.errors import RagError
from rag.lang import opens_with_pronoun
from rag.lang.patterns import question_type
from rag.settings import ReaderConfig
from rag.types import Passage, Sentence

# The figures the abstention model reads, per question, in the order of its weights.
ABSTAIN_FEATURES: tuple[str, ...] = ("p1", "margin", "cos1", "cos_max", "lex1", "lex_max", "cross1")

WEIGHTS_FILE = "learned.json"


@dataclass(frozen=True)
class LinearModel:
    """``sigmoid(((x - mean) / scale) · coef + intercept)``: a fitted logistic regression."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_dict(cls, data: dict[str, Any], expected: tuple[str, ...]) -> LinearModel:
        names = tuple(data["features"])
        if names != expected:
            raise RagError(f"The reader's weights were fitted on features {names}, this code computes "
                           f"{expected}: refit them (python benchmarks/reader/fit.py).")
        return cls(names, np.asarray(data["mean"], np.float32), np.asarray(data["scale"], np.float32),
                   np.asarray(data["coef"], np.float32), float(data["intercept"]))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.names), "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(), "coef": self.coef.round(6).tolist(),
                "intercept": round(self.intercept, 6)}

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class Weights:
    """The two fitted models and where they came from."""

    sentence: LinearModel
    abstain: LinearModel
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Weights:
        """The weights shipped with the package, or those of ``path``."""
        try:
            text = (Path(path).read_text(encoding="utf-8") if path
                    else resources.files(__package__).joinpath(WEIGHTS_FILE).read_text(encoding="utf-8"))
            data = json.loads(text)
            return cls(LinearModel.from_dict(data["sentence"], FEATURES),
                       LinearModel.from_dict(data["abstain"], ABSTAIN_FEATURES),
                       data.get("provenance", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RagError(f"Cannot read the learned reader's weights ({exc}).") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"provenance": self.provenance, "sentence": self.sentence.to_dict(),
                                          "abstain": self.abstain.to_dict()}, indent=1, ensure_ascii=False)
                              + "\n", encoding="utf-8")


def abstain_features(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The question-level figures :data:`ABSTAIN_FEATURES` from the sentence-level ones
    (``x`` the candidates' features, ``probs`` their probabilities)."""
    if not len(probs):
        return np.zeros(len(ABSTAIN_FEATURES), np.float32)
    col = {name: i for i, name in enumerate(FEATURES)}
    order = np.argsort(-probs)
    top = order[0]
    second = probs[order[1]] if len(order) > 1 else 0.0
    cross = float(x[top, col["cos_cross"]] != 0)
    return np.array([probs[top], probs[top] - second, x[top, col["cos"]], x[:, col["cos"]].max(),
                     x[top, col["lex"]], x[:, col["lex"]].max(), cross], np.float32)


@dataclass
class Scored:
    """The reader's view of one question: candidates, features, probabilities, and the
    probability that the passages answer at all (what `rag eval` and the fit script read)."""

    candidates: list[Candidate]
    features: np.ndarray
    probabilities: np.ndarray
    answerable: float


class LearnedReader:
    """Quotes the sentence the fitted model finds most likely to answer; abstains when
    the fitted abstention model says the passages do not answer.

    A second sentence, from another article, is added when its probability is at least
    ``config.second_ratio`` of the best one's (questions spanning two articles).
    """

    name = "learned"
    streams = False

    def __init__(self, weights: Weights, config: ReaderConfig) -> None:
        self.weights = weights
        self.config = config
        chosen = config.learned_min_answerable
        self.min_answerable = float(weights.provenance.get("min_answerable", 0.5) if chosen is None else chosen)

    @classmethod
    def from_config(cls, config: ReaderConfig | None = None, weights: str | Path | None = None
                    ) -> LearnedReader:
        config = config or ReaderConfig()
        return cls(Weights.load(weights or config.learned_weights or None), config)

    def score(self, query: Query, passages: list[Passage]) -> Scored:
        cands, x = featurize(query.text, query.language, passages)
        if not cands:
            return Scored(cands, x, np.zeros(0, np.float32), 0.0)
        probs = self.weights.sentence.probability(x)
        answerable = float(self.weights.abstain.probability(abstain_features(x, probs)[None, :])[0])
        return Scored(cands, x, probs, answerable)

    def answer(self, query: Query, passages: list[Passage], trace: Trace | None = None
               ) -> Iterator[Claim]:
        scored = self.score(query, passages)
        if not scored.candidates or scored.answerable < self.min_answerable:
            return
        probs = self._typed(query, scored)
        order = np.argsort(-probs)
        best = int(order[0])
        yield claim_for(scored.candidates[best].passage, self.excerpt(scored, best), query.language, first=True)
        doc = scored.candidates[best].passage.chunk.doc_id
        for i in order[1:]:
            c = scored.candidates[i]
            if probs[i] < self.config.second_ratio * probs[best]:
                break
            if c.passage.chunk.doc_id != doc and c.text != scored.candidates[best].text:
                yield claim_for(c.passage, self.excerpt(scored, int(i)), query.language, first=False)
                break

    def _typed(self, query: Query, scored: Scored) -> np.ndarray:
        """The probabilities, with the question's type as a gate: when a "when", "who",
        "how many" or "how long" question has candidates holding a date, a name, a number or
        a length of time (other than the question's own), and the best of them is at least
        ``type_gate`` as probable as the best overall, only those may be quoted — a sentence
        without a date does not answer "when", however similar to the question it is."""
        probs = scored.probabilities
        qtype = question_type(query.text)
        if qtype not in ("time", "person", "count", "duration") or self.config.type_gate > 1:
            return probs
        fitting = np.array([fits_type(c.text, qtype, query.text) for c in scored.candidates])
        if not fitting.any() or probs[fitting].max() < self.config.type_gate * probs.max():
            return probs
        return np.where(fitting, probs, 0.0)

    def excerpt(self, scored: Scored, i: int) -> Sentence:
        """The span to quote for candidate ``i``: its sentence, with the sentence before
        it when it opens with a pronoun (its subject is there: "Il a signé…"), and with
        the neighbour the model finds almost as likely (at least ``excerpt_ratio`` of
        its probability) — one contiguous excerpt of the same paragraph, rather than a
        guess between two adjacent sentences."""
        cands, probs = scored.candidates, scored.probabilities
        c = cands[i]
        text = c.passage.document.text
        start, end = c.sentence.start, c.sentence.end
        by_index = {cands[j].index: j for j in range(len(cands)) if cands[j].passage is c.passage}
        before, after = by_index.get(c.index - 1), by_index.get(c.index + 1)
        take_before = before is not None and opens_with_pronoun(c.text)
        neighbours = [j for j in (before, after) if j is not None]
        if neighbours:
            j = max(neighbours, key=lambda j: probs[j])
            if probs[j] >= self.config.excerpt_ratio * probs[i]:
                take_before = take_before or j == before
                if j == after and "\n" not in text[end:cands[j].sentence.start]:
                    end = cands[j].sentence.end
        if take_before and before is not None and "\n" not in text[cands[before].sentence.end:start]:
            start = cands[before].sentence.start
        return Sentence(start, end, c.sentence.score)
