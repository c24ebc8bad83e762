"""The web chat: ``python ui.py`` serves it on http://127.0.0.1:7860 (as ``rag serve`` does).

The page itself is the package's :mod:`rag.web`; this file is the entry point the design
card names. Options (host, port, reader, index) are ``rag serve``'s: see ``rag serve --help``.
"""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
