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


class IndexBusyError(RagError):
    """Another process is writing the index (and the caller asked not to wait)."""
