"""The opus-mt vocabulary maps (``rag.models.opus_vmap``): how a map is built, on a toy
vocabulary whose sentencepiece models and word translations each case states; its
installation beside a CTranslate2 folder; the shipped maps' format. No model needed: the
real maps are used in tests/models/test_opus.py."""

from __future__ import annotations

import gzip

from rag.models.opus import CT2, MODELS, STAMP, VMAP, WEIGHTS, install_vmap, shipped_vmap, vmap_ready
from rag.models.opus_vmap import build_vmap, write_vmap


class Pieces:
    """A sentencepiece model's face: its pieces (most likely first) and how it cuts texts."""

    def __init__(self, pieces: list[str], cuts: dict[str, list[str]]) -> None:
        self.pieces, self.cuts = pieces, cuts

    def get_piece_size(self) -> int:
        return len(self.pieces)

    def id_to_piece(self, i: int) -> str:
        return self.pieces[i]

    def get_score(self, i: int) -> float:
        return -float(i)

    def encode(self, text: str, out_type: type = str) -> list[str]:
        return self.cuts.get(text, ["▁" + text])


FRENCH = Pieces(["▁la", "▁tortue", "▁empoisonn", "ement", "▁Ri", "ab", "kov", "▁'", "emp", "ois", "onnement"],
                {"empoisonnement": ["▁empoisonn", "ement"], "'empoisonnement": ["▁'", "emp", "ois", "onnement"],
                 "Riabkov": ["▁Ri", "ab", "kov"], "'Riabkov": ["▁'", "Ri", "ab", "kov"]})
ENGLISH = Pieces(["▁the", ",", "▁turtle", "▁tortoise", "▁poisoning", "▁Riabkov", "▁poison", "▁2026", "▁a", "y"], {})
VOCABULARY = sorted({*FRENCH.pieces, *ENGLISH.pieces, "Ri", "</s>", "▁poisoned", "▁turtles", "turtle",
                     "▁Riab"})


def rules(lines: list[str]) -> dict[str, set[str]]:
    out = {}
    for line in lines:
        source, tab, target = line.partition("\t")
        assert tab and target == " ".join(sorted(target.split())), line  # one tab; pieces sorted
        out[source] = set(target.split())
    return out


def test_a_map_allows_frequent_pieces_and_what_each_source_word_translates_into():
    lines = build_vmap({"▁tortue": [["▁turtle"], ["▁tortoise"]]}, {"▁poisoning": [["▁empoisonn", "ement"]]},
                       source=FRENCH, target=ENGLISH, vocabulary=VOCABULARY, always=2, short=1)
    got = rules(lines)
    assert lines[0].startswith("\t") and got[""] >= {"▁the", ",", "▁2026", "</s>"}  # the 2 likeliest, numbers
    assert {"▁a", "y"} <= got[""] and "▁turtle" not in got[""]  # short pieces: what rare names are spelt with
    # a word translated alone, and the other forms of what it allows ("pro-Russian": no word mark)
    assert got["▁tortue"] >= {"▁turtle", "▁tortoise", "▁turtles", "turtle"}
    # an English word translated into French: its French cut allows it, alone or glued ("l'empoisonnement")
    assert got["▁empoisonn ement"] >= {"▁poisoning"} and got["emp ois onnement"] >= {"▁poisoning"}
    # a name is copied however the source cuts it
    assert "▁Riabkov" in got["▁Ri ab kov"] and "▁Riabkov" in got["Ri ab kov"]
    assert all(not (pieces & got[""]) for source, pieces in got.items() if source)  # said once


def test_a_written_map_reads_back_and_installs_beside_a_conversion_once(tmp_path, monkeypatch):
    lines = ["\t</s> ▁the", "▁tortue\t▁turtle"]
    write_vmap(lines, tmp_path / "m.vmap.gz")
    assert gzip.decompress((tmp_path / "m.vmap.gz").read_bytes()).decode() == "\t</s> ▁the\n▁tortue\t▁turtle\n"
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    import rag.models.opus as opus

    monkeypatch.setattr(opus, "VMAP_DATA", shipped)
    models = tmp_path / "opus-mt"
    for pair, (_, sha) in MODELS.items():  # what convert_ctranslate2 leaves, without the weights' bytes
        (models / pair / CT2).mkdir(parents=True)
        (models / pair / WEIGHTS).write_bytes(b"")
        (models / pair / STAMP).write_text(sha + "\n")
        (models / pair / CT2 / "model.bin").write_bytes(b"")
        (models / pair / CT2 / STAMP).write_text(f"{sha} {opus.CT2_QUANTIZATION}\n")
    assert install_vmap(models) == [] and not vmap_ready(models / "fr-en")  # nothing shipped: nothing used
    write_vmap(lines, shipped_vmap("fr-en"))
    assert install_vmap(models) == ["fr-en"] and install_vmap(models) == []
    assert (models / "fr-en" / CT2 / VMAP).read_text() == "\t</s> ▁the\n▁tortue\t▁turtle\n"
    assert vmap_ready(models / "fr-en") and not vmap_ready(models / "en-fr")
    write_vmap(lines[:1], shipped_vmap("fr-en"))  # a newer map replaces the installed one
    assert install_vmap(models) == ["fr-en"] and (models / "fr-en" / CT2 / VMAP).read_text() == "\t</s> ▁the\n"


def test_the_shipped_maps_have_an_always_line_and_one_rule_a_line():
    for pair in MODELS:
        lines = gzip.decompress(shipped_vmap(pair).read_bytes()).decode("utf-8").splitlines()
        assert lines[0].startswith("\t") and len(lines[0].split()) > 10_000
        assert all(line.count("\t") == 1 and not line.startswith("\t") for line in lines[1:])
        assert len({line.split("\t")[0] for line in lines}) == len(lines)  # a later rule would replace an earlier
