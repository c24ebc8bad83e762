"""The FAISS index for a corpus size, chosen from measurements (``rag bench``).

Measured on this project's 2-core machine (benchmarks/README.md#faiss-index-types-at-scale, ``benchmarks/results/
bench.json``), 384-d unit vectors clustered around the corpus's real embeddings,
single-query searches on one thread, recall@10 against exact search:

* **Flat** (exact) costs ~0.6 ms a query at 10k vectors and ~12 ms at 100k: below
  :data:`FLAT_BELOW` (50k vectors, about 6 ms by that slope) exact search is fast enough and needs no
  training, no tuning and no guard — every small corpus (this project's is 26 chunks)
  stays exact.
* **IVF(4·√n),SQ8** reached recall@10 ≥ 0.95 at every size with the smallest sizes and
  builds of the ANN types that did: 1 byte per dimension (384 MB at 1M vectors, under the
  0.6 GiB target) where HNSW32 keeps the float vectors (1.7 GB at 1M) and HNSW32,SQ8 adds
  256 bytes of graph per vector; IVF builds in seconds (k-means on a sample) where HNSW
  took minutes at 1M. IVF-PQ is 5× smaller still but its recall@10 stayed below 0.95
  without a refine stage, which brings the size back to SQ8's.
* The number of lists probed is not part of a factory string: :func:`search_parameters`
  gives it (``nprobe``), with a margin over the measured minimum because real queries are
  less well clustered than the synthetic ones (uniformly random vectors, the worst case,
  need far more).

IVF needs at least 39 training vectors per list: ``nlist`` is capped at ``n // 39``, and
below :data:`FLAT_BELOW` (where 4·√n would come close to that cap) the choice is Flat.

>>> auto_factory(26, 384)
'Flat'
>>> auto_factory(1_000_000, 384)
'IVF4000,SQ8'
>>> search_parameters('IVF4000,SQ8', 1_000_000)
'nprobe=16'
"""

from __future__ import annotations

import math

#: Below this many vectors, exact search (measured ~6 ms a query at 50k, 384-d).
FLAT_BELOW = 50_000
#: Lists probed by an IVF index from :func:`auto_factory`.
NPROBE = 16
#: HNSW search depth, for a user-given HNSW factory.
EF_SEARCH = 64


def nlist_for(n_vectors: int) -> int:
    """IVF lists ≈ 4·√n, at most ``n // 39`` (FAISS wants 39 training points per list)."""
    return max(1, min(int(4 * math.sqrt(n_vectors)), n_vectors // 39))


def auto_factory(n_vectors: int, dim: int) -> str:
    """The FAISS factory string for ``n_vectors`` vectors of dimension ``dim``:
    ``"Flat"`` below :data:`FLAT_BELOW`, else ``"IVF{4·√n},SQ8"`` (see the module's
    docstring for the measurements behind it). ``dim`` is accepted for factories that
    depend on it (none today: SQ8 works at any dimension)."""
    if n_vectors < FLAT_BELOW or dim <= 0:
        return "Flat"
    return f"IVF{nlist_for(n_vectors)},SQ8"


def search_parameters(factory: str, n_vectors: int) -> str:
    """FAISS ``ParameterSpace`` settings to apply after loading an index built with
    ``factory`` (``""`` for exact ones), e.g. ``faiss.ParameterSpace()
    .set_index_parameters(index, "nprobe=16")``."""
    if factory.startswith("IVF"):
        return f"nprobe={NPROBE}"
    if factory.startswith("HNSW"):
        return f"efSearch={EF_SEARCH}"
    return ""
