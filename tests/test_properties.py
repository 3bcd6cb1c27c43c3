"""Properties that hold for every input, checked with hypothesis on generated ones (CI: a fixed seed per test and a
bounded number of examples, the ``ci`` profile of ``conftest.py``).

- the readers of a user's files (csv/tsv/jsonl/json/fastText, gzipped too, CoNLL, parallel files and tsv) on arbitrary
  bytes and arbitrary Unicode either read the file or raise :class:`SeqlabError`, never anything else;
- the tokenizers give the text back where they say they do (characters, byte-level BPE, the translation and
  language-model tokenizers), and the ones that ignore runs of whitespace do;
- the CRF's Viterbi path and score equal brute force over every tag sequence, constraints and padding included;
- beam search with a beam of 1 (no length penalty) is greedy search, token for token and score for score;
- length-bucketed batching returns every example exactly once, within its limits, and ``bucketed_map`` puts the
  results back in input order.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools

import pytest
import torch

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_crf import _brute  # noqa: E402
from test_decode import EOS, PAD, SOS, V, new_rnn, new_transformer  # noqa: E402

from seqlab.data.batching import bucket_batches  # noqa: E402
from seqlab.data.conll import read_conll  # noqa: E402
from seqlab.data.parallel import read_parallel_files, read_parallel_tsv  # noqa: E402
from seqlab.data.readers import read_labelled  # noqa: E402
from seqlab.decode import SamplingConfig, beam_search, choose_next, greedy_search  # noqa: E402
from seqlab.errors import SeqlabError  # noqa: E402
from seqlab.inference import bucketed_map  # noqa: E402
from seqlab.models.crf import LinearChainCRF  # noqa: E402
from seqlab.text.clean import clean_text  # noqa: E402
from seqlab.text.stream import StreamTokenizer  # noqa: E402
from seqlab.text.subword import SPACE, SubwordTokenizer  # noqa: E402
from seqlab.text.tokenizers import BPETokenizer, CharTokenizer, RegexTokenizer, WhitespaceTokenizer  # noqa: E402

# a tmp_path per example is not what hypothesis wants (a function-scoped fixture is shared by the examples)
NO_FIXTURE_CHECK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------------------- readers
# pieces that mean something to one reader or another, so that generated files get past the first check
PIECES = ["text", "label", "review", ",", ";", "\t", "\n", "\r\n", "\r", " ", '"', '""', "'", "{", "}", "[", "]", ":",
          '"text"', '"label"', "null", "1", "-1", "1e999", "NaN", "true", "__label__", "__label__pos", "-DOCSTART-",
          "O", "B-PER", "I-PER", "E-LOC", "S-X", "B-", "NN", "x", "é", "日本", "\x00", "\ufeff", "\u2028", "\x1c", "\\",
          "\\u0000", "\\ud800"]
RAW_PIECES = [b"\xff", b"\xed\xa0\x80", b"\xc3", b"\x1f\x8b", b"\x80abc"]  # invalid UTF-8: a byte, a surrogate, cut


def _joined(pieces: list[str | bytes]) -> bytes:
    return b"".join(p if isinstance(p, bytes) else p.encode("utf-8") for p in pieces)


def _damaged_gzip(data: bytes, cut: int, flip: int) -> bytes:
    packed = bytearray(gzip.compress(data))
    if flip < len(packed):
        packed[flip] ^= 0xA5
    return bytes(packed[: max(0, len(packed) - cut)])


CONTENTS = st.one_of(
    st.binary(max_size=300),  # arbitrary bytes
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),  # arbitrary Unicode
    st.lists(st.one_of(st.sampled_from(PIECES), st.sampled_from(RAW_PIECES), st.text(max_size=5)),
             max_size=60).map(_joined),  # nearly well-formed files
)
GZ_CONTENTS = st.one_of(
    CONTENTS,  # a .gz name on something that is not gzip at all
    st.builds(lambda d: gzip.compress(d), CONTENTS),
    st.builds(_damaged_gzip, CONTENTS, st.integers(0, 30), st.integers(0, 60)),  # truncated or corrupted
)

READERS = {  # file name -> how a user's command reads it
    "data.csv": lambda p: read_labelled(p),
    "data.tsv": lambda p: read_labelled(p, text_column="review"),
    "data.jsonl": lambda p: read_labelled(p),
    "data.json": lambda p: read_labelled(p, label_column=None),
    "data.txt": lambda p: read_labelled(p),  # fastText lines
    "data.conll": lambda p: read_conll(p),
    "data.ner": lambda p: read_conll(p, tag_column="ner", scheme="bio"),
    "pairs.tsv": lambda p: read_parallel_tsv(p),
}


def _read_or_refusal(read, path) -> tuple[object, SeqlabError | None]:
    """What ``read(path)`` gave, or the SeqlabError it refused with; any other exception fails the test."""
    try:
        return read(path), None
    except SeqlabError as exc:
        return None, exc


def assert_read_or_refused(read, path) -> None:
    result, refusal = _read_or_refusal(read, path)
    assert (result is None) != (refusal is None)
    assert refusal is None or str(refusal)  # a refusal says why


@NO_FIXTURE_CHECK
@given(name=st.sampled_from(sorted(READERS)), content=CONTENTS)
@example(name="data.json", content=b"[" * 100_000)  # nested deeper than Python's recursion limit
@example(name="data.jsonl", content=b"[" * 100_000)
@example(name="data.csv", content=b'text,label\n"' + b"x" * 200_000 + b'",pos\n')  # a field over csv's own limit
def test_a_reader_reads_any_file_or_says_why(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_read_or_refused(READERS[name], path)


@NO_FIXTURE_CHECK
@given(name=st.sampled_from(["data.csv.gz", "data.tsv.gz", "data.jsonl.gz", "data.json.gz"]), content=GZ_CONTENTS)
def test_a_gzipped_reader_reads_any_file_or_says_why(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_read_or_refused(READERS[name[:-3]] if name[:-3] in READERS else read_labelled, path)


@NO_FIXTURE_CHECK
@given(src=CONTENTS, tgt=CONTENTS)
def test_parallel_files_read_any_pair_or_say_why(tmp_path, src, tgt):
    (tmp_path / "a.de").write_bytes(src)
    (tmp_path / "a.en").write_bytes(tgt)
    assert_read_or_refused(lambda _: read_parallel_files(tmp_path / "a.de", tmp_path / "a.en"), None)


CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@NO_FIXTURE_CHECK
@given(rows=st.lists(st.tuples(CELL, CELL), max_size=12), delimiter=st.sampled_from([",", "\t"]))
def test_what_csv_writes_the_reader_reads_back(tmp_path, rows, delimiter):
    """Any texts and labels, quoted as csv quotes them (commas, quotes, line breaks inside), come back as they were."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    path = tmp_path / ("data.csv" if delimiter == "," else "data.tsv")
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    texts, labels = read_labelled(path)
    assert list(zip(texts, labels, strict=True)) == rows


