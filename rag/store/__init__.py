"""The index on disk: FAISS vectors (or Milvus), a SQLite chunk store and a JSON manifest per
generation; the embedding cache; BM25; the live index a pipeline reads.

Layout of ``index/``::

    CURRENT              name of the live generation, replaced atomically
    gen-<n>/manifest.json  embedding model, dimension, FAISS factory, vector store, hash of
                           every article, size and checksum of the files below
    gen-<n>/store.sqlite   documents and chunks (row i = FAISS id i); no pickle anywhere
    gen-<n>/vectors.faiss  (FAISS only: with Milvus the vectors are in its collection,
                           see rag.store.vectors.base)
    gen-<n>/bm25.npz       BM25's term counts, plain arrays (see rag.store.bm25)
    embeddings.sqlite    cache of vectors by content hash, so unchanged text is never
                         embedded twice (and a crashed ingest resumes where it stopped)
    .ingest.lock         held (flock) by the one process writing the index

A new generation is written beside the live one and only then made current, so a crash
at any point leaves the previous index loadable. A damaged file (truncated, corrupt,
missing) is detected when the generation is loaded, and reported by name with the
command that repairs it: ``rag ingest --rebuild``.
"""
