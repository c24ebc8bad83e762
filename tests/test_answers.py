"""Answers: the JSON contract, citations that hold, languages, follow-ups, abstention, accuracy."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from helpers import CONTRACT_DIR, SHARED_CONTRACT_DIR

from rag.answer.citations import markers
from rag.answer.gate import off_topic
from rag.lang import SMALL_TALK, phrase
from rag.lang.patterns import question_parts
from rag.text import fold

# Answer quality of the default settings on the team's question set (rag.evaluation.evaluate),
# about 0.03 under what was measured; the lead adjusts these as answers improve.
ANSWER_ACCURACY_MIN = 0.68           # measured 0.716
ANSWER_ACCURACY_MIN_EN = 0.67        # measured 0.703
ANSWER_ACCURACY_MIN_FR = 0.70        # measured 0.730
ANSWERED_WHEN_ANSWERABLE_MIN = 0.97  # measured 1.000
ABSTENTION_UNANSWERABLE_MIN = 0.55   # measured 0.583 (7 of the 12 unanswerable questions)

EXTRA_QUESTIONS = [
    ("When was New START extended?", None),
    ("Quand le traité New START a-t-il été prolongé ?", None),
    ("And when does it expire?", ["When was New START extended?"]),
    ("Who won the 2022 World Cup?", None),
    ("Quelle est la capitale de l'Australie ?", None),
]

OUT_OF_CORPUS = [
    ("Who won the 2022 World Cup?", "en"),
    ("Quelle est la capitale de l'Australie ?", "fr"),
    ("What is the capital of Australia?", "en"),
    ("How do I bake sourdough bread?", "en"),
    ("Quelle est la recette de la ratatouille ?", "fr"),
    ("Qui a remporté l'élection présidentielle française de 2022 ?", "fr"),
]


@pytest.fixture(scope="module")
def answers(answered, questions):
    """Every question of the set (with its history) plus a few more, asked once (the
    set's answers are those eval_report scores)."""
    asked = [(q["q"], q.get("history")) for q in questions] + EXTRA_QUESTIONS
    return [answered.ask(q, history=h) for q, h in asked]


@pytest.fixture(scope="module")
def validator(answer_schema):
    jsonschema.Draft202012Validator.check_schema(answer_schema)
    return jsonschema.Draft202012Validator(answer_schema)


# --------------------------------------------------------------------------- the contract files


@pytest.mark.parametrize("name", ["answer.schema.json", "question.schema.json"])
def test_contract_copies_match_the_shared_contract(name):
    local = json.loads((CONTRACT_DIR / name).read_text(encoding="utf-8"))
    if not SHARED_CONTRACT_DIR.is_dir():
        pytest.skip(f"no shared contract at {SHARED_CONTRACT_DIR}; using the copy in tests/contract")
    assert local == json.loads((SHARED_CONTRACT_DIR / name).read_text(encoding="utf-8")), \
        f"tests/contract/{name} is out of date: copy it from {SHARED_CONTRACT_DIR}"


# --------------------------------------------------------------------------- the contract, every answer


def test_the_set_covers_both_languages_and_abstentions(answers):
    assert len(answers) >= 10
    assert {a.language for a in answers} == {"en", "fr"}
    assert any(a.abstained for a in answers) and any(not a.abstained for a in answers)


def test_every_answer_validates_against_the_schema(answers, validator):
    for a in answers:
        data = json.loads(json.dumps(a.to_dict(), ensure_ascii=False))  # really JSON
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, f"{a.question!r}: {errors}"
        assert set(data["timings_ms"]) >= {"retrieve", "generate", "total"}
        assert data["language"] in ("en", "fr")
        assert data["generator"] == data["reader"] == a.reader  # the contract's name, and the new one


def test_every_marker_refers_to_a_citation(answers):
    bad = []
    for a in answers:
        numbers = [c.n for c in a.citations]
        if numbers != list(range(1, len(numbers) + 1)):
            bad.append((a.question, "citations not numbered 1..n", numbers))
        used = markers(a.answer)
        if set(used) - set(numbers):
            bad.append((a.question, "marker without citation", used))
        if set(numbers) - set(used):
            bad.append((a.question, "citation never referred to", used))
    assert bad == []


def test_abstentions_have_no_citations_and_answers_have_some(answers):
    for a in answers:
        if a.abstained:
            assert a.citations == [] and markers(a.answer) == [], a.question
            assert a.answer == phrase(a.language, "abstain")
        else:
            assert a.citations, a.question


def test_every_passage_is_the_document_slice(answers, pipeline):
    for a in answers:
        for c in a.citations:
            doc = pipeline.store.document(c.doc_id)
            assert c.passage == doc.text[c.start:c.end], (a.question, c.n)
            assert (c.source, c.title, c.date, c.outlet) == (doc.source, doc.title, doc.date, doc.outlet)


def test_every_quote_is_inside_its_passage_and_exact(answers, pipeline):
    for a in answers:
        for c in a.citations:
            doc = pipeline.store.document(c.doc_id)
            assert c.quote and c.quote in c.passage, (a.question, c.n)
            assert c.start <= c.quote_start < c.quote_end <= c.end, (a.question, c.n)
            assert doc.text[c.quote_start:c.quote_end] == c.quote, (a.question, c.n)


# --------------------------------------------------------------------------- specific answers


def test_new_start_in_english(pipeline):
    a = pipeline.ask("When was New START extended?")
    assert not a.abstained and a.language == "en"
    assert "According to" in a.answer  # English framing around the French quote
    assert any("5 février 2026" in c.passage for c in a.citations)
    assert re.search(r"\[1\]", a.answer)


def test_new_start_in_french(pipeline):
    a = pipeline.ask("Quand le traité New START a-t-il été prolongé ?")
    assert not a.abstained and a.language == "fr"
    assert "According to" not in a.answer and "Also, according to" not in a.answer
    assert any("5 février 2026" in c.passage for c in a.citations)
    # French text: the quote itself, or the French framing ("Selon …")
    assert a.answer.startswith(a.citations[0].quote) or a.answer.startswith("Selon")


def test_follow_up_cites_a_new_start_passage(pipeline):
    a = pipeline.ask("And when does it expire?", history=["When was New START extended?"])
    assert not a.abstained and a.language == "en"
    assert any("new start" in fold(c.passage) for c in a.citations)
    assert a.question == "And when does it expire?"


def test_compound_question_is_answered_part_by_part(pipeline):
    """Two questions in one: each part gets its own cited quote (the first call, then the
    Geneva summit), in the question's order, each quote once."""
    a = pipeline.ask("When was Putin and Biden's first phone call, and when did they meet face to face in Geneva?")
    assert not a.abstained and len(a.citations) == 2
    assert "26 janvier" in a.citations[0].quote and "16 juin" in a.citations[1].quote
    assert a.answer.startswith("According to") and "Also, according to" in a.answer
    assert len({c.quote for c in a.citations}) == 2


@pytest.mark.parametrize("question,parts", [
    ("When was the first call, and when did they meet in Geneva?",
     ["When was the first call?", "when did they meet in Geneva?"]),
    ("Where was Blinken during the call and who did he talk to?",
     ["Where was Blinken during the call?", "who did he talk to?"]),
    ("Quand a eu lieu le sommet et qui y a participé ?", ["Quand a eu lieu le sommet ?", "qui y a participé ?"]),
    ("Quel traité a été prolongé, et jusqu'à quand ?", ["Quel traité a été prolongé, et jusqu'à quand ?"]),
    ("Who are Putin and Biden?", ["Who are Putin and Biden?"]),            # "and" between names
    ("Qui sont les porte-parole du Kremlin et de la Maison Blanche ?",
     ["Qui sont les porte-parole du Kremlin et de la Maison Blanche ?"]),  # no question word after "et"
    ("Who decided that and why?", ["Who decided that and why?"]),          # a part too short to stand alone
    ("When and where?", ["When and where?"]),
])
def test_question_parts(question, parts):
    assert question_parts(question) == parts


@pytest.mark.parametrize("question,lang", OUT_OF_CORPUS)
def test_out_of_corpus_questions_abstain_in_their_language(pipeline, question, lang):
    a = pipeline.ask(question)
    assert a.abstained, a.answer
    assert a.citations == []
    assert a.language == lang
    assert a.answer == phrase(lang, "abstain")
    assert not re.search(r"\[\d+\]", a.answer)


def test_an_english_question_sharing_a_month_with_the_passages_is_not_off_topic(pipeline):
    """English words rarely meet the French passages'; a month's name is one that does
    ("February" / "février"): the question is about the articles, not refused at the gate."""
    query = pipeline.query("How long did the call of February 2022 last?", None)
    passages = pipeline.retriever.retrieve(query.text, k=3)
    assert not off_topic(query, passages, settings=pipeline.settings, embedder=pipeline.embedder, store=pipeline.store)


# Said to a chatbot, not asked of the articles, and none of them in rag.lang's small-talk
# lists (the gate must carry over to phrasings it was not given): each is 0.80-0.84 from
# some French sentence, as close as a real English question's answer is.
UNSEEN_SMALL_TALK = ["hiya", "cheers mate", "good night", "what is your name?", "are you a robot?",
                     "I love you", "can you help me?", "hello there friend", "Tell me a story",
                     "thanks a lot!", "asdfgh qwerty", "lol", "bonne nuit", "coucou", "tu es là ?"]


def test_unseen_small_talk_is_off_topic(pipeline):
    assert not set(UNSEEN_SMALL_TALK) & set(SMALL_TALK)
    answered = [q for q in UNSEEN_SMALL_TALK if not pipeline.ask(q).abstained]
    assert answered == []


def test_cross_language_floor_is_below_the_same_language_one(pipeline):
    """English questions whose words meet none of the French passages' get a lower floor
    (0.80 rather than 0.90): the small-talk test, not the floor, is what refuses "hello"."""
    s = pipeline.settings
    assert s.min_score_cross_language < s.min_score_unanchored
    query = pipeline.query("hello", None)
    passages = pipeline.retriever.retrieve(query.text, k=3)
    best = max(x.score for p in passages for x in p.sentences)
    assert best >= s.min_score_cross_language  # the floor alone would let it through
    assert off_topic(query, passages, settings=pipeline.settings, embedder=pipeline.embedder, store=pipeline.store)


def test_abstention_messages_are_in_two_languages():
    en, fr = phrase("en", "abstain"), phrase("fr", "abstain")
    assert en != fr
    assert "articles" in en.lower() and "articles" in fr.lower()


# --------------------------------------------------------------------------- question-set quality


def test_answer_accuracy(eval_report):
    m = eval_report.metrics()
    assert m["answer_accuracy"] >= ANSWER_ACCURACY_MIN, m


@pytest.mark.parametrize("lang,minimum", [("en", ANSWER_ACCURACY_MIN_EN), ("fr", ANSWER_ACCURACY_MIN_FR)])
def test_answer_accuracy_per_language(eval_report, lang, minimum):
    m = eval_report.metrics(lang)
    assert m["answer_accuracy"] >= minimum, m


def test_abstention_on_unanswerable_questions(eval_report):
    m = eval_report.metrics()
    assert m["abstention_rate_unanswerable"] >= ABSTENTION_UNANSWERABLE_MIN, m
    assert m["answered_when_answerable"] >= ANSWERED_WHEN_ANSWERABLE_MIN, m


def test_zero_invalid_markers_over_the_question_set(eval_report):
    assert eval_report.metrics()["invalid_markers"] == 0
    assert all(r.invalid_markers == 0 for r in eval_report.results)
