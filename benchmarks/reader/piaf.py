"""Turn the PIAF reading-comprehension set into a newsrag corpus and question sets.

PIAF v1.0 (Etalab, MIT licence; 3,835 questions written by volunteers on 761 paragraphs
of 191 French Wikipedia articles) is the public data the learned reader is fitted,
chosen and reported on. It is not shipped with newsrag: point this script at a copy
of ``piaf-v1.0.json`` (from the ``etalab-ia/piaf-code`` repository).

    python benchmarks/reader/piaf.py piaf-v1.0.json OUT_DIR
    python benchmarks/reader/piaf.py xquad.en.json OUT_DIR --lang en --id-prefix xquad-en

(any SQuAD-format file works: XQuAD, ``google-deepmind/xquad``, CC BY-SA 4.0, is the
English reading-comprehension set the neural reader is trained and reported on)

writes ``OUT_DIR/corpus/`` (one article a file: title line, then its paragraphs) and
``OUT_DIR/{fit,dev,test}.jsonl`` (``question.schema.json`` lines). Articles, not
questions, are split (60 / 20 / 20 by a hash of the title), so no paragraph is seen in
two splits. In each article one paragraph in five (at least one when the article has two
or more) is left out of the corpus: its questions become *near-miss unanswerable* ones
(the article and its topic are there, the asked detail is not), unless their answer
still occurs in the text that stays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

SPLITS = (("fit", 0.6), ("dev", 0.8), ("test", 1.0))


def split_of(title: str) -> str:
    """``fit``, ``dev`` or ``test`` for an article, stable across runs and machines."""
    x = int(hashlib.sha256(title.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return next(name for name, upper in SPLITS if x <= upper)


def file_name(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "article"
    return f"{slug}-{hashlib.sha256(title.encode()).hexdigest()[:6]}.txt"


def convert(data: dict, out: Path, lang: str = "fr", prefix: str = "piaf") -> dict[str, int]:
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {name: [] for name, _ in SPLITS}
    for article in data["data"]:
        title = article["title"].strip()
        split = split_of(title)
        paragraphs = article["paragraphs"]
        dropped = set(range(len(paragraphs))[::5]) if len(paragraphs) >= 2 else set()
        kept_text = "\n\n".join(p["context"] for i, p in enumerate(paragraphs) if i not in dropped)
        (corpus / file_name(title)).write_text(f"{title}\n\n{kept_text}\n", encoding="utf-8")
        for i, p in enumerate(paragraphs):
            for qa in p["qas"]:
                answers = sorted({a["text"].strip() for a in qa["answers"] if a["text"].strip()})
                if not answers or not qa["question"].strip():
                    continue
                answerable = i not in dropped
                if not answerable and any(a.lower() in kept_text.lower() for a in answers):
                    continue  # the answer is still in the corpus: not a clean unanswerable question
                q = {"id": f"{prefix}-{qa['id']}", "lang": lang, "q": qa["question"].strip(),
                     "answerable": answerable, "article": title}
                if answerable:
                    q["answer"] = [answers]
                    q["evidence"] = answers
                lines[split].append(json.dumps(q, ensure_ascii=False))
    for name, rows in lines.items():
        (out / f"{name}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {name: len(rows) for name, rows in lines.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("piaf_json", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lang", default="fr", help="the questions' language (XQuAD's English file: en)")
    parser.add_argument("--id-prefix", default="piaf", help="question ids are PREFIX-ID (e.g. xquad-en)")
    args = parser.parse_args()
    counts = convert(json.loads(args.piaf_json.read_text(encoding="utf-8")), args.out, args.lang, args.id_prefix)
    print(", ".join(f"{n} {name}" for name, n in counts.items()))


if __name__ == "__main__":
    main()
