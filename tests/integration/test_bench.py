"""`rag bench` at a tiny size: the JSON holds every part with sane values and the files are
written. No timing is asserted (the machine may be busy); see benchmarks/README.md for figures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from benchmarks import bench
from rag.cli import main
from rag.store.vectors.faiss_factory import auto_factory, search_parameters

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, settings, embedder) -> dict:
    out = tmp_path_factory.mktemp("bench")
    return bench.run(settings, sizes=(2000,), out_dir=out, quick=True, embedder=embedder,
                     load_seconds=2, load_levels=(1, 4)) | {"_out": out}


def test_bench_writes_json_and_plots(results: dict) -> None:
    out: Path = results["_out"]
    on_disk = json.loads((out / "bench.json").read_text())
    assert {"machine", "real", "baseline", "load", "scale", "target_1m", "seconds"} <= set(on_disk)
    if importlib.util.find_spec("matplotlib"):
        assert on_disk["plots"] == ["latency_vs_size.png", "recall_vs_latency.png"]
        for name in on_disk["plots"]:
            assert (out / name).stat().st_size > 1000


def test_real_corpus_figures_are_sane(results: dict) -> None:
    real = results["real"]
    assert real["ingest"]["chunks"] > 0 and real["ingest"]["chunks_per_s"] > 0
    assert real["ingest"]["embedded"] > 0 and real["ingest"]["peak_rss_mib"] > 0
    assert real["reingest_unchanged"]["embedded"] == 0
    # the raw rate is measured on exactly the texts the ingest embedded
    assert real["embedder_raw"]["texts"] == real["ingest"]["embedded"]
    assert real["embedder_raw"]["texts_per_s"] > 0 and real["ingest"]["ratio_to_raw"] > 0
    assert real["reingest_unchanged"]["wrote_index"] is False
    assert real["cold_start_ask"]["seconds_median"] > 0 and real["cold_start_ask"]["abstained"] is False
    for key in ("retrieve_ms_p50", "retrieve_ms_p95", "ask_ms_p50", "ask_ms_p95"):
        assert real["warm"][key] > 0
    assert real["warm"]["retrieve_ms_p50"] <= real["warm"]["retrieve_ms_p95"]
    for key in ("recall@3", "recall@4"):
        assert 0 <= real["recall"][key] <= 1
    assert real["recall"]["recall@3"] <= real["recall"]["recall@4"]


def test_baseline_side_by_side(results: dict) -> None:
    base = results["baseline"]
    assert base["chunks"] > 0 and base["search_ms_p50"] > 0
    assert 0 <= base["recall@4"] <= 1 and 0 <= base["ours_recall@4"] <= 1
    assert base["latency_ratio_ours_over_baseline"] > 0


def test_load_levels_answer_every_request(results: dict) -> None:
    load = results["load"]
    assert load["reader"] == "learned" and [lv["clients"] for lv in load["levels"]] == [1, 4]
    for lv in load["levels"]:
        assert lv["requests"] > 0 and lv["errors"] == 0, lv["error_examples"]
        assert lv["requests_per_s"] > 0 and 0 < lv["p50_ms"] <= lv["p95_ms"]
        assert lv["rss_mib_start"] > 0 and lv["rss_mib_end"] > 0
    assert "p95_ratio_10_over_1" not in load  # no 10-client level in this run


def test_load_client_asks_the_page_api(pipeline, embedder) -> None:
    from benchmarks.load import ask, free_port
    from rag.web import launch

    port = free_port()
    app = launch("127.0.0.1", port, pipeline, prevent_thread_lock=True, quiet=True)
    try:
        answer = ask(f"http://127.0.0.1:{port}", "When was New START extended?")
        assert answer["citations"] and not answer["abstained"]
        with pytest.raises(RuntimeError, match="question is empty"):
            ask(f"http://127.0.0.1:{port}", "   ")
    finally:
        app.close()


def test_cli_bench_rejects_contradictory_load_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--load-only", "--skip-load"]) == 2
    assert "contradict" in capsys.readouterr().err
    assert main(["bench", "--load-clients", "0,10"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_scale_rows(results: dict) -> None:
    rows = results["scale"]["rows"]
    factories = {r["factory"] for r in rows}
    assert {"Flat", "HNSW32", "HNSW32,SQ8"} <= factories
    assert any(f.startswith("IVF") and f.endswith(",SQ8") for f in factories)
    assert any(",PQ" in f for f in factories)
    for row in rows:
        assert row["n"] == 2000 and "chosen" in row, row
        assert row["index_bytes"] > 0 and row["build_seconds"] >= 0
        for point in row["sweep"]:
            assert 0 <= point["recall@10"] <= 1 and point["search_ms_p50"] > 0
    flat = next(r for r in rows if r["factory"] == "Flat")
    assert flat["chosen"]["recall@10"] == 1.0  # exact search against exact search
    assert results["target_1m"]["measured"] is False  # no 1M size in this run


def test_synthetic_vectors_are_unit_and_clustered() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    seeds = bench.uniform_vectors(20, 384, rng)
    x = bench.ClusteredSource(seeds, 5000, seed=1).draw(5000)
    assert x.shape == (5000, 384) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-4)
    # nearest neighbours are much closer than random pairs (unlike uniform vectors)
    sims = x[:50] @ x.T
    np.fill_diagonal(sims[:, :50], -1)
    assert sims.max(axis=1).mean() > (x[:50] @ x[50:100].T).mean() + 0.2


def test_cli_bench_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--sizes", "ten"]) == 2
    assert "comma-separated" in capsys.readouterr().err


@pytest.mark.parametrize("n, expected", [(0, "Flat"), (26, "Flat"), (10_000, "Flat")])
def test_auto_factory_small_is_flat(n: int, expected: str) -> None:
    assert auto_factory(n, 384) == expected


def test_auto_factory_large_is_trainable_and_compact() -> None:
    import faiss

    for n in (200_000, 1_000_000, 5_000_000):
        factory = auto_factory(n, 384)
        assert factory != "Flat"
        index = faiss.index_factory(384, factory, faiss.METRIC_INNER_PRODUCT)
        if factory.startswith("IVF"):
            assert faiss.extract_index_ivf(index).nlist <= n // 39
        assert search_parameters(factory, n)  # a tuned efSearch/nprobe


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux /proc")
def test_rss_by_kind_adds_up_to_the_resident_memory() -> None:
    """The memory benchmark's split of a process's RSS (heap, mapped files, shared memory)."""
    import os

    from benchmarks.load import rss_mib, rss_parts_mib

    parts = rss_parts_mib(os.getpid())
    assert set(parts) == {"anon", "file", "shmem"} and parts["anon"] > 10
    total = rss_mib(os.getpid())
    assert total is not None and abs(sum(parts.values()) - total) < 0.05 * total + 5
    assert rss_parts_mib(-1) == {}
