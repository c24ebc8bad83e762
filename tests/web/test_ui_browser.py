"""The chat page in a real browser: Debian's Chromium, headless, driven by Playwright,
against the page (:mod:`rag.web`) served on localhost over a private copy of the corpus.

No browser is ever downloaded: Playwright launches ``/usr/bin/chromium`` (``.ci/run``
installs Debian's ``chromium``). Without it the browser tests are skipped, with the reason;
the API test (gradio_client) still runs. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import REPO_ROOT, copy_sqlite, free_port, private_settings

from rag import Pipeline, Settings
from rag.answer.readers.registry import OFFLINE_DEFAULT, READERS, Parts, load_reader, register_reader
from rag.lang import phrase
from rag.web import launch
from rag.web.accounts import EDITOR, READER, Access, Accounts
from rag.web.chatview import NO_SOURCES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO_ROOT / "test-artifacts"
NEW_START = "When was New START extended?"
FOLLOW_UP = "And when does it expire?"
TIMEOUT_MS = 20_000

MD_ARTICLE = """# L'exposition de l'aviation de Kazan

date 2022-05-12

L'exposition internationale de l'aviation s'est ouverte à Kazan le 12 mai 2022 en présence de
constructeurs venus de quinze pays.

Les visiteurs ont pu découvrir des hélicoptères de sauvetage et des drones agricoles, selon les
organisateurs, qui attendent plus de quarante mille personnes en quatre jours.
"""

HOSTILE_ARTICLE = """Le sommet <b>polaire</b> de Tromsø

date 2022-03-10

Le sommet polaire s'est tenu à Tromsø le 10 mars 2022 <script>window.__pwned = true</script> en présence des ministres des pays riverains de l'Arctique.

Les délégations y ont discuté <img src=x onerror="window.__pwned=true"> de la fonte de la banquise et de la sécurité des routes maritimes du Grand Nord, a rapporté l'agence.

Les participants se sont engagés à se revoir l'année suivante pour faire le point sur la protection de l'environnement arctique et la coopération scientifique.
"""

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def ui_pipeline(tmp_path_factory: pytest.TempPathFactory, settings: Settings, ingest_report,
                embedder) -> Iterator[Pipeline]:
    """A pipeline over a private copy of the corpus (uploads land there, not in corpus/),
    its index seeded with the session's embedding cache so nothing is embedded twice."""
    p = Pipeline.from_settings(private_settings(tmp_path_factory.mktemp("ui"), settings), embedder=embedder)
    yield p
    p.close()