# ---------------------------------------------------------------------------- tokenizers
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
SPACEY = st.lists(st.one_of(st.text(max_size=6), st.sampled_from([" ", "  ", "\t", "\n", "\r\n", "\u3000", "\x1c",
                                                                   "\u2028", "\xa0", "\u200b", "\x85"])),
                  max_size=20).map("".join)


@given(TEXT)
def test_characters_round_trip(text):
    tok = CharTokenizer()
    assert tok.detokenize(tok.tokenize(text)) == text


@given(SPACEY, st.booleans(), st.booleans())
def test_tokenizers_that_ignore_whitespace_runs_do(text, keep_punct, lowercase):
    """``ignores_whitespace_runs``: the pipeline then skips collapsing spaces, so the tokens must be the same."""
    for tok in (RegexTokenizer(keep_punct=keep_punct), WhitespaceTokenizer()):
        assert tok.ignores_whitespace_runs
        raw = clean_text(text, lowercase=lowercase, collapse_spaces=False)
        assert tok.tokenize(raw) == tok.tokenize(clean_text(text, lowercase=lowercase, collapse_spaces=True))


CORPUS = [
    "The cat sat on the mat.", "A dog, running fast!", "Ünïcödé — 日本語のテキスト", "numbers 123 4.5e6 and 7%",
    "Zwei Hunde spielen im Schnee.", "Ein Mann mit einem orangefarbenen Hut.", "x-y (z) [w] {v} 'q' \"r\"",
] * 10


@pytest.fixture(scope="module")
def byte_bpe() -> BPETokenizer:
    tok = BPETokenizer(vocab_size=400, min_frequency=1)
    tok.fit(CORPUS)
    return tok


@NO_FIXTURE_CHECK
@given(TEXT)
@example("  two leading spaces and a trailing tab\t")
def test_byte_level_bpe_gives_any_text_back(byte_bpe, text):
    """Any text at all (bytes BPE has no unknown symbol), but for whitespace at its ends: the encoder adds a leading
    space, which the decoder's strip takes off with any the text had."""
    assert byte_bpe.detokenize(byte_bpe.tokenize(text)) == text.strip()


TRAINED_CHARS = sorted(set("".join(CORPUS)) - {" "})
SEEN_TEXT = st.lists(st.one_of(st.sampled_from(TRAINED_CHARS), st.just(" ")), max_size=60).map("".join)


@pytest.fixture(scope="module")
def subword() -> SubwordTokenizer:
    return SubwordTokenizer.train(CORPUS, "bpe", vocab_size=300, min_frequency=1)


