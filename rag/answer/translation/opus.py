"""The offline translator: opus-mt (MarianMT), through CTranslate2 when its conversion
and the ``ctranslate2`` package are there, else PyTorch through ``transformers``; the same
tokenizer (sentencepiece) and beam either way. With CTranslate2, the decoder scores only the
pieces of the target language (the vocabulary map, ``vmap``). The model files:
:mod:`rag.models.opus`."""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

from rag.answer.translation.base import Translator
from rag.errors import RagError
from rag.models.opus import (
    BEAMS,
    CT2,
    CT2_QUANTIZATION,
    MAX_TOKENS,
    MODELS,
    THREADS,
    USE_VMAP,
    VMAP_MIN_PIECES,
    WEIGHTS,
    ct2_ready,
    default_dir,
    install_vmap,
    vmap_ready,
)

log = logging.getLogger(__name__)


class MarianTranslator(Translator):
    """Translates quotes with the opus-mt model of each direction (``DIR/fr-en``,
    ``DIR/en-fr``), loaded on first use; a direction without a model gives no translation.
    ``engine`` says what runs them: ``ctranslate2`` or ``pytorch`` (the log says it too).
    ``vmap``: decode over the pieces of the target language alone (CTranslate2 only;
    :data:`rag.models.opus.USE_VMAP`); the map is written beside the conversion as the model
    loads, when it is not there yet (:func:`rag.models.opus.install_vmap`)."""

    def __init__(self, directory: str | Path | None = None, name: str = "marian", threads: int = THREADS,
                 vmap: bool = USE_VMAP) -> None:
        self.directory = Path(directory or default_dir())
        self.name = name
        self.threads = threads
        self.vmap = vmap
        self._models: dict[str, Any] = {}
        self._mapped: set[str] = set()  # the directions decoded over their map, decided as each loads
        self._lock = threading.Lock()  # one translation at a time: the models are not reentrant
        if not any((self.directory / pair / WEIGHTS).is_file() for pair in MODELS):
            raise RagError(f"No opus-mt model in {self.directory} (expected fr-en/ and en-fr/ there): "
                           "make install-translator, or RAG_TRANSLATOR=marian:DIR.")
        self.engine = "ctranslate2" if self._ctranslate2() else "pytorch"

    @classmethod
    def from_argument(cls, argument: str) -> MarianTranslator:
        return cls(argument or None, f"marian:{argument}" if argument else "marian")

    def _ctranslate2(self) -> bool:
        from importlib.util import find_spec

        return find_spec("ctranslate2") is not None and all(
            ct2_ready(self.directory / pair) for pair in MODELS if (self.directory / pair / WEIGHTS).is_file())

    def _model(self, pair: str) -> Any:
        if pair not in self._models:
            folder = self.directory / pair
            if not (folder / WEIGHTS).is_file():
                self._models[pair] = None
            else:
                import transformers
                from transformers import MarianTokenizer

                transformers.utils.logging.disable_progress_bar()  # no bars in the terminal or the log
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*sacremoses")  # only for other languages
                    tokenizer = MarianTokenizer.from_pretrained(str(folder))
                if self.engine == "ctranslate2":
                    import ctranslate2

                    if self.vmap and self._install_vmap(pair) and vmap_ready(folder):  # read by the model as it loads
                        self._mapped.add(pair)
                    model: Any = ctranslate2.Translator(str(folder / CT2), device="cpu", compute_type=CT2_QUANTIZATION,
                                                        intra_threads=self.threads, inter_threads=1)
                else:
                    from transformers import MarianMTModel

                    model = MarianMTModel.from_pretrained(str(folder), use_safetensors=True).eval()
                log.info("opus-mt %s runs on %s, %d thread(s), beam %d%s", pair, self.engine, self.threads, BEAMS,
                         ", vocabulary map" if self._uses_vmap(pair) else "")
                self._models[pair] = (tokenizer, model)
        return self._models[pair]

    def warm(self) -> None:
        """Load both directions' models now (~10 s cold) rather than at the first answer."""
        with self._lock:
            for pair in MODELS:
                try:
                    self._model(pair)
                except Exception as exc:  # noqa: BLE001 — said when a translation is asked for
                    log.warning("the %s translator could not load %s (%s)", self.name, pair, exc)

    def translate(self, text: str, source: str, target: str) -> str | None:
        return self.translate_many([text], source, target)[0]

    def translate_many(self, texts: list[str], source: str, target: str) -> list[str | None]:
        """All of ``texts`` decoded as one batch (the quote and its name look-ups, the claims
        of one answer)."""
        if not texts:
            return []
        with self._lock:
            try:
                loaded = self._model(f"{source}-{target}")
                if loaded is None:
                    return [None] * len(texts)
                tokenizer, model = loaded
                if self.engine == "ctranslate2":
                    outs = self._ctranslate2_batch(tokenizer, model, texts, self._uses_vmap(f"{source}-{target}"))
                else:
                    outs = self._pytorch_batch(tokenizer, model, texts, self.threads)
                return [o.strip() or None for o in outs]
            except Exception as exc:  # noqa: BLE001 — a broken model folder: the quote alone is shown
                log.warning("the %s translator failed (%s)", self.name, exc)
                return [None] * len(texts)

    def _install_vmap(self, pair: str) -> bool:
        try:
            install_vmap(self.directory, (pair,))
            return True
        except Exception as exc:  # noqa: BLE001 — a read-only folder: the whole vocabulary, slower
            log.warning("the vocabulary map could not be written in %s (%s): decoding over the whole "
                        "vocabulary", self.directory, exc)
            return False

    def _uses_vmap(self, pair: str) -> bool:
        return pair in self._mapped

    @staticmethod
    def _ctranslate2_batch(tokenizer: Any, model: Any, texts: list[str], vmap: bool = False) -> list[str]:
        pieces = [tokenizer.convert_ids_to_tokens(tokenizer.encode(t, truncation=True, max_length=MAX_TOKENS))
                  for t in texts]
        # the map for quotes, not for one-word name look-ups (rag.models.opus.VMAP_MIN_PIECES)
        results = model.translate_batch(pieces, beam_size=BEAMS, max_decoding_length=MAX_TOKENS,
                                        use_vmap=vmap and max(map(len, pieces)) >= VMAP_MIN_PIECES)
        return [tokenizer.decode(tokenizer.convert_tokens_to_ids(r.hypotheses[0]), skip_special_tokens=True)
                for r in results]

    @staticmethod
    def _pytorch_batch(tokenizer: Any, model: Any, texts: list[str], threads: int) -> list[str]:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=MAX_TOKENS)
                out = model.generate(**batch, num_beams=BEAMS)  # up to the model's 512 tokens
        finally:
            torch.set_num_threads(before)
        return [tokenizer.decode(o, skip_special_tokens=True) for o in out]
