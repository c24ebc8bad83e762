"""Vocabulary maps for the opus-mt translator: the output pieces CTranslate2 scores.

At every step of a translation the decoder scores all 59,514 pieces of the model's
vocabulary, for each of the 4 beams: most of the time a quote takes is that output layer.
A *vocabulary map* (CTranslate2's ``vmap.txt``, read from the converted model's folder when
``translate_batch(..., use_vmap=True)``) restricts the pieces scored to those the source's
pieces may translate into. Each line is ``SOURCE PIECES<TAB>TARGET PIECES`` (space-separated);
the line whose source is empty lists the pieces always allowed.

:func:`build_vmap` builds one from the model alone, no text needed:

- always allowed: the ``always`` most likely pieces of the target language's sentencepiece
  model (its unigram scores: frequent words, affixes), its pieces of at most ``short``
  characters (the fragments rare names are spelt with), every piece of digits or punctuation,
  and the other forms of all these (with or without the word mark, other endings);
- for each word piece of the source language (a ``▁``-initial piece of letters in the source
  sentencepiece model): the pieces of the model's ``hypotheses`` best translations of that
  word alone (beam search), so that "tortue" allows "turtle" and "tortoise";
- for each of those, and for every other piece, its own text as the target language's
  sentencepiece model cuts it, so that names and numbers can be copied.

The maps ship with the package (``rag/models/data/opus-mt-{pair}.vmap.gz``, derived from the
Apache-2.0 models only); ``make install-translator`` puts them beside the CTranslate2
conversion (:func:`rag.models.opus.install_vmap`).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: A piece of letters only, opening a word: what is translated alone for the map.
WORD = re.compile(r"▁[^\W\d_]{2,}")
#: A piece of digits and punctuation only (with or without the word mark): always allowed.
SYMBOLS = re.compile(r"▁?[\W\d_]+")


def word_pieces(sp: Any, known: set[str]) -> list[str]:
    """The pieces of ``sp`` (a sentencepiece model) that open a word of letters, in the vocabulary."""
    return sorted({p for p in (sp.id_to_piece(i) for i in range(sp.get_piece_size()))
                   if p in known and WORD.fullmatch(p)})


def translate_words(translator: Any, words: list[str], *, hypotheses: int, beams: int,
                    batch: int = 64) -> dict[str, list[list[str]]]:
    """Each word piece translated alone: its ``hypotheses`` best translations, as pieces."""
    results = translator.translate_batch([[w, "</s>"] for w in words], beam_size=beams,
                                         num_hypotheses=hypotheses, max_decoding_length=8,
                                         max_batch_size=batch)
    return {w: [list(h) for h in r.hypotheses] for w, r in zip(words, results)}


def build_vmap(forward: dict[str, list[list[str]]], backward: dict[str, list[list[str]]], *,
               source: Any, target: Any, vocabulary: list[str], always: int, short: int) -> list[str]:
    """The lines of the vocabulary map of one direction, sorted.

    ``forward``: the source language's word pieces translated alone by this direction's
    model (:func:`translate_words`); ``backward``: the target language's word pieces
    translated alone by the other direction's model; ``source``/``target``: this direction's
    sentencepiece models; ``vocabulary``: the CTranslate2 model's pieces; ``always``: how many
    of the likeliest target pieces are always allowed, with every target piece of at most
    ``short`` characters (the fragments a rare name is spelt with: "▁A rgy ros")."""
    known = set(vocabulary)
    by_score = sorted(range(target.get_piece_size()), key=lambda i: -target.get_score(i))
    fixed = set([p for p in (target.id_to_piece(i) for i in by_score) if p in known][:always])
    fixed |= {p for p in known if SYMBOLS.fullmatch(p)} | {"</s>"}
    fixed |= {p for p in (target.id_to_piece(i) for i in range(target.get_piece_size()))
              if p in known and len(p.removeprefix("▁")) <= short}
    allowed: dict[str, set[str]] = {}

    def allow(key: list[str], pieces: Iterable[str]) -> None:
        if key and all(k in known and " " not in k and "\t" not in k for k in key):
            allowed.setdefault(" ".join(key), set()).update(p for p in pieces if p in known)

    def cut(sp: Any, text: str) -> list[str]:
        return [str(p) for p in sp.encode(text, out_type=str)]

    def keys(text: str) -> list[list[str]]:
        """How the source cuts a word: alone, and glued to what precedes it ("l'empoisonnement",
        "«Alexeï»": no word mark, other pieces)."""
        glued = cut(source, "'" + text)
        return [cut(source, text)] + ([glued[1:]] if glued[:1] == ["▁'"] and len(glued) > 1 else [])

    for word, translations in forward.items():  # "▁tortue" -> "▁turtle", "▁tort oise"
        pieces = [p for h in translations for p in h]
        for key in [[word], *keys(word[1:])]:
            allow(key, pieces)
    for word, translations in backward.items():  # "▁empoisonn ement" (source cut of "empoisonnement") -> "▁poisoning"
        for h in translations:
            text = "".join(h).replace("▁", " ").strip()
            for key in keys(text) if text else []:
                allow(key, [word])
    for piece in vocabulary:  # copies: names and numbers, cut as each language cuts them
        text = piece.replace("▁", " ").strip()
        if text and not SYMBOLS.fullmatch(piece):
            allow([piece], [piece, *cut(target, text)])
            if piece.startswith("▁"):
                for key in keys(text):
                    allow(key, [piece, *cut(target, text)])
    forms = _forms(known)
    fixed = _widen(fixed, forms)
    lines = ["\t" + " ".join(sorted(fixed))]
    for ngram in sorted(allowed):
        extra = sorted(_widen(allowed[ngram], forms) - fixed)
        if extra:
            lines.append(f"{ngram}\t{' '.join(extra)}")
    return lines


def _forms(known: set[str]) -> dict[str, set[str]]:
    """For each piece of letters: its twin with or without the word mark ("▁Russian" and
    "Russian", as in "pro-Russian") and, for a word of 4 letters or more, the pieces that
    end it differently by up to 3 letters ("▁aim": "▁aims", "▁aiming", "▁aimed")."""
    stems: dict[str, set[str]] = {}
    for p in known:
        bare = p.removeprefix("▁")
        if bare.isalpha() and len(bare) >= 4:
            stems.setdefault(p[:len(p) - len(bare) + 3], set()).add(p)
    forms: dict[str, set[str]] = {}
    for p in known:
        bare = p.removeprefix("▁")
        if not bare.isalpha():
            continue
        found = {q for q in (bare, "▁" + bare) if q in known}
        if len(bare) >= 4:
            head = p[:-1] if len(bare) >= 5 else p
            found |= {q for q in stems.get(p[:len(p) - len(bare) + 3], ())
                      if q.startswith(head) and len(q) - len(p) <= 3}
        forms[p] = found
    return forms


def _widen(pieces: set[str], forms: dict[str, set[str]]) -> set[str]:
    return pieces.union(*(forms.get(p, ()) for p in pieces))


def write_vmap(lines: Iterable[str], path: Path) -> None:
    """Write the map's lines to ``path`` (gzip when it ends with ``.gz``)."""
    text = "".join(line + "\n" for line in lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")


def build_all(directory: Path, out: Path, *, always: int, short: int, hypotheses: int, beams: int,
              threads: int = 1) -> dict[str, int]:
    """Build both directions' maps from the models in ``directory`` into
    ``out/opus-mt-{pair}.vmap.gz``; the lines of each. Translates ~20k words a direction
    (2-3 minutes each on one thread)."""
    import ctranslate2
    import sentencepiece as spm

    from rag.models.opus import CT2, MODELS, shipped_vmap

    models = {pair: {"source": spm.SentencePieceProcessor(model_file=str(directory / pair / "source.spm")),
                     "target": spm.SentencePieceProcessor(model_file=str(directory / pair / "target.spm")),
                     "vocabulary": json.loads((directory / pair / CT2 / "shared_vocabulary.json")
                                              .read_text(encoding="utf-8"))}
              for pair in MODELS}
    words = {}
    for pair, m in models.items():
        translator = ctranslate2.Translator(str(directory / pair / CT2), device="cpu", compute_type="int8",
                                            intra_threads=threads)
        words[pair] = translate_words(translator, word_pieces(m["source"], set(m["vocabulary"])),
                                      hypotheses=hypotheses, beams=beams)
    counts = {}
    out.mkdir(parents=True, exist_ok=True)
    for pair, m in models.items():
        other = "-".join(reversed(pair.split("-")))
        lines = build_vmap(words[pair], words[other], source=m["source"], target=m["target"],
                           vocabulary=m["vocabulary"], always=always, short=short)
        write_vmap(lines, out / shipped_vmap(pair).name)
        counts[pair] = len(lines)
    return counts


def main(argv: list[str] | None = None) -> None:
    import argparse

    from rag.models.opus import BEAMS, VMAP_ALWAYS, VMAP_DATA, VMAP_HYPOTHESES, VMAP_SHORT, default_dir

    parser = argparse.ArgumentParser(description="Build the opus-mt vocabulary maps from the installed models "
                                                 "(make install-translator first).")
    parser.add_argument("--models", type=Path, default=default_dir(), help="the opus-mt folder (default %(default)s)")
    parser.add_argument("--out", type=Path, default=VMAP_DATA, help="where the .vmap.gz go (default: the package's)")
    parser.add_argument("--always", type=int, default=VMAP_ALWAYS)
    parser.add_argument("--short", type=int, default=VMAP_SHORT)
    parser.add_argument("--hypotheses", type=int, default=VMAP_HYPOTHESES)
    args = parser.parse_args(argv)
    print(build_all(args.models, args.out, always=args.always, short=args.short, hypotheses=args.hypotheses,
                    beams=BEAMS))


if __name__ == "__main__":
    main()
