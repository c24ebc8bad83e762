"""Which language a question is in, and the few phrases the product says in it.

English and French are supported; other languages fall back to English phrasing.
A stop-word count is enough for questions and avoids a model download.
"""

from __future__ import annotations

import re

from .text import fold

_STOPWORDS = {
    "en": set("the a an of to in on at is was were are be been did does do who what when where why "
              "how which whom whose and or with for from about by as that this it its has have had "
              "will would can could should they he she his her their say said tell me than".split()),
    "fr": set("le la les un une des de du au aux et ou en dans sur par pour avec qui que quoi quand "
              "ou comment pourquoi quel quelle quels quelles est sont a ont ete etait il elle ils "
              "elles ce cette ces son sa ses leur leurs ne pas se s l d qu c j n lors entre apres "
              "avant selon dit quelles t y combien".split()),
}

LANGUAGE_NAMES = {"en": "English", "fr": "French"}

PHRASES = {
    "en": {
        "abstain": "The articles do not say. None of the passages in the corpus answers this question.",
        "according": "According to {source}{date} {marker}: {quote}",
        "also": "Also, according to {source}{date} {marker}: {quote}",
        "translated": "{translation} {marker} (translated from {source}{date}: {quote})",
        "an_article": "an article",
    },
    "fr": {
        "abstain": "Les articles ne le disent pas : aucun passage du corpus ne répond à cette question.",
        "according": "Selon {source}{date} {marker} : {quote}",
        "also": "Par ailleurs, selon {source}{date} {marker} : {quote}",
        "translated": "{translation} {marker} (traduit de {source}{date} : {quote})",
        "an_article": "un article",
    },
}


def detect_language(text: str, default: str = "en") -> str:
    """``"en"`` or ``"fr"`` (ISO 639-1) from stop words and French accents.

    >>> detect_language("When was New START extended?")
    'en'
    >>> detect_language("Quand a eu lieu le sommet de Genève ?")
    'fr'
    """
    words = re.findall(r"[a-z]+", fold(text).replace("'", " "))
    scores = {lang: sum(w in sw for w in words) for lang, sw in _STOPWORDS.items()}
    scores["fr"] += 0.5 * len(re.findall(r"[éèêàùçôîœ]", text.lower())) + 0.5 * text.count(" ?")
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else default


# Question words and fillers: never what a question is about.
_FILLER = set("what when where which whom whose does did have been were about would could should "
              "there their they them this that these those with from into according "
              "quand quel quelle quels quelles comment pourquoi combien lequel laquelle "
              "est-ce sont etait etaient avait avaient selon veut veulent type genre sorte "
              "date dates jour puis celle celui ceux fait faire kind sort".split())


_STOP = frozenset(set().union(*_STOPWORDS.values()))
_NOT_CONTENT = _STOP | _FILLER


def words(text: str) -> list[str]:
    """The text's words, folded (accents, case, apostrophes), in order.

    >>> words("L'Élysée a dit")
    ['l', 'elysee', 'a', 'dit']
    """
    return re.findall(r"[a-z0-9]+", fold(text).replace("'", " "))


def content_terms(text: str) -> set[str]:
    """The words a text is about, folded and cut to 5 letters so that inflections and
    English/French cognates meet ("expire"/"expirer", "Geneva"/"Genève").

    >>> sorted(content_terms("When did the Geneva summit take place?"))
    ['genev', 'place', 'summi', 'take']
    """
    return {w[:5] for w in words(text) if len(w) >= 4 and w not in _NOT_CONTENT}


# Words that open a sentence whose subject is named in an earlier one ("Il a ajouté que…").
PRONOUN_OPENERS = set("il elle ils elles on ce cet cette ces celui celle son sa ses leur leurs "
                      "he she they it this these those his her their its".split())


def opens_with_pronoun(text: str) -> bool:
    """Does the sentence lean on an earlier one for its subject?

    >>> opens_with_pronoun("Il abandonne ses principes."), opens_with_pronoun("Le Kremlin dément.")
    (True, False)
    """
    first = re.match(r"\W*([^\W\d_]+)", fold(text))
    return bool(first) and first.group(1) in PRONOUN_OPENERS


def stop_words() -> frozenset[str]:
    """Every supported language's stop words (folded)."""
    return _STOP


def phrase(language: str, key: str) -> str:
    return PHRASES.get(language, PHRASES["en"])[key]
