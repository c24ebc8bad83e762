"""A reader added the way a plug-in adds one — a class and one ``register_reader`` call, no
list edited — is offered by the page, answers through ``Pipeline.with_reader`` and
``rag ask --reader``, and is named in the unknown-reader message. It is unregistered after
each test, so the other tests see the shipped readers only."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from rag import Pipeline
from rag.answer.citations import Claim
from rag.answer.framing import claim_for
from rag.answer.readers import (
    READERS,
    Parts,
    Query,
    Trace,
    available_readers,
    load_reader,
    register_reader,
    unregister_reader,
)
from rag.cli import main
from rag.errors import InputError, RagError
from rag.types import Passage
from rag.web.chatview import reader_choices, with_reader

KIND = "last-sentence"
QUESTION = "When was New START extended?"


class LastSentenceReader:
    """Quotes the last sentence of the best passage: a reader no one would ship, whose
    answers are easy to tell from the shipped readers'."""

    name = KIND
    streams = False

    def answer(self, query: Query, passages: list[Passage], trace: Trace | None = None) -> Iterator[Claim]:
        if passages and passages[0].sentences:
            yield claim_for(passages[0], passages[0].sentences[-1], query.language, first=True)


def make_last_sentence(argument: str, parts: Parts) -> LastSentenceReader:
    return LastSentenceReader()


@pytest.fixture
def plugin() -> Iterator[str]:
    register_reader(KIND, make_last_sentence, usage=f"{KIND}[:IGNORED]")
    try:
        yield KIND
    finally:
        unregister_reader(KIND)
    assert KIND not in READERS and KIND not in available_readers()


@pytest.fixture
def own(settings, embedder, ingest_report) -> Iterator[Pipeline]:
    """A pipeline of the test's own over the session's index: the readers it builds (kept
    per pipeline) go with it, not with the session's shared pipeline."""
    p = Pipeline.from_settings(settings, embedder=embedder, ingest_if_missing=False)
    yield p
    p.close()


def is_last_sentence(answer) -> bool:
    c = answer.citations[0]
    return c.passage.rstrip().endswith(c.quote.rstrip())


def test_the_page_offers_a_registered_reader_after_the_shipped_ones(plugin, own):
    choices = reader_choices(own)
    assert choices[0] == "learned" == own.reader.name
    assert choices.index("learned") < choices.index("extractive") < choices.index(KIND) == len(choices) - 1

    from rag.web.page import build_app

    app = build_app(own)
    dropdown = next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == "reader")
    assert [value for _, value in dropdown.choices] == choices
    assert dropdown.value == "learned" and dropdown.interactive


def test_a_registered_reader_answers_through_the_pipeline(plugin, own):
    answer = own.with_reader(KIND).ask(QUESTION)
    assert answer.reader == KIND and not answer.abstained and is_last_sentence(answer)
    data = answer.to_dict()
    assert data["reader"] == data["generator"] == KIND

    chosen = with_reader(own, KIND)  # what the page does with the reader choice
    assert chosen.reader.name == KIND and own.reader.name == "learned"
    assert chosen.ask(QUESTION).answer == answer.answer


def test_rag_ask_answers_with_a_registered_reader(plugin, settings, ingest_report, monkeypatch, capsys):
    for variable in [v for v in os.environ if v.startswith("RAG_")]:
        monkeypatch.delenv(variable)
    code = main(["ask", QUESTION, "--json", "--reader", KIND, "--translator", "none",
                 "--index", str(settings.index_dir), "--corpus", str(settings.corpus_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads(out)
    assert data["reader"] == data["generator"] == KIND and not data["abstained"]
    quote = data["citations"][0]["quote"]
    assert data["citations"][0]["passage"].rstrip().endswith(quote.rstrip())


def test_the_unknown_reader_messages_name_a_registered_reader(plugin, own):
    with pytest.raises(RagError, match=rf"Unknown reader 'nope'\. Use one of: learned, extractive, .*{KIND}\[:IGNORED\]"):
        load_reader("nope", Parts(own.settings, own.embedder, own.store))
    with pytest.raises(InputError, match=rf"Unknown reader 'nope'; choose one of: learned, extractive, .*{KIND}"):
        with_reader(own, "nope")


def test_a_reader_that_needs_configuration_is_offered_only_when_configured(own):
    register_reader(KIND, make_last_sentence, offered=False)
    try:
        assert KIND not in reader_choices(own)
        assert available_readers(KIND)[-1] == KIND
        assert KIND in str(pytest.raises(RagError, load_reader, "nope", None).value)
    finally:
        unregister_reader(KIND)
