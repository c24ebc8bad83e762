"""The neural reader's parts on small, hand-built inputs: these run in seconds.

The cross-encoder's code (adapters, merging, the adapter file) is checked on a tiny
random BERT; the reader's plumbing (shortlist, mixing, abstention, how many passages it
reads) on hand-built passages with a word-level tokenizer and a stand-in model that scores
a sentence by the question words it holds — passed in, as the real model is. The trained
model's behaviour is measured by ``rag eval --readers neural,…`` (see the docs).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import ARTICLE, COS, ask, passage
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import BertConfig, BertModel

from rag.answer.readers import Parts, load_reader
from rag.answer.readers.base import passages_to_read
from rag.answer.readers.cross_encoder import (
    AdapterConfig,
    CrossEncoder,
    Layout,
    LoRALinear,
    Specials,
    adapted_model,
    encode_pair,
    pad_batch,
    read_adapter,
    save_adapter,
)
from rag.answer.readers.learned import LearnedReader, Weights
from rag.answer.readers.neural import NeuralReader, shipped_weights
from rag.errors import RagError
from rag.settings import ReaderConfig, Settings

# ---- the cross-encoder ------------------------------------------------------------


def tiny_bert() -> tuple[dict, dict[str, torch.Tensor]]:
    config = {"vocab_size": 60, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 32, "max_position_embeddings": 64, "type_vocab_size": 1, "pad_token_id": 1}
    torch.manual_seed(0)
    state = BertModel(BertConfig(**config), add_pooling_layer=False).state_dict()
    return config, {k: v.clone() for k, v in state.items()}


def tiny_model(rank: int, split: int = 0, head: str = "mean") -> tuple[dict, dict[str, torch.Tensor], CrossEncoder]:
    """The tiny BERT's base weights and a cross-encoder over them, ready to train."""
    from rag.answer.readers.cross_encoder import bert_from_state

    config, state = tiny_bert()
    model = CrossEncoder(bert_from_state(config, state, 2), split=split, head=head)
    model.add_adapters(rank, 2.0 * rank)
    return config, state, model


