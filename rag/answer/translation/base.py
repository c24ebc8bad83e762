"""Quotes in the question's language: a model translates, a two-way fact check decides.

When an English question is answered from a French article, the verbatim quote is the
evidence, but it is not an answer the reader can read. With a translator (by default,
``RAG_TRANSLATOR=auto``: the offline opus-mt models when ``make install-translator`` has
put them in place; or ``marian[:DIR]``, or a chat model: ``llamacpp:PATH.gguf``,
``ollama:…``, ``openai:…``), the quote is
translated and the translation is shown — labelled as one — only when its facts and the
quote's match **both ways**: every date, number and name of the quote is in the
translation, and the translation has none the quote lacks. A small model that drops
the very name that answers, or adds a year, is caught either way; then the framed
quote alone is shown.

>>> mismatches("Le traité a été prolongé le 29 janvier par Vladimir Poutine.",
...            "The treaty was extended on 29 January by Vladimir Putin.")
[]
>>> sorted(mismatches("Le traité a été prolongé le 29 janvier par Vladimir Poutine.",
...                   "The treaty was extended on 29 January 2022."))
['the translation adds date 29/1/2022', 'the translation lacks name poutine', 'the translation lacks name vladimir']
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

from rag.answer.verification import NO_DOCUMENT, PassageFacts
from rag.answer.verification import mismatches as two_way
from rag.lang import stop_words, words

log = logging.getLogger(__name__)

def mismatches(quote: str, translation: str) -> list[str]:
    """What breaks the two-way fact check (empty: the facts match both ways); the same
    check as a generated answer sentence's (:func:`rag.answer.verification.mismatches`)."""
    return [f"the translation {m}" for m in two_way(quote, translation)]


_NAME_PROBLEM = re.compile(r"^(adds|lacks) name (\S+)$")

#: Checked translations a translator keeps (the latest used): an answer citing a sentence
#: translated before shows it at once (13 of the 41 quotes of the team's English questions are
#: repeats). A few hundred bytes each.
CACHE_SIZE = 1024
_CACHES_LOCK = threading.Lock()
#: (quote, source language, target language) -> (translation, what breaks its check)
_Cache = OrderedDict[tuple[str, str, str], tuple[str | None, list[str]]]


class Translator:
    """What every translator is: :meth:`translate` (one text) to implement, :meth:`translate_many`
    where an engine batches; the two-way fact check (:meth:`check`, :meth:`checked_many`) is
    the same for all. ``name`` is what logs and answers call it."""

    name = "translator"
    #: how many checked translations :meth:`translate_checked` keeps (0: none)
    cache_size = CACHE_SIZE

    def warm(self) -> None:
        """Load what the first translation would load (a server calls it as it starts)."""

    def translate(self, text: str, source: str, target: str) -> str | None:
        """The translation of ``text``, or None when the model fails or returns nothing."""
        raise NotImplementedError

    def translate_many(self, texts: list[str], source: str, target: str) -> list[str | None]:
        """The translations of ``texts``, in order; an engine that can decodes them as one batch."""
        return [self.translate(t, source, target) for t in texts]

    def check(self, quote: str, translation: str, source: str, target: str) -> list[str]:
        """What breaks the two-way fact check between ``quote`` (in ``source``) and its
        ``translation`` (in ``target``), once every name it flags has been looked up in the
        other language with this translator; empty: the facts match both ways.

        Languages write some names differently ("Danemark" / "Denmark", "Angleterre" /
        "England") and capitalise different words ("britanniques" / "British", "la guerre" /
        "the War"), which no list of aliases holds. A flagged name is cleared only when its
        own translation is in the other text: a name the translation dropped or invented
        has none there ("Peskov" translates as "Peskov"). Looking names up clears most
        false alarms at ~0.3 s a word (benchmarks/README.md#translation-name-look-ups), so
        it runs only when names are all that is wrong.
        """
        problems = two_way(quote, translation)
        names = [_NAME_PROBLEM.match(p) for p in problems]
        if problems and all(names):
            # "adds": the name is in the translation, to be found in the quote; "lacks": the reverse
            held = {"adds": (PassageFacts.of_text(quote, NO_DOCUMENT, with_title=False), target, source),
                    "lacks": (PassageFacts.of_text(translation, NO_DOCUMENT, with_title=False), source, target)}
            found = self._names_translate([(m.group(2), *held[m.group(1)]) for m in names if m])
            problems = [p for p, ok in zip(problems, found) if not ok]
        return [f"the translation {m}" for m in problems]

    def _names_translate(self, names: list[tuple[str, PassageFacts, str, str]]) -> list[bool]:
        """For each (name folded in ``source``, ``other`` text's facts, ``source``, ``target``):
        whether the name, translated into ``target``, is in ``other``. One batch per direction."""
        looked_up: dict[int, str | None] = {}
        for direction in dict.fromkeys((source, target) for _, _, source, target in names):
            which = [i for i, n in enumerate(names) if n[2:] == direction]
            done = self.translate_many([names[i][0].capitalize() for i in which], *direction)
            looked_up.update(zip(which, done))
        out = []
        for i, (_, other, _, _) in enumerate(names):
            found = [w for w in words(looked_up[i] or "") if len(w) >= 3 and w not in stop_words()]
            out.append(bool(found) and any(other.has_name(w) for w in found))
        return out

    def checked(self, quote: str, source: str, target: str) -> str | None:
        """The translation when its facts match the quote's both ways (:meth:`check`), else None."""
        return self.checked_many([quote], source, target)[0]

    def checked_many(self, quotes: list[str], source: str, target: str) -> list[str | None]:
        """:meth:`checked` for several quotes of one language, translated as one batch."""
        out: list[str | None] = []
        for translation, problems in self.translate_checked(quotes, source, target):
            if problems:
                log.info("translation %r not shown: %s", translation, "; ".join(problems))
            out.append(None if problems else translation)
        return out

    def translate_checked(self, quotes: list[str], source: str, target: str) -> list[tuple[str | None, list[str]]]:
        """Each quote's translation (None: none came) and what breaks its check (:meth:`check`;
        empty: shown), the quotes not translated before (:attr:`cache_size`) as one batch."""
        cache, lock = self._cache()
        with lock:
            known = {q: cache[q, source, target] for q in quotes if (q, source, target) in cache}
            for quote in known:
                cache.move_to_end((quote, source, target))
        new = [q for q in dict.fromkeys(quotes) if q not in known]
        for quote, translation in zip(new, self.translate_many(new, source, target)):
            known[quote] = (translation, self.check(quote, translation, source, target) if translation is not None else [])
            if translation is not None and self.cache_size > 0:  # a model that failed may work next time
                with lock:
                    cache[quote, source, target] = known[quote]
                    while len(cache) > self.cache_size:
                        cache.popitem(last=False)
        return [(known[q][0], list(known[q][1])) for q in quotes]

    def _cache(self) -> tuple[_Cache, threading.Lock]:
        """This translator's checked translations and their lock, made on first use (so that a
        subclass need not call an ``__init__`` of this class)."""
        with _CACHES_LOCK:
            if "_translations" not in self.__dict__:
                self._translations: tuple[_Cache, threading.Lock] = (OrderedDict(), threading.Lock())
            return self._translations
