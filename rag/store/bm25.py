"""BM25 over the chunks of an index generation: a sparse matrix of term counts, saved
with the generation, scored at query time for the query's terms only.

The generation's ``bm25.npz`` holds, per term (sorted), the rows of the chunks holding it
and how often (a compressed sparse column matrix), and each chunk's length in tokens: no
pickle, only plain arrays (``np.load(..., allow_pickle=False)``), and its size and SHA-256
are in the manifest like the generation's other files. It is written at ingest, batch by
batch (:class:`BM25Builder` spools each batch's counts to disk); a chunk carried over
unchanged brings its counts from the previous generation's file (:meth:`BM25Index.counts_of`)
instead of being tokenised again.

Scores are BM25Okapi's (k1 1.5, b 0.75, negative idfs floored at 0.25 × the mean idf),
the formula and parameters of ``rank_bm25``, which newsrag used before, computed in the
same float64 operations: the scores, and so the rankings, are the same (only the floor
of very common words can differ in the last bit, its mean being summed in another order).
Why not ``bm25s``, the package of sparse BM25: it stores *scores* (idf × term weight), which
depend on the corpus's size, its mean chunk length and every term's document frequency, so
an ingest that changes one article has to recompute all of them — from Python lists of
every chunk's token ids, in Python loops. Term counts do not change when other articles do.
At 1M passages bm25s builds slower, in several times the memory, and must be rebuilt whole
on any change, where these counts are re-assembled around one changed passage in seconds;
bm25s queries faster, as it stores the weights this computes from the counts
(benchmarks/README.md#bm25-at-scale).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.text import fold

#: The file of a generation that holds its BM25 index.
BM25_FILE = "bm25.npz"
#: What :func:`tokenize` does, saved with the counts: counts made by another tokeniser are
#: never reused (they would silently disagree with the query's tokens).
TOKENIZER = "folded-words-2plus-cut-5-v2"  # v2: ligatures spelt out ("œ" → "oe")
K1, B, EPSILON = 1.5, 0.75, 0.25
#: A term's count in one chunk is stored in 16 bits (a word repeated more often in one
#: chunk counts 65,535 times: BM25's term weight is then within 1e-4 of its limit).
MAX_COUNT = np.iinfo(np.uint16).max
#: Stored counts transposed at a time when the index is built (256k: ~14 MiB of work arrays).
BUILD_BLOCK = 1 << 18
_TERM = "<U5"
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """BM25 tokens: accent-folded words cut to 5 letters, so that inflections and
    English/French cognates match ("Geneva"/"Genève", "expire"/"expirer").

    >>> tokenize("Genève : le traité New START expire en 2026")
    ['genev', 'le', 'trait', 'new', 'start', 'expir', 'en', '2026']
    """
    return [w[:5] for w in _WORD.findall(fold(text)) if len(w) > 1]


@dataclass
class TermCounts:
    """The term counts of a run of chunks: chunk ``i``'s terms are
    ``terms[offsets[i]:offsets[i + 1]]``, their counts ``counts[...]`` the same slice."""

    terms: np.ndarray    # <U5, the distinct terms of each chunk, chunk after chunk
    counts: np.ndarray   # uint16, how often each occurs in its chunk
    offsets: np.ndarray  # int64, len(chunks) + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def of_texts(cls, texts: Iterable[str]) -> TermCounts:
        """Tokenise ``texts`` (:func:`tokenize`) and count each one's terms."""
        terms: list[str] = []
        counts: list[int] = []
        offsets = [0]
        for text in texts:
            tally = Counter(tokenize(text))
            terms.extend(tally)
            counts.extend(tally.values())
            offsets.append(len(terms))
        return cls(np.array(terms, dtype=_TERM), np.minimum(np.array(counts, np.int64), MAX_COUNT).astype(np.uint16),
                   np.array(offsets, np.int64))

    @classmethod
    def concat(cls, parts: Sequence[TermCounts]) -> TermCounts:
        if not parts:
            return cls(np.zeros(0, _TERM), np.zeros(0, np.uint16), np.zeros(1, np.int64))
        starts = np.cumsum([0] + [len(p.terms) for p in parts[:-1]])
        return cls(np.concatenate([p.terms for p in parts]).astype(_TERM),
                   np.concatenate([p.counts for p in parts]),
                   np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, starts)]).astype(np.int64))