def as_trained(model: CrossEncoder) -> CrossEncoder:
    """The model as if trained: what it trains moved away from its start; in eval mode."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def trained_tiny(rank: int = 4) -> tuple[dict, dict[str, torch.Tensor], CrossEncoder]:
    config, state, model = tiny_model(rank)
    return config, state, as_trained(model)


def test_lora_merged_layer_computes_the_adapted_one():
    layer = LoRALinear(torch.nn.Linear(8, 5), rank=2, alpha=4.0)
    with torch.no_grad():
        layer.lora_b.normal_()
    x = torch.randn(3, 8)
    assert torch.allclose(layer(x), layer.merged()(x), atol=1e-5)


def test_adapters_start_as_the_base_and_only_they_the_layernorms_and_the_head_train():
    from rag.answer.readers.cross_encoder import bert_from_state

    config, state = tiny_bert()
    model = CrossEncoder(bert_from_state(config, state, 2)).eval()
    ids = torch.tensor([[0, 5, 6, 2, 7, 8, 2]])
    mask = torch.ones_like(ids)
    before = model(ids, mask)
    model.add_adapters(4, 8.0)
    assert torch.allclose(model(ids, mask), before, atol=1e-6)  # B starts at zero
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "LayerNorm" in n or n.startswith("head.") for n in trainable)
    assert not any("embeddings" in n for n in trainable)
    assert set(model.trained_state()) == trainable


def test_adapter_file_round_trip_gives_the_trained_model(tmp_path):
    config, state, model = trained_tiny()
    ids = torch.tensor([[0, 5, 6, 2, 7, 8, 9, 2, 10, 4, 11, 2], [0, 5, 2, 7, 2, 4, 2, 1, 1, 1, 1, 1]])
    mask = (ids != 1).long()
    expected = model(ids, mask)
    adapter = AdapterConfig(layers=2, rank=4, alpha=8.0, threshold=0.42, passages=5, candidates=8,
                            learned_weight=0.5, provenance="test")
    path = tmp_path / "neural.safetensors"
    save_adapter(model, adapter, path)
    read, trained = read_adapter(path)
    assert read == adapter
    merged = adapted_model(config, state, read, trained)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert torch.allclose(merged(ids, mask), expected, atol=2e-2)  # the file holds fp16


QUESTION = (torch.tensor([[0, 5, 6, 2]]), torch.ones(1, 4, dtype=torch.long))
CANDIDATES = (torch.tensor([[0, 7, 8, 9, 2, 10, 4, 11, 2], [0, 12, 2, 4, 2, 1, 1, 1, 1]]),
              torch.tensor([[1] * 9, [1] * 5 + [0] * 4]))


@pytest.mark.parametrize("rank", [0, 4])
def test_a_split_model_trains_only_the_layers_that_read_both_parts(rank):
    config, state, model = tiny_model(rank, split=1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("bert.encoder.layer.1.", "head.")) for n in trainable)
    assert set(model.trained_state()) == trainable
    if rank:  # adapters start at zero: the model starts as the base
        from rag.answer.readers.cross_encoder import bert_from_state

        plain = CrossEncoder(bert_from_state(config, state, 2), split=1)
        plain.head.load_state_dict(model.head.state_dict())
        assert torch.allclose(model.eval().score_split(QUESTION, CANDIDATES),
                              plain.eval().score_split(QUESTION, CANDIDATES), atol=1e-6)


def test_a_split_model_scores_each_candidate_as_if_alone():
    model = tiny_model(4, split=1)[2].eval()
    both = model.score_split(QUESTION, CANDIDATES)
    for i, n in enumerate((9, 5)):
        alone = model.score_split(QUESTION, (CANDIDATES[0][i:i + 1, :n], CANDIDATES[1][i:i + 1, :n]))
        assert torch.allclose(both[i], alone[0], atol=1e-5)  # padding and the shared question change nothing
    other = (torch.tensor([[0, 13, 14, 15, 2]]), torch.ones(1, 5, dtype=torch.long))
    assert not torch.allclose(model.score_split(other, CANDIDATES), both)  # the upper layer reads the question


@pytest.mark.parametrize(("rank", "head"), [(0, "mean"), (4, "compare")])
def test_a_split_adapter_file_round_trip_gives_the_trained_model(tmp_path, rank, head):
    config, state, model = tiny_model(rank, split=1, head=head)
    expected = as_trained(model).score_split(QUESTION, CANDIDATES)
    adapter = AdapterConfig(layers=2, rank=rank, alpha=2.0 * rank, split=1, head=head, threshold=0.3)
    path = tmp_path / "neural.safetensors"
    save_adapter(model, adapter, path)
    read, trained = read_adapter(path)
    assert read == adapter
    merged = adapted_model(config, state, read, trained)
    assert torch.allclose(merged.score_split(QUESTION, CANDIDATES), expected, atol=2e-2)  # the file holds fp16


def test_the_compare_head_starts_as_a_scaled_cosine_of_the_two_parts():
    from rag.answer.readers.cross_encoder import COMPARE_CENTRE, COMPARE_SCALE, bert_from_state

    config, state = tiny_bert()
    model = CrossEncoder(bert_from_state(config, state, 2), split=1, head="compare").eval()
    q_states, c_states = model.lower(*QUESTION), model.lower(*CANDIDATES)
    for i, n in enumerate((9, 5)):
        joined = torch.cat([q_states[0], c_states[i, :n]])[None]
        out = model.run_layers(joined, torch.ones(1, joined.shape[1], dtype=torch.long), slice(1, None))[0]
        cos = torch.nn.functional.cosine_similarity(out[:4].mean(0), out[4:].mean(0), dim=0)
        expected = COMPARE_SCALE * (cos - COMPARE_CENTRE)
        assert torch.allclose(model.score_split(QUESTION, CANDIDATES)[i], expected, atol=1e-4)
    with pytest.raises(ValueError, match="needs a split"):
        CrossEncoder(bert_from_state(config, state, 2), head="compare")


def test_a_file_that_is_not_an_adapter_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="not a newsrag-cross-encoder"):
        read_adapter(path)


# ---- the reader, with a stand-in model ----------------------------------------------------


def word_tokenizer(texts: list[str]) -> Tokenizer:
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    pre = pre_tokenizers.Whitespace()
    for t in texts:
        for w, _ in pre.pre_tokenize_str(t.lower()):
            vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre
    return tok


class Overlap(torch.nn.Module):
    """Stands in for the cross-encoder: the share of the question's words the sentence
    holds, as a logit (4 × share − 2); counts the inputs it is given."""

    def __init__(self, ignore: set[int]) -> None:
        super().__init__()
        self.ignore = ignore
        self.seen = 0
        self.split_calls = 0

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = []
        for row in ids.tolist():
            ends = [i for i, t in enumerate(row) if t == 2]
            question = set(row[1:ends[0]]) - self.ignore
            sentence = set(row[ends[0] + 1:ends[1]]) - self.ignore
            out.append(4.0 * len(question & sentence) / max(len(question), 1) - 2.0)
        self.seen += len(out)
        return torch.tensor(out)

    def score_split(self, question: tuple[torch.Tensor, torch.Tensor],
                    candidates: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """A split model's entry: the question's part once, the candidates' parts below it."""
        self.split_calls += 1
        q = [t for t in question[0][0].tolist() if t != 1]
        rows = [q + [t for t in row if t != 1][1:] for row in candidates[0].tolist()]
        return self.forward(*pad_batch(rows, 1))


