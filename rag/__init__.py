"""newsrag: cited answers from a folder of news articles, offline.

>>> from rag import Pipeline                                   # doctest: +SKIP
>>> Pipeline.from_settings().ask("When was New START extended?").answer  # doctest: +SKIP
"""

from .errors import RagError
from .pipeline import Pipeline, ask
from .settings import Settings
from .types import Answer, Chunk, Citation, Document, Filters, Passage

__all__ = ["Answer", "Chunk", "Citation", "Document", "Filters", "Passage", "Pipeline", "RagError", "Settings", "ask"]
