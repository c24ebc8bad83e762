"""Where ``rag serve`` / ``python ui.py`` listen: flags, else GRADIO_SERVER_NAME/PORT, else
127.0.0.1:7860; and what they say when they cannot listen there (checked before any model
loads, so most of these tests start no server)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO_ROOT, clean_env, free_port

from rag import Pipeline, Settings
from rag.cli import main
from rag.web import launch
from rag.web.serving import ServeError, bind_error, check_address, resolve_address

NOT_OURS = "10.254.254.254"  # a private address no interface of the test machine has


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something already listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_flags_then_variables_then_defaults():
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8081"}
    assert resolve_address(None, None, {}) == ("127.0.0.1", 7860)
    assert resolve_address(None, None, env) == ("0.0.0.0", 8081)
    assert resolve_address("127.0.0.1", None, env) == ("127.0.0.1", 8081)
    assert resolve_address(None, 9000, env) == ("0.0.0.0", 9000)


@pytest.mark.parametrize("raw", ["abc", "0", "70000", "80.5"])
def test_a_bad_port_variable_is_named(raw: str):
    with pytest.raises(ServeError, match=rf"GRADIO_SERVER_PORT='{raw}' is not a port number"):
        resolve_address(None, None, {"GRADIO_SERVER_PORT": raw})


def test_an_address_of_another_machine_is_named():
    with pytest.raises(ServeError, match=f"{NOT_OURS} is not an address of this machine.*127.0.0.1.*0.0.0.0"):
        check_address(NOT_OURS, free_port())


def test_a_port_in_use_is_named(listening: int):
    with pytest.raises(ServeError, match=f"Port {listening} on 127.0.0.1 is already in use"):
        check_address("127.0.0.1", listening)


def test_an_unknown_host_name_is_named():
    with pytest.raises(ServeError, match="Unknown host name 'no-such-host.invalid'"):
        check_address("no-such-host.invalid", free_port())


def test_a_reserved_port_is_named():
    # the tests may run as root, who may bind port 80: the message is checked from the errno
    message = str(bind_error(OSError(errno.EACCES, "Permission denied"), "0.0.0.0", 80))
    assert "ports below 1024 are reserved" in message and "--port" in message


def test_a_free_address_passes():
    check_address("127.0.0.1", free_port())


def test_cli_says_why_before_loading_anything(capsys: pytest.CaptureFixture[str], listening: int,
                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    # an empty index folder: reaching the models would start an ingest, which must not happen
    index = tmp_path / "index"
    assert main(["--index", str(index), "serve", "--host", NOT_OURS]) == 2
    assert "not an address of this machine" in capsys.readouterr().err
    assert main(["--index", str(index), "serve", "--port", str(listening)]) == 2
    assert f"Port {listening} on 127.0.0.1 is already in use" in capsys.readouterr().err
    monkeypatch.setenv("GRADIO_SERVER_PORT", "http")
    assert main(["--index", str(index), "serve"]) == 2
    assert "GRADIO_SERVER_PORT='http' is not a port number" in capsys.readouterr().err
    monkeypatch.setenv("GRADIO_SERVER_PORT", str(listening))  # the variable is honoured...
    assert main(["--index", str(index), "serve"]) == 2
    assert f"Port {listening} on 127.0.0.1 is already in use" in capsys.readouterr().err
    monkeypatch.setenv("GRADIO_SERVER_NAME", NOT_OURS)  # ...and a flag wins over it
    assert main(["--index", str(index), "serve", "--host", "127.0.0.1", "--port", str(listening)]) == 2
    assert "127.0.0.1 is already in use" in capsys.readouterr().err
    assert not index.exists()


# --------------------------------------------------------------------------- real servers


def _serving(port: int, proc: subprocess.Popen[bytes], timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ui.py, GRADIO_SERVER_PORT", "rag serve --port over GRADIO_SERVER_PORT"])
def test_the_server_listens_where_it_is_told(settings: Settings, ingest_report, how: str):
    wanted, ignored = free_port(), free_port()
    env = clean_env(RAG_CORPUS_DIR=str(settings.corpus_dir), RAG_INDEX_DIR=str(settings.index_dir),
                    GRADIO_SERVER_PORT=str(wanted if how.startswith("ui.py") else ignored),
                    PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = ([sys.executable, "ui.py"] if how.startswith("ui.py")
            else [sys.executable, "-m", "rag.cli", "serve", "--port", str(wanted)])
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _serving(wanted, proc), proc.stderr.read().decode() if proc.poll() is not None else "no answer"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ignored), timeout=2).close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_a_second_server_on_a_taken_port_says_so(pipeline: Pipeline, capsys: pytest.CaptureFixture[str],
                                                  settings: Settings):
    port = free_port()
    app = launch("127.0.0.1", port, pipeline, prevent_thread_lock=True, quiet=True)
    try:
        assert main(["--index", str(settings.index_dir), "serve", "--port", str(port)]) == 2
        assert f"Port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err
        with pytest.raises(ServeError, match="already in use"):
            launch("127.0.0.1", port, pipeline, prevent_thread_lock=True, quiet=True)
    finally:
        app.close()


def test_serving_settings_are_checked():
    assert Settings.from_env({"RAG_SERVE_CONCURRENCY": "8"}).serve_concurrency == 8
    with pytest.raises(Exception, match="serve_concurrency must be at least 1"):
        Settings.from_env({"RAG_SERVE_CONCURRENCY": "0"})
    with pytest.raises(Exception, match="generative_queue must not be negative"):
        Settings.from_env({"RAG_GENERATIVE_QUEUE": "-1"})


@pytest.mark.slow
def test_api_calls_leave_at_most_serve_sessions_sessions(pipeline: Pipeline):
    from benchmarks.load import ask

    few = Pipeline(pipeline.settings.replace(serve_sessions=3), pipeline.embedder, pipeline.store)
    port = free_port()
    app = launch("127.0.0.1", port, few, prevent_thread_lock=True, quiet=True)
    try:
        for _ in range(8):  # each call is a Gradio session of its own
            assert ask(f"http://127.0.0.1:{port}", "When was New START extended?")["citations"]
        assert app.state_session_capacity == 3 and len(app.state_holder.session_data) <= 3
    finally:
        app.close()
