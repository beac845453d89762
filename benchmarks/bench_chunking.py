"""Chunk quality and speed of candidate splitters on markdown-ish community text.

    PYTHONPATH=plugins python benchmarks/bench_chunking.py [--docs 1500] [--seed 7]

The corpus is generated (seeded): GitHub-issue and Discord-thread shaped documents with
headings, fenced code, quotes, lists, tables, bare URLs, long unbroken tokens, CJK and
emoji. Candidates that are not installed are skipped. Every candidate runs at
chunk_size=1200 / overlap=150 characters. Quality columns:

- over: chunks longer than chunk_size (a hard limit breach)
- code whole / blocks whole: share of fenced code blocks / other blocks (paragraphs, lists,
  quotes, tables) that could fit in one chunk (40..chunk_size-overlap characters) and do
  appear whole in some chunk (higher is better: a cut block embeds as two half-thoughts)
- midword: chunk ends that fall inside a word (lower is better)
- tiny: chunks under 40 characters before any filtering (noise to embed)
- fill: mean chunk length / chunk_size (higher means fewer embeddings for the same text)
- determ.: the same text chunked twice gives the same chunks
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

CHUNK_SIZE = 1200
OVERLAP = 150

_VOCAB = (
    "the build fails when linking against boost asio on windows with msvc and the fix is to define "
    "a macro before including headers so that the coroutine support is enabled please see the "
    "discussion in the mailing list thread about allocator awareness and executors we should also "
    "consider backporting this patch to the release branch because users on older compilers hit it"
)
WORDS = _VOCAB.split()
CJK = "ビルドが失敗します。コンパイラのバージョンを確認してください。这是一个测试句子。用于检查分割。"
EMOJI = "🎉🚀👍🔥"


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 24))]
    if rng.random() < 0.1:
        words.insert(rng.randint(0, len(words)), f"`{rng.choice(WORDS)}_{rng.randint(1, 99)}()`")
    if rng.random() < 0.05:
        words.append(rng.choice(EMOJI))
    return " ".join(words).capitalize() + rng.choice(".!?.")


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(1, 7)))


def _code(rng: random.Random) -> str:
    lines = [
        f"    auto r{i} = co_await socket.async_read_some(buffer(data_{i}), use_awaitable); // step {i}"
        for i in range(rng.randint(3, 40))
    ]
    return "```cpp\n" + "\n".join(lines) + "\n```"


def _block(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        return _paragraph(rng)
    if kind < 0.6:
        return _code(rng)
    if kind < 0.68:
        return "\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(2, 8)))
    if kind < 0.74:
        return "\n".join(f"> {_sentence(rng)}" for _ in range(rng.randint(1, 4)))
    if kind < 0.78:
        rows = [f"| {rng.choice(WORDS)} | {rng.randint(0, 999)} | {rng.choice(WORDS)} |" for _ in range(6)]
        return "| name | n | note |\n|---|---|---|\n" + "\n".join(rows)
    if kind < 0.83:
        return f"See https://github.com/boostorg/beast/issues/{rng.randint(1, 3000)}#issuecomment-{rng.randint(10**8, 10**9)}"
    if kind < 0.87:
        return "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij0123456789+/")
            for _ in range(rng.randint(300, 2500))
        )
    if kind < 0.92:
        return "".join(rng.choice(CJK) for _ in range(rng.randint(50, 900)))
    if kind < 0.96:
        return "---"
    return f"## {_sentence(rng)}"


def corpus(docs: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(docs):
        size = rng.choice((1, 1, 2, 3, 5, 8, 13, 30))  # many short messages, some long threads
        out.append("\n\n".join(_block(rng) for _ in range(size)))
    return out


# ---------------------------------------------------------------------------- candidates


def _shipped() -> Callable[[str], list[str]]:
    from core.vectors.chunking import Chunker, ChunkingConfig

    chunker = Chunker(ChunkingConfig(chunk_size=CHUNK_SIZE, chunk_overlap=OVERLAP))
    return lambda text: chunker.split(text).chunks


def _semantic_markdown() -> Callable[[str], list[str]]:
    from semantic_text_splitter import MarkdownSplitter

    return MarkdownSplitter(CHUNK_SIZE, overlap=OVERLAP).chunks


def _semantic_text() -> Callable[[str], list[str]]:
    from semantic_text_splitter import TextSplitter

    return TextSplitter(CHUNK_SIZE, overlap=OVERLAP).chunks


def _langchain_markdown() -> Callable[[str], list[str]]:
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter.from_language(
        Language.MARKDOWN, chunk_size=CHUNK_SIZE, chunk_overlap=OVERLAP
    ).split_text


def _langchain_recursive() -> Callable[[str], list[str]]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=OVERLAP).split_text


def _semchunk() -> Callable[[str], list[str]]:
    import semchunk

    chunker = semchunk.chunkerify(len, CHUNK_SIZE)
    return lambda text: list(chunker(text, overlap=OVERLAP))  # type: ignore[call-arg]


def _chonkie() -> Callable[[str], list[str]]:
    from chonkie import RecursiveChunker, RecursiveRules

    # The markdown recipe is fetched from the Hugging Face hub at run time; default rules only.
    chunker = RecursiveChunker(tokenizer="character", chunk_size=CHUNK_SIZE, rules=RecursiveRules())
    return lambda text: [c.text for c in chunker.chunk(text)]


CANDIDATES: dict[str, Callable[[], Callable[[str], list[str]]]] = {
    "core.vectors.chunking.Chunker (shipped: TextSplitter + drop filter)": _shipped,
    "semantic-text-splitter MarkdownSplitter": _semantic_markdown,
    "semantic-text-splitter TextSplitter": _semantic_text,
    "langchain-text-splitters Markdown": _langchain_markdown,
    "langchain-text-splitters Recursive": _langchain_recursive,
    "semchunk (len)": _semchunk,
    "chonkie Recursive (no overlap)": _chonkie,
}


# ---------------------------------------------------------------------------- measurement


def measure(split: Callable[[str], list[str]], texts: list[str]) -> dict[str, float]:
    elapsed = float("inf")
    results: list[list[str]] = []
    for _ in range(3):  # best of three: the machine is shared
        started = time.perf_counter()
        results = [split(t) for t in texts]
        elapsed = min(elapsed, time.perf_counter() - started)
    chunks = [c for r in results for c in r]
    total_chars = sum(len(t) for t in texts)
    ends = 0
    midword = 0
    for text, doc_chunks in zip(texts, results, strict=True):
        cursor = 0
        for chunk in doc_chunks:
            stripped = chunk.strip()
            if not stripped:
                continue
            pos = text.find(stripped, max(0, cursor - CHUNK_SIZE))
            if pos < 0:
                continue
            cursor = pos + len(stripped)
            if cursor < len(text):
                ends += 1
                if stripped[-1].isalnum() and text[cursor].isalnum():
                    midword += 1
    code_whole, code_blocks, prose_whole, prose_blocks = 0, 0, 0, 0
    for text, doc_chunks in zip(texts, results, strict=True):
        for block in text.split("\n\n"):
            if len(block) > CHUNK_SIZE - OVERLAP or len(block) < 40:
                continue
            whole = any(block in chunk for chunk in doc_chunks)
            if block.startswith("```"):
                code_blocks += 1
                code_whole += whole
            else:
                prose_blocks += 1
                prose_whole += whole
    again = [split(t) for t in texts[:200]]
    return {
        "mb_s": total_chars / 1e6 / elapsed,
        "chunks": len(chunks),
        "over": sum(len(c) > CHUNK_SIZE for c in chunks),
        "code": code_whole / max(1, code_blocks),
        "prose": prose_whole / max(1, prose_blocks),
        "midword": midword / max(1, ends),
        "tiny": sum(len(c.strip()) < 40 for c in chunks) / max(1, len(chunks)),
        "fill": statistics.fmean(len(c) for c in chunks) / CHUNK_SIZE if chunks else 0.0,
        "deterministic": float(again == results[:200]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    texts = corpus(args.docs, args.seed)
    size = sum(len(t) for t in texts) / 1e6
    print(
        f"corpus: {len(texts)} documents, {size:.1f} M characters; chunk_size={CHUNK_SIZE} overlap={OVERLAP}\n"
    )
    print(
        "| splitter | M chars/s | chunks | over | code whole | blocks whole | midword | tiny | fill | determ. |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|")
    for name, factory in CANDIDATES.items():
        try:
            split = factory()
        except ImportError:
            print(f"| {name} | not installed | | | | | | | | |")
            continue
        m = measure(split, texts)
        print(
            f"| {name} | {m['mb_s']:.2f} | {m['chunks']:.0f} | {m['over']:.0f} | {m['code']:.1%} | {m['prose']:.1%} | "
            f"{m['midword']:.1%} | {m['tiny']:.1%} | {m['fill']:.2f} | {'yes' if m['deterministic'] else 'NO'} |"
        )


if __name__ == "__main__":
    main()
