"""Bad input gets a clear message, never a crash: library and `rag` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from helpers import REPO_ROOT, clean_env

from rag.answer.validation import validate_history
from rag.errors import InputError, RagError

NEW_START = "When was New START extended?"


# --------------------------------------------------------------------------- library


@pytest.mark.parametrize("question", ["", "   ", " \n\t \r\n ", "\x00\x07\x1b"])
def test_empty_question_is_an_input_error(pipeline, question):
    with pytest.raises(InputError, match="empty"):
        pipeline.ask(question)


def test_question_without_words_is_an_input_error(pipeline):
    with pytest.raises(InputError, match="no words"):
        pipeline.ask("?!? …")


def test_huge_question_is_an_input_error(pipeline):
    question = ("When was New START extended? " * 4000)[:100_000]
    assert len(question.encode()) >= 100_000
    with pytest.raises(InputError) as err:
        pipeline.ask(question)
    message = str(err.value)
    assert "limit" in message and f"{pipeline.settings.max_question_chars:,}" in message
    assert "shorter" in message


def test_question_at_the_limit_is_accepted(pipeline):
    limit = pipeline.settings.max_question_chars
    question = ("New START " * limit)[:limit - 1].strip() + "?"
    assert pipeline.ask(question).question == question


def test_non_text_question_is_an_input_error(pipeline):
    with pytest.raises(InputError, match="text"):
        pipeline.ask(None)  # type: ignore[arg-type]


def test_input_errors_are_rag_errors():
    assert issubclass(InputError, RagError)  # so the CLI turns them into messages, exit code 2


def test_control_characters_are_stripped(pipeline):
    dirty = "\x00When\x07 was New\u200b START\x1b extended?\x7f"
    a = pipeline.ask(dirty)
    assert a.question == NEW_START
    assert a.answer == pipeline.ask(NEW_START).answer


def test_whitespace_is_collapsed(pipeline):
    a = pipeline.ask("  When was\n\nNew   START\textended?  ")
    assert a.question == NEW_START


def test_retrieve_validates_too(pipeline):
    with pytest.raises(InputError):
        pipeline.retrieve("   ")


# --------------------------------------------------------------------------- command line


def run_cli(*args: str, index_dir: Path, corpus_dir: Path, stdin: str | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
    env = clean_env(RAG_INDEX_DIR=str(index_dir), RAG_CORPUS_DIR=str(corpus_dir), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          encoding="utf-8", input=stdin, timeout=timeout, env=env, cwd=REPO_ROOT)


needs_cli = pytest.mark.skipif(not (REPO_ROOT / "rag" / "cli.py").is_file(), reason="rag/cli.py not written yet")


@pytest.fixture(scope="module")
def cli(settings, pipeline):
    """Runs ``python -m rag.cli`` on the session's index and the real corpus."""
    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("index_dir", settings.index_dir)
        kwargs.setdefault("corpus_dir", settings.corpus_dir)
        return run_cli(*args, **kwargs)
    return run


@pytest.fixture(scope="module")
def schema_validator(answer_schema):
    return jsonschema.Draft202012Validator(answer_schema)


@needs_cli
@pytest.mark.slow
def test_cli_ask_json(cli, schema_validator):
    out = cli("ask", NEW_START, "--json")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    schema_validator.validate(data)
    assert data["question"] == NEW_START and not data["abstained"] and data["language"] == "en"
    assert any("5 février 2026" in c["passage"] for c in data["citations"])


