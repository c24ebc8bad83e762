"""newsrag: cited answers from a folder of news articles, offline.

>>> from rag import Pipeline                                   # doctest: +SKIP
>>> Pipeline.from_settings().ask("When was New START extended?").answer  # doctest: +SKIP
"""

from rag.answer.pipeline import Pipeline, ask
from rag.errors import RagError
from rag.settings import Settings
from rag.types import Answer, Chunk, Citation, Document, Filters, Passage

__all__ = ["Answer", "Chunk", "Citation", "Document", "Filters", "Passage", "Pipeline", "RagError", "Settings", "ask"]
