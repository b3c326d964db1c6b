#!/usr/bin/env python3
"""Write tests/fixtures/tokenizer-ling.json: a small tokenizer in the Ling (LLaDA2.x, LLaDA-MoE)
layout for the 320-token MoE fixtures (tests/fixtures/models/llada2-*, llada-moe-*).

The layout is that of the released tokenizer.json (a PreTrainedTokenizerFast: byte-level BPE, the
chat markup and the diffusion tokens as special added tokens), with the real special-token strings
(research/models.md §4; LLaDA2.1-flash tokenizer_config.json): `<role>`, `</role>`, `<|role_end|>`,
`<|startoftext|>`, `<|endoftext|>` (EOS = pad) and `<|mask|>`. They sit at the top of the fixture
vocabulary in the order of the real ids (`<|startoftext|>` 156891, `<|endoftext|>` 156892,
`<|mask|>` 156895), so that `<|endoftext|>` is 318 and `<|mask|>` 319, the fixtures' pad/eos and
mask ids. The real ids of `<role>`, `</role>` and `<|role_end|>` were not readable here
(docs/model-families.md), so their fixture ids only keep them below the diffusion tokens. The
pre-tokenizer is Qwen2's split regex followed by ByteLevel (the real file's regex was not read);
ids 0-255 are the 256 bytes, ids 256-313 merges learnt (plain BPE counting, deterministic) from the
fixed text below, so prompts tokenize into more than single bytes (the file does not change when
the sample task sets do).

Usage: make_ling_tokenizer.py OUT.json
"""
import json
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "train"))
from bpe import bytes_to_unicode, tokenizer_json  # noqa: E402  (GPT-2's byte-to-character table, which ByteLevel uses)

VOCAB = 320
SPECIALS = ["<role>", "</role>", "<|role_end|>", "<|startoftext|>", "<|endoftext|>", "<|mask|>"]
SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
         r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def words(corpus):
    """Rough pre-tokenization for counting only (Python's re lacks \\p{L}; dlmscope applies SPLIT)."""
    b2u = bytes_to_unicode()
    for line in corpus:
        for w in re.findall(r"[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]{1,3}| ?[^\sA-Za-z0-9]+[\r\n]*|\s+", line):
            yield tuple(b2u[b] for b in w.encode("utf-8"))


CORPUS = [
    "Sort these numbers from smallest to largest: 12, 3, 45, 7 and 30.",
    "Use the numbers 4, 7, 9 and 25 to make the target number 100 with + - * and /.",
    "Tom has 23 apples and buys 19 more. How many apples does he have now?",
    "Answer with the number only. The answer is 42.",
    "Write the digits of the number 2024 in reverse order, separated by spaces.",
    "The weather is nice and the children play in the garden until the evening.",
]


def main():
    out = Path(sys.argv[1])
    corpus = CORPUS
    counts = Counter(words(corpus))
    merges = []
    n_merges = VOCAB - len(SPECIALS) - 256
    while len(merges) < n_merges:
        pairs = Counter()
        for w, c in counts.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        # the most frequent pair; ties by the pair itself, so the file is the same on every run
        (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        merges.append((a, b))
        merged = Counter()
        for w, c in counts.items():
            nw, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    nw.append(a + b)
                    i += 2
                else:
                    nw.append(w[i])
                    i += 1
            merged[tuple(nw)] += c
        counts = merged
    tok = tokenizer_json(merges, specials=SPECIALS, pattern=SPLIT,
                         specials_in_vocab=False)
    assert len(tok["model"]["vocab"]) + len(SPECIALS) == VOCAB
    out.write_text(json.dumps(tok, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
