"""Raw bytes of token ids, so a trace renders without the tokenizer (docs/trace-format.md, "Token text").

token_bytes_function(tokenizer) accepts
- None: no token text (the viewer shows #id),
- a path to a Hugging Face tokenizer.json (or its folder),
- a Hugging Face tokenizer object (fast: its tokenizer.json is read from the backend; slow ones
  fall back to convert_ids_to_tokens),
- a dict {id: bytes or str}, or a callable id -> bytes/str/None,
and returns a callable id -> bytes or None.

Byte-level BPE vocabularies (GPT-2, Llama 3, Qwen, LLaDA) store bytes as printable stand-in
characters; they are mapped back as engine/tokenizer.c does. SentencePiece vocabularies ('▁' for a
space, <0xNN> byte tokens) are mapped too. Added (special) tokens are their UTF-8 content.
"""

import json
import os


def _bytes_to_unicode():
    """GPT-2's bytes_to_unicode table: byte -> stand-in character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


_CHAR_BYTE = {c: b for b, c in _bytes_to_unicode().items()}


def _byte_level(text):
    out = bytearray()
    for ch in text:
        b = _CHAR_BYTE.get(ch)
        if b is not None:
            out.append(b)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


def _sentencepiece(text):
    if len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
        try:
            return bytes([int(text[3:5], 16)])
        except ValueError:
            pass
    return text.replace("\u2581", " ").encode("utf-8", "surrogatepass")


def _uses_byte_level(spec):
    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "ByteLevel":
                return True
            return any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False
    return walk(spec.get("pre_tokenizer")) or walk(spec.get("decoder"))


def table_from_json(spec):
    """{id: bytes} from a parsed tokenizer.json."""
    model = spec.get("model") or {}
    vocab = model.get("vocab") or {}
    conv = _byte_level if _uses_byte_level(spec) else _sentencepiece
    table = {}
    if isinstance(vocab, dict):                                   # BPE / WordPiece
        for text, i in vocab.items():
            table[int(i)] = conv(text)
    elif isinstance(vocab, list):                                 # Unigram: [[piece, score], ...]
        for i, entry in enumerate(vocab):
            table[i] = conv(entry[0])
    for tok in spec.get("added_tokens") or []:
        table[int(tok["id"])] = tok["content"].encode("utf-8")
    return table


def token_bytes_function(tokenizer):
    if tokenizer is None:
        return lambda i: None
    if isinstance(tokenizer, (str, os.PathLike)):
        path = os.fspath(tokenizer)
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        with open(path, encoding="utf-8") as f:
            table = table_from_json(json.load(f))
        return table.get
    if isinstance(tokenizer, dict):
        return lambda i: _as_bytes(tokenizer.get(i))
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):        # transformers fast tokenizer
        table = table_from_json(json.loads(backend.to_str()))
        return table.get
    if hasattr(tokenizer, "convert_ids_to_tokens"):               # slow tokenizer: best effort
        def from_hf(i):
            t = tokenizer.convert_ids_to_tokens(int(i))
            return None if t is None else _sentencepiece(t)
        return from_hf
    if callable(tokenizer):
        return lambda i: _as_bytes(tokenizer(i))
    raise TypeError("tokenizer: expected None, a tokenizer.json path, a Hugging Face tokenizer, a dict or a callable")


def _as_bytes(v):
    if v is None:
        return None
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def tokenizer_path(tokenizer):
    """What the header's `tokenizer` key records: the path when one was given, else ""."""
    if isinstance(tokenizer, (str, os.PathLike)):
        p = os.fspath(tokenizer)
        return os.path.join(p, "tokenizer.json") if os.path.isdir(p) else p
    return getattr(tokenizer, "name_or_path", "") or ""
