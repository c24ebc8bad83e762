"""The index on disk: its manifest, generations and lock, the embedding cache, the vector stores (vectors/: FAISS, Milvus) and BM25, and the live index a pipeline reads."""
