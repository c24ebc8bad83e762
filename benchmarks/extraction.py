"""HTML article extraction: BeautifulSoup and newsrag's cleaning (how ``.html`` corpus files
were read) against trafilatura (how ``rag add`` reads fetched pages), with and without the
cleaning after it, on pages whose article is known.

The pages:

* **the tests' inputs**: every ``.html`` article the tests index, reproduced here as the
  tests write them (the metadata test's page and its ``<h1>`` variant, the hostile title
  and outlet pages, the uploaded Arctic page, the tiny fragments);
* **the shipped articles on news sites**: each of the five articles of ``corpus/`` (its
  cleaned text, :func:`rag.ingest.corpus.load_document`) inside five page layouts with
  real sites' furniture: the tests' news site (``tests/sources/conftest.py``), an
  ``<article>`` page with a sticky menu, a cookie banner, share buttons, a newsletter box,
  "read also" links and comments; a page of ``<div>`` s only (no ``<article>`` nor
  ``<main>``, its date written in the byline); a live-blog list of timed posts (its
  metadata in JSON-LD only); a page with a photo, its caption and credit, "Lire aussi"
  links between the paragraphs and a tag list.

Each extractor is scored per page: token precision, recall and F1 of its text against the
article's (words, case-folded, counted with their repeats), how many of the page's
furniture phrases (menu, banner, links, footer…: none of them in the article) it kept,
and whether it read the title, date, outlet and author the page states (pages that do
not state one are not counted for it). Time: the best of ``--repeat`` runs, per page,
after one untimed pass of each extractor over all pages (its imports and set-ups).

    python -m benchmarks.extraction --out benchmarks/results/extraction.json
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.news_pages import REYKJAVIK_ARTICLE, REYKJAVIK_HTML, STORY_FURNITURE, STORY_OUTLET, story_page
from rag.errors import CorpusError
from rag.ingest.cleaning import clean_article
from rag.ingest.corpus import load_document, parse_document
from rag.ingest.webpage import read_page
from rag.lang.dates import parse_date

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "extraction.json"


@dataclass(frozen=True)
class Page:
    """A test page: its HTML, the article's text, the metadata it states (None: it does
    not state it) and its furniture (phrases that are not the article's)."""

    name: str
    group: str
    html: str
    text: str
    title: str | None = None
    date: str | None = None
    outlet: str | None = None
    author: str | None = None
    furniture: tuple[str, ...] = ()


@dataclass
class Read:
    """What an extractor read from a page ("" when it found no text)."""

    text: str = ""
    title: str | None = None
    date: str | None = None
    outlet: str | None = None
    author: str | None = None
    error: str | None = None


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    leaked: list[str] = field(default_factory=list)
    meta: dict[str, bool | None] = field(default_factory=dict)
    ms: float = 0.0
    empty: bool = False


# --------------------------------------------------------------------------- the tests' inputs

_TEST_ARTICLE, _CORPUS_TEST_HTML = REYKJAVIK_ARTICLE, REYKJAVIK_HTML  # tests/ingest/test_corpus.py's
_HARBIN = ("Le festival de sculpture sur glace de Harbin s'est ouvert le 5 janvier 2023 dans le nord-est de la "
           "Chine, avec des palais de glace.")
_HARBIN_UI = [("Le festival international de sculpture sur glace de Harbin s'est ouvert le 5 janvier 2023 dans le "
               "nord-est de la Chine, avec des palais de glace hauts de quarante mètres."),
              ("Les organisateurs attendent plus d'un million de visiteurs pendant les six semaines du festival, "
               "malgré un froid de moins trente degrés.")]
_UI_TITLE = "Harbin <img src=x onerror=window.__pwned=1> gel"
_UI_OUTLET = "<script>window.__pwned=1</script>Glace Info"
_ARCTIC = ("Le sommet de l'Arctique s'est tenu à Reykjavik le 3 mars 2022. Les ministres y ont parlé de la fonte "
           "des glaces et des routes maritimes du Grand Nord.")


def test_pages() -> list[Page]:
    """The ``.html`` articles of the tests, as they write them."""
    secrets = ("SECRETSTYLE", "SECRETSCRIPT", "SECRETNAV", "SECRETINLINE", "SECRETFOOTER", "dataLayer",
               "font-family", "tous droits réservés")
    second = "Selon le texte, un observatoire commun des glaces ouvrira ses portes en 2025 à Tromsø."
    text = f"Un titre h1 différent\n\n{_TEST_ARTICLE}\n\n{second}"
    return [
        Page("metadata page (test_corpus)", "tests' inputs", _CORPUS_TEST_HTML, text,
             "Sommet arctique à Reykjavik", "2023-03-03", "Le Monde", None, secrets),
        Page("page.htm without og:title (test_corpus)", "tests' inputs",
             _CORPUS_TEST_HTML.replace('<meta property="og:title" content="Sommet arctique à Reykjavik">', ""),
             text, "Un titre h1 différent", "2023-03-03", "Le Monde", None, secrets),
        # tests/integration/test_hostile_inputs.py's HOSTILE_TITLE_HTML
        Page("hostile title (test_hostile_inputs)", "tests' inputs",
             '<html><head><meta property="og:title" content="&lt;img src=x onerror=alert(1)&gt; Titre">\n'
             '<meta property="og:site_name" content="<script>alert(1)</script>"></head><body><article>\n'
             f"<p>{_HARBIN}</p>\n</article></body></html>",
             _HARBIN, "<img src=x onerror=alert(1)> Titre", None, "<script>alert(1)</script>"),
        # tests/web/test_ui_browser.py's HOSTILE_HTML
        Page("hostile title and outlet (test_ui_browser)", "tests' inputs",
             f'<html><head>\n<meta property="og:title" content="{_UI_TITLE.replace(chr(34), "&quot;")}">\n'
             f'<meta property="og:site_name" content="{_UI_OUTLET}">\n'
             '<meta property="article:published_time" content="2023-01-05">\n</head><body><article>\n'
             + "".join(f"<p>{p}</p>\n" for p in _HARBIN_UI) + "</article></body></html>",
             "\n\n".join(_HARBIN_UI), _UI_TITLE, "2023-01-05", _UI_OUTLET),
        # tests/web/test_chat_api.py's upload
        Page("uploaded page (test_chat_api)", "tests' inputs",
             "<html><head><title>Sommet de l'Arctique</title></head><body><article>"
             f"<h1>Sommet de l'Arctique</h1><p>{_ARCTIC}</p><script>alert('x')</script></article></body></html>",
             f"Sommet de l'Arctique\n\n{_ARCTIC}", "Sommet de l'Arctique", furniture=("alert",)),
        # tests/sources/test_fetch.py's smallest page, and test_linear_time.py's nested fragment
        Page("one-paragraph page (test_fetch)", "tests' inputs", "<html><body><p>Le texte.</p></body></html>",
             "Le texte."),
        Page("nested fragment (test_linear_time)", "tests' inputs",
             "<article><blockquote>q <blockquote>r</blockquote></blockquote>"
             "<ul><li>a <h3>b</h3></li><li><p>c</p></li></ul></article>", "q r\n\na b\n\nc"),
    ]


# --------------------------------------------------------------------------- the shipped articles on news sites

#: file -> (headline, publication day, author). Two shipped articles have no headline line
#: (their title is cut from the lede): the pages give them one.
ARTICLES: dict[str, tuple[str | None, str, str]] = {
    "peskov-dialogue-new-start.txt": ("Peskov : un dialogue « intense » avec Washington malgré des désaccords",
                                      "2021-01-31", "Marie Dupont"),
    "appel-poutine-biden-ukraine.txt": ("Poutine et Biden parlent de l'Ukraine au téléphone", "2021-04-13",
                                        "Jean Martin"),
    "rt-premier-appel-poutine-biden.txt": (None, "2021-01-26", "Claire Petit"),
    "sputnik-kremlin-avantage-biden.txt": (None, "2022-02-14", "Paul Bernard"),
    "poutine-interagir-constructive.txt": (None, "2021-12-30", "Sophie Leroy"),
}
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
RELATED = ("Sommet de Genève : ce qu'il faut retenir de la rencontre",
           "Les nouvelles sanctions américaines expliquées en cinq points",
           "L'OTAN et la Russie : chronologie d'une relation tendue",
           "Gaz : l'Europe cherche d'autres fournisseurs avant l'hiver")
POPULAR = ("Retraites : ce qui change au 1er janvier pour les indépendants",
           "Ligue 1 : le PSG s'impose dans le choc face à Marseille",
           "Météo : un épisode de froid intense attendu ce week-end")
COMMENTS = ("Excellent article, merci pour ces précisions.", "On attend surtout des actes, pas des mots.")


@dataclass(frozen=True)
class Story:
    """A shipped article as the pages present it."""

    file: str
    headline: str
    paragraphs: list[str]  # the body, after the headline
    day: str
    author: str

    @property
    def text(self) -> str:
        return "\n\n".join([self.headline, *self.paragraphs])

    @property
    def written_day(self) -> str:
        y, m, d = self.day.split("-")
        return f"{int(d)} {MONTHS[int(m) - 1]} {y}"


def stories() -> list[Story]:
    out = []
    for file, (headline, day, author) in ARTICLES.items():
        doc = load_document(ROOT / "corpus" / file, file)
        paragraphs = doc.text.split("\n\n")
        if headline is None:
            headline, paragraphs = paragraphs[0], paragraphs[1:]
        out.append(Story(file, headline, paragraphs, day, author))
    return out


def _ps(paragraphs: Sequence[str]) -> str:
    return "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def _links(titles: Sequence[str], slug: str = "/articles/") -> str:
    return "".join(f'<li><a href="{slug}{n}">{html.escape(t)}</a></li>' for n, t in enumerate(titles))


def tests_site(s: Story) -> tuple[str, str, tuple[str, ...]]:
    """The tests' news site's page (:func:`benchmarks.news_pages.story_page`): its menu,
    cookie banner, byline, share links, "À lire aussi" and footer."""
    page = story_page(s.headline, s.paragraphs, s.day, s.author,
                      f"https://test-quotidien.example/articles/{s.file[:-4]}")
    return STORY_OUTLET, page, STORY_FURNITURE


def article_site(s: Story) -> tuple[str, str, tuple[str, ...]]:
    """An ``<article>`` page: a sticky menu with a search box, a consent banner, breadcrumbs,
    a byline with a ``<time>``, share buttons, a newsletter box, "read also" links, the most
    read, comments, a footer of links."""
    outlet, e = "Le Quotidien du Matin", html.escape
    half = len(s.paragraphs) // 2
    page = f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{e(s.headline)} - {outlet}</title>
<meta name="description" content="{e(s.paragraphs[0][:150])}">
<meta property="og:type" content="article"><meta property="og:site_name" content="{outlet}">
<meta property="og:title" content="{e(s.headline)}">
<meta property="og:url" content="https://www.quotidien-matin.example/international/{s.file[:-4]}">
<meta property="article:published_time" content="{s.day}T07:45:00+01:00">
<meta property="article:author" content="{e(s.author)}">
<link rel="canonical" href="https://www.quotidien-matin.example/international/{s.file[:-4]}">
<link rel="stylesheet" href="/static/main.css"><script async src="https://tags.example/gtm.js"></script>
</head><body class="article-page">
<div class="top-bar"><a href="/abonnement" class="btn">S'abonner dès 1 € le premier mois</a>
<a href="/connexion">Se connecter</a></div>
<header><a href="/" class="logo"><img src="/logo.svg" alt="{outlet}"></a>
<nav aria-label="Rubriques"><ul><li><a href="/">À la une</a></li><li><a href="/international">International</a></li>
<li><a href="/politique">Politique</a></li><li><a href="/economie">Économie</a></li><li><a href="/planete">Planète</a></li>
<li><a href="/idees">Idées</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<form role="search"><input type="search" placeholder="Rechercher un article"><button>OK</button></form></header>
<div class="cmp-banner" role="dialog"><h2>Le respect de votre vie privée est notre priorité</h2>
<p>Avec nos partenaires, nous utilisons des cookies ou technologies similaires pour stocker et accéder à des
informations personnelles comme votre visite sur ce site. Vous pouvez retirer votre consentement à tout moment.</p>
<button>Accepter et fermer</button><button>Continuer sans accepter</button></div>
<main>
<ol class="breadcrumb"><li><a href="/">Accueil</a></li><li><a href="/international">International</a></li>
<li>Russie</li></ol>
<article class="article">
<header class="article__header"><h1 class="article__title">{e(s.headline)}</h1>
<p class="article__byline">Par <a href="/signataires/x" rel="author">{e(s.author)}</a>
<time datetime="{s.day}T07:45:00+01:00">Publié le {s.written_day} à 07h45</time></p>
<ul class="share"><li><a href="#">Partager sur Facebook</a></li><li><a href="#">Partager sur X</a></li>
<li><a href="#">Envoyer par e-mail</a></li><li><button>Offrir cet article</button></li></ul></header>
<div class="article__content">
{_ps(s.paragraphs[:half])}
<div class="newsletter-box"><p class="title">La newsletter International</p>
<p>Recevez chaque matin l'essentiel de l'actualité internationale.</p>
<form><input type="email" placeholder="Votre adresse e-mail"><button>Je m'inscris</button></form></div>
{_ps(s.paragraphs[half:])}
</div>
<section class="read-also"><h2>Lire aussi</h2><ul>{_links(RELATED)}</ul></section>
</article>
<aside class="most-read"><h2>Les plus lus</h2><ol>{_links(POPULAR, "/populaire/")}</ol></aside>
<section id="comments"><h2>Commentaires (2)</h2>
<div class="comment"><p class="who">Lecteur75 — il y a 2 heures</p><p>{COMMENTS[0]}</p></div>
<div class="comment"><p class="who">jdupuis — il y a 3 heures</p><p>{COMMENTS[1]}</p></div>
<p>Vous devez être abonné pour réagir. <a href="/abonnement">Je m'abonne</a></p></section>
</main>
<footer><ul><li><a href="/contact">Nous contacter</a></li><li><a href="/cgv">Conditions générales de vente</a></li>
<li><a href="/confidentialite">Politique de confidentialité</a></li><li><a href="/cookies">Gestion des cookies</a></li></ul>
<p>© {outlet} 2024 - Reproduction interdite de tous les articles sans autorisation.</p></footer>
<script>window.__INITIAL_STATE__ = {{"article": "{s.file}", "paywall": false}};</script>
</body></html>"""
    furniture = ("S'abonner dès 1 €", "Se connecter", "À la une", "Planète", "Rechercher un article",
                 "Le respect de votre vie privée", "nous utilisons des cookies", "Continuer sans accepter",
                 "Partager sur Facebook", "Offrir cet article", "La newsletter International",
                 "Recevez chaque matin", "Je m'inscris", *RELATED, "Les plus lus", *POPULAR, "Commentaires (2)",
                 *COMMENTS, "Vous devez être abonné", "Nous contacter", "Conditions générales de vente",
                 "Reproduction interdite", "__INITIAL_STATE__")
    return outlet, page, furniture


def div_site(s: Story) -> tuple[str, str, tuple[str, ...]]:
    """An older site's page of ``<div>`` s only: no ``<article>``, ``<main>``, ``<nav>`` nor
    ``<footer>``; no metadata tags; the date only in the byline's words, the outlet only in
    the ``<title>`` and the copyright line."""
    outlet, e = "La Gazette du Nord", html.escape
    page = f"""<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{e(s.headline)} - {outlet}</title>
<script type="text/javascript">var _gaq = _gaq || []; _gaq.push(['_trackPageview']);</script></head>
<body><div id="wrapper">
<div id="top"><div class="logo"><a href="/">{outlet}</a></div>
<div class="menu"><ul><li><a href="/">Accueil</a></li><li><a href="/region">Région</a></li><li><a href="/france">France</a></li>
<li><a href="/monde">Monde</a></li><li><a href="/faits-divers">Faits divers</a></li><li><a href="/annonces">Petites annonces</a></li>
<li><a href="/necrologie">Avis de décès</a></li></ul></div></div>
<div id="cookie-law"><div>Ce site utilise des cookies pour améliorer votre expérience de navigation.
<a href="/cookies">En savoir plus</a> <a href="#" class="ok">J'ai compris</a></div></div>
<div id="content"><div class="col-left">
<div class="ariane"><a href="/">Accueil</a> &gt; <a href="/monde">Monde</a> &gt; Russie</div>
<div class="titre"><h1>{e(s.headline)}</h1></div>
<div class="infos">Publié le {s.written_day} à 09h30 | Mis à jour le {s.written_day} à 18h12 | Par {e(s.author)}</div>
<div class="partage"><a href="#">Facebook</a> | <a href="#">Twitter</a> | <a href="#">Imprimer</a> | <a href="#">Envoyer à un ami</a></div>
<div class="texte">
{"".join(f"<div class='para'>{html.escape(p)}</div><br>" for p in s.paragraphs)}
</div>
<div class="boxlire"><b>À lire aussi :</b><br>{"<br>".join(f'<a href="/a/{n}">{html.escape(t)}</a>' for n, t in enumerate(RELATED))}</div>
<div class="reactions"><div class="titre-bloc">Réactions des lecteurs (2)</div>
<div class="reac"><span class="pseudo">Lecteur75</span> le {s.written_day} : {COMMENTS[0]}</div>
<div class="reac"><span class="pseudo">jdupuis</span> le {s.written_day} : {COMMENTS[1]}</div>
<div class="reagir"><a href="/reagir">Réagir à cet article</a></div></div>
</div>
<div class="col-right"><div class="bloc"><div class="titre-bloc">Les plus lus</div>
{"".join(f'<div class="item"><a href="/p/{n}">{html.escape(t)}</a></div>' for n, t in enumerate(POPULAR))}</div>
<div class="bloc pub">Publicité</div>
<div class="bloc"><div class="titre-bloc">Newsletter</div>Recevez gratuitement toute l'actualité de votre région
<input type="text" value="Votre e-mail"></div></div></div>
<div id="bas"><a href="/contact">Contact</a> - <a href="/mentions">Mentions légales</a> - <a href="/plan">Plan du site</a>
<br>© 2024 {outlet} - Tous droits réservés</div>
</div></body></html>"""
    furniture = ("Accueil", "Faits divers", "Petites annonces", "Avis de décès", "Ce site utilise des cookies",
                 "J'ai compris", "Mis à jour le", "Imprimer", "Envoyer à un ami", "À lire aussi", *RELATED,
                 "Réactions des lecteurs", *COMMENTS, "Réagir à cet article", "Les plus lus", *POPULAR, "Publicité",
                 "Recevez gratuitement", "Plan du site", "Tous droits réservés", "_gaq")
    return outlet, page, furniture


def live_site(s: Story) -> tuple[str, str, tuple[str, ...]]:
    """A live blog: the article's paragraphs as timed posts of a list, newest first (the
    reading order is the article's: posts are listed in order here), a "key points" box,
    metadata in JSON-LD only (and ``og:title``)."""
    outlet, e = "Info Continue", html.escape
    ld = json.dumps({"@context": "https://schema.org", "@type": "LiveBlogPosting", "headline": s.headline,
                     "datePublished": f"{s.day}T06:00:00+01:00", "dateModified": f"{s.day}T21:40:00+01:00",
                     "author": {"@type": "Person", "name": s.author},
                     "publisher": {"@type": "Organization", "name": outlet,
                                   "logo": {"@type": "ImageObject", "url": "https://info-continue.example/logo.png"}},
                     "mainEntityOfPage": f"https://info-continue.example/direct/{s.file[:-4]}"}, ensure_ascii=False)
    times = [f"{21 - n // 2:02d}:{(n * 17) % 60:02d}" for n in range(len(s.paragraphs))]
    posts = "\n".join(f'<li class="post"><div class="post__time"><time>{t}</time></div>'
                      f'<div class="post__body"><p>{html.escape(p)}</p></div>'
                      f'<div class="post__share"><a href="#">Partager ce post</a></div></li>'
                      for t, p in zip(times, s.paragraphs))
    page = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>DIRECT. {e(s.headline)}</title><meta property="og:title" content="{e(s.headline)}">
<script type="application/ld+json">{ld}</script></head><body>
<header class="hd"><a class="logo" href="/">{outlet}</a><nav><a href="/direct">Les directs</a> <a href="/video">Vidéos</a>
<a href="/podcasts">Podcasts</a> <a href="/meteo">Météo</a></nav></header>
<div class="consent"><p>Nous et nos partenaires stockons et accédons à des informations sur votre appareil, comme les
cookies. <button>Accepter</button> <button>Refuser</button> <a href="#">Personnaliser</a></p></div>
<div class="live-header"><span class="badge">EN DIRECT</span><h1>{e(s.headline)}</h1>
<p class="live-meta">Suivez notre direct - par {e(s.author)}</p></div>
<div class="key-points"><h2>Ce qu'il faut savoir</h2><ul><li>Le direct est mis à jour en continu.</li>
<li>Activez les notifications pour ne rien manquer.</li></ul></div>
<div class="live-feed"><ol class="posts">
{posts}
</ol><button class="more">Charger plus de posts</button></div>
<div class="related"><h3>Sur le même sujet</h3><ul>{_links(RELATED[:2])}</ul></div>
<footer><p>{outlet} · Tous droits réservés · <a href="/aide">Aide</a> · <a href="/cookies">Paramètres des cookies</a></p></footer>
</body></html>"""
    furniture = ("Les directs", "Podcasts", "Météo", "Nous et nos partenaires", "Personnaliser", "EN DIRECT",
                 "Suivez notre direct", "Ce qu'il faut savoir", "mis à jour en continu", "Activez les notifications",
                 "Partager ce post", "Charger plus de posts", "Sur le même sujet", *RELATED[:2],
                 "Tous droits réservés", "Paramètres des cookies")
    return outlet, page, furniture


def photo_site(s: Story) -> tuple[str, str, tuple[str, ...]]:
    """A page with a lead photo, its caption and credit, "Lire aussi" links between the
    paragraphs, a tag list and a "did you like it" box; metadata in ``<meta name=date>``
    and ``og:site_name``."""
    outlet, e = "Le Journal de la Semaine", html.escape
    body = list(s.paragraphs)
    inserts = [f'<p class="read-also"><strong>Lire aussi :</strong> <a href="/a/{n}">{html.escape(t)}</a></p>'
               for n, t in enumerate(RELATED[:2])]
    chunks = [_ps(body[:2]), inserts[0], _ps(body[2:5]), inserts[1], _ps(body[5:])]
    page = f"""<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">
<title>{e(s.headline)}</title>
<meta name="date" content="{s.day}"><meta property="og:site_name" content="{outlet}">
<meta name="author" content="{e(s.author)}">
</head><body>
<div class="header"><a href="/">{outlet}</a> <span class="tagline">L'info qui compte, chaque semaine</span>
<ul class="nav"><li><a href="/">Actualité</a></li><li><a href="/monde">Monde</a></li><li><a href="/societe">Société</a></li>
<li><a href="/magazine">Le magazine</a></li><li><a href="/kiosque">Kiosque</a></li></ul></div>
<div class="gdpr">En cliquant sur « Accepter », vous consentez au dépôt de cookies publicitaires.
<a href="#">Accepter</a> <a href="#">Refuser</a></div>
<article><h1>{e(s.headline)}</h1>
<div class="signature">{e(s.author)}, le {s.written_day}</div>
<figure><img src="/img/kremlin.jpg" alt="Le Kremlin"><figcaption>Vue du Kremlin depuis le pont Bolchoï Moskvoretski.
<span class="credit">© Kirill Kudryavtsev / AFP</span></figcaption></figure>
{"".join(chunks)}
<div class="tags">Mots-clés : <a href="/t/1">Kremlin</a> <a href="/t/2">diplomatie</a> <a href="/t/3">Washington</a></div>
<div class="like-box">Vous avez aimé cet article ? Soutenez une presse indépendante. <a href="/don">Faire un don</a></div>
</article>
<div class="footer">{outlet} © 2024 · <a href="/qui">Qui sommes-nous ?</a> · <a href="/pub">Publicité</a>
· <a href="/rgpd">Données personnelles</a></div>
</body></html>"""
    furniture = ("L'info qui compte", "Actualité", "Le magazine", "Kiosque", "vous consentez au dépôt de cookies",
                 "Refuser", "Vue du Kremlin", "Kudryavtsev", "Lire aussi", *RELATED[:2], "Mots-clés",
                 "Vous avez aimé cet article", "Faire un don", "Qui sommes-nous", "Données personnelles")
    return outlet, page, furniture


LAYOUTS: dict[str, Callable[[Story], tuple[str, str, tuple[str, ...]]]] = {
    "tests' news site": tests_site, "<article> page": article_site, "<div> soup": div_site,
    "live blog": live_site, "photo + captions": photo_site,
}


def site_pages() -> list[Page]:
    pages = []
    for layout, make in LAYOUTS.items():
        for s in stories():
            outlet, page, furniture = make(s)
            pages.append(Page(f"{layout}: {s.file}", layout, page, s.text, s.headline, s.day, outlet, s.author,
                              furniture=furniture))
    return pages


def all_pages() -> list[Page]:
    pages = test_pages() + site_pages()
    for p in pages:  # furniture is never the article's
        inside = [f for f in p.furniture if f in p.text]
        assert not inside, (p.name, inside)
    return pages


# --------------------------------------------------------------------------- the extractors

def html_to_text(html: str) -> tuple[str, dict[str, str | None]]:
    """Article text and metadata from an HTML page, through a real parser (newsrag's
    ``rag.ingest.corpus.html_to_text`` until trafilatura replaced it, as it was)."""
    from bs4 import BeautifulSoup, Tag

    soup = BeautifulSoup(html, "html.parser")

    # One pass over the <meta> tags (a find() per name was a pass over the page each).
    metas: dict[tuple[str, str], str] = {}
    for tag in soup.find_all("meta"):
        for key in ("property", "name"):
            name = tag.get(key)
            if isinstance(name, str) and tag.get("content"):
                metas.setdefault((name, key), str(tag["content"]).strip())

    def meta(*names: str) -> str | None:
        for name in names:
            found = metas.get((name, "property")) or metas.get((name, "name"))
            if found:
                return found
        return None

    title = meta("og:title", "twitter:title")
    h1 = soup.find("h1")
    if not title and h1:
        title = h1.get_text(" ", strip=True)
    if not title and soup.title:
        title = soup.title.get_text(" ", strip=True)
    date = meta("article:published_time", "date", "pubdate", "dc.date")
    time_tag = soup.find("time", attrs={"datetime": True})
    if not date and isinstance(time_tag, Tag):
        date = str(time_tag["datetime"])
    outlet = meta("og:site_name")
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form",
                     "iframe", "svg", "button", "template"]):
        tag.decompose()
    body = soup.find("article") or soup.find("main") or soup.body or soup
    lines = [b.get_text(" ", strip=True) for b in _text_blocks(body)]
    text = "\n\n".join(ln for ln in lines if ln) or body.get_text("\n", strip=True)
    return text, {"title": title, "date": parse_date(date) if date else None, "outlet": outlet}


