"""Sign-in and roles on a real server on 127.0.0.1: the page and its API ask for a name
and password, readers ask and read, editors also change the corpus, a reader's corpus
change — through the API or the page's own events — is refused and changes nothing on
disk, an editor's page from the web is never fetched from this machine unless the
operator allowed it, and guessing passwords is refused after a few tries."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import CORPUS_FILES, free_port
from newssite import Route, Site, story_page

from rag import Pipeline
from rag.web.accounts import EDITOR, READER, Access, Accounts

pytestmark = pytest.mark.slow

EDITOR_LOGIN = ("alice", "editor password")
READER_LOGIN = ("bob", "reader password")
ARTICLE = ("Le sommet de Reykjavik\n\nLe 3 mars 2022, les ministres de l'Arctique se sont réunis "
           "à Reykjavik pour parler de la pêche au hareng dans la mer de Barents.\n")


#: An article the news site on 127.0.0.1 publishes for these tests (none of the corpus's).
STORY = ("arctique", "Les ministres de l'Arctique réunis à Reykjavik", [
    "Le 3 mars 2022, les ministres des huit pays du Conseil de l'Arctique se sont réunis à Reykjavik, "
    "en Islande, pour parler de la pêche au hareng dans la mer de Barents.",
    "La réunion a duré deux jours. Les délégations ont signé un accord qui limite les prises de hareng "
    "à 400 000 tonnes par an jusqu'en 2030.",
    "La prochaine réunion du Conseil se tiendra à Tromsø, en Norvège, au printemps 2023."])
STORY_QUESTION = "Où les ministres de l'Arctique se sont-ils réunis le 3 mars 2022 ?"


def publish_story(site: Site) -> str:
    """Put :data:`STORY` on ``site``; its address."""
    slug, title, paragraphs = STORY
    site.routes[f"/articles/{slug}"] = Route(body=story_page(slug, title, paragraphs, "2022-03-03",
                                                             "Anna Jónsdóttir", site.port).encode())
    return site.url(f"/articles/{slug}")


@dataclass
class Served:
    url: str
    corpus: Path
    app: object
    users: Path


#: Readers whose account is removed / whose password is changed while they are signed in.
REMOVED_LOGIN = ("carol", "carol password")
CHANGED_LOGIN = ("dave", "dave password")


def _accounts(path: Path) -> Accounts:
    accounts = Accounts.load(path)
    for name, password in (READER_LOGIN, REMOVED_LOGIN, CHANGED_LOGIN):
        accounts.add(name, READER, password)
    accounts.add(EDITOR_LOGIN[0], EDITOR, EDITOR_LOGIN[1])
    return accounts


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, settings, embedder, ingest_report) -> Iterator[Served]:
    """The page over a copy of the corpus, with an editor and a reader, three sign-in tries."""
    from helpers import private_settings

    from rag.web import launch

    root = tmp_path_factory.mktemp("signin")
    private = private_settings(root, settings)
    corpus = private.corpus_dir
    p = Pipeline.from_settings(private.replace(sign_in_attempts=3, sign_in_lockout=300), embedder=embedder)
    port = free_port()
    app = launch("127.0.0.1", port, p, access=Access(_accounts(root / "users.toml")),
                 prevent_thread_lock=True, quiet=True)
    try:
        yield Served(f"http://127.0.0.1:{port}", corpus, app, root / "users.toml")
    finally:
        app.close()  # type: ignore[attr-defined]


def _status(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_nothing_is_served_without_signing_in(served: Served):
    from gradio_client import Client

    assert _status(served.url + "/config") == 401
    assert _status(served.url + "/gradio_api/info") == 401
    body = json.dumps({"data": ["When was New START extended?", []]}).encode()
    assert _status(served.url + "/gradio_api/call/ask", body) == 401
    with pytest.raises(Exception):  # noqa: B017 - gradio_client's own error for a 401
        Client(served.url + "/", verbose=False)
    with pytest.raises(ValueError, match="[Cc]ould not login|[Ii]ncorrect"):
        Client(served.url + "/", auth=(READER_LOGIN[0], "wrong password"), verbose=False)


def test_a_reader_asks_but_cannot_change_the_corpus(served: Served):
    from gradio_client import Client

    from benchmarks.upload_latency import page_event, uploaded

    client = Client(served.url + "/", auth=READER_LOGIN, verbose=False)
    answer = client.predict("When was New START extended?", [], api_name="/ask")
    assert answer["citations"] and not answer["abstained"]
    before = sorted(os.listdir(served.corpus))
    with pytest.raises(Exception, match="bob is signed in as a reader"):
        client.predict("reykjavik.txt", ARTICLE, api_name="/add_article")
    with pytest.raises(Exception, match="bob is signed in as a reader"):
        client.predict(CORPUS_FILES[0], api_name="/remove_article")
    # the page's own events, run as the browser runs them: refused too
    sample = served.corpus.parent / "reykjavik.txt"
    sample.write_text(ARTICLE, encoding="utf-8")
    added = page_event(served.url, "add", [[uploaded(served.url, sample, auth=READER_LOGIN)], []],
                       auth=READER_LOGIN)
    assert "signed in as a reader" in added["output"]["data"][0]
    removed = page_event(served.url, "do_remove", [CORPUS_FILES[0], CORPUS_FILES[0], []], auth=READER_LOGIN)
    assert "signed in as a reader" in removed["output"]["data"][0]
    assert sorted(os.listdir(served.corpus)) == before


def test_an_editor_adds_and_removes_articles_through_the_api(served: Served):
    from gradio_client import Client

    client = Client(served.url + "/", auth=EDITOR_LOGIN, verbose=False)
    message = client.predict("reykjavik.txt", ARTICLE, api_name="/add_article")
    assert "Added" in message and (served.corpus / "reykjavik.txt").is_file()
    answer = client.predict("Où les ministres de l'Arctique se sont-ils réunis le 3 mars 2022 ?", [],
                            api_name="/ask")
    assert any(c["source"] == "reykjavik.txt" for c in answer["citations"])
    doc_id = next(c["doc_id"] for c in answer["citations"] if c["source"] == "reykjavik.txt")
    assert "Removed" in client.predict(doc_id, api_name="/remove_article")
    assert not (served.corpus / "reykjavik.txt").exists()


def test_an_editor_cannot_make_the_server_fetch_this_machine_unless_the_operator_allows_it(served: Served,
                                                                                           news_site: Site):
    from gradio_client import Client

    from benchmarks.upload_latency import page_event

    url = publish_story(news_site)
    before = sorted(os.listdir(served.corpus))
    editor = Client(served.url + "/", auth=EDITOR_LOGIN, verbose=False)
    with pytest.raises(Exception, match=r"(?s)127\.0\.0\.1 is a loopback address.*RAG_ALLOW_PRIVATE_URLS=1"):
        editor.predict(url, "", api_name="/add_url")
    shown = page_event(served.url, "add_web", [url, "", []], auth=EDITOR_LOGIN)["output"]["data"][0]
    assert "127.0.0.1 is a loopback address" in shown and "`RAG_ALLOW_PRIVATE_URLS=1`" in shown
    reader = Client(served.url + "/", auth=READER_LOGIN, verbose=False)
    with pytest.raises(Exception, match="bob is signed in as a reader"):
        reader.predict(url, "", api_name="/add_url")
    assert news_site.requests == [] and sorted(os.listdir(served.corpus)) == before


def test_with_the_operators_allowance_an_editor_adds_a_page_of_this_machine_and_answers_cite_it(
        tmp_path: Path, settings, embedder, ingest_report, news_site: Site):
    from gradio_client import Client
    from helpers import private_settings

    from benchmarks.upload_latency import page_event
    from rag.web import launch

    private = private_settings(tmp_path, settings).replace(allow_private_urls=True)  # RAG_ALLOW_PRIVATE_URLS=1
    p = Pipeline.from_settings(private, embedder=embedder)
    port = free_port()
    app = launch("127.0.0.1", port, p, access=Access(_accounts(tmp_path / "users.toml")),
                 prevent_thread_lock=True, quiet=True)
    base = f"http://127.0.0.1:{port}"
    url = publish_story(news_site)
    try:
        # the allowance is the operator's to give editors: a reader is still refused
        refused = page_event(base, "add_web", [url, "", []], auth=READER_LOGIN)["output"]["data"][0]
        assert "bob is signed in as a reader" in refused
        reader = Client(base + "/", auth=READER_LOGIN, verbose=False)
        with pytest.raises(Exception, match="bob is signed in as a reader"):
            reader.predict(url, "", api_name="/add_url")
        assert news_site.requests == []
        added = page_event(base, "add_web", [url, "", []], auth=EDITOR_LOGIN)["output"]["data"][0]
        assert added.startswith("**From the web:** 1 added") and f"added: {url} → " in added, added
        assert "Index updated" in added and "RAG_ALLOW_PRIVATE_URLS" not in added
        [stored] = [name for name in os.listdir(private.corpus_dir) if name.endswith(".md")]
        again = Client(base + "/", auth=EDITOR_LOGIN, verbose=False).predict(url, "", api_name="/add_url")
        assert "0 added, 0 updated, 1 unchanged" in again  # each article once
        answer = reader.predict(STORY_QUESTION, [], api_name="/ask")
        cited = [c for c in answer["citations"] if c["source"] == stored]
        assert not answer["abstained"] and cited and cited[0]["url"] == url
    finally:
        app.close()
        p.close()


def test_a_removed_account_or_a_changed_password_ends_the_sign_in(served: Served):
    from benchmarks.upload_latency import opener

    removed, changed = opener(served.url, REMOVED_LOGIN), opener(served.url, CHANGED_LOGIN)
    for signed_in in (removed, changed):
        with signed_in(served.url + "/config", timeout=30) as response:
            assert response.status == 200
    operator = Accounts.load(served.users)  # `rag users` run while the page is served
    operator.remove(REMOVED_LOGIN[0])
    operator.add(CHANGED_LOGIN[0], READER, "a new password", replace=True)
    for signed_in in (removed, changed):
        with pytest.raises(urllib.error.HTTPError) as refused:
            signed_in(served.url + "/config", timeout=30)
        assert refused.value.code == 401
    with opener(served.url, READER_LOGIN)(served.url + "/config", timeout=30) as response:
        assert response.status == 200  # the others stay signed in


def test_guessing_passwords_is_refused_after_a_few_tries(served: Served):
    def sign_in(password: str) -> int:
        form = urllib.parse.urlencode({"username": EDITOR_LOGIN[0], "password": password}).encode()
        return _status(served.url + "/login", form)

    # the module's server allows 3 failures in a row (the earlier tests' sign-ins, all from
    # 127.0.0.1, ended with a success, which clears the count); this test locks 127.0.0.1
    # out, so it comes last
    assert [sign_in(f"guess {i}") for i in range(3)] == [400, 400, 400]
    assert sign_in(EDITOR_LOGIN[1]) == 429  # locked out: even the right password waits


def test_read_only_refuses_every_change_even_to_the_local_user(make_settings, corpus_copy: Path, embedder):
    from gradio_client import Client

    from benchmarks.upload_latency import page_event
    from rag.web import launch

    p = Pipeline.from_settings(make_settings(corpus_dir=corpus_copy), embedder=embedder)
    port = free_port()
    app = launch("127.0.0.1", port, p, access=Access(None, read_only=True), prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}"
    try:
        client = Client(url + "/", verbose=False)  # no accounts: no sign-in
        assert client.predict("When was New START extended?", [], api_name="/ask")["citations"]
        with pytest.raises(Exception, match="read-only"):
            client.predict("reykjavik.txt", ARTICLE, api_name="/add_article")
        removed = page_event(url, "do_remove", [CORPUS_FILES[0], CORPUS_FILES[0], []])
        assert "This server is read" in removed["output"]["data"][0]
        assert sorted(os.listdir(corpus_copy)) == sorted(CORPUS_FILES)
    finally:
        app.close()
        p.close()
