"""Readers on hand-built passages: no model, no index — these run in well under a second.

The sentences' cosines are given by hand (as if retrieval had scored them), so each test
states exactly what the reader sees. The real-model behaviour is in test_answers.py and
test_eval.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import ARTICLE, COS, COS_EN, ask, passage

from rag.answer.framing import claim_for, quoted
from rag.answer.readers import READERS, Query, available_readers, load_reader, register_reader
from rag.answer.readers.extractive import ExtractiveReader
from rag.answer.readers.features import FEATURES, featurize, fits_type
from rag.answer.readers.learned import ABSTAIN_FEATURES, LearnedReader, Weights
from rag.errors import RagError
from rag.lang.patterns import question_type
from rag.settings import ReaderConfig

# ---- features ---------------------------------------------------------------------


def test_question_types_cover_telegraphic_questions():
    assert question_type("Date du sommet ?") == "time"
    assert question_type("En quelle année la ville fut-elle fondée ?") == "time"
    assert question_type("Combien d'habitants ?") == "count"
    assert question_type("Who signed the law?") == "person"
    assert question_type("budget 2021") == "other"
    assert fits_type("signé le 29 janvier", "time") and not fits_type("signé hier soir tard", "count")


@pytest.mark.parametrize("question", [
    "Qui a démenti les accusations ?", "Par qui le traité a-t-il été signé ?", "Selon Poutine, à qui profiterait-elle ?",
    "Qui est le ministre russe de la Défense ?", "QUI est le roi ?", "Who is the Kremlin spokesman?", "Whom did he call?"])
def test_who_asks_for_a_name(question):
    assert question_type(question) == "person"


@pytest.mark.parametrize("question", [
    "Qu'est-ce qui préoccupe Joe Biden au sujet d'Alexeï Navalny ?",  # a relative "qui": asks what
    "Quel est le traité qui expire en 2026 ?",
    "Qui est Sergueï Riabkov ?", "Who is Jen Psaki?", "Who was Dmitri Medvedev?"])  # what someone is, not a name
def test_a_relative_or_definitional_who_does_not_ask_for_a_name(question):
    assert question_type(question) != "person"


def test_how_long_asks_for_a_length_of_time_not_any_number():
    assert question_type("How long did the call last?") == "duration"
    assert question_type("Combien de temps a duré la visioconférence ?") == "duration"
    assert question_type("Quelle est la durée du mandat ?") == "duration"
    assert question_type("How long ago was it signed?") == "time"
    assert question_type("Combien d'ogives le traité autorise-t-il ?") == "count"
    assert fits_type("L'échange a duré un peu plus d'une heure.", "duration")
    assert fits_type("The war lasted four years.", "duration")
    assert fits_type("Les fours ont fonctionné pendant huit mois.", "duration")
    assert not fits_type("La conversation, deuxième ce mois-ci, a été confirmée le 29 décembre.", "duration")
    assert not fits_type("L'appel est prévu à 23h30, heure de Moscou.", "duration")
    # the question's own length of time is not an answer to it
    assert not fits_type("Le traité est prolongé de cinq ans.", "duration", "Combien de temps après cinq ans ?")


def test_a_how_long_question_gets_the_sentence_with_the_length_of_time(learned):
    """Both sentences have a number; only one says how long the call lasted."""
    text = ("Appel entre Poutine et Biden\n\n"
            "Les présidents ont discuté de leur volonté de prolonger le traité, signé par 2 pays. "
            "L'échange a duré un peu plus d'une heure.")
    p = passage(text, [0.70, 0.86, 0.80])
    _, (c,) = ask(learned, "Combien de temps a duré l'appel entre Poutine et Biden ?", [p])
    assert "une heure" in c.quote


def test_features_state_what_the_reader_sees():
    p = passage(ARTICLE, COS)
    cands, x = featurize("Quand le traité New START a-t-il été prolongé ?", "fr", [p])
    assert x.shape == (5, len(FEATURES)) and len(cands) == 5
    col = {n: i for i, n in enumerate(FEATURES)}
    signed = next(i for i, c in enumerate(cands) if "29 janvier" in c.text)
    peskov = next(i for i, c in enumerate(cands) if "Peskov" in c.text)
    assert x[signed, col["fit_time"]] == 1 and x[peskov, col["type_miss"]] == 1
    assert x[peskov, col["cos_gap"]] == 0 and x[signed, col["cos_gap"]] < 0
    assert x[signed, col["cos_prev"]] == pytest.approx(0.84)
    assert x[0, col["heading"]] == 1 and x[signed, col["heading"]] == 0
    assert x[signed, col["lex_cross"]] == 0  # same language: no cross-language features
    _, x_en = featurize("When was New START extended?", "en", [p])
    assert x_en[signed, col["cos_cross"]] == pytest.approx(0.85)


# ---- the learned reader -----------------------------------------------------------


@pytest.fixture(scope="module")
def learned() -> LearnedReader:
    return LearnedReader.from_config()


def test_the_detail_beats_the_topical_sentence(learned):
    """The Peskov sentence is the most similar, but the question asks for a date."""
    p = passage(ARTICLE, COS)
    text, (c,) = ask(learned, "Quand le traité New START a-t-il été prolongé ?", [p])
    assert "29 janvier" in c.quote and c.quote in text


def test_an_english_question_gets_an_english_frame_and_the_verbatim_quote(learned):
    p = passage(ARTICLE, COS_EN, outlet="RT France")
    text, (c,) = ask(learned, "When was the New START extension signed?", [p])
    assert text.startswith("According to RT France (January 2021) [1]: «") and "29 janvier" in c.quote


def test_abstains_below_its_threshold_and_answers_above(learned):
    p = passage(ARTICLE, COS)
    never = LearnedReader(learned.weights, ReaderConfig(learned_min_answerable=1.01))
    always = LearnedReader(learned.weights, ReaderConfig(learned_min_answerable=0.0))
    assert ask(never, "Quand le traité a-t-il été prolongé ?", [p]) == ("", [])
    assert ask(always, "Quand le traité a-t-il été prolongé ?", [p])[1]


def test_no_passage_no_answer(learned):
    assert ask(learned, "Quand ?", []) == ("", [])


def test_weights_ship_with_their_provenance_and_refuse_other_features(learned, tmp_path):
    w = learned.weights
    assert w.sentence.names == FEATURES and w.abstain.names == ABSTAIN_FEATURES
    assert "PIAF" in w.provenance["data"] and w.provenance["fit_sets"]
    path = tmp_path / "w.json"
    w.save(path)
    data = json.loads(path.read_text())
    assert Weights.load(path).sentence.coef.tolist() == pytest.approx(w.sentence.coef.tolist())
    data["sentence"]["features"] = data["sentence"]["features"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(RagError, match="refit"):
        Weights.load(path)
    path.write_text("{not json")
    with pytest.raises(RagError, match="weights"):
        Weights.load(path)


def test_probabilities_are_probabilities(learned):
    p = passage(ARTICLE, COS)
    q = Query("Qui est le porte-parole du Kremlin ?", "Qui est le porte-parole du Kremlin ?", "fr")
    scored = learned.score(q, [p])
    assert np.all((scored.probabilities > 0) & (scored.probabilities < 1)) and 0 < scored.answerable < 1
    best = scored.candidates[int(np.argmax(scored.probabilities))]
    assert "Peskov" in best.text


# ---- the extractive reader and the framing ----------------------------------------


def test_extractive_reader_thresholds_come_from_the_config():
    p = passage(ARTICLE, COS)
    q = "Quand le traité New START a-t-il été prolongé ?"
    assert "29 janvier" in ask(ExtractiveReader(), q, [p])[0]
    assert ask(ExtractiveReader(ReaderConfig(min_score=0.95)), q, [p]) == ("", [])


def test_claim_framing():
    p = passage(ARTICLE, COS)
    s = p.sentences[3]
    assert claim_for(p, s, "fr", first=True).template.endswith("29 janvier. {marker}")
    assert claim_for(p, s, "en", first=False).template.startswith("Also, according to an article (January 2021)")
    assert quoted("« Non »", "fr") == "« Non »"


# ---- the registry -----------------------------------------------------------------


def test_unknown_reader_is_refused_with_the_choices():
    with pytest.raises(RagError, match="Unknown reader 'nope'.*learned, extractive"):
        load_reader("nope", None)  # type: ignore[arg-type]


def test_a_reader_is_one_class_and_one_registry_line():
    class Echo:
        name = "echo"
        streams = False

        def answer(self, query, passages, trace=None):
            if passages and passages[0].sentences:
                yield claim_for(passages[0], passages[0].sentences[0], query.language, first=True)

    register_reader("echo", lambda argument, parts: Echo())
    try:
        reader = load_reader("echo:anything", None)  # type: ignore[arg-type]
        p = passage(ARTICLE, COS)
        assert ask(reader, "Quoi ?", [p])[1][0].quote == "Le traité New START prolongé"
    finally:
        READERS.pop("echo")
    assert available_readers("ollama:llama3") == ["learned", "extractive", "ollama:llama3"]