class BM25Index:
    """BM25Okapi over ``n`` chunks (rows), from a sparse term-by-row count matrix.

    ``vocab`` is sorted; term ``t``'s rows are ``rows[indptr[t]:indptr[t + 1]]`` (increasing)
    and their counts ``counts[...]``; ``lengths[row]`` is the chunk's number of tokens.
    """

    def __init__(self, vocab: np.ndarray, indptr: np.ndarray, rows: np.ndarray, counts: np.ndarray,
                 lengths: np.ndarray, tokenizer: str = TOKENIZER) -> None:
        self.vocab, self.indptr, self.rows, self.counts, self.lengths = vocab, indptr, rows, counts, lengths
        self.tokenizer = tokenizer
        self.n = len(lengths)
        self.avgdl = int(lengths.sum(dtype=np.int64)) / self.n if self.n else 0.0
        df = np.diff(indptr)
        if len(df):
            idf = np.log(self.n - df + 0.5) - np.log(df + 0.5)
            self.floor = EPSILON * float(idf.sum()) / len(df)
        else:
            self.floor = 0.0
        self._csr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ scoring

    def term_id(self, term: str) -> int:
        """The term's column, or -1 when no chunk holds it."""
        i = int(np.searchsorted(self.vocab, term))
        return i if i < len(self.vocab) and self.vocab[i] == term else -1

    def idf(self, t: int) -> float:
        df = int(self.indptr[t + 1] - self.indptr[t])
        idf = math.log(self.n - df + 0.5) - math.log(df + 0.5)
        return self.floor if idf < 0 else idf

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """The BM25 score of every row for a query's tokens (repeats count again, as in
        ``rank_bm25``); only the rows holding a query term are touched."""
        score = np.zeros(self.n)
        for token in tokens:
            t = self.term_id(token)
            if t < 0:
                continue
            lo, hi = int(self.indptr[t]), int(self.indptr[t + 1])
            rows, tf = self.rows[lo:hi], self.counts[lo:hi].astype(np.float64)
            dl = self.lengths[rows]
            score[rows] += self.idf(t) * (tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / self.avgdl)))
        return score

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """``(row, score)`` of the ``k`` best rows with a positive score, best first (ties
        by row)."""
        if self.n == 0 or k <= 0:
            return []
        score = self.scores(tokenize(query))
        found = np.flatnonzero(score > 0)
        if len(found) > k:
            found = found[np.argpartition(-score[found], k - 1)[:k]]
        best = found[np.lexsort((found, -score[found]))]
        return [(int(r), float(score[r])) for r in best]

    # ------------------------------------------------------------------ carrying counts over

    def counts_of(self, rows: Sequence[int]) -> TermCounts:
        """The term counts of these rows (for a new generation that carries them over
        unchanged: no tokenising again). The first call transposes the matrix to rows
        (one pass, in C; it then holds about as much memory as the index)."""
        if self._csr is None:
            import scipy.sparse as sp

            by_row = sp.csc_matrix((self.counts, self.rows, self.indptr),
                                   shape=(self.n, len(self.vocab))).tocsr()
            self._csr = (np.asarray(by_row.indptr, np.int64), np.asarray(by_row.indices), by_row.data)
        indptr, cols, data = self._csr
        at = np.asarray(rows, np.int64)
        lo, hi = indptr[at], indptr[at + 1]
        sizes = hi - lo
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        # positions lo[i] .. hi[i] of every row, in one vector
        take = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1] - lo, sizes)
        return TermCounts(self.vocab[cols[take]], data[take].astype(np.uint16), offsets)

    # ------------------------------------------------------------------ files

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, vocab=self.vocab, indptr=self.indptr, rows=self.rows, counts=self.counts,
                     lengths=self.lengths, tokenizer=np.array(self.tokenizer))

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        """Read a saved index (never unpickling anything); :class:`ValueError` (saying
        what is wrong) when the file is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in ("vocab", "indptr", "rows", "counts", "lengths", "tokenizer")}
        except (KeyError, OSError, EOFError) as exc:  # zip damage, a member missing
            raise ValueError(f"not a BM25 index ({exc})") from None
        vocab, indptr, rows, counts, lengths = (arrays[k] for k in ("vocab", "indptr", "rows", "counts", "lengths"))
        if not (vocab.dtype.kind == "U" and indptr.dtype == np.int64 and rows.dtype == np.int32
                and counts.dtype == np.uint16 and lengths.dtype == np.int32 and arrays["tokenizer"].dtype.kind == "U"
                and len(indptr) == len(vocab) + 1 and len(rows) == len(counts) == indptr[-1] and indptr[0] == 0
                and (len(rows) == 0 or 0 <= rows.min() <= rows.max() < len(lengths))):
            raise ValueError("its arrays do not fit together")
        return cls(vocab, indptr, rows, counts, lengths, str(arrays["tokenizer"]))

    @classmethod
    def of_texts(cls, texts: Iterable[str]) -> BM25Index:
        """Built in memory from chunk texts, row after row (an index whose generation has
        no BM25 file)."""
        builder = BM25Builder()
        texts = iter(texts)
        while batch := [t for _, t in zip(range(4096), texts)]:
            builder.add(TermCounts.of_texts(batch))
        return builder.build()


class BM25Builder:
    """Collects the term counts of rows, batch by batch, and builds the :class:`BM25Index`.

    With a ``folder``, each batch's term ids and counts are appended to two raw files
    there, and memory holds the vocabulary (a dictionary of terms), 8 bytes per row and
    one batch; :meth:`build` then reads them back a block at a time and holds the finished
    arrays (6 bytes per stored count) and one block.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._ids: dict[str, int] = {}
        self._sizes: list[np.ndarray] = []     # distinct terms per row, batch by batch
        self._lengths: list[np.ndarray] = []   # tokens per row
        self._cols: list[np.ndarray] = []      # in memory when there is no folder
        self._tfs: list[np.ndarray] = []
        self._per_id = np.zeros(0, np.int64)  # rows holding each term id, counted as they come
        if folder is not None:
            self._col_file = open(folder / "bm25.terms.i32", "wb")  # noqa: SIM115 - closed in build/close
            self._tf_file = open(folder / "bm25.counts.u16", "wb")  # noqa: SIM115

    def add(self, counts: TermCounts) -> None:
        """Append rows (in row order)."""
        unique, inverse, held = np.unique(counts.terms, return_inverse=True, return_counts=True)
        ids = np.array([self._ids.setdefault(t, len(self._ids)) for t in unique.tolist()], np.int32)
        if len(self._ids) > len(self._per_id):
            self._per_id = np.concatenate([self._per_id, np.zeros(len(self._ids) - len(self._per_id), np.int64)])
        self._per_id[ids] += held  # a chunk lists each of its terms once
        cols = ids[inverse] if len(unique) else np.zeros(0, np.int32)
        sizes = np.diff(counts.offsets)
        self._sizes.append(sizes.astype(np.int32))
        row_of = np.repeat(np.arange(len(sizes)), sizes)
        self._lengths.append(np.bincount(row_of, weights=counts.counts, minlength=len(sizes)).astype(np.int32))
        if self.folder is None:
            self._cols.append(cols)
            self._tfs.append(counts.counts)
        else:
            self._col_file.write(cols.astype(np.int32).tobytes())
            self._tf_file.write(counts.counts.astype(np.uint16).tobytes())

    def build(self) -> BM25Index:
        """The index: the counts, row by row as added, transposed to term by term one
        block of :data:`BUILD_BLOCK` counts at a time (a counting sort: each term's rows stay
        increasing), so building holds the finished arrays and one block — not the
        row-by-term matrix beside its transposition, which took ~385 MiB above the
        writing's at 555k passages."""
        sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, np.int32)
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int32)
        terms = np.array(list(self._ids), dtype=_TERM)
        order = np.argsort(terms, kind="stable")
        sorted_id = np.empty(len(terms), np.int32)
        sorted_id[order] = np.arange(len(terms), dtype=np.int32)
        per_term = np.zeros(len(terms), np.int64)
        per_term[sorted_id] = self._per_id
        indptr = np.concatenate([[0], np.cumsum(per_term)]).astype(np.int64)
        rows = np.empty(int(indptr[-1]), np.int32)
        counts = np.empty(int(indptr[-1]), np.uint16)
        cursor = indptr[:-1].copy()  # where each term's next row goes
        for cols, tfs, row_of in self._blocks(sizes):
            term = sorted_id[cols]
            by_term = np.argsort(term, kind="stable")  # rows stay in order within a term
            term = term[by_term]
            first = np.searchsorted(term, term, side="left")  # each entry's rank within its term
            at = cursor[term] + (np.arange(len(term)) - first)
            rows[at], counts[at] = row_of[by_term], tfs[by_term]
            cursor += np.bincount(term, minlength=len(terms))
        if self.folder is not None:
            for name in ("bm25.terms.i32", "bm25.counts.u16"):
                (self.folder / name).unlink(missing_ok=True)
        return BM25Index(terms[order], indptr, rows, counts, lengths)

    def _blocks(self, sizes: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The stored counts in row order, about :data:`BUILD_BLOCK` at a time and whole
        rows per block: ``(term ids, counts, row of each)``."""
        if self.folder is not None:
            self.close()
        ends = np.cumsum(sizes, dtype=np.int64)
        row = 0
        while row < len(sizes):
            start = int(ends[row - 1]) if row else 0
            last = max(int(np.searchsorted(ends, start + BUILD_BLOCK, side="right")), row + 1)
            stop = int(ends[last - 1])
            row_of = np.repeat(np.arange(row, last, dtype=np.int32), sizes[row:last])
            yield self._read(start, stop) + (row_of,)
            row = last

    def _read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        if self.folder is None:
            if not self._cols:
                return np.zeros(0, np.int32), np.zeros(0, np.uint16)
            cols = np.concatenate(self._cols) if len(self._cols) != 1 else self._cols[0]
            tfs = np.concatenate(self._tfs) if len(self._tfs) != 1 else self._tfs[0]
            self._cols, self._tfs = [cols], [tfs]  # joined once
            return cols[start:stop], tfs[start:stop]
        with open(self.folder / "bm25.terms.i32", "rb") as fc, open(self.folder / "bm25.counts.u16", "rb") as ft:
            fc.seek(start * 4)
            ft.seek(start * 2)
            return np.fromfile(fc, np.int32, stop - start), np.fromfile(ft, np.uint16, stop - start)

    def close(self) -> None:
        if self.folder is not None:
            self._col_file.close()
            self._tf_file.close()