def neural(adapter: AdapterConfig | None = None, config: ReaderConfig | None = None) -> NeuralReader:
    adapter = adapter or AdapterConfig(passages=5)
    tok = word_tokenizer([ARTICLE, "query: passage: quand qui a signé le projet de loi ? 29 janvier combien coûte billet"])
    ignore = {tok.token_to_id(w) for w in ("<unk>", "query", "passage", ":", "?", "le", "de", "a", "la", "du")}
    return NeuralReader(Weights.load(), config or ReaderConfig(), Overlap(ignore), adapter, tok, Specials.of(tok))


def test_the_reader_quotes_the_sentence_the_model_scores_best():
    reader = neural()
    text, citations = ask(reader, "Qui a signé le projet de loi de prorogation ?", [passage(ARTICLE, COS)])
    assert len(citations) == 1
    assert "signé par Vladimir Poutine le 29 janvier" in citations[0].quote


def test_the_reader_abstains_under_its_threshold():
    sure = neural(AdapterConfig(threshold=0.5))
    unsure = neural(AdapterConfig(threshold=0.5), ReaderConfig(neural_min_answerable=0.99))
    question = "Qui a signé le projet de loi de prorogation ?"
    assert ask(sure, question, [passage(ARTICLE, COS)])[1]
    assert ask(unsure, question, [passage(ARTICLE, COS)]) == ("", [])
    # a sentence holds one of its four words at most: logit -1, probability 0.27
    assert ask(sure, "Combien coûte un billet ?", [passage(ARTICLE, COS)]) == ("", [])


def test_the_model_reads_only_the_learned_readers_shortlist():
    reader = neural(AdapterConfig(candidates=2))
    ask(reader, "Qui a signé le projet de loi de prorogation ?", [passage(ARTICLE, COS)])
    assert reader.model.seen == 2


def test_a_split_adapter_reads_the_question_once_for_its_candidates():
    joint, split = neural(AdapterConfig(passages=5)), neural(AdapterConfig(passages=5, split=10))
    question = "Qui a signé le projet de loi de prorogation ?"
    assert ask(split, question, [passage(ARTICLE, COS)]) == ask(joint, question, [passage(ARTICLE, COS)])
    assert split.model.split_calls == 1 and joint.model.split_calls == 0


def test_the_learned_logit_is_mixed_in_with_its_weight():
    from rag.answer.readers.base import Query

    q = Query("Qui a signé le projet de loi ?", "Qui a signé le projet de loi ?", "fr")
    plain = neural(AdapterConfig(learned_weight=0.0)).score(q, [passage(ARTICLE, COS)])
    mixed = neural(AdapterConfig(learned_weight=1.0)).score(q, [passage(ARTICLE, COS)])
    learned = np.clip(LearnedReader.score(neural(), q, [passage(ARTICLE, COS)]).probabilities, 1e-6, 1 - 1e-6)
    logit = np.log(plain.probabilities / (1 - plain.probabilities))
    expected = 1 / (1 + np.exp(-(logit + np.log(learned / (1 - learned)))))
    assert np.allclose(mixed.probabilities, expected, atol=1e-4)


def test_it_asks_for_the_passages_it_reranks():
    assert passages_to_read(neural(AdapterConfig(passages=8)), 3) == 8
    assert passages_to_read(neural(AdapterConfig(passages=8), ReaderConfig(neural_passages=4)), 3) == 4
    assert passages_to_read(neural(AdapterConfig(passages=2)), 3) == 3


def test_input_layout_keeps_the_end_of_the_previous_sentence():
    tok = word_tokenizer(["query: passage: a b c d e f g h titre |"])
    specials = Specials.of(tok)
    ids = encode_pair(tok, "a", "b", "titre", "c d e f", Layout(previous=2), specials)
    words = [tok.id_to_token(i) for i in ids]
    assert words == ["<s>", "query", ":", "a", "</s>", "passage", ":", "b", "</s>", "titre", "|", "e", "f", "</s>"]


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(RagError, match="does not exist"):
        NeuralReader.from_config(ReaderConfig(neural_weights=str(tmp_path / "none.safetensors")))
    if shipped_weights() is None:
        with pytest.raises(RagError, match="no trained weights"):
            NeuralReader.from_config()
    not_adapter = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(not_adapter))
    with pytest.raises(RagError, match="Cannot read the neural reader's weights"):
        NeuralReader.from_config(weights=not_adapter)


def test_registered_under_its_name():
    from rag.answer.readers import READERS

    assert "neural" in READERS
    with pytest.raises(RagError, match="does not exist"):
        load_reader("neural:/nonexistent/neural.safetensors", Parts(Settings(), None, None))  # type: ignore[arg-type]


def test_adapter_config_replace_keeps_layout():
    a = dataclasses.replace(AdapterConfig(), threshold=0.3)
    assert a.layout == Layout() and AdapterConfig.from_metadata(a.to_metadata()) == a