_BLOCKS = ("h1", "h2", "h3", "h4", "p", "li", "blockquote")


def _text_blocks(body: Any) -> list[Any]:
    """The blocks whose text is the article's: each heading, paragraph, list item or
    quote holding no paragraph or list item of its own, and not inside one already kept
    (its text is in that one's).

    Linear in the page: asking each block ``find(["p", "li"])`` and taking the text of
    nested blocks again was quadratic (benchmarks/README.md#cleaning-in-linear-time).
    Here each element's nearest enclosing block is looked up
    once (memoised), and the marks climb only until they meet a block already marked.
    """
    blocks = body.find_all(_BLOCKS)
    ids = {id(b) for b in blocks}
    enclosing: dict[int, Any] = {}  # id(element) -> its nearest block ancestor (None: none)

    def nearest_block(element: Any) -> Any:
        climbed = []
        parent = element.parent
        found = None
        while parent is not None and parent is not body.parent:
            if id(parent) in ids:
                found = parent
                break
            if id(parent) in enclosing:
                found = enclosing[id(parent)]
                break
            climbed.append(parent)
            parent = parent.parent
        for e in climbed:
            enclosing[id(e)] = found
        return found

    holds_paragraph: set[int] = set()  # blocks with a <p> or <li> inside
    for b in blocks:
        if b.name in ("p", "li"):
            up = nearest_block(b)
            while up is not None and id(up) not in holds_paragraph:
                holds_paragraph.add(id(up))
                up = nearest_block(up)
    kept: list[Any] = []
    covered: set[int] = set()  # blocks kept, or inside one kept
    for b in blocks:  # document order: a block comes before the blocks inside it
        up = nearest_block(b)
        if up is not None and id(up) in covered:
            covered.add(id(b))
        elif id(b) not in holds_paragraph:
            kept.append(b)
            covered.add(id(b))
    return kept



