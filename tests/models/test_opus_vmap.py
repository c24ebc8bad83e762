"""The opus-mt vocabulary map (``rag.models.opus.install_vmap``): the target language's pieces,
written beside a CTranslate2 conversion. A toy folder (a sentencepiece model trained here on a
few English words, a made-up vocabulary); the real models' map is used in
tests/models/test_opus.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rag.models import opus
from rag.models.opus import CT2, MODELS, STAMP, VMAP, WEIGHTS, install_vmap, vmap_ready

ENGLISH = ["the treaty was extended", "the spokesman said", "the presidents spoke"] * 20


def toy_models(root: Path) -> Path:
    """What convert_ctranslate2 leaves, without the weights' bytes; an English target
    sentencepiece model for fr-en alone."""
    for pair, (_, sha) in MODELS.items():
        (root / pair / CT2).mkdir(parents=True)
        (root / pair / WEIGHTS).write_bytes(b"")
        (root / pair / STAMP).write_text(sha + "\n")
        (root / pair / CT2 / "model.bin").write_bytes(b"")
        (root / pair / CT2 / STAMP).write_text(f"{sha} {opus.CT2_QUANTIZATION}\n")
        (root / pair / CT2 / "shared_vocabulary.json").write_text(
            json.dumps(["</s>", "<unk>", "▁spoke", "▁la", "▁traité", "s", "<pad>", "▁t"]), encoding="utf-8")
    spm = pytest.importorskip("sentencepiece")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(ENGLISH), model_writer=model, vocab_size=30,
                                   hard_vocab_limit=False, minloglevel=2)
    (root / "fr-en" / "target.spm").write_bytes(model.getvalue())
    return root


def test_the_map_allows_the_target_languages_pieces_and_is_written_once(tmp_path):
    models = toy_models(tmp_path / "opus-mt")
    assert install_vmap(models, ["en-fr"]) == []  # no target model
    assert install_vmap(models) == ["fr-en"] and install_vmap(models) == []
    [line] = (models / "fr-en" / CT2 / VMAP).read_text(encoding="utf-8").splitlines()
    source, tab, allowed = line.partition("\t")
    assert (source, tab) == ("", "\t")  # whatever the source
    assert set(allowed.split()) == {"▁spoke", "▁t", "s", "</s>", "<unk>", "<pad>"}
    assert not {"▁la", "▁traité"} & set(allowed.split())  # French pieces: never an English output
    assert vmap_ready(models / "fr-en") and not vmap_ready(models / "en-fr")


def test_another_map_in_the_folder_is_replaced(tmp_path):
    """A folder converted by an earlier version holds another vocabulary map."""
    models = toy_models(tmp_path / "opus-mt")
    (models / "fr-en" / CT2 / VMAP).write_text("\t▁the\n▁traité\t▁treaty\n", encoding="utf-8")
    assert install_vmap(models) == ["fr-en"]
    assert "▁traité" not in (models / "fr-en" / CT2 / VMAP).read_text(encoding="utf-8")


def test_a_folder_without_a_current_conversion_gets_no_map(tmp_path):
    models = toy_models(tmp_path / "opus-mt")
    (models / "fr-en" / CT2 / STAMP).write_text("another-sha int8\n")
    assert install_vmap(models) == [] and not (models / "fr-en" / CT2 / VMAP).exists()
