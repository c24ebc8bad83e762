"""Question files: one reader for ``rag ask --questions`` and ``rag eval``.

A line is a question as plain text, or a JSON object with at least ``"q"`` (and
``"history"``, the earlier questions, oldest first): ``question.schema.json``. A question
set for ``rag eval`` is JSON on every line.

>>> import io
>>> [parsed for _, _, parsed in read_question_lines(io.StringIO('When?\\n\\n{"q": "Quand ?", "history": ["a"]}\\n'))]
[{'q': 'When?'}, {'q': 'Quand ?', 'history': ['a']}]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from rag.errors import InputError, RagError

log = logging.getLogger(__name__)


def default_questions() -> Path:
    """The team's question set, shipped in the package (``rag/data/questions.jsonl``):
    86 questions on the five articles of ``corpus/``, 43 English and 43 French."""
    return Path(str(resources.files("rag").joinpath("data", "questions.jsonl")))


def decoded_lines(stream: BinaryIO, name: str) -> Iterator[str]:
    """The lines of a UTF-8 file; a line that is not valid UTF-8 is read with its bad bytes
    replaced (U+FFFD), and a warning names its line number."""
    for number, raw in enumerate(stream, 1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            log.warning("%s, line %d: not valid UTF-8 (byte %d); its bad bytes are read as U+FFFD",
                        name, number, exc.start + 1)
            yield raw.decode("utf-8", errors="replace")


def shown_question(text: str, limit: int = 200) -> str:
    """A question as an error report repeats it: cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def parse_question_line(text: str, number: int, *, plain_text: bool = True) -> dict[str, Any]:
    """One line as a question object; raises :class:`InputError` naming line ``number``."""
    if plain_text and not text.lstrip().startswith("{"):
        return {"q": text}
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if plain_text:
            raise InputError(f"line {number}: starts like JSON but is not valid JSON ({exc.msg}); write the "
                             'question as plain text or as {"q": "...", "history": ["..."]}') from exc
        raise InputError(f"line {number}: not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("q"), str):
        raise InputError(f'line {number}: a JSON line needs a "q" string')
    history = obj.get("history")
    if history is not None and not (isinstance(history, list) and all(isinstance(h, str) for h in history)):
        raise InputError(f'line {number}: "history" must be a list of strings')
    return obj


def read_question_lines(lines: Iterable[str], *, plain_text: bool = True
                        ) -> Iterator[tuple[int, str, dict[str, Any] | InputError]]:
    """``(line number, question as written, question object or the InputError)`` for each
    non-blank line, so that one bad line is reported and the others still answered."""
    for number, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            parsed = parse_question_line(text, number, plain_text=plain_text)
        except InputError as exc:
            yield number, text, exc
            continue
        yield number, parsed["q"], parsed


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL question set; a bad line is an error naming the file and line."""
    questions = []
    with open(path, encoding="utf-8") as stream:
        for _, _, parsed in read_question_lines(stream, plain_text=False):
            if isinstance(parsed, InputError):
                raise RagError(f"{path}: {parsed}") from parsed
            questions.append(parsed)
    return questions
