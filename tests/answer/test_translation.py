"""Answers in the question's language: translated quotes, shown only when their facts
match the quote's both ways. The translator here is LangChain's fake chat model, so each
case states exactly what the "model" wrote; the real small model is in test_llm.py.
Real embedder, real index, real reader."""

from __future__ import annotations

import jsonschema
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from rag import Pipeline
from rag.answer.translation.base import Translator, mismatches
from rag.answer.translation.chat_model import ChatModelTranslator
from rag.answer.translation.registry import AUTO, load_translator, translator_from_spec
from rag.errors import RagError

QUESTION = "Who is the Kremlin spokesman?"


def translator(*replies: str) -> Translator:
    return ChatModelTranslator(GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies])), name="fake")


class Failing(GenericFakeChatModel):
    def _generate(self, *args, **kwargs):
        raise ConnectionError("model server down")


@pytest.fixture
def quote(pipeline: Pipeline) -> str:
    """The French sentence the reader quotes for the question (no translator)."""
    answer = pipeline.with_translator(None).ask(QUESTION)
    assert not answer.abstained and "Peskov" in answer.citations[0].quote, answer.to_dict()
    return answer.citations[0].quote


def faithful(quote: str) -> str:
    """A "translation" with exactly the quote's names, numbers and dates (built from it)."""
    return f"in other words: {quote}"


def test_two_way_check_catches_a_dropped_name_and_an_added_date():
    quote = "Le traité a été signé par Vladimir Poutine le 29 janvier."
    assert mismatches(quote, "The treaty was signed by Vladimir Putin on 29 January.") == []
    assert any("lacks name" in m for m in mismatches(quote, "The treaty was signed on 29 January."))
    assert any("adds" in m for m in mismatches(quote, "Vladimir Putin signed the treaty on 29 January 2021."))
    assert any("lacks date" in m for m in mismatches(quote, "Vladimir Putin signed the treaty."))


def test_ligatures_quantifiers_and_number_words_opening_a_sentence_are_not_names():
    assert mismatches("Gaston Tubœuf a conquis la région en 1066.", "Gaston Tuboeuf conquered the region in 1066.") == []
    assert mismatches("Certains historiens datent la bataille de 1066.", "Some historians date the battle to 1066.") == []
    assert mismatches("Deux navires quittèrent Brest.", "Two ships left Brest.") == []
    assert mismatches("Gaston Tubœuf a conquis la région.", "Gaston conquered the region.") == ["the translation lacks name tuboeuf"]


def test_a_flagged_name_is_cleared_only_by_its_own_translation_found_in_the_other_text():
    quote = "Le Danemark a signé le traité."
    # each looked-up name ("Denmark" → "Danemark", "Danemark" → "Denmark") is in the other text: shown
    assert translator("Danemark", "Denmark").check(quote, "Denmark signed the treaty.", "fr", "en") == []
    # the lookup finds nothing there: the problem stays
    assert translator("Norvège", "Norway").check(quote, "Denmark signed the treaty.", "fr", "en") != []
    # a date wrong as well: no lookup can save it (the fake has no reply to give)
    assert translator().check(quote, "Denmark signed the treaty in 1999.", "fr", "en") == [
        "the translation adds name denmark", "the translation adds year 1999", "the translation lacks name danemark"]


def test_translate_checked_gives_each_translation_with_what_breaks_its_check():
    """What checked_many shows and the translation benchmark reports: the translation and its
    problems side by side (none: shown; no translation: nothing to check)."""
    quote = "Le traité a été signé par Vladimir Poutine le 29 janvier."
    other = "Le traité a été signé par Vladimir Poutine à Moscou le 29 janvier."
    t = translator("The treaty was signed by Vladimir Putin on 29 January.", "The treaty was signed on 29 January.")
    assert t.translate_checked([quote, other], "fr", "en") == [
        ("The treaty was signed by Vladimir Putin on 29 January.", []),
        ("The treaty was signed on 29 January.", ["the translation lacks name moscou", "the translation lacks name poutine",
                                                  "the translation lacks name vladimir"])]
    broken = ChatModelTranslator(Failing(messages=iter([])), name="broken")
    assert broken.translate_checked([quote], "fr", "en") == [(None, [])]
    assert broken.checked_many([quote], "fr", "en") == [None]


def test_a_quote_translated_before_is_not_translated_again():
    """The fake has one reply: a second translation of the quote would get none."""
    quote = "Le traité a été signé par Vladimir Poutine le 29 janvier."
    english = "The treaty was signed by Vladimir Putin on 29 January."
    t = translator(english)
    assert t.translate_checked([quote], "fr", "en") == [(english, [])]
    assert t.translate_checked([quote, quote], "fr", "en") == [(english, []), (english, [])]
    assert t.checked(quote, "fr", "en") == english
    assert t.translate_checked([quote], "en", "fr") == [(None, [])]  # another direction: translated anew


