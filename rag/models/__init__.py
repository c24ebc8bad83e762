"""The models newsrag runs offline: the embedder (embedding, e5convert), the language models of the generative reader (llm) and the opus-mt translator's model files (opus)."""
