"""News pages shared by the extraction benchmark and the tests: one home for each.

The tests serve these pages from their 127.0.0.1 news site (``tests/newssite.py``) and read
them as corpus files (``tests/ingest/test_corpus.py``); ``benchmarks/extraction.py`` measures
the HTML readers on the very same pages. Benchmarks never import the tests, so the pages live
here and the tests import them.

>>> "Nous utilisons des cookies" in story_page("Titre", ["Un paragraphe."], "2022-02-14", "Marie Dupont",
...                                            "http://127.0.0.1:8000/articles/titre")
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence

#: The outlet of the tests' news site.
STORY_OUTLET = "Le Test Quotidien"
#: The "À lire aussi" links around a story page: address, headline.
STORY_RELATED = (("/articles/sommet-geneve", "Sommet de Genève : ce qu'il faut retenir de la rencontre"),
                 ("/articles/sanctions", "Les nouvelles sanctions américaines expliquées en cinq points"),
                 ("/articles/otan", "L'OTAN et la Russie : chronologie d'une relation tendue"))
#: What a story page shows beside the article (none of it is the article's).
STORY_FURNITURE = ("Accueil", "Économie", "Culture", "Nous utilisons des cookies", "Tout accepter", "Paramétrer",
                   "Partager", "Facebook", "À lire aussi", *(t for _, t in STORY_RELATED), "Tous droits réservés",
                   "Mentions légales", "S'abonner", "dataLayer")


def story_page(title: str, paragraphs: Sequence[str], day: str, author: str, canonical: str,
               outlet: str = STORY_OUTLET) -> str:
    """An article as the tests' news site serves it: its paragraphs in <article>, around it a
    menu, a cookie banner, a byline, share links, "read also" links and a footer; metadata
    (title, site name, author, publication time, canonical address) in <head>."""
    e = html.escape
    body = "\n".join(f"<p>{e(p)}</p>" for p in paragraphs)
    related = "\n".join(f'<li><a href="{href}">{e(t)}</a></li>' for href, t in STORY_RELATED)
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<title>{e(title)} | {e(outlet)}</title>
<meta property="og:site_name" content="{e(outlet)}">
<meta property="og:title" content="{e(title)}">
<meta name="author" content="{e(author)}">
<meta property="article:published_time" content="{day}T09:30:00+01:00">
<link rel="canonical" href="{e(canonical)}">
<script>window.dataLayer = [{{"page": "article"}}];</script>
</head><body>
<header class="site-header"><a class="logo" href="/">{e(outlet)}</a>
<nav class="menu"><ul><li><a href="/">Accueil</a></li><li><a href="/monde">Monde</a></li>
<li><a href="/economie">Économie</a></li><li><a href="/culture">Culture</a></li><li><a href="/sport">Sport</a></li></ul></nav>
</header>
<div id="cookie-banner" class="cookie-consent"><p>Nous utilisons des cookies pour vous offrir la meilleure
expérience sur notre site. En poursuivant votre navigation, vous acceptez leur utilisation.</p>
<button>Tout accepter</button><button>Paramétrer</button></div>
<main><article class="story">
<h1>{e(title)}</h1>
<p class="byline">Par <span class="author">{e(author)}</span> — publié le {day}</p>
{body}
<div class="share">Partager : <a href="#">Facebook</a> <a href="#">Twitter</a> <a href="#">E-mail</a></div>
</article>
<aside class="related"><h2>À lire aussi</h2><ul>
{related}
</ul></aside></main>
<footer><p>© 2022 {e(outlet)} — Tous droits réservés.</p><a href="/mentions">Mentions légales</a>
<a href="/contact">Contact</a><a href="/abonnement">S'abonner</a></footer>
</body></html>"""


#: The article of :data:`REYKJAVIK_HTML`.
REYKJAVIK_ARTICLE = ("Les ministres se sont réunis à Reykjavik le 3 mars 2023 pour parler de la fonte des glaces "
                     "arctiques et de la navigation dans le Grand Nord, a indiqué le communiqué final.")
#: A page whose metadata disagree with its text (og:title and <h1>), with scripts, styles, a
#: menu and a footer holding marker words (SECRET…) that must never reach the article.
REYKJAVIK_HTML = """<!doctype html>
<html><head>
  <title>Page title | Le Site</title>
  <meta property="og:title" content="Sommet arctique à Reykjavik">
  <meta property="article:published_time" content="2023-03-03T09:30:00+01:00">
  <meta property="og:site_name" content="Le Monde">
  <style>.menu { color: red } body { font-family: SECRETSTYLE; }</style>
  <script>var tracker = "SECRETSCRIPT"; window.dataLayer = [];</script>
</head><body>
  <nav><ul><li>Accueil SECRETNAV</li><li>International</li></ul></nav>
  <article>
    <h1>Un titre h1 différent</h1>
    <p>{article}</p>
    <p>Selon le texte, un observatoire commun des glaces ouvrira ses portes en 2025 à Tromsø.</p>
    <script>document.write("SECRETINLINE")</script>
  </article>
  <footer><p>© Le Site SECRETFOOTER — tous droits réservés, mentions légales et contact.</p></footer>
</body></html>
""".replace("{article}", REYKJAVIK_ARTICLE)