@pytest.fixture(scope="session")
def app_url(ui_pipeline: Pipeline) -> Iterator[str]:
    """The page served on a free localhost port from a background thread."""
    port = free_port()
    app = launch("127.0.0.1", port, ui_pipeline, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """Debian's Chromium, headless, with a fresh profile; skipped when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} "
                    "(apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright "
                                   "package (pip install -e '.[test]')")
    playwright = sync_api.sync_playwright().start()
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
        args=CHROMIUM_ARGS, viewport={"width": 1440, "height": 900})
    yield context
    context.close()
    playwright.stop()


@pytest.fixture
def page(browser, app_url: str):
    """A fresh tab on the page; fails the test on any script error or outside request."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((app_url, "data:", "blob:")) else None)
    page.goto(app_url)
    page.wait_for_selector("#question textarea")
    yield page
    page.close()
    assert errors == [], f"script errors in the page: {errors}"
    assert outside == [], f"the page fetched from outside localhost: {outside}"


# --------------------------------------------------------------------------- helpers


def ask(page, question: str) -> dict[str, Any]:
    """Type ``question``, send it, wait until its answer is complete (its sources are in
    the panel, no longer marked as coming); returns the answer's text, its turn and the
    texts seen while streaming."""
    turn = page.locator(".sources .turn").count()
    page.evaluate("""() => {
        window.__seen = [];
        const chat = document.querySelector('#chat');
        window.__observer?.disconnect();
        window.__observer = new MutationObserver(() => {
          const bots = chat.querySelectorAll('[data-testid=bot]');
          if (bots.length) window.__seen.push(bots[bots.length - 1].innerText);
        });
        window.__observer.observe(chat, {subtree: true, childList: true, characterData: true});
    }""")
    page.fill("#question textarea", question)
    page.click("#send")
    page.wait_for_selector(f'.sources .turn.current[data-turn="{turn}"]:not([aria-busy])')
    bot = page.locator("#chat [data-testid=bot]").last
    return {"turn": turn, "text": bot.inner_text().strip(), "bot": bot,
            "seen": page.evaluate("window.__seen")}


def visible_within(page, inner: str, outer: str) -> bool:
    """True when element ``inner`` is at least partly inside ``outer``'s visible box."""
    return page.evaluate("""([inner, outer]) => {
        const a = document.querySelector(inner).getBoundingClientRect();
        const b = document.querySelector(outer).getBoundingClientRect();
        return a.height > 0 && a.bottom > b.top && a.top < b.bottom;
    }""", [inner, outer])


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def upload(page, path: Path) -> str:
    """Upload one file through the Corpus tab; returns the status shown once it is done."""
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.wait_for_function("""(name) => {
        const text = document.querySelector('#upload-status').innerText;
        return text.includes(name) && /(Added|Already in the corpus|Not added)/.test(text);
    }""", arg=path.name)
    return page.locator("#upload-status").inner_text()


# --------------------------------------------------------------------------- chat


def test_answer_streams_and_its_citation_opens_the_highlighted_passage(page, pipeline: Pipeline):
    expected = pipeline.ask(NEW_START).to_dict()
    citation = expected["citations"][0]

    answer = ask(page, NEW_START)

    assert answer["text"] == expected["answer"]
    grown = [t for t in dict.fromkeys(answer["seen"]) if t.strip()]
    assert len(grown) >= 3, f"the answer did not stream: {grown}"  # it grew step by step
    # the source card's short passage box is scrolled to the quote as soon as it shows
    page.wait_for_function("""() => { const q = document.querySelector('#src-0-1 blockquote.passage');
        const m = q.querySelector('mark').getBoundingClientRect(), b = q.getBoundingClientRect();
        return m.top >= b.top - 1 && m.top < b.bottom; }""")
    # [1] is a link; clicking it brings its source card forward and opens the article
    answer["bot"].locator("a.cite", has_text="[1]").click()
    card = page.locator(f"#src-{answer['turn']}-1")
    assert "active" in (card.get_attribute("class") or "")
    passage = card.locator("blockquote.passage")
    mark = passage.locator("mark")
    assert mark.count() == 1 and mark.inner_text() == citation["quote"]
    assert squash(passage.inner_text()) == squash(citation["passage"])
    assert visible_within(page, f"#src-{answer['turn']}-1 mark", ".sources")
    assert citation["title"] in card.locator(".title").inner_text()
    assert f"score {citation['score']:.2f}" in card.locator(".meta").inner_text()
    # the whole article, the passage highlighted and scrolled into view
    article = page.locator(f"#art-{answer['turn']}-1")
    assert article.is_visible()
    shown = page.locator(f"#passage-{answer['turn']}-1")
    assert squash(shown.inner_text()) == squash(citation["passage"])
    assert shown.locator("mark").inner_text() == citation["quote"]
    assert visible_within(page, f"#passage-{answer['turn']}-1 mark", ".viewer")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-answered.png"), full_page=True)
    # "Open article" does the same from the card
    page.evaluate("document.querySelector('.viewer').scrollTop = 0")
    page.evaluate("document.querySelectorAll('.viewer .article').forEach(a => a.hidden = true)")
    card.get_by_role("button", name="Open article").click()
    assert article.is_visible() and visible_within(page, f"#passage-{answer['turn']}-1 mark", ".viewer")


def test_follow_up_question_is_answered_about_new_start(page):
    first = ask(page, NEW_START)
    follow = ask(page, FOLLOW_UP)
    assert follow["turn"] == first["turn"] + 1
    cards = page.locator(".sources .turn.current .source")
    assert cards.count() >= 1
    # answered about New START's expiry: the history was carried over
    assert "new start" in cards.first.inner_text().lower()
    assert "expir" in cards.first.locator("mark").inner_text().lower()
    assert follow["bot"].locator("a.cite").count() >= 1
    # the first answer's [1] still opens the first answer's source
    page.locator("#chat [data-testid=bot]").first.locator("a.cite").first.click()
    assert page.locator(f'.sources .turn.current[data-turn="{first["turn"]}"]').count() == 1
    assert "active" in (page.locator(f"#src-{first['turn']}-1").get_attribute("class") or "")
    # clearing the chat starts a new conversation: no history, no sources
    page.locator("#chat").get_by_role("button", name="Clear").click()
    page.wait_for_selector(".sources .placeholder")
    assert page.locator(".sources .turn").count() == 0 and page.locator("#chat [data-testid=bot]").count() == 0


def test_an_example_question_is_asked_in_one_click(page):
    page.get_by_role("button", name="Quand a eu lieu le sommet de Genève ?").click()
    page.wait_for_selector('.sources .turn.current[data-turn="0"] .source')
    bot = page.locator("#chat [data-testid=bot]").last
    assert "Genève" in bot.inner_text() and bot.locator("a.cite").count() >= 1


def test_out_of_corpus_question_abstains_without_sources(page):
    answer = ask(page, "Who won the 2022 World Cup?")
    assert answer["text"] == phrase("en", "abstain")
    assert answer["bot"].locator("a.cite").count() == 0
    assert page.locator(".sources .turn.current .source").count() == 0
    assert page.locator(".sources .turn.current .no-sources").inner_text() == NO_SOURCES


def test_date_filter_applies_to_retrieval_and_bad_dates_are_refused_kindly(page):
    page.get_by_text("Filters").click()
    page.fill("#date-from textarea, #date-from input", "2021-13-45")
    page.fill("#question textarea", NEW_START)
    page.click("#send")
    page.get_by_text("is not a valid date").first.wait_for()
    assert page.locator("#chat [data-testid=bot]").count() == 0
    assert page.input_value("#question textarea") == NEW_START  # kept, to fix and resend
    page.fill("#date-from textarea, #date-from input", "2022-01-01")
    answer = ask(page, NEW_START)
    assert "5 février 2026" not in answer["text"]
    for meta in page.locator(".sources .turn.current .source .meta").all_inner_texts():
        assert "2022" in meta


def test_empty_and_huge_questions_get_friendly_messages(page):
    page.click("#send")
    page.get_by_text("The question is empty").first.wait_for()
    page.fill("#question textarea", "a " * 51_200)  # a 100 KB paste
    page.click("#send")
    page.get_by_text("the limit is 2,000").first.wait_for()
    assert page.locator("#chat [data-testid=bot]").count() == 0
    assert "Traceback" not in page.content()


# --------------------------------------------------------------------------- corpus


def test_uploaded_article_is_listed_and_answers_questions(page, tmp_path: Path):
    path = tmp_path / "expo-kazan.md"
    path.write_text(MD_ARTICLE, encoding="utf-8")
    status = upload(page, path)
    assert "Added: expo-kazan.md" in status
    table = page.locator("#corpus-table")
    table.get_by_text("L'exposition de l'aviation de Kazan").first.wait_for()
    assert "expo-kazan.md" in table.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "corpus-tab.png"), full_page=True)
    page.get_by_role("tab", name="Chat").click()
    page.get_by_text("Filters").click()  # the article filter lists it too
    page.locator("#article-filter").get_by_text("L'exposition de l'aviation de Kazan (2022-05-12)").wait_for()
    ask(page, "Quand s'est ouverte l'exposition internationale de l'aviation ?")
    card = page.locator(".sources .turn.current .source").first
    assert "expo-kazan.md" in card.locator(".meta").inner_text()
    assert "12 mai 2022" in card.locator("mark").inner_text()


