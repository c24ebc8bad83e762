"""News in from where it lives: article pages and RSS/Atom feeds, fetched over HTTP into
the corpus folder with their outlet, date, author and link (``rag add``, and the feeds of
the sources file before each ``rag ingest``; docs/sources.md).

Each module one job: :mod:`~rag.sources.fetch` (HTTP held to limits: time, size,
redirects, robots.txt, no private addresses), :mod:`~rag.sources.extract` (an article's
text and metadata from its page, trafilatura; from a PDF or DOCX, the corpus folder's own
readers), :mod:`~rag.sources.feeds` (a feed's entries, feedparser),
:mod:`~rag.sources.store` (``<slug>.md`` files with front matter, each article once),
:mod:`~rag.sources.collect` (one pass over pages and feeds), :mod:`~rag.sources.config`
(the sources file, ``sources.toml``). Importing this package loads none of them.
"""