def bs4_cleaning(page: str) -> Read:
    """How ``.html`` corpus files were read before: BeautifulSoup's blocks, then the cleaning."""
    text, meta = html_to_text(page)
    a = clean_article(text, **meta)
    return Read(a.text, a.title, a.date, a.outlet)


def trafilatura_reader(precision: bool, cleaning: bool) -> Callable[[str], Read]:
    """trafilatura as ``rag add`` reads a page (:func:`rag.ingest.webpage.read_page`), with
    or without its ``favor_precision``, then the cleaning (the metadata the page states
    winning) or not."""

    def extract(page: str) -> Read:
        a = read_page(page, favor_precision=precision)
        if a is None:
            return Read()
        if not cleaning:
            return Read(a.text, a.title, a.date, a.outlet, a.author)
        c = clean_article(a.text, title=a.title, date=a.date, outlet=a.outlet)
        return Read(c.text, c.title, c.date, c.outlet, a.author)

    return extract


def parse_document_now(page: str) -> Read:
    """What an ``.html`` corpus file gives now: rag.ingest.corpus.parse_document."""
    try:
        d = parse_document(page.encode("utf-8"), "page.html")
    except CorpusError as exc:
        return Read(error=str(exc))
    return Read(d.text, d.title, d.date, d.outlet, d.author)