def test_article_with_script_and_html_is_shown_as_text(page, tmp_path: Path):
    path = tmp_path / "sommet-polaire.txt"
    path.write_text(HOSTILE_ARTICLE, encoding="utf-8")
    assert "Added: sommet-polaire.txt" in upload(page, path)
    assert "<b>polaire</b>" in page.locator("#corpus-table").inner_text()
    page.get_by_role("tab", name="Chat").click()
    answer = ask(page, "Quand s'est tenu le sommet polaire de Tromsø ?")
    assert "<script>window.__pwned = true</script>" in answer["text"]
    answer["bot"].locator("a.cite").first.click()
    card = page.locator(".sources .turn.current .source.active")
    assert "<script>window.__pwned = true</script>" in card.locator("mark").inner_text()
    assert "<b>polaire</b>" in card.locator(".title").inner_text()
    viewer = page.locator(".viewer .article:not([hidden])")
    text = viewer.inner_text()
    assert '<img src=x onerror="window.__pwned=true">' in text and "<script>" in text
    assert page.locator(".viewer script, .sources script, #chat script, .viewer img, .sources img").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_broken_upload_gets_a_friendly_error(page, tmp_path: Path, ui_pipeline: Pipeline):
    path = tmp_path / "broken.txt"
    path.write_bytes(b"\x00\x01\x02\x03binary\xff\xfe" * 64)
    listed = len(ui_pipeline.library.articles())
    status = upload(page, path)
    assert "Not added" in status and "broken.txt" in status and "binary" in status
    assert "Traceback" not in page.content()
    assert "broken.txt" not in page.locator("#corpus-table").inner_text()
    assert len(ui_pipeline.library.articles()) == listed


