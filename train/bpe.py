#!/usr/bin/env python3
"""bpe.py — byte-level BPE: a trainer that writes a Hugging Face tokenizer.json, and an encoder.

    python3 train/bpe.py train OUTDIR [--vocab 1536] [--samples 40000] [--seed 0]
        trains on generated task text (all four families, prompts in the chat template and
        responses) and writes OUTDIR/tokenizer.json and OUTDIR/tokenizer_config.json
    python3 train/bpe.py encode TOKENIZER.json "text"     prints ids
    python3 train/bpe.py stats TOKENIZER.json             tokens per response, per family

The tokenizer follows the layout of LLaDA's (Llama-3 style) tokenizer.json so one C code path
serves both: Split pre-tokenizer with the Llama-3 regex, except that numbers are split into single
digits (\\p{N} instead of \\p{N}{1,3}, which helps arithmetic), then ByteLevel (no prefix space, no
regex), a BPE model with merges as "a b" strings, a ByteLevel decoder, no normalizer, all 256 byte
tokens, and LLaDA's special tokens by name.

Vocabulary layout: ids 0..255 are the 256 byte tokens in byte order, then the merged tokens in
merge order, then the six special tokens (also listed as added_tokens, special: true).

Pre-tokenization in Python: `re` has no \\p{..} classes, so \\p{L} and \\p{N} are spelled out as
character classes built from unicodedata categories (L*, N*), and \\s as the Unicode White_Space
set (what Rust's regex and PCRE2 use). The task text is pure ASCII, where this is exact.
"""

import argparse
import json
import os
import random
import re
import sys
import unicodedata
from collections import Counter

SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|mdm_mask|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eot_id|>"]
BOS, EOS, MASK, SH, EH, EOT = SPECIALS

# Llama-3's pattern with \p{N}{1,3} -> \p{N} (single digits).
PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
           r"\s*[\r\n]+|\s+(?!\S)|\s+")

CHAT_TEMPLATE = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                 "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
                 "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
                 "{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}")

WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
               "\u200a\u2028\u2029\u202f\u205f\u3000")


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_CHAR = bytes_to_unicode()
CHAR_BYTE = {c: b for b, c in BYTE_CHAR.items()}


def _class_body(pred):
    """Regex character-class body (no brackets) of all code points with pred(ch) true."""
    out = []
    start = prev = None
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            ok = False
        else:
            ok = pred(chr(cp))
        if ok:
            if start is None:
                start = cp
            prev = cp
        elif start is not None:
            out.append((start, prev))
            start = None
    if start is not None:
        out.append((start, prev))

    def esc(cp):
        return "\\U%08x" % cp

    return "".join(esc(a) if a == b else "%s-%s" % (esc(a), esc(b)) for a, b in out)


_RE = {}


def pretoken_regex(ascii_only=False):
    """PATTERN compiled for Python's re, with \\p{L}, \\p{N} and \\s spelled out. ascii_only: the
    classes restricted to ASCII, which matches exactly the same way on ASCII text (and is ~10x faster)."""
    if ascii_only not in _RE:
        if ascii_only:
            L, N, S = "A-Za-z", "0-9", "\\t\\n\\x0b\\x0c\\r "
        else:
            L = _class_body(lambda c: unicodedata.category(c).startswith("L"))
            N = _class_body(lambda c: unicodedata.category(c).startswith("N"))
            S = "".join("\\U%08x" % ord(c) for c in WHITE_SPACE)
        p = PATTERN
        # inside brackets first ([^\s\p{L}\p{N}], [^\r\n\p{L}\p{N}]), then the free-standing classes
        p = p.replace(r"[^\s\p{L}\p{N}]", "[^" + S + L + N + "]")
        p = p.replace(r"[^\r\n\p{L}\p{N}]", "[^\\r\\n" + L + N + "]")
        p = p.replace(r"\p{L}", "[" + L + "]").replace(r"\p{N}", "[" + N + "]")
        p = p.replace(r"(?!\S)", "(?![^" + S + "])").replace(r"\s", "[" + S + "]")
        assert "\\p" not in p and "\\s" not in p and "\\S" not in p
        _RE[ascii_only] = re.compile(p)
    return _RE[ascii_only]


_SPECIAL_RE = {}


