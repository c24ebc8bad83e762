"""The web chat (Gradio): :func:`launch` serves it, :func:`build_app` builds it.

Importing this package imports Gradio (a second or two), so the CLI imports it only
for ``rag serve``.
"""

from rag.web.page import build_app, launch

__all__ = ["build_app", "launch"]
