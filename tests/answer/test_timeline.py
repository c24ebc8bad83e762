"""Time-aware answers (rag.answer.timeline): questions asking for the latest state, claims
dated when their articles are of different dates. Readers on hand-scored passages, then
the real pipeline on a small corpus of dated articles."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import passage

from rag import Pipeline
from rag.answer.citations import MARKER, Claim, assemble
from rag.answer.framing import claim_for
from rag.answer.timeline import dated, day_after, newer
from rag.lang.patterns import asks_latest
from rag.types import Sentence


@pytest.mark.parametrize("question", [
    "Where does New START stand now?", "What is the latest on New START?", "Is the treaty still in force?",
    "who is the current prime minister", "When was the last call between Putin and Biden?",
    "Où en est le traité New START ?", "Quel est le taux actuel de la BCE ?", "Le traité est-il toujours en vigueur ?",
    "Qui dirige aujourd'hui le gouvernement ?", "Quelle est la dernière décision de la BCE ?",
])
def test_questions_asking_for_the_latest_state(question: str) -> None:
    assert asks_latest(question)


@pytest.mark.parametrize("question", [
    "When was New START extended?", "Who is the Kremlin spokesman?", "What happened last year?",
    "Qu'a dit Peskov le mois dernier ?", "Qui est le porte-parole du Kremlin ?", "Quand le traité expirait-il ?",
    "Poutine a-t-il toujours dit non ?", "What did the articles say in 2021?",
])
def test_questions_about_no_time_in_particular(question: str) -> None:
    assert not asks_latest(question)


def test_dates_of_different_precision_are_not_ordered() -> None:
    assert newer("2023-02-21", "2021-02-03") and newer("2021-02", "2021-01-31")
    assert not newer("2021-02-03", "2021-02") and not newer("2021-02", "2021-02-03")
    assert not newer(None, "2021") and not newer("2021", None)
    assert day_after("2021-12-31") == "2022-01-01" and day_after("2021-12") == "2022-01"
    assert day_after("2021-02-30") == "2021-03"  # a date written by hand that no calendar has


OLD = "Le traité New START expire le 5 février 2021. Les deux pays en discutent."
NEW = "Le traité New START expire désormais le 5 février 2026. Les deux pays s'en félicitent."


def two_articles() -> list:
    return [passage(OLD, [0.87, 0.70], doc_id="old.md", date="2021-01-20", rank=0, score=0.86),
            passage(NEW, [0.86, 0.70], doc_id="new.md", date="2021-02-03", rank=1, score=0.85)]


def quote(p, language: str = "fr", first: bool = True) -> Claim:
    s = p.sentences[0]
    return claim_for(p, Sentence(s.start, s.end, 0.0), language, first)


def test_claims_from_articles_of_different_dates_say_which_is_newer() -> None:
    old, new = two_articles()
    text, _ = assemble(dated([quote(new), quote(old, first=False)], "fr"))
    assert text == ("Au 3 février 2021 : Le traité New START expire désormais le 5 février 2026. [1] "
                    "Auparavant (20 janvier 2021) : Le traité New START expire le 5 février 2021. [2]")


def test_a_quote_in_another_language_gives_its_date_once() -> None:
    old, new = two_articles()
    text, _ = assemble(dated([quote(old, "en"), quote(new, "en", first=False)], "en"))
    assert text.startswith("Earlier (20 January 2021): According to an article [1]: «Le traité")
    assert "As of 3 February 2021: Also, according to an article [2]: «Le traité New START expire désormais" in text
    assert "(3 February 2021)" not in text


def test_a_claim_in_a_models_own_words_gets_the_date_before_it() -> None:
    old, new = two_articles()
    words = Claim(template=f"The treaty was extended to 5 February 2026 {MARKER}.", passage=new,
                  quote_start=new.sentences[0].start, quote_end=new.sentences[0].end)
    text, _ = assemble(dated([words, quote(old, "en", first=False)], "en"))
    assert text.startswith("As of 3 February 2021: The treaty was extended to 5 February 2026 [1].")


@pytest.mark.parametrize("dates", [("2021-02-03", "2021-02-03"), ("2021-02", "2021-02-03"), (None, "2021-02-03")])
def test_claims_are_not_dated_when_no_article_is_surely_newer(dates) -> None:
    a = passage(OLD, [0.87, 0.70], doc_id="a.md", date=dates[0])
    b = passage(NEW, [0.86, 0.70], doc_id="b.md", date=dates[1])
    claims = [quote(a), quote(b, first=False)]
    assert dated(claims, "fr") == claims


# ------------------------------------------------------------------ the real pipeline

ARTICLES = {
    "expire.md": ("2021-01-20", "Le traité New START arrive à échéance",
                  "Le traité de réduction des armes stratégiques New START, signé en 2010, expire le "
                  "5 février 2021. Moscou et Washington n'ont pas encore trouvé d'accord pour le prolonger."),
    "prolonge.md": ("2021-02-03", "New START prolongé de cinq ans",
                    "La Russie et les États-Unis ont prolongé le traité New START jusqu'au 5 février 2026. "
                    "L'échange de notes diplomatiques a eu lieu le 3 février 2021."),
    "suspendu.md": ("2023-02-21", "Moscou suspend sa participation à New START",
                    "Vladimir Poutine a annoncé que la Russie suspend sa participation au traité New START. "
                    "Le président russe l'a dit dans son discours devant l'Assemblée fédérale."),
    "sport.md": ("2024-07-30", "Les Jeux de Paris battent des records",
                 "Les Jeux olympiques de Paris ont attiré un public record dans les stades. "
                 "La cérémonie d'ouverture s'est tenue sur la Seine."),
}


@pytest.fixture(scope="module")
def dated_pipeline(tmp_path_factory, settings) -> Pipeline:
    corpus = tmp_path_factory.mktemp("dated") / "corpus"
    corpus.mkdir()
    for name, (date, title, text) in ARTICLES.items():
        (corpus / name).write_text(f"---\ntitle: {title}\ndate: {date}\noutlet: Le Test\n---\n{text}\n",
                                   encoding="utf-8")
    pipe = Pipeline.from_settings(settings.replace(corpus_dir=corpus, index_dir=Path(corpus.parent) / "index"))
    yield pipe
    pipe.close()


def test_the_pipeline_answers_where_things_stand_from_the_newest_article(dated_pipeline: Pipeline) -> None:
    answer = dated_pipeline.ask("Où en est le traité New START ?")
    assert answer.citations[0].source == "suspendu.md"
    if len(answer.citations) > 1:
        assert answer.answer.startswith("Au 21 février 2023 : ")


def test_the_pipeline_dates_an_answer_citing_two_dates(dated_pipeline: Pipeline) -> None:
    answer = dated_pipeline.ask("Quand le traité New START devait-il expirer, et quand a-t-il été prolongé ?")
    cited = {c.source for c in answer.citations}
    assert {"expire.md", "prolonge.md"} <= cited, answer.answer
    assert "Au 3 février 2021 : " in answer.answer and "Auparavant (20 janvier 2021) : " in answer.answer


def test_time_awareness_can_be_turned_off(dated_pipeline: Pipeline) -> None:
    off = Pipeline(dated_pipeline.settings.replace(time_aware=False), dated_pipeline.embedder,
                   dated_pipeline.store, translator=None)
    answer = off.ask("Quand le traité New START devait-il expirer, et quand a-t-il été prolongé ?")
    assert "Au 3 février 2021" not in answer.answer and "Auparavant" not in answer.answer