def test_removing_an_article_asks_first_then_takes_it_out(page, tmp_path: Path, ui_pipeline: Pipeline):
    path = tmp_path / "note-a-retirer.md"
    path.write_text("# Une note à retirer\n\ndate 2022-06-01\n\nCette note sur la pêche au saumon dans la "
                    "Baltique sera retirée du corpus juste après son ajout, pour vérifier le retrait.\n",
                    encoding="utf-8")
    assert "Added: note-a-retirer.md" in upload(page, path)
    page.locator("#to-remove input").click()
    page.get_by_role("option", name=re.compile("Une note à retirer")).click()
    page.click("#remove")
    page.locator("#confirm").get_by_text("from the corpus?").wait_for()
    page.click("#confirm-yes")
    page.locator("#remove-status").get_by_text("Removed:").wait_for()
    page.wait_for_function("() => !document.querySelector('#corpus-table').innerText.includes('note-a-retirer.md')")
    assert all(d.source != "note-a-retirer.md" for d, _ in ui_pipeline.library.articles())
    assert not page.locator("#confirm").is_visible()


# --------------------------------------------------------------------------- API


def test_api_ask_returns_the_answer_json(app_url: str, answer_schema: dict[str, Any]):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(app_url, verbose=False)
    first = client.predict(NEW_START, [], api_name="/ask")
    jsonschema.validate(first, answer_schema)
    assert first["citations"] and "5 février 2026" in first["citations"][0]["quote"]
    follow = client.predict(FOLLOW_UP, [NEW_START], api_name="/ask")
    jsonschema.validate(follow, answer_schema)
    cited = follow["citations"][0]
    assert not follow["abstained"] and "new start" in cited["passage"].lower() and "expir" in cited["quote"].lower()
    with pytest.raises(AppError, match="question is empty"):
        client.predict("   ", [], api_name="/ask")
    json.dumps(first)  # plain JSON