def split_specials(text, specials=SPECIALS):
    """[(piece, is_special)] with special tokens matched literally (longest first)."""
    if not specials:
        return [(text, False)]
    key = tuple(specials)
    pat = _SPECIAL_RE.get(key)
    if pat is None:
        pat = _SPECIAL_RE[key] = re.compile("|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)))
    out = []
    pos = 0
    for m in pat.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], False))
        out.append((m.group(0), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def pretokenize(text):
    """Pre-tokens of a text without special tokens, as byte-level strings."""
    rx = pretoken_regex(text.isascii())
    return ["".join(BYTE_CHAR[b] for b in m.group(0).encode("utf-8")) for m in rx.finditer(text)]


def chat_prompt(user):
    """LLaDA's chat template for one user turn (the assistant header is always appended)."""
    return BOS + SH + "user" + EH + "\n\n" + user.strip() + EOT + SH + "assistant" + EH + "\n\n"


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def corpus_texts(n_samples, seed):
    """Task text to train on: chat-wrapped prompts and responses + <|eot_id|>, the four families."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tasks
    out = []
    stream = tasks.train_stream(seed)
    for _ in range(n_samples):
        it = next(stream)
        out.append(chat_prompt(it["prompt"]) + it["response"] + EOT)
    return out


def train_bpe(texts, vocab_size, min_freq=2):
    """Merges (list of (a, b) byte-level strings) for a vocabulary of vocab_size tokens in total
    (256 bytes + merges + the special tokens), fewer if pairs run out (count < min_freq)."""
    words = Counter()
    for t in texts:
        for piece, special in split_specials(t):
            if not special:
                words.update(pretokenize(piece))
    wlist = [[list(w), c] for w, c in words.items()]
    n_merges = vocab_size - 256 - len(SPECIALS)
    merges = []
    # pair -> count, pair -> set of word indices
    pair_count = Counter()
    where = {}
    for wi, (sym, c) in enumerate(wlist):
        for a, b in zip(sym, sym[1:]):
            pair_count[(a, b)] += c
            where.setdefault((a, b), set()).add(wi)
    while len(merges) < n_merges:
        if not pair_count:
            break
        best = max(pair_count.items(), key=lambda kv: (kv[1], [-ord(ch) for ch in kv[0][0] + " " + kv[0][1]]))
        (a, b), cnt = best
        if cnt < min_freq:
            break
        merges.append((a, b))
        ab = a + b
        for wi in list(where.get((a, b), ())):
            sym, c = wlist[wi]
            for x, y in zip(sym, sym[1:]):
                pair_count[(x, y)] -= c
                if pair_count[(x, y)] <= 0:
                    del pair_count[(x, y)]
            new = []
            i = 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                    new.append(ab)
                    i += 2
                else:
                    new.append(sym[i])
                    i += 1
            wlist[wi][0] = new
            for x, y in zip(new, new[1:]):
                pair_count[(x, y)] += c
                where.setdefault((x, y), set()).add(wi)
        where.pop((a, b), None)
    return merges


def tokenizer_json(merges, specials=SPECIALS, pattern=PATTERN, specials_in_vocab=True):
    """tokenizer.json in the Llama-3 / Hugging Face layout: byte tokens, merges (pairs) in order, then
    the special tokens (also listed in the BPE vocabulary unless specials_in_vocab is false: both are
    valid files); `pattern` is the Split pre-tokenizer's regex. The test fixtures reuse this with
    Ling's special tokens and Qwen2's regex (tests/reference/make_ling_tokenizer.py)."""
    vocab = {}
    for b in range(256):
        vocab[BYTE_CHAR[b]] = b
    for a, b in merges:
        vocab[a + b] = len(vocab)
    assert len(vocab) == 256 + len(merges), "duplicate merged token"
    added = []
    first = len(vocab)
    for i, s in enumerate(specials):
        if specials_in_vocab:
            vocab[s] = first + i
        added.append({"id": first + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": ["%s %s" % m for m in merges]},
    }


def tokenizer_config(tok):
    ids = {a["content"]: a["id"] for a in tok["added_tokens"]}
    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "added_tokens_decoder": {str(ids[s]): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                               "single_word": False, "special": True} for s in SPECIALS},
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "mask_token": MASK,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 4096,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


# ---------------------------------------------------------------------------------------------
# encoding / decoding
# ---------------------------------------------------------------------------------------------


class Tokenizer:
    """Encoder/decoder for the tokenizer.json files this script writes (and similar ones)."""

    def __init__(self, path_or_obj):
        tok = path_or_obj
        if isinstance(path_or_obj, str):
            with open(path_or_obj, encoding="utf-8") as f:
                tok = json.load(f)
        m = tok["model"]
        self.vocab = dict(m["vocab"])
        self.ranks = {}
        for r, s in enumerate(m["merges"]):
            a, b = s.split(" ") if isinstance(s, str) else s
            self.ranks[(a, b)] = r
        self.added = {a["content"]: a["id"] for a in tok.get("added_tokens", [])}
        self.special_ids = {a["id"] for a in tok.get("added_tokens", []) if a.get("special")}
        for s, i in self.added.items():
            self.vocab.setdefault(s, i)
        self.inv = {i: s for s, i in self.vocab.items()}
        for s, i in self.added.items():
            self.inv[i] = s
        self.n_vocab = max(self.inv) + 1
        self.cache = {}

    def id(self, s):
        return self.added[s] if s in self.added else self.vocab[s]

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        sym = list(word)
        while len(sym) > 1:
            best = None
            for i in range(len(sym) - 1):
                r = self.ranks.get((sym[i], sym[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            a, b = sym[best[1]], sym[best[1] + 1]
            new = []
            i = 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                    new.append(a + b)
                    i += 2
                else:
                    new.append(sym[i])
                    i += 1
            sym = new
        ids = [self.vocab[s] for s in sym]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        for piece, special in split_specials(text, list(self.added)):
            if special:
                ids.append(self.added[piece])
            else:
                for w in pretokenize(piece):
                    ids.extend(self._bpe(w))
        return ids

    def decode(self, ids, skip_special=False):
        out = bytearray()
        for i in ids:
            s = self.inv.get(int(i))
            if s is None:
                continue
            if int(i) in self.special_ids:
                if not skip_special:
                    out += s.encode("utf-8")
                continue
            out += bytes(CHAR_BYTE[c] for c in s)
        return out.decode("utf-8", errors="replace")

    def token_str(self, i):
        """Readable text of one id (for logs)."""
        return self.decode([i])


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def write_tokenizer(outdir, vocab_size=1536, n_samples=40000, seed=0):
    texts = corpus_texts(n_samples, seed)
    merges = train_bpe(texts, vocab_size)
    tok = tokenizer_json(merges)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(outdir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_config(tok), f, ensure_ascii=False, indent=2)
        f.write("\n")
    return tok


def response_stats(tok_path, n=2000):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tasks
    tk = Tokenizer(tok_path)
    res = {}
    for fam in tasks.FAMILIES:
        lens, plens = [], []
        for it in tasks.test_items(fam)[:n]:
            lens.append(len(tk.encode(it["response"] + EOT)))
            plens.append(len(tk.encode(chat_prompt(it["prompt"]))))
        res[fam] = dict(mean=sum(lens) / len(lens), max=max(lens), prompt_mean=sum(plens) / len(plens),
                        prompt_max=max(plens))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("outdir")
    t.add_argument("--vocab", type=int, default=1536, help="total vocabulary incl. the 6 special tokens")
    t.add_argument("--samples", type=int, default=40000, help="generated task items to train on")
    t.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("encode")
    e.add_argument("tokenizer")
    e.add_argument("text")
    s = sub.add_parser("stats")
    s.add_argument("tokenizer")
    a = ap.parse_args()
    if a.cmd == "train":
        tok = write_tokenizer(a.outdir, a.vocab, a.samples, a.seed)
        n = len(tok["model"]["vocab"])
        print("wrote %s/tokenizer.json: %d tokens (%d merges, 256 bytes, %d special)" % (
            a.outdir, n, len(tok["model"]["merges"]), len(SPECIALS)))
        for fam, r in response_stats(os.path.join(a.outdir, "tokenizer.json")).items():
            print("  %-10s response tokens mean %.1f max %d | prompt tokens mean %.1f max %d" % (
                fam, r["mean"], r["max"], r["prompt_mean"], r["prompt_max"]))
    elif a.cmd == "encode":
        print(" ".join(map(str, Tokenizer(a.tokenizer).encode(a.text))))
    elif a.cmd == "stats":
        for fam, r in response_stats(a.tokenizer).items():
            print("%-10s response tokens mean %.1f max %d | prompt tokens mean %.1f max %d" % (
                fam, r["mean"], r["max"], r["prompt_mean"], r["prompt_max"]))


if __name__ == "__main__":
    main()
