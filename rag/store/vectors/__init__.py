"""Where the vectors live: the interface every store implements (base), FAISS (faiss, faiss_factory) and Milvus (milvus)."""