EXTRACTORS: dict[str, Callable[[str], Read]] = {
    "bs4 + cleaning": bs4_cleaning,
    "trafilatura": trafilatura_reader(False, False),
    "trafilatura + cleaning": trafilatura_reader(False, True),
    "trafilatura precision": trafilatura_reader(True, False),
    "trafilatura precision + cleaning": trafilatura_reader(True, True),
    "parse_document": parse_document_now,
}


# --------------------------------------------------------------------------- scoring

def tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.casefold()))


def prf(got: str, gold: str) -> tuple[float, float, float]:
    g, t = tokens(got), tokens(gold)
    common = sum((g & t).values())
    p = common / sum(g.values()) if g else 0.0
    r = common / sum(t.values()) if t else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _same(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").split()) == " ".join((b or "").split())


def score(page: Page, read: Read, ms: float) -> Score:
    p, r, f = prf(read.text, page.text)
    meta: dict[str, bool | None] = {
        key: None if getattr(page, key) is None else _same(getattr(read, key), getattr(page, key))
        for key in ("title", "date", "outlet", "author")}
    return Score(p, r, f, [x for x in page.furniture if x in read.text], meta, ms, not read.text.strip())


def measure(pages: Sequence[Page], repeat: int) -> dict[str, list[tuple[Page, Score]]]:
    out: dict[str, list[tuple[Page, Score]]] = {}
    for name, extract in EXTRACTORS.items():
        for page in pages:  # imports, lazy set-ups (htmldate's first search) are not a page's time
            extract(page.html)
        rows = []
        for page in pages:
            best = float("inf")
            read = Read()
            for _ in range(repeat):
                t0 = time.perf_counter()
                read = extract(page.html)
                best = min(best, time.perf_counter() - t0)
            rows.append((page, score(page, read, best * 1000)))
        out[name] = rows
    return out


def summary(rows: Sequence[tuple[Page, Score]]) -> dict[str, Any]:
    n = len(rows)
    out: dict[str, Any] = {
        "pages": n,
        "precision": round(sum(s.precision for _, s in rows) / n, 3),
        "recall": round(sum(s.recall for _, s in rows) / n, 3),
        "f1": round(sum(s.f1 for _, s in rows) / n, 3),
        "no_text": sum(s.empty for _, s in rows),
        "furniture_kept": sum(len(s.leaked) for _, s in rows),
        "furniture": sum(len(p.furniture) for p, _ in rows),
        "ms_per_page": round(sum(s.ms for _, s in rows) / n, 2),
    }
    for key in ("title", "date", "outlet", "author"):
        stated = [s.meta[key] for _, s in rows if s.meta[key] is not None]
        out[key] = [sum(bool(x) for x in stated), len(stated)]
    return out


def tables(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Two Markdown tables: each extractor on the tests' inputs and on the news-site pages;
    F1 and furniture kept per layout."""
    news = f"news-site pages ({len(LAYOUTS) * len(ARTICLES)})"
    lines = ["| pages | extractor | P | R | F1 | no text | furniture kept | title | date | outlet | author | ms/page |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for group in ("tests' inputs", news):
        for name, by_group in results.items():
            s = by_group[group]
            meta = [f"{a}/{b}" if b else "–" for a, b in (s[k] for k in ("title", "date", "outlet", "author"))]
            lines.append(f"| {group} | {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
                         f"{s['no_text']} | {s['furniture_kept']}/{s['furniture']} | " + " | ".join(meta)
                         + f" | {s['ms_per_page']:.1f} |")
    lines += ["", "| layout (5 pages) | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    for layout in LAYOUTS:
        cells = [f"{by_group[layout]['f1']:.3f} ({by_group[layout]['furniture_kept']}/{by_group[layout]['furniture']})"
                 for by_group in results.values()]
        lines.append(f"| {layout} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(repeat: int) -> dict[str, Any]:
    pages = all_pages()
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    measured = measure(pages, repeat)
    news = f"news-site pages ({len(LAYOUTS) * len(ARTICLES)})"
    groups = ["tests' inputs", *LAYOUTS, news]
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name, rows in measured.items():
        results[name] = {}
        for group in groups:
            chosen = [(p, s) for p, s in rows if p.group == group or (group == news and p.group in LAYOUTS)]
            results[name][group] = summary(chosen)
    per_page = {name: [{"page": p.name, "precision": round(s.precision, 3), "recall": round(s.recall, 3),
                        "f1": round(s.f1, 3), "no_text": s.empty, "furniture_kept": s.leaked,
                        "metadata": s.meta, "ms": round(s.ms, 2)} for p, s in rows]
                for name, rows in measured.items()}
    import bs4
    import trafilatura

    return {"date": time.strftime("%Y-%m-%d %H:%M"), "uptime_before": uptime_before,
            "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "repeat": repeat,
            "versions": {"trafilatura": trafilatura.__version__, "beautifulsoup4": bs4.__version__},
            "summary": results, "pages": per_page, "tables": tables(results)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per page and extractor, the best kept (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    results = run(args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(results["tables"])
    print(f"\n{results['uptime_before']}\nrows: {args.out}")


if __name__ == "__main__":
    main()
