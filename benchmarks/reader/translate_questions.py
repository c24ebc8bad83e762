"""Machine-translate a French question set into English (for cross-language fitting and
evaluation: English questions over French articles).

    python benchmarks/reader/translate_questions.py dev.jsonl dev_en.jsonl --model marian [--limit 200]
    python benchmarks/reader/translate_questions.py dev.jsonl dev_en.jsonl --model llamacpp:MODEL.gguf

Each line keeps its answers and evidence (they are spans of the French articles) and gets
``lang: "en"`` and an id ending in ``-en``. ``marian`` is the offline opus-mt fr-en model
(``make install-translator``); a chat-model spec gets a few-shot prompt. Lines whose
translation still looks French, or is empty, are left out (counted on stderr).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from rag.answer.translation.registry import load_translator
from rag.lang import detect_language
from rag.models.llm import chat_model_from_spec

SYSTEM = ("You translate French questions into English. Keep every name, number and date "
          "exactly as written. Reply with the English question only.")
EXAMPLES = [("Quand le traité a-t-il été signé ?", "When was the treaty signed?"),
            ("Combien d'habitants compte la ville de Lyon en 2019 ?",
             "How many inhabitants did the city of Lyon have in 2019?"),
            ("Qui a fondé l'entreprise ?", "Who founded the company?")]


def translate(model: BaseChatModel, question: str) -> str:
    messages: list[BaseMessage] = [SystemMessage(SYSTEM)]
    for fr, en in EXAMPLES:
        messages += [HumanMessage(fr), AIMessage(en)]
    messages.append(HumanMessage(question))
    reply = model.invoke(messages).content
    text = reply if isinstance(reply, str) else str(reply)
    return text.strip().splitlines()[0].strip().strip('"') if text.strip() else ""


def translator(spec: str) -> Callable[[str], str]:
    """French question → English, by the opus-mt model or a prompted chat model."""
    if spec.split(":")[0] == "marian":
        marian = load_translator(spec)
        return lambda question: marian.translate(question, "fr", "en") or ""
    model = chat_model_from_spec(spec, max_tokens=60)
    return lambda question: translate(model, question)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--model", required=True,
                        help="'marian' (opus-mt) or a reader spec of a chat model, e.g. llamacpp:PATH.gguf")
    parser.add_argument("--limit", type=int, default=0, help="translate a random sample of this many lines")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = [json.loads(x) for x in args.source.read_text(encoding="utf-8").splitlines() if x.strip()]
    if args.limit and args.limit < len(lines):
        lines = random.Random(args.seed).sample(lines, args.limit)
    to_english = translator(args.model)
    skipped = 0
    with open(args.target, "w", encoding="utf-8") as out:
        for i, q in enumerate(lines, 1):
            text = to_english(q["q"])
            if not text or detect_language(text) != "en":
                skipped += 1
                continue
            out.write(json.dumps(q | {"id": q["id"] + "-en", "lang": "en", "q": text,
                                      "q_fr": q["q"]}, ensure_ascii=False) + "\n")
            out.flush()
            if i % 25 == 0:
                print(f"  {i}/{len(lines)}", file=sys.stderr, flush=True)
    print(f"{args.target}: {len(lines) - skipped} translated, {skipped} left out", file=sys.stderr)


if __name__ == "__main__":
    main()