@NO_FIXTURE_CHECK
@given(SEEN_TEXT)
@example("Hund  und   Hut")
def test_translation_bpe_gives_text_of_seen_characters_back(subword, text):
    """Spaces become ``▁`` and back, runs of them included; the ends are stripped as the decoder strips them."""
    assert SPACE not in text
    ids = subword.encode_many([text])[0]
    assert subword.decode(ids) == text.strip()


@NO_FIXTURE_CHECK
@given(st.lists(SEEN_TEXT, max_size=5))
def test_language_model_bpe_gives_lines_of_seen_characters_back(subword, lines):
    tok = StreamTokenizer("bpe", subword=subword)
    assert tok.decode(tok.encode_lines(lines)) == "".join(line.strip() + "\n" for line in lines)
    for line in lines:
        assert tok.decode(tok.encode(line)) == line.strip()


WORDS = sorted({w for line in CORPUS for w in line.split()})


@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join), max_size=6))
@example(["the", "", "cat"])  # an empty line between two
@example(["", ""])
def test_language_model_words_give_lines_back(lines):
    """The WikiText tokenizer: words split on whitespace, every line closed by ``<eos>``, which decodes to a line
    break (an empty line is one ``<eos>``)."""
    tok = StreamTokenizer.train(CORPUS, "word")
    assert tok.decode(tok.encode_lines(lines)) == "".join(line + "\n" for line in lines)
    assert tok.decode([i for line in lines for i in tok.encode(line)]) == " ".join(w for line in lines for w in line.split())


# ---------------------------------------------------------------------------- the CRF
@st.composite
def crf_cases(draw):
    k = draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    seed = draw(st.integers(0, 2**31 - 1))
    constrained = draw(st.booleans())
    g = torch.Generator().manual_seed(seed)
    constraints = {}
    if constrained:  # random forbidden transitions, starts and ends (a sentence may have no allowed path at all)
        constraints = {"allowed": torch.rand(k, k, generator=g) > 0.3, "start_allowed": torch.rand(k, generator=g) > 0.2,
                       "end_allowed": torch.rand(k, generator=g) > 0.2}
    crf = LinearChainCRF(k, **constraints)
    with torch.no_grad():
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
            p.copy_(torch.randn(p.shape, generator=g) * 2)
    emissions = torch.randn(len(lengths), max(lengths), k, generator=g) * 3
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    return crf, emissions, mask, lengths


@settings(max_examples=300)
@given(crf_cases())
def test_viterbi_is_the_best_of_every_tag_sequence(case):
    crf, emissions, mask, lengths = case
    tags, scores = crf.viterbi(emissions, mask)
    decoded = crf.decode(emissions, mask)
    for b, n in enumerate(lengths):
        scored = _brute(crf, emissions[b], n)
        if not scored:  # no allowed path: nothing to compare with (the score says it is forbidden)
            assert scores[b].item() < -1e3
            continue
        best = scored[0][0]
        assert scores[b].item() == pytest.approx(best, abs=1e-3)
        path = tuple(decoded[b])
        assert len(path) == n and tags[b, n:].eq(0).all()
        assert dict((p, s) for s, p in scored).get(path) == pytest.approx(best, abs=1e-3)  # an allowed best path


# ---------------------------------------------------------------------------- beam 1 = greedy
class TableModel:
    """A random first-order model: P(next | previous) from a fixed table; attention spread over the source."""

    def __init__(self, seed: int, vocab: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.log_probs = torch.log_softmax(torch.randn(vocab, vocab, generator=g) * 3, dim=-1)

    def encode(self, src, src_lengths):
        from test_decode import TableState

        return TableState(torch.arange(src.size(1))[None, :] < src_lengths[:, None])

    def decode_step(self, state, prev):
        return self.log_probs[prev], state.mask.float() / state.mask.sum(-1, keepdim=True), state


@st.composite
def decoding_cases(draw):
    kind = draw(st.sampled_from(["table", "rnn", "transformer"]))
    seed = draw(st.integers(0, 10_000))
    model = {"table": lambda: TableModel(seed, V), "rnn": lambda: new_rnn(seed).eval(),
             "transformer": lambda: new_transformer(seed).eval()}[kind]()
    lengths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, V, (len(lengths), max(lengths)), generator=g)
    src[torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]] = PAD
    limits = {"max_len_a": draw(st.sampled_from([0.0, 0.5, 1.0, 1.5])), "max_len_b": draw(st.integers(0, 6)),
              "pad_id": draw(st.sampled_from([None, PAD]))}
    return model, src, torch.tensor(lengths), limits


