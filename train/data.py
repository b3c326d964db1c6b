"""data.py — tokenized training sequences for SFT and CTS, from tasks.train_stream.

A sequence is  chat_prompt(prompt) + response + <|eot_id|> + <|endoftext|> * (gen - len)  as LLaDA
SFT builds it: the response region is exactly `gen` tokens (the generation length the bundled model
is decoded with), padded with EOS. A batch pads every row on the right with more EOS up to the
longest prompt + gen (LLaDA SFT also treats that padding as response).

Batches come from a torch IterableDataset so tokenization runs in DataLoader worker processes on a
GPU machine (--workers); each worker has its own seeded stream, so the data are reproducible for a
given (seed, workers) pair.
"""

import os
import random
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import tasks  # noqa: E402


class Encoder:
    def __init__(self, tok_path, gen):
        self.tk = bpe.Tokenizer(tok_path)
        self.gen = gen
        self.eos = self.tk.id(bpe.EOS)
        self.eot = self.tk.id(bpe.EOT)
        self.mask = self.tk.id(bpe.MASK)

    def encode(self, item):
        """(prompt ids, response ids incl. <|eot_id|>) or None if the response does not fit."""
        p = self.tk.encode(bpe.chat_prompt(item["prompt"]))
        r = self.tk.encode(item["response"]) + [self.eot]
        if len(r) > self.gen:
            return None
        return p, r


def collate(pairs, eos, gen):
    """pairs of (prompt ids, response ids) -> ids [B, L], prompt_len [B], resp_len [B] (without padding)."""
    L = max(len(p) for p, _ in pairs) + gen
    ids = torch.full((len(pairs), L), eos, dtype=torch.long)
    plen = torch.zeros(len(pairs), dtype=torch.long)
    rlen = torch.zeros(len(pairs), dtype=torch.long)
    for i, (p, r) in enumerate(pairs):
        ids[i, :len(p)] = torch.tensor(p)
        ids[i, len(p):len(p) + len(r)] = torch.tensor(r)
        plen[i] = len(p)
        rlen[i] = len(r)
    return ids, plen, rlen


class TaskBatches(torch.utils.data.IterableDataset):
    """Infinite stream of collated batches of the task mixture."""

    def __init__(self, tok_path, batch, gen, seed, weights=None, long_gen=0, long_every=0):
        super().__init__()
        self.tok_path, self.batch, self.gen, self.seed, self.weights = tok_path, batch, gen, seed, weights
        self.long_gen, self.long_every = long_gen, long_every

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        enc = Encoder(self.tok_path, self.gen)
        stream = tasks.train_stream(self.seed * 1000 + wid, weights=self.weights)
        n = 0
        while True:
            pairs = []
            while len(pairs) < self.batch:
                e = enc.encode(next(stream))
                if e is not None:
                    pairs.append(e)
            n += 1
            # every long_every-th batch pads the response region to long_gen: the model then also
            # decodes sensibly at a longer generation length than the one it is trained for
            long = self.long_every and self.long_gen > self.gen and n % self.long_every == 0
            yield collate(pairs, enc.eos, self.long_gen if long else self.gen)


def batches(tok_path, batch, gen, seed, workers=0, weights=None, long_gen=0, long_every=0):
    ds = TaskBatches(tok_path, batch, gen, seed, weights, long_gen, long_every)
    if workers <= 0:
        return iter(ds)
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers, pin_memory=torch.cuda.is_available(),
                                     prefetch_factor=4, persistent_workers=True)
    return iter(dl)


def parse_mix(spec):
    """'arith=1,countdown=2,digits=1,sort=0.5' -> weights in tasks.FAMILIES order."""
    w = {f: 1.0 for f in tasks.FAMILIES}
    if spec:
        for part in spec.split(","):
            k, v = part.split("=")
            if k not in w:
                raise SystemExit("--mix: unknown family %r" % k)
            w[k] = float(v)
    return [w[f] for f in tasks.FAMILIES]


def seed_all(seed):
    random.seed(seed)
    torch.manual_seed(seed)