def test_monitoring_page_is_not_served(app_url: str):
    """Gradio's /monitoring summary of every recent event is off (it needs no login)."""
    import urllib.error
    import urllib.request

    for path in ("monitoring", "monitoring/summary"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(app_url + path, timeout=30)
        assert info.value.code in (403, 404), path


# --------------------------------------------------------------------------- sign-in and roles


@pytest.fixture(scope="module")
def signin_url(ui_pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page with accounts: alice (editor) and bob (reader)."""
    accounts = Accounts.load(tmp_path_factory.mktemp("ui-users") / "users.toml")
    accounts.add("alice", EDITOR, "alice password")
    accounts.add("bob", READER, "bob password")
    port = free_port()
    app = launch("127.0.0.1", port, ui_pipeline, access=Access(accounts), prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def sign_in(page, name: str, password: str) -> None:
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def test_sign_in_then_each_role_sees_its_own_controls(browser, signin_url: str):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(signin_url)
        page.get_by_text("Sign in with the account the server's operator gave you.").wait_for()
        assert page.locator("#question").count() == 0  # nothing of the page before signing in
        sign_in(page, "bob", "not his password")
        page.get_by_text("Incorrect Credentials", exact=False).wait_for()
        sign_in(page, "bob", "bob password")
        page.wait_for_selector("#question textarea")
        page.locator("#signed-in-as").get_by_text("bob").wait_for()
        assert "(reader)" in page.locator("#signed-in-as").inner_text()
        assert "[1]" in ask(page, NEW_START)["text"]  # a reader asks and gets a cited answer
        page.get_by_role("tab", name="Corpus").click()
        page.locator("#corpus-note").get_by_text("signed in as a reader").wait_for()
        assert not page.locator("#upload").is_visible() and not page.locator("#remove").is_visible()
        assert not page.locator("#web-add").is_visible() and not page.locator("#web-urls").is_visible()
        page.locator("#corpus-table").get_by_text("Source file").wait_for()  # the articles are listed
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "corpus-reader.png"), full_page=True)
        page.click("#sign-out")
        sign_in(page, "alice", "alice password")
        page.locator("#signed-in-as").get_by_text("alice").wait_for()
        page.get_by_role("tab", name="Corpus").click()
        page.locator("#upload").wait_for(state="visible")
        assert page.locator("#remove").is_visible() and not page.locator("#corpus-note").is_visible()
        assert page.locator("#web-add").is_visible() and page.locator("#web-urls").is_visible()
        page.screenshot(path=str(ARTIFACTS / "corpus-editor.png"), full_page=True)
    finally:
        page.close()
    assert errors == [], f"script errors in the page: {errors}"


# --------------------------------------------------------------------------- hostile metadata

PWN = "<img src=x onerror=window.__pwned=1>"
HOSTILE_TITLE = f"Harbin {PWN} gel"
HOSTILE_OUTLET = "<script>window.__pwned=1</script>Glace Info"
HOSTILE_FILE = "harbin<svg onload=window.__pwned=1>.html"
HOSTILE_HTML = f"""<html><head>
<meta property="og:title" content="{HOSTILE_TITLE.replace('"', '&quot;')}">
<meta property="og:site_name" content="{HOSTILE_OUTLET}">
<meta property="article:published_time" content="2023-01-05">
</head><body><article>
<p>Le festival international de sculpture sur glace de Harbin s'est ouvert le 5 janvier 2023 dans le nord-est de la Chine, avec des palais de glace hauts de quarante mètres.</p>
<p>Les organisateurs attendent plus d'un million de visiteurs pendant les six semaines du festival, malgré un froid de moins trente degrés.</p>
</article></body></html>"""
HARBIN_QUESTION = "Quand s'est ouvert le festival de sculpture sur glace de Harbin ?"


@pytest.fixture(scope="session")
def hostile_url(tmp_path_factory: pytest.TempPathFactory, settings: Settings, ingest_report,
                embedder) -> Iterator[str]:
    """The page over a corpus copy holding an article whose title, outlet and file name are HTML."""
    private = private_settings(tmp_path_factory.mktemp("ui-hostile"), settings)
    (private.corpus_dir / HOSTILE_FILE).write_text(HOSTILE_HTML, encoding="utf-8")
    p = Pipeline.from_settings(private, embedder=embedder)
    assert p.document(HOSTILE_FILE).title == HOSTILE_TITLE
    port = free_port()
    app = launch("127.0.0.1", port, p, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()
    p.close()


def not_pwned(page) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined", "a title ran as HTML"
    assert page.locator("img[src=x], svg[onload], #chat script, .sources script, .viewer script").count() == 0


def test_hostile_titles_outlets_and_file_names_are_shown_as_text(browser, hostile_url: str, tmp_path: Path):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(hostile_url)
    page.wait_for_selector("#question textarea")
    # article choices: the filter's checkboxes and the removal list
    page.get_by_text("Filters").click()
    page.locator("#article-filter").get_by_text(f"{HOSTILE_TITLE} (2023-01-05)").wait_for()
    not_pwned(page)
    # the chat answer, its source card and the article viewer
    answer = ask(page, HARBIN_QUESTION)
    assert answer["bot"].locator("a.cite").count() > 0, answer["text"]
    assert answer["bot"].locator("a.cite").first.get_attribute("title") == f"Source 1: {HOSTILE_TITLE}"
    answer["bot"].locator("a.cite").first.click()
    card = page.locator(".sources .turn.current .source.active")
    assert card.locator(".title").inner_text() == HOSTILE_TITLE
    meta = card.locator(".meta").inner_text()
    assert HOSTILE_OUTLET in meta and HOSTILE_FILE in meta
    viewer = page.locator(".viewer .article:not([hidden])")
    assert viewer.locator(".title").inner_text() == HOSTILE_TITLE and HOSTILE_OUTLET in viewer.inner_text()
    not_pwned(page)
    # the corpus table and the removal list
    page.get_by_role("tab", name="Corpus").click()
    table = page.locator("#corpus-table")
    page.wait_for_function("() => document.querySelector('#corpus-table').innerText.includes('Harbin')")
    shown = table.inner_text()
    assert HOSTILE_TITLE in shown and HOSTILE_OUTLET in shown and HOSTILE_FILE in shown
    page.locator("#to-remove input").click()
    page.get_by_role("option", name=f"{HOSTILE_TITLE} (2023-01-05)").wait_for()
    page.keyboard.press("Escape")
    not_pwned(page)
    # the upload status: a hostile file name and title
    path = tmp_path / "x<img src=x onerror=window.__pwned=1>.html"
    path.write_text(HOSTILE_HTML.replace("Harbin", "Sapporo"), encoding="utf-8")
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.wait_for_function("() => /(Added|Not added)/.test(document.querySelector('#upload-status').innerText)")
    status = page.locator("#upload-status").inner_text()
    # gradio drops "<" and ">" from an uploaded file's name; _safe_name replaces "="
    assert re.search(r"Added: x_?img src_x onerror_window\.__pwned_1_?\.html", status), status
    page.wait_for_function("() => document.querySelector('#corpus-table').innerText.includes('Sapporo')")
    not_pwned(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-titles.png"), full_page=True)
    page.close()
    assert errors == [], f"script errors in the page: {errors}"


# --------------------------------------------------------------------------- a busy model


class HeldReader:
    """A stand-in for a language-model reader, registered as a plug-in the way a real one
    is (``RAG_READER=held``): it ``streams``, so the page admits it one question at a
    time, and it answers as the learned reader does, but only once the test lets it go —
    so "the model is still writing" lasts exactly as long as the test needs."""

    name = "held"
    streams = True

    def __init__(self, inner) -> None:
        self.inner = inner
        self.started = threading.Event()
        self.release = threading.Event()

    def answer(self, query, passages, trace=None):
        self.started.set()
        self.release.wait(120)
        yield from self.inner.answer(query, passages, trace)


@pytest.fixture(scope="module")  # the plug-in is unregistered before the other modules run
def held(tmp_path_factory: pytest.TempPathFactory, settings: Settings, ingest_report,
         embedder) -> Iterator[tuple[str, HeldReader]]:
    """The page with the held reader configured and no queue behind it (generative_queue=0)."""
    made: list[HeldReader] = []

    def factory(argument: str, parts: Parts) -> HeldReader:
        made.append(HeldReader(load_reader(OFFLINE_DEFAULT, parts)))
        return made[-1]

    register_reader("held", factory)
    root = tmp_path_factory.mktemp("ui-held")
    copy_sqlite(settings.index_dir / "embeddings.sqlite", root / "index" / "embeddings.sqlite")
    p = Pipeline.from_settings(settings.replace(index_dir=root / "index", reader="held", generative_queue=0),
                               embedder=embedder)
    port = free_port()
    app = launch("127.0.0.1", port, p, prevent_thread_lock=True, quiet=True)
    try:
        assert p.reader.name == "held" and len(made) == 1
        yield f"http://127.0.0.1:{port}/", made[0]
    finally:
        made[0].release.set()
        app.close()
        p.close()
        READERS.pop("held")


def test_a_busy_model_warns_the_next_user_at_once_and_the_learned_reader_still_answers(browser, held):
    url, reader = held
    first, second = browser.new_page(), browser.new_page()
    errors: list[str] = []
    for tab in (first, second):
        tab.set_default_timeout(TIMEOUT_MS)
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(url)
        tab.wait_for_selector("#question textarea")
    try:
        first.fill("#question textarea", NEW_START)
        first.click("#send")
        assert reader.started.wait(TIMEOUT_MS / 1000), "the first question never reached the reader"
        # a second user, while the model is still writing the first answer: told at once
        second.fill("#question textarea", "Quand a eu lieu le sommet de Genève ?")
        second.click("#send")
        second.get_by_text("The held reader is busy: it answers one question at a time. Please").first.wait_for()
        assert "try again" in second.locator(".toast-body").first.inner_text()
        assert second.locator("#chat [data-testid=bot]").count() == 0
        assert second.input_value("#question textarea") == "Quand a eu lieu le sommet de Genève ?"  # kept
        ARTIFACTS.mkdir(exist_ok=True)
        second.screenshot(path=str(ARTIFACTS / "busy-model.png"), full_page=True)
        # as the warning says: the learned reader answers at once, the model still busy
        second.get_by_role("button", name=re.compile(r"^Settings")).click()
        second.locator("#reader input").click()
        second.get_by_role("option", name="learned").click()
        answer = ask(second, "Quand a eu lieu le sommet de Genève ?")
        assert "16 juin" in answer["text"] and answer["bot"].locator("a.cite").count() >= 1
        assert not reader.release.is_set() and first.locator(".sources .turn.current").count() == 0
        # the model lets go: the first user's answer arrives, cited
        reader.release.set()
        first.wait_for_selector('.sources .turn.current[data-turn="0"] .source')
        assert "5 février 2026" in first.locator("#chat [data-testid=bot]").last.inner_text()
    finally:
        reader.release.set()
        first.close()
        second.close()
    assert errors == [], f"script errors in the page: {errors}"