@needs_cli
@pytest.mark.slow
def test_cli_ask_questions_file_json(cli, schema_validator, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text(
        f"{NEW_START}\n"
        "\n"
        "Qui est le porte-parole du Kremlin ?\n"
        + json.dumps({"q": "And when does it expire?", "history": [NEW_START]}) + "\n"
        "Who won the 2022 World Cup?\n", encoding="utf-8")
    out = cli("ask", "--questions", str(questions), "--json")
    assert out.returncode == 0, out.stderr
    answers = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [a["question"] for a in answers] == [NEW_START, "Qui est le porte-parole du Kremlin ?",
                                                "And when does it expire?", "Who won the 2022 World Cup?"]
    for a in answers:
        schema_validator.validate(a)
    assert [a["language"] for a in answers] == ["en", "fr", "en", "en"]
    assert answers[3]["abstained"] and answers[3]["citations"] == []


@needs_cli
@pytest.mark.slow
@pytest.mark.parametrize("question", ["", "   "])
def test_cli_empty_question_exits_2_with_an_error_message(cli, question):
    out = cli("ask", question, "--json")
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and "empty" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


@needs_cli
@pytest.mark.slow
def test_cli_huge_question_exits_2(cli):
    out = cli("ask", "x" * 100_000)
    assert out.returncode == 2
    assert "error:" in out.stderr and "Traceback" not in out.stderr


@needs_cli
@pytest.mark.slow
def test_cli_ingest(make_settings, corpus_dir):
    index_dir = make_settings().index_dir  # warm embedding cache: no model time
    out = run_cli("ingest", index_dir=index_dir, corpus_dir=corpus_dir)
    assert out.returncode == 0, out.stderr
    assert "5 added" in out.stdout
    assert (index_dir / "CURRENT").is_file()
    again = run_cli("ingest", index_dir=index_dir, corpus_dir=corpus_dir)
    assert again.returncode == 0, again.stderr
    assert "already up to date" in again.stdout


@needs_cli
@pytest.mark.slow
def test_cli_ingest_missing_corpus_exits_2(tmp_path):
    missing = tmp_path / "no-such-corpus"
    out = run_cli("ingest", index_dir=tmp_path / "index", corpus_dir=missing)
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and str(missing) in out.stderr
    assert "Traceback" not in out.stderr


# --------------------------------------------------------------------------- history


@pytest.mark.parametrize("history,message", [
    ([1, 2, 3], "history must be a list of earlier questions"),
    ([{"q": "x"}], "item 1 is dict"),
    ({"q": "x"}, "got dict"),
    ("When was New START extended?", "got str"),
    (42, "got int"),
    ([NEW_START] * 5000, "limit is 20"),
    (["x" * 1_000_000], "the limit is 2,000"),
])
def test_bad_history_is_an_input_error(pipeline, history, message):
    for call in (pipeline.ask, pipeline.retrieve, lambda q, h: list(pipeline.stream(q, h))):
        with pytest.raises(InputError, match=message):
            call("And when does it expire?", history)


def test_history_limits_and_blanks(pipeline):
    limit = pipeline.settings.max_history_items
    follow = pipeline.ask("And when does it expire?", ["", "  ", "?!", *[NEW_START] * (limit - 3)])
    assert not follow.abstained and "expir" in follow.answer
    assert pipeline.ask(NEW_START, None).answer == pipeline.ask(NEW_START, []).answer
    assert validate_history((" When\x00 was  it? ",), 10, 100) == ["When was it?"]


# --------------------------------------------------------------------------- questions files


GARBAGE = bytes(range(256)).decode("utf-8", errors="replace") * 2


@pytest.mark.parametrize("question", [GARBAGE, "\x00\x01\x02\x03 ab \x04\x05\x06", "\ufffd" * 40 + "abc"])
def test_binary_garbage_is_not_a_question(pipeline, question):
    with pytest.raises(InputError, match="not text"):
        pipeline.ask(question)


def test_questions_file_lines_that_are_not_utf8_are_named(caplog):
    import io
    import logging

    from rag.evaluation.questions import decoded_lines, read_question_lines

    data = b"When?\n" + b"Quand \xe9tait-ce ?\n" + b"\xff\xfe\x00\x01\x02\x03\n"
    with caplog.at_level(logging.WARNING, logger="rag"):
        lines = list(read_question_lines(decoded_lines(io.BytesIO(data), "q.txt")))
    assert [n for n, _, _ in lines] == [1, 2, 3]
    warned = [r.getMessage() for r in caplog.records]
    assert any("q.txt, line 2: not valid UTF-8" in w for w in warned)
    assert any("line 3" in w for w in warned) and not any("line 1" in w for w in warned)
    assert lines[1][1] == "Quand \ufffdtait-ce ?"


def test_progress_redirected_is_plain_lines_with_rate_and_time_left():
    """A long ingest whose stderr goes to a log file still says how far it is (no bar
    codes); a short step says nothing."""
    import io
    import time

    from rag.cli import ProgressBar

    log = io.StringIO()
    bar = ProgressBar(stream=log)
    bar(0, 10, "reading")
    bar(10, 10, "reading")  # well under LINE_AFTER: nothing
    bar.LINE_AFTER = bar.LINE_EVERY = 0.05
    bar(0, 400, "embedding")
    time.sleep(0.1)
    bar(100, 400, "embedding")
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("embedding: 100/400 (") and "/s, about " in lines[0] and "left)" in lines[0]
    assert lines[1].startswith("embedding: done, 100 in ")
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
    assert ProgressBar.eta(300, 1.0) == "5 min" and ProgressBar.eta(36_000, 1.0) == "10.0 h"