@settings(max_examples=120)
@given(decoding_cases())
def test_beam_of_one_is_greedy(case):
    model, src, lengths, limits = case
    greedy = greedy_search(model, src, lengths, SOS, EOS, **limits)
    beam = beam_search(model, src, lengths, SOS, EOS, beam_size=1, length_penalty=0.0, **limits)
    assert beam.tokens == greedy.tokens
    for a, b in zip(beam.scores, greedy.scores, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    for a, b in zip(beam.attention, greedy.attention, strict=True):
        assert all(x.shape == y.shape and torch.allclose(x, y, atol=1e-5) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------- sampling
@given(seed=st.integers(0, 10_000), vocab=st.integers(2, 30), banned=st.integers(0, 1),
       temperature=st.one_of(st.floats(1e-320, 1e-30), st.floats(1e-30, 1e30), st.floats(1e30, 1e308), st.just(1.0)),
       top_k=st.integers(0, 40), top_p=st.one_of(st.floats(5e-324, 1.0, exclude_min=False), st.just(1.0)),
       penalty=st.one_of(st.just(1.0), st.floats(0.01, 1e300)), seen=st.integers(0, 5))
@example(seed=0, vocab=20, banned=1, temperature=1e-300, top_k=0, top_p=1.0, penalty=1.0, seen=0)  # 0 in float32
@example(seed=0, vocab=20, banned=1, temperature=1.0, top_k=0, top_p=1e-300, penalty=1.0, seen=0)
@example(seed=0, vocab=20, banned=1, temperature=1e300, top_k=0, top_p=1.0, penalty=1.0, seen=0)  # inf in float32
def test_sampling_always_picks_a_token_the_model_allows(seed, vocab, banned, temperature, top_k, top_p, penalty, seen):
    """Whatever temperature, top-k, top-p and repetition penalty: a token, never a banned one (-inf), never a crash;
    the temperatures 0 and tiny pick the most likely."""
    g = torch.Generator().manual_seed(seed)
    log_probs = torch.log_softmax(torch.randn(3, vocab, generator=g) * 3, dim=-1)
    log_probs[:, :banned] = float("-inf")  # as generation bans <unk> and <pad>
    previous = torch.randint(0, vocab, (3, seen), generator=g)
    config = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=penalty)
    config.validate()
    picked = choose_next(log_probs, previous, config, generator=g)
    assert picked.shape == (3,) and bool(picked.ge(banned).all()) and bool(picked.lt(vocab).all())
    if temperature < 1e-30 and penalty == 1.0:
        assert picked.tolist() == log_probs.argmax(dim=-1).tolist()


# ---------------------------------------------------------------------------- bucketed batching
LENGTHS = st.lists(st.integers(0, 40), max_size=80)


@given(lengths=LENGTHS, batch_size=st.one_of(st.none(), st.integers(1, 12)),
       max_tokens=st.one_of(st.none(), st.integers(1, 120)), shuffle=st.booleans(), seed=st.integers(0, 1000))
def test_bucket_batches_take_every_example_once_within_the_limits(lengths, batch_size, max_tokens, shuffle, seed):
    if batch_size is None and max_tokens is None:
        with pytest.raises(ValueError):
            bucket_batches(lengths)
        return
    batches = bucket_batches(lengths, batch_size=batch_size, max_tokens=max_tokens, shuffle=shuffle,
                             generator=torch.Generator().manual_seed(seed))
    assert sorted(itertools.chain.from_iterable(batches)) == list(range(len(lengths)))
    for batch in batches:
        assert batch  # no empty batch
        assert batch_size is None or len(batch) <= batch_size
        padded = max(max(lengths[i] for i in batch), 1) * len(batch)
        assert max_tokens is None or padded <= max_tokens or len(batch) == 1
        if not shuffle:
            assert [lengths[i] for i in batch] == sorted(lengths[i] for i in batch)


@given(lengths=LENGTHS, batch_size=st.integers(1, 12), max_tokens=st.one_of(st.none(), st.integers(1, 120)))
def test_bucketed_map_answers_each_input_once_in_input_order(lengths, batch_size, max_tokens):
    seen: list[int] = []

    def run(batch: list[int]) -> list[tuple[str, int]]:
        seen.extend(batch)
        return [("result", i) for i in batch]

    assert bucketed_map(run, lengths, batch_size, max_tokens=max_tokens) == [("result", i) for i in range(len(lengths))]
    assert sorted(seen) == list(range(len(lengths)))


@given(lengths=st.lists(st.integers(0, 40), min_size=1, max_size=30), batch_size=st.integers(1, 8))
def test_bucketed_map_refuses_a_batch_that_loses_results(lengths, batch_size):
    with pytest.raises(RuntimeError, match="gave"):
        bucketed_map(lambda batch: [0] * (len(batch) - 1), lengths, batch_size)

