"""Text pipeline: cleaning, tokenizers, vocabularies, n-grams. No torch.nn here."""

from seqlab.text.clean import clean_text
from seqlab.text.pipeline import TextConfig, TextPipeline
from seqlab.text.tokenizers import Tokenizer, make_tokenizer
from seqlab.text.vocab import Vocab

__all__ = ["TextConfig", "TextPipeline", "Tokenizer", "Vocab", "clean_text", "make_tokenizer"]