def test_the_cache_keeps_the_latest_quotes_and_no_failure():
    first, second = "Vladimir Poutine a signé le 29 janvier.", "Joe Biden a signé le 3 février."
    t = translator("Vladimir Putin signed on 29 January.", "Joe Biden signed on 3 February.",
                   "Vladimir Putin signed it on 29 January.")
    t.cache_size = 1
    t.translate_checked([first], "fr", "en")
    t.translate_checked([second], "fr", "en")  # the first quote leaves the cache
    assert t.translate_checked([second, first], "fr", "en") == [
        ("Joe Biden signed on 3 February.", []), ("Vladimir Putin signed it on 29 January.", [])]
    broken = ChatModelTranslator(Failing(messages=iter([])), name="broken")
    broken.translate_checked([first], "fr", "en")
    assert broken._cache()[0] == {}  # a model that failed may answer next time
    off = translator("Vladimir Putin signed on 29 January.")
    off.cache_size = 0
    off.translate_checked([first], "fr", "en")
    assert off.translate_checked([first], "fr", "en") == [(None, [])]


def test_roman_numerals_are_numbers_and_one_of_is_not_a_count():
    assert mismatches("Au XIe siècle, Louis XIV régnait déjà.", "In the 11th century, Louis XIV was already reigning.") == []
    assert mismatches("C'est au XIe siècle.", "It was in the 12th century.") == [
        "the translation adds number 12", "the translation lacks number 11"]
    assert mismatches("Le roi et ce comte.", "The king and this count.") == []  # "Le", "Ce" are not 50, 100
    assert mismatches("Il parle une des deux langues.", "He speaks one of the two languages.") == []


def test_a_checked_translation_leads_and_the_quote_stays_its_evidence(pipeline, quote, answer_schema):
    p = pipeline.with_translator(translator(faithful(quote)))
    parts = list(p.stream(QUESTION))
    first_full = next(a for a in parts if a.citations and a.citations[0].translation is None
                      and a.answer.endswith("»"))
    assert "According to" in first_full.answer  # the framed quote is shown at once...
    final = parts[-1]
    c = final.citations[0]
    assert c.translation and c.translation in final.answer  # ...then its checked translation
    assert final.answer.startswith(c.translation) and "translated from" in final.answer
    assert c.quote == quote and quote in final.answer  # the verbatim quote, as its source
    assert "translate" in final.timings_ms
    jsonschema.validate(final.to_dict(), answer_schema)


def test_a_translation_that_drops_the_name_is_not_shown(pipeline, quote):
    p = pipeline.with_translator(translator("According to the Kremlin spokesman, this is what was said."))
    answer = p.ask(QUESTION)
    assert answer.citations[0].translation is None and "translated" not in answer.answer
    assert answer.answer.startswith("According to")


def test_a_failing_translator_leaves_the_framed_quote(pipeline, quote):
    p = pipeline.with_translator(ChatModelTranslator(Failing(messages=iter([])), name="broken"))
    answer = p.ask(QUESTION)
    assert not answer.abstained and answer.citations[0].translation is None


def test_same_language_answers_are_never_translated(pipeline):
    p = pipeline.with_translator(ChatModelTranslator(Failing(messages=iter([])), name="must-not-be-called"))
    answer = p.ask("Qui est le porte-parole du Kremlin ?")
    assert not answer.abstained and "translate" not in answer.timings_ms


@pytest.mark.parametrize("spec", ["bogus", "deepl:key", "extractive"])
def test_an_unknown_translator_names_the_choices(spec):
    from rag.errors import RagError

    with pytest.raises(RagError) as caught:
        load_translator(spec)
    assert f"Unknown translator {spec!r}" in str(caught.value) and "marian" in str(caught.value)


@pytest.mark.parametrize("spec", ["", "none", "off", " None "])
def test_no_translator_specs_translate_nothing(spec):
    assert translator_from_spec(spec) is None


def test_auto_the_default_is_no_translator_where_opus_mt_is_not_installed(monkeypatch, tmp_path):
    """A fresh home holds no opus-mt models: ``auto`` then gives the framed quote alone,
    while ``marian``, which asks for them, says how to get them."""
    from rag.errors import RagError
    from rag.settings import Settings

    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings().translator == AUTO
    assert translator_from_spec(AUTO) is None and translator_from_spec(" Auto ") is None
    with pytest.raises(RagError, match="make install-translator"):
        translator_from_spec("marian")


def test_a_translator_is_one_class_and_one_registry_line():
    """A plug-in translator is named by RAG_TRANSLATOR like the shipped ones, and listed when a
    spec names none."""
    from rag.answer.translation.registry import register_translator, unregister_translator

    class Upper(Translator):
        name = "upper"

        def translate(self, text: str, source: str, target: str) -> str | None:
            return text.upper()

    register_translator("upper", lambda argument: Upper(), usage="upper (capitals)")
    try:
        made = translator_from_spec("upper")
        assert isinstance(made, Upper) and made.translate("Genève", "fr", "en") == "GENÈVE"
        with pytest.raises(RagError, match=r"Unknown translator 'nope'.*upper \(capitals\)"):
            load_translator("nope")
    finally:
        unregister_translator("upper")
    with pytest.raises(RagError, match="Unknown translator 'upper'"):
        load_translator("upper")
