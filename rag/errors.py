"""Errors a user can act on: their message says what went wrong and what to do."""


class RagError(Exception):
    """Base class for errors whose message is fit to show a user as is."""


class InputError(RagError):
    """The question or another input is not usable (empty, too long, ...)."""


class CorpusError(RagError):
    """The corpus folder is missing, empty, or holds no readable article."""


class IndexMismatchError(RagError):
    """The index on disk was built with other settings (embedding model, dimension)."""


class IndexMissingError(RagError):
    """No index has been built yet."""


class IndexCorruptError(RagError):
    """A file of the index is missing, truncated or damaged; the message names it and the
    command that repairs it (``rag ingest --rebuild``)."""


class IndexNotWritableError(RagError):
    """The index folder cannot be written (read-only file system, permissions); the
    message names the folder."""


class IndexBusyError(RagError):
    """Another process is writing the index (and the caller asked not to wait)."""


class FetchError(RagError):
    """A page or a feed could not be fetched or read: down, too slow, too big, neither a web
    page nor a PDF or DOCX, unreadable, refused by the site's robots.txt, or at an address
    newsrag must not reach. The message names the URL and the reason; ``kind`` is the
    reason in one word (``down``, ``timeout``, ``too-big``, ``not-html``, ``not-a-feed``,
    ``robots``, ``private``, ``scheme``, ``redirects``, ``status``, ``no-text``,
    ``unreadable``: an encrypted, scanned or damaged PDF or DOCX; ``tls``: an https server's
    certificate refused; ``too-costly``: an article from the page longer to index than an
    upload may be), for programs."""

    def __init__(self, url: str, reason: str, kind: str) -> None:
        self.url, self.reason, self.kind = url, reason, kind
        super().__init__(f"{url}: {reason}")


class SourcesFileError(RagError):
    """The sources file (``sources.toml``) cannot be read or is not as documented; the
    message names the file and the entry to fix."""


class Cancelled(RagError):
    """The user cancelled a corpus change before its index was switched: nothing of it
    is kept."""


#: What ends the message of an :class:`IndexCorruptError`.
REBUILD = "Repair it with: rag ingest --rebuild"


def short(exc: BaseException, limit: int = 160) -> str:
    """An exception's message for a user's error line, cut to ``limit`` characters."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"
