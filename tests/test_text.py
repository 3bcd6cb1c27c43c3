import numpy as np
import pytest

from seqlab.errors import SeqlabError
from seqlab.text import TextConfig, TextPipeline, Vocab, clean_text, make_tokenizer
from seqlab.text.ngrams import add_hashed_ngrams, ragged_distinct, ragged_hashed_ngrams
from seqlab.text.pipeline import truncate
from seqlab.text.ragged import split_ragged
from seqlab.text.tokenizers import tokenizer_from_json


def test_clean_text_switches():
    raw = "Great<br />film! See https://example.com NOW"
    assert clean_text(raw) == "great film! see https://example.com now"
    assert clean_text(raw, strip_urls=True) == "great film! see now"
    assert clean_text(raw, lowercase=False, strip_html=False) == "Great<br />film! See https://example.com NOW"
    assert clean_text("a\u202fb\u00a0c") == "a b c"  # typographic spaces normalised


def test_regex_whitespace_char_tokenizers():
    assert make_tokenizer("regex").tokenize("it's great!!") == ["it", "'", "s", "great", "!", "!"]
    assert make_tokenizer("regex", keep_punct=False).tokenize("it's great!!") == ["it", "s", "great"]
    assert make_tokenizer("whitespace").tokenize(" a  b ") == ["a", "b"]
    assert make_tokenizer("char").tokenize("ab c") == ["a", "b", " ", "c"]
    with pytest.raises(SeqlabError):
        make_tokenizer("nonsense")


def test_bpe_trains_roundtrips_and_serialises():
    texts = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs"] * 20
    tok = make_tokenizer("bpe", bpe_vocab_size=300)
    tok.fit(texts)
    pieces = tok.tokenize("the cats sat")
    assert len(pieces) >= 3
    assert tok.detokenize(pieces) == "the cats sat"
    again = tokenizer_from_json(tok.to_json())
    assert again.tokenize("the cats sat") == pieces


def test_vocab_min_freq_max_size_and_specials():
    vocab = Vocab.build([["b", "a", "a", "c"], ["a", "b", "d"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]
    assert vocab.pad_id == 0 and vocab.encode(["a", "zzz"]) == [2, vocab.unk_id]
    small = Vocab.build([["b", "a", "a", "c"], ["a", "b", "d"]], max_size=3)
    assert small.itos == ["<pad>", "<unk>", "a"]
    assert Vocab.from_json(vocab.to_json()).itos == vocab.itos


def test_hashed_ngrams_are_deterministic_and_offset():
    ids = np.array([5, 6, 7])
    out = add_hashed_ngrams(ids, 3, buckets=100, offset=10)
    assert out[:3].tolist() == [5, 6, 7] and len(out) == 3 + 2 + 1
    assert (out[3:] >= 10).all() and (out[3:] < 110).all()
    assert out.tolist() == add_hashed_ngrams(ids, 3, 100, 10).tolist()
    # the order of words matters for a bigram
    assert add_hashed_ngrams(np.array([6, 5]), 2, 100, 10)[2] != out[3]
    assert add_hashed_ngrams(np.array([], dtype=np.int64), 2, 100, 10).tolist() == []


def test_truncate_modes():
    ids = list(range(10))
    assert truncate(ids, 4, "head") == [0, 1, 2, 3]
    assert truncate(ids, 4, "tail") == [6, 7, 8, 9]
    assert truncate(ids, 4, "head_tail") == [0, 7, 8, 9]
    assert truncate(np.arange(10), 8, "head_tail").tolist() == [0, 1, 4, 5, 6, 7, 8, 9]


def test_pipeline_json_roundtrip_and_unknown_words():
    cfg = TextConfig(max_len=5)
    pipe = TextPipeline(cfg, make_tokenizer("regex"), Vocab.build([["good", "film"]]))
    again = TextPipeline.from_json(pipe.to_json())
    assert again.encode("Good<br />film, zebra!") == pipe.encode("Good<br />film, zebra!")
    ids, toks = pipe.encode_with_tokens("good film")
    assert toks == ["good", "film"] and ids == [3, 2]  # ties ranked alphabetically: film=2, good=3
    assert pipe.encode("") == []


@pytest.mark.parametrize("tokenizer,keep_punct", [("regex", True), ("regex", False), ("whitespace", True)])
def test_batched_encoder_matches_the_one_by_one_path(tokenizer, keep_punct):
    texts = ["Great<br />film!! It's <i>superb</i>, 10/10 — naïve café", "", "   ", "UNKNOWN words ... here",
             "a\u202fb  https://example.com x" * 3]
    cfg = TextConfig(tokenizer=tokenizer, keep_punct=keep_punct, max_len=12)
    tok = make_tokenizer(tokenizer, keep_punct=keep_punct)
    probe = TextPipeline(cfg, tok, Vocab.build([]))
    vocab = Vocab.build([probe.tokens(t) for t in texts[:1]])
    pipe = TextPipeline(cfg, tok, vocab)
    ids, tokens = pipe.encode_many(texts, with_tokens=True)
    assert [i.tolist() for i in ids] == [pipe.encode(t) for t in texts]
    assert pipe.encode_many([]) == []
    assert tokens == [pipe.encode_with_tokens(t)[1] for t in texts]
    expected = {("regex", True): ["great", "film", "!", "!", "it", "'", "s"], ("regex", False): ["great", "film", "it", "s"],
                ("whitespace", True): ["great", "film!!", "it's", "superb", ","]}[(tokenizer, keep_punct)]
    assert pipe.tokens(texts[0])[: len(expected)] == expected
    # cleaning may leave whitespace runs for these tokenizers: the tokens are those of fully cleaned text
    assert all(pipe.tokenizer.tokenize(clean_text(t)) == pipe.tokens(t) for t in texts)


def _reference_ngrams(ids: list[int], n: int, buckets: int, offset: int) -> list[int]:
    """fastText's hash, one n-gram at a time in plain Python (wrapping at 2**64)."""
    out = list(ids)
    for order in range(2, n + 1):
        for start in range(len(ids) - order + 1):
            h = ids[start]
            for k in range(1, order):
                h = (h * 116049371 + ids[start + k]) % 2**64
            out.append(h % buckets + offset)
    return out


def test_ragged_ngrams_and_distinct_match_one_document_at_a_time():
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 50, size) for size in [0, 1, 2, 3, 7, 0, 12, 1, 5]]
    lengths = np.array([len(d) for d in docs])
    flat, out_lengths = ragged_hashed_ngrams(np.concatenate(docs), lengths, 3, buckets=97, offset=50)
    pieces = split_ragged(flat, out_lengths)
    assert [p.tolist() for p in pieces] == [_reference_ngrams(d.tolist(), 3, 97, 50) for d in docs]
    assert [p.tolist() for p in pieces] == [add_hashed_ngrams(d, 3, 97, 50).tolist() for d in docs]
    values, counts = ragged_distinct(flat, out_lengths, num_values=147)
    assert [p.tolist() for p in split_ragged(values, counts)] == [sorted(set(p.tolist())) for p in pieces]
    assert split_ragged(np.zeros(0, np.int64), np.zeros(0, np.int64)) == []
