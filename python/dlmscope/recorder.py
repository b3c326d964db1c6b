"""Record a PyTorch (or NumPy) masked-diffusion decoding loop as a dlmscope trace.

    with dlmscope.Recorder("run.dlmtrace", tokenizer=tok, rule="llada",
                           params=dict(gen=128, block=32, steps=128), prompt=prompt_ids, model=model_dir) as rec:
        for ...:                                   # the loop as it is
            logits = model(x).logits
            ...                                    # the rule updates x
            rec.step(x, logits)

From the canvas after each step and the step's logits, the recorder derives what the C engine
writes (engine/session.c, dlm_session_step): per position the state, the events (commit, edit,
remask, transition, finalize) by comparing the canvas with the previous one, the distribution the
rule reads (softmax; softmax(logits / T) for t2t/t2m; the mask id removed for evotoken at T = 0),
its top-K, entropy, the probability of the current and of the sampled token, the stuck flag, and
the block schedule (block, step in block, block ends, done) of the named rule. Everything derived
can be given explicitly instead (committed=, edited=, remasked=, sampled=, block=, block_done=,
done=). Each step record is appended and flushed before step() returns.
"""

import os
import time

import numpy as np

from . import format as fmt
from .rules import Rule
from .tokens import token_bytes_function, tokenizer_path

try:
    import torch
except ImportError:  # torch is optional: NumPy arrays work too
    torch = None

__version__ = "0.1.0"


def _is_torch(a):
    return torch is not None and isinstance(a, torch.Tensor)


def _np(a, dtype=None):
    """A host NumPy array from a tensor, array or sequence (batch dimension of 1 dropped)."""
    if a is None:
        return None
    if _is_torch(a):
        a = a.detach()
        if a.dtype == torch.bfloat16:
            a = a.float()
        a = a.cpu().numpy()
    a = np.asarray(a)
    if dtype is not None:
        a = a.astype(dtype)
    return a


def _squeeze_batch(a, ndim):
    """[1, ...] -> [...] for an input expected with ndim dimensions."""
    if a is not None and a.ndim == ndim + 1 and a.shape[0] == 1:
        return a[0]
    return a


def process_rank():
    """This process's rank in a torch.distributed / torchrun job (0 when not distributed)."""
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    for var in ("RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def model_identity(model_dir):
    """dlmscope's model identity (engine/model.c): FNV-1a-64 of config.json, then of every tensor's
    name, dtype and shape (int64 x 8, little-endian) in safetensors header (or index) order."""
    import json
    import struct
    with open(os.path.join(model_dir, "config.json"), "rb") as f:
        h = fmt.fnv1a64(f.read())

    def header(path):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            return json.loads(f.read(n))

    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        entries = [(k, v) for k, v in header(single).items() if k != "__metadata__"]
    else:
        with open(os.path.join(model_dir, "model.safetensors.index.json")) as f:
            wm = json.load(f)["weight_map"]
        heads = {}
        entries = []
        for name, shard in wm.items():
            if shard not in heads:
                heads[shard] = header(os.path.join(model_dir, shard))
            entries.append((name, heads[shard][name]))
    for name, e in entries:
        shape = list(e["shape"]) + [0] * (8 - len(e["shape"]))
        h = fmt.fnv1a64(name.encode(), h)
        h = fmt.fnv1a64(e["dtype"].encode(), h)
        h = fmt.fnv1a64(struct.pack("<8q", *shape), h)
    return h


def _model_info(model, n_vocab, mask_id, eos_id):
    """(name, dir, identity, n_vocab, mask_id, eos_id) from a model folder, a Hugging Face model
    (its config; its folder when it was loaded from one) or nothing."""
    info = dict(name="", dir="", identity=0, n_vocab=None, mask_id=None, eos_id=None)
    cfg = None
    if isinstance(model, (str, os.PathLike)):
        d = os.fspath(model)
        import json
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        info["dir"] = d
        info["name"] = os.path.basename(os.path.normpath(d))
        info["identity"] = model_identity(d)
    elif model is not None and hasattr(model, "config"):
        c = model.config
        cfg = c.to_dict() if hasattr(c, "to_dict") else dict(vars(c))
        src = getattr(c, "_name_or_path", "") or ""
        info["dir"] = src
        info["name"] = os.path.basename(os.path.normpath(src)) if src else type(model).__name__
        if src and os.path.exists(os.path.join(src, "config.json")):
            try:
                info["identity"] = model_identity(src)
            except (OSError, KeyError, ValueError):
                info["identity"] = 0
    if cfg:
        def first(*keys):
            for k in keys:
                if cfg.get(k) is not None:
                    return cfg[k]
            return None
        info["n_vocab"] = first("embedding_size", "vocab_size")
        info["mask_id"] = first("mask_token_id")
        eos = first("eos_token_id")
        info["eos_id"] = eos[0] if isinstance(eos, list) and eos else eos
    if n_vocab is not None:
        info["n_vocab"] = n_vocab
    if mask_id is not None:
        info["mask_id"] = mask_id
    if eos_id is not None:
        info["eos_id"] = eos_id
    return info


class Recorder:
    """One trace file for one sequence. See the module docstring and docs/recording.md.

    path        the trace file (created; truncated if it exists)
    tokenizer   tokenizer.json path, Hugging Face tokenizer, dict or callable (token text), or None
    rule        a dlmscope rule name or spec ("llada", "t2m:detector=logitdiff")
    params      the rule's parameters (gen, block, steps, temperature, seed, tau, ...)
    prompt      the prompt's token ids (the canvas starts with them)
    model       a model folder (exact identity, ids from config.json) or a Hugging Face model
    mask_id, eos_id, n_vocab   override or supply what the model does not say
    block_causal             attention block size for block-causal models (LLaDA2.x), else 0
    prompt_text, device      recorded in the header
    rank        write only when this is 0 (default: the torch.distributed / torchrun rank);
                on other ranks every call is a no-op
    """

    def __init__(self, path, tokenizer=None, rule="llada", params=None, *, prompt, model=None, mask_id=None,
                 eos_id=None, n_vocab=None, block_causal=0, prompt_text=None, device=None, rank=None):
        self.enabled = (process_rank() if rank is None else rank) == 0
        self.path = path
        if not self.enabled:
            return
        self.model = _model_info(model, n_vocab, mask_id, eos_id)
        if self.model["mask_id"] is None:
            raise ValueError("%s: no mask id: pass mask_id= or a model whose config has mask_token_id" % path)
        self.M = int(self.model["mask_id"])
        self.eos = -1 if self.model["eos_id"] is None else int(self.model["eos_id"])
        self.prompt = _np(_squeeze_batch(_np(prompt), 1), np.int64).ravel()
        if self.prompt.size == 0:
            raise ValueError("%s: the prompt is empty" % path)
        self.P = int(self.prompt.size)
        self.rule_spec, self.rule_params = rule, dict(params or {})
        self.rule = Rule(rule, **self.rule_params) if "gen" in self.rule_params else None
        self.block_causal = int(block_causal)
        self.token_bytes = token_bytes_function(tokenizer)
        self.tokenizer_path = tokenizer_path(tokenizer)
        self.prompt_text = prompt_text
        self.device = device
        self.writer = None
        self.n_steps = 0
        self.t_last = time.perf_counter()
        self.write_s = 0.0      # time spent in step() (summaries + encoding + writing), for the docs' cost figure

    # ---- context manager ---------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    def close(self):
        """Footer + fsync (a trace without a footer is valid too)."""
        if self.enabled and self.writer is not None:
            self.writer.close()

    def abort(self):
        if self.enabled and self.writer is not None:
            self.writer.abort()

    # ---- geometry and the rule's block schedule (engine/session.c: session_setup, advance) ---------

    def _open(self, L, V):
        if self.rule is None:
            gen = L - self.P
            self.rule = Rule(self.rule_spec, gen=gen, **self.rule_params)
        r = self.rule
        if r.name == "d2f":  # its per-block states (engine/rules/d2f.c) are not tracked here
            raise ValueError("%s: rule d2f (several blocks in flight) is recorded by `dlmscope run --record`, not by the "
                             "Python writer yet" % self.path)
        self.G, B = r["gen"], r["block"]
        if self.block_causal and self.block_causal != B:
            raise ValueError("%s: block %d must equal the attention block size %d (block-causal)" % (self.path, B, self.block_causal))
        self.N = (-(-(self.P + self.G) // B) * B) if self.block_causal else self.P + self.G
        if L != self.N:
            raise ValueError("%s: the canvas has %d positions; prompt %d + gen %d%s makes %d" % (
                self.path, L, self.P, self.G, " rounded to blocks" if self.block_causal else "", self.N))
        n_vocab = self.model["n_vocab"] or V
        if V is not None and V > n_vocab:
            n_vocab = V
        self.V = int(n_vocab)
        self.block0 = (self.P // B) * B if self.block_causal else self.P
        self.n_blocks = (self.N - self.block0 + B - 1) // B
        self.spb = r["steps"] // self.n_blocks if r.applies("steps") else 0
        self.K = r["top_k"]
        self.tokens = np.concatenate([self.prompt, np.full(self.N - self.P, self.M, dtype=np.int64)])
        self.state = np.where(np.arange(self.N) < self.P, fmt.PROMPT, fmt.MASK).astype(np.uint8)
        self.hist_conf = np.zeros(self.N, dtype=np.float32)
        self.prev_p = np.zeros(self.N, dtype=np.float32)
        self.remask_count = np.zeros(self.N, dtype=np.uint16)
        self.soft_next = None                       # (ids [N, S], weights [N, S]) for the next forward
        self.sched = dict(block=0, step_in_block=0, post_steps=0, step=0, block_masks=0, done=False,
                          stopped=False, prev_valid=False)
        self._start_block()
        self._advance(False, None)
        mname = self.model["name"] or "python"
        header = {
            "dlmscope": "python-dlmscope " + __version__,
            "created": int(time.time()),
            "model": {"name": mname, "dir": self.model["dir"], "identity": "%016x" % self.model["identity"],
                      "adapter": "", "n_vocab": self.V, "mask_id": self.M, "eos_id": self.eos},
            "tokenizer": self.tokenizer_path,
            "device": self.device if self.device is not None else self._device_name(),
            "prompt_text": self.prompt_text,
            "prompt_ids": self.prompt,
            "prompt_len": self.P, "gen_len": self.G, "n_tokens": self.N,
            "block_len": B, "block_causal": self.block_causal,
            "rule": r.spec(), "rule_params": r.params_map(),
            "seed": r["seed"], "top_k": self.K,
            "parent": "", "parent_step": -1,
        }
        ids = list(self.prompt) + [self.M] + ([self.eos] if self.eos >= 0 else [])
        header["new_tokens"] = {int(i): self.token_bytes(int(i)) for i in ids}
        self.writer = fmt.TraceWriter(self.path, header)

    @staticmethod
    def _device_name():
        if torch is not None and torch.cuda.is_available():
            return "python torch %s, %s" % (torch.__version__, torch.cuda.get_device_name())
        return "python" + (" torch " + torch.__version__ if torch is not None else "")

    def _bs(self, b):
        return self.block0 + b * self.rule["block"]

    def _be(self, b):
        return min(self._bs(b) + self.rule["block"], self.N)

    def _fg(self, b):
        return max(self._bs(b), self.P)

    def _masks(self, lo, hi):
        return int(np.count_nonzero(self.tokens[lo:hi] == self.M))

    def _eos_in(self, lo, hi):
        return self.eos >= 0 and bool(np.any(self.tokens[lo:hi] == self.eos))

    def _start_block(self):
        s = self.sched
        s["step_in_block"] = s["post_steps"] = 0
        s["prev_valid"] = False
        if s["block"] < self.n_blocks:
            b = s["block"]
            self.remask_count[self._bs(b):self._be(b)] = 0
            s["block_masks"] = self._masks(self._fg(b), self._be(b))

    def _advance(self, converged, events, force_end=None, force_done=None):
        """dlmscope's block ends, post-refinement budget and EOS stop, as in engine/session.c
        advance(); force_end / force_done (the loop's own word) override the rule's."""
        s, r = self.sched, self.rule
        first = True
        while not s["done"]:
            if s["block"] >= self.n_blocks:
                s["done"] = True
                break
            b = s["block"]
            fg, be = self._fg(b), self._be(b)
            masks = self._masks(fg, be)
            if first and force_end is not None:
                end = bool(force_end)
            elif r.name in ("llada", "margin", "dream"):
                end = s["step_in_block"] >= self.spb
            elif r.name == "evotoken":
                end = s["step_in_block"] > 0 and masks == 0
            elif r.name == "threshold":  # fastdllm_nfe: a block filled by its first forward gets one more
                end = masks == 0 and not (r["fastdllm_nfe"] and s["step_in_block"] == 1)
            elif r.name == "fdllm2":  # a stop token with no mask before it ends generation (engine/rules/fdllm2.c)
                gen = self.tokens[self.P:be]
                before = gen[:np.argmax(gen == self.M)] if np.any(gen == self.M) else gen
                if self.eos >= 0 and bool(np.any(before == self.eos)):
                    end = True
                    s["stopped"] = s["done"] = True
                else:
                    end = masks == 0
            else:
                end = False
                if converged:
                    end = True
                elif masks == 0:
                    if r["eos_stop"] and self._eos_in(self.P, be):
                        s["stopped"] = s["done"] = True
                        end = True
                    else:
                        s["post_steps"] += 1
                        end = s["post_steps"] > r["max_post"]
            first = False
            if not end:
                break
            if events is not None:
                done_pos = np.arange(fg, be)[self.tokens[fg:be] != self.M]
                events[done_pos] |= fmt.FINALIZE
            if r.llada2_loop and r["eos_stop"] and self._masks(self.P, be) == 0 and self._eos_in(self.P, be):
                s["stopped"] = s["done"] = True
            if s["done"]:
                break
            s["block"] += 1
            converged = False
            self._start_block()
        if force_done is not None:
            s["done"] = bool(force_done)

    # ---- distributions --------------------------------------------------------------------------------

    def _summarize(self, dist, is_probs, sampled, given):
        """Per row of dist [R, V]: (sampled, p_sampled, p_given, entropy, top_id [R, K], top_p [R, K])
        under the distribution the rule reads. Runs where the tensor lives (a GPU stays a GPU), in
        the logits' precision (float32 for bf16/fp16): the trace keeps probabilities to 1.5e-5 and
        entropies to 5e-4, far coarser than float32 rounding."""
        r, M = self.rule, self.M
        excl_prob = M if (r.name == "evotoken" and r["temperature"] == 0) else -1
        excl_sample = M if r.name == "evotoken" else -1
        tempered = (r.llada2_loop or r.name == "dream") and r["temperature"] > 0
        K = min(self.K, dist.shape[-1])
        if _is_torch(dist):
            x = dist.detach()                                    # shares the caller's storage: never written
            owned = x.dtype not in (torch.float32, torch.float64)
            if owned:
                x = x.float()                                    # bf16 / fp16 logits: summarise in float32
            if is_probs:
                p = x
                if excl_prob >= 0:
                    p = p.clone()
                    p[:, excl_prob] = 0
                    p = p / p.sum(-1, keepdim=True)
            else:
                if tempered:
                    x = x / r["temperature"]
                    owned = True
                if excl_prob >= 0:
                    x = x if owned else x.clone()
                    x[:, excl_prob] = float("-inf")
                p = torch.softmax(x, -1)
            ent = torch.special.entr(p).sum(-1)                  # -sum p log p, 0 log 0 = 0
            top_p, top_id = torch.topk(p, K, dim=-1)
            if sampled is None:
                if excl_sample >= 0 and excl_sample != excl_prob:
                    q = p.clone()
                    q[:, excl_sample] = -1
                    sampled_t = q.argmax(-1)
                else:
                    sampled_t = p.argmax(-1)
            else:
                sampled_t = torch.as_tensor(sampled, device=p.device, dtype=torch.long)
            g = torch.as_tensor(given, device=p.device, dtype=torch.long)
            rows = torch.arange(p.shape[0], device=p.device)
            out = (sampled_t, p[rows, sampled_t], p[rows, g.clamp(0, p.shape[1] - 1)], ent, top_id, top_p)
            out = tuple(_np(t) for t in out)
            p_given = np.where((given >= 0) & (given < p.shape[1]), out[2], 0.0)
            tid, tp = out[4].astype(np.int64), out[5]
            order = np.lexsort((tid, -tp), axis=-1)              # torch.topk leaves tie order open: lowest id first
            tid, tp = np.take_along_axis(tid, order, -1), np.take_along_axis(tp, order, -1)
            return out[0].astype(np.int64), out[1], p_given, out[3], tid, tp
        x = np.asarray(dist)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        if is_probs:
            p = x
            if excl_prob >= 0:
                p = p.copy()
                p[:, excl_prob] = 0
                p /= p.sum(-1, keepdims=True)
        else:
            if tempered:
                x = x / r["temperature"]
            if excl_prob >= 0:
                x = x.copy()
                x[:, excl_prob] = -np.inf
            p = np.exp(x - x.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0).sum(-1)
        part = np.argpartition(-p, K - 1, axis=-1)[:, :K] if K < p.shape[1] else np.tile(np.arange(p.shape[1]), (p.shape[0], 1))
        pp = np.take_along_axis(p, part, -1)
        order = np.lexsort((part, -pp), axis=-1)           # probability descending, ties to the lowest id
        top_id = np.take_along_axis(part, order, -1)
        top_p = np.take_along_axis(pp, order, -1)
        if sampled is None:
            score = p
            if excl_sample >= 0 and excl_sample != excl_prob:
                score = p.copy()
                score[:, excl_sample] = -1
            sampled = score.argmax(-1)
        sampled = np.asarray(sampled, dtype=np.int64)
        rows = np.arange(p.shape[0])
        ok = (given >= 0) & (given < p.shape[1])
        p_given = np.where(ok, p[rows, np.clip(given, 0, p.shape[1] - 1)], 0.0)
        return sampled, p[rows, sampled], p_given, ent, top_id, top_p

    # ---- one step -------------------------------------------------------------------------------------

    def step(self, x, logits=None, *, probs=None, rows=None, sampled=None, block=None, committed=None,
             edited=None, remasked=None, soft=None, fed_soft=None, hist_conf=None, remask_count=None,
             block_done=None, done=None, forward_ms=None):
        """Record one refinement step. x: the canvas after the step ([L] or [1, L] token ids);
        logits (or probs): this step's forward, [R, V] or [1, R, V], for canvas rows `rows`
        (start, end) (default: the whole canvas). See docs/recording.md for every argument."""
        if not self.enabled:
            return
        t0 = time.perf_counter()
        xs = _squeeze_batch(_np(x, np.int64), 1).ravel()
        dist = probs if probs is not None else logits
        if dist is not None:
            if _is_torch(dist):
                if dist.dim() == 3 and dist.shape[0] == 1:
                    dist = dist[0]
            else:
                dist = _squeeze_batch(np.asarray(dist), 2)
            V = int(dist.shape[-1])
        else:
            V = None
        if self.writer is None:
            self._open(len(xs), V)
        if len(xs) != self.N:
            raise ValueError("%s: step %d: the canvas has %d positions, the trace %d" % (self.path, self.n_steps, len(xs), self.N))
        if np.any(xs[:self.P] != self.prompt):
            raise ValueError("%s: step %d: the prompt positions changed" % (self.path, self.n_steps))
        r, P, N, M = self.rule, self.P, self.N, self.M
        s = self.sched
        if s["done"]:
            raise ValueError("%s: step %d: generation already finished under rule %s (pass done=False on the last step to continue)" % (self.path, self.n_steps, r.name))
        if block is not None and int(block) != s["block"]:      # the loop knows better: follow it
            s["block"] = int(block)
            self._start_block()
        b = s["block"]
        bs, be, fg = self._bs(b), self._be(b), self._fg(b)
        old = self.tokens.copy()
        state_old = self.state.copy()
        step_ms = (t0 - self.t_last) * 1e3

        # distributions over the rows this forward produced
        n_rows = 0
        lo = hi = 0
        if dist is not None:
            n_rows = int(dist.shape[0])
            if rows is None and n_rows != N:
                raise ValueError("%s: step %d: %d rows of logits for a canvas of %d positions (pass rows=(start, end))" % (
                    self.path, self.n_steps, n_rows, N))
            lo, hi = (0, N) if rows is None else (int(rows[0]), int(rows[1]))
            if hi - lo != n_rows or lo < 0 or hi > N:
                raise ValueError("%s: step %d: %d rows of logits for canvas rows [%d, %d)" % (self.path, self.n_steps, n_rows, lo, hi))
            glo = max(lo, P)                                    # only generation rows are stored
            sub = dist[glo - lo:hi - lo]
            smp = None if sampled is None else _squeeze_batch(_np(sampled, np.int64), 1).ravel()[glo - lo:hi - lo]
            summ = self._summarize(sub, probs is not None, smp, old[glo:hi]) if hi > glo else None
            lo = glo
        has = np.zeros(N, dtype=bool)
        samp = np.zeros(N, dtype=np.int64)
        p_s = np.zeros(N, dtype=np.float32)
        p_c = np.zeros(N, dtype=np.float32)
        ent = np.zeros(N, dtype=np.float32)
        n_top = np.zeros(N, dtype=np.uint8)
        top_id = np.zeros((N, self.K), dtype=np.int64)
        top_p = np.zeros((N, self.K), dtype=np.float32)
        if dist is not None and hi > lo:
            sm, ps, pc, h, ti, tp = summ
            has[lo:hi] = True
            samp[lo:hi], p_s[lo:hi], p_c[lo:hi], ent[lo:hi] = sm, ps, pc, h
            k = ti.shape[1]
            n_top[lo:hi] = k
            top_id[lo:hi, :k], top_p[lo:hi, :k] = ti, tp

        # events: from the canvas, unless the loop says
        self.tokens = xs.copy()
        events = np.zeros(N, dtype=np.uint8)
        gen = np.arange(N) >= P
        derived = {fmt.COMMIT: gen & (old == M) & (xs != M), fmt.EDIT: gen & (old != M) & (xs != M) & (xs != old),
                   fmt.REMASK: gen & (old != M) & (xs == M)}
        for bit, given in ((fmt.COMMIT, committed), (fmt.EDIT, edited), (fmt.REMASK, remasked)):
            sel = derived[bit] if given is None else self._positions(given)
            events[sel] |= bit

        # the rule's bookkeeping (engine/session.c rule_t2m / rule_evotoken), where the loop did not give it
        act = bool(np.any(old[fg:be] == M))
        n_edit_remask = int(np.count_nonzero(events[fg:be] & (fmt.EDIT | fmt.REMASK)))
        converged = False
        if r.llada2_loop:
            converged = not act and n_edit_remask == 0
        if r.name == "t2m":
            if remask_count is not None:
                self.remask_count = _squeeze_batch(_np(remask_count), 1).ravel().astype(np.uint16)
            else:
                editable = (old[fg:be] != M)
                if r["editable"] == "after":
                    editable |= (old[fg:be] == M) & (xs[fg:be] != M)
                if not editable.any():
                    self.remask_count[bs:be] = 0
                    s["prev_valid"] = False
                else:
                    self.remask_count[fg:be] += (events[fg:be] & fmt.REMASK).astype(bool).astype(np.uint16)
                    s["prev_valid"] = True
            # LogitDiff memory: p, at this step, of whatever each position now holds
            keep = xs[lo:hi] == old[lo:hi]
            same = xs[lo:hi] == samp[lo:hi]
            self.prev_p[lo:hi] = np.where(keep, p_c[lo:hi], np.where(same, p_s[lo:hi], 0.0))
        if r.name == "evotoken":
            if hist_conf is not None:
                self.hist_conf = _squeeze_batch(_np(hist_conf), 1).ravel().astype(np.float32)
            else:
                ch = (events & (fmt.COMMIT | fmt.EDIT)).astype(bool) & has
                self.hist_conf[ch] = p_s[ch]
        fed = self._soft(fed_soft) if fed_soft is not None else self.soft_next
        if soft is not None:
            if r.name != "evotoken":
                raise ValueError("%s: soft inputs are EvoToken's (rule %s feeds hard tokens)" % (self.path, r.name))
            self.soft_next = self._soft(soft)

        # states: what each position will be fed next (engine/session.c state_after)
        pos = np.arange(N)
        if r.name == "evotoken":
            if self.soft_next is not None:
                ids_n, w_n = self.soft_next
                soft_next = w_n[:, -1] < 1.0
            else:  # EvoToken feeds every position from the block on as a soft token after the first forward
                soft_next = pos >= bs
            st = np.where(xs == M, np.where(soft_next, fmt.SOFT_MASK, fmt.MASK),
                          np.where((pos >= bs) & soft_next, fmt.SOFT, fmt.DECODED))
            events[gen & (st != state_old)] |= fmt.TRANSITION
        else:
            st = np.where(xs == M, fmt.MASK, fmt.DECODED)
        st = np.where(pos < P, fmt.PROMPT, st).astype(np.uint8)
        self.state = st

        # stuck: committed before the step, in the block, unsure of its token and of any other
        tau = r.stuck_tau()
        stuck = has & (pos >= bs) & (pos < be) & (pos >= P) & (old != M) & (p_c < r["stuck_eps"]) & (top_p[:, 0] < tau)

        # schedule: the step is done; close blocks and finish as the rule does
        record = dict(step=s["step"], block=b, n_blocks=self.n_blocks, block_start=bs, block_end=be,
                      step_in_block=s["step_in_block"])
        s["step"] += 1
        s["step_in_block"] += 1
        self._advance(converged, events, block_done, done)

        counts = dict(commits=int(np.count_nonzero(events[P:] & fmt.COMMIT)),
                      edits=int(np.count_nonzero(events[P:] & fmt.EDIT)),
                      remasks=int(np.count_nonzero(events[P:] & fmt.REMASK)),
                      transitions=int(np.count_nonzero(events[P:] & fmt.TRANSITION)),
                      finalized=int(np.count_nonzero(events[P:] & fmt.FINALIZE)),
                      stuck=int(np.count_nonzero(stuck)))
        record.update(counts)
        record["forward_ms"] = float(forward_ms if forward_ms is not None else step_ms)
        record["step_ms"] = float(step_ms)
        record["done"] = bool(s["done"])
        self._write_step(record, old, samp, p_s, p_c, ent, n_top, top_id, top_p, has, stuck, events, fed)
        self.n_steps += 1
        now = time.perf_counter()
        self.write_s += now - t0
        self.t_last = now
        return s["done"]

    def _positions(self, given):
        """A bool mask over the canvas from a bool mask / index list (torch or NumPy, batch of 1)."""
        a = _squeeze_batch(_np(given), 1)
        sel = np.zeros(self.N, dtype=bool)
        if a.dtype == bool:
            a = a.ravel()
            if a.size != self.N:
                raise ValueError("%s: an event mask of %d entries for a canvas of %d" % (self.path, a.size, self.N))
            sel |= a
        else:
            sel[a.ravel().astype(np.int64)] = True
        return sel

    def _soft(self, soft):
        """(ids [N, S], weights [N, S]) from a pair of tensors (EvoToken's soft_token, prob)."""
        ids, w = soft
        ids = _squeeze_batch(_np(ids, np.int64), 2)
        w = _squeeze_batch(_np(w, np.float32), 2)
        if ids.shape != w.shape or ids.shape[0] != self.N or not 1 <= ids.shape[1] <= fmt.SOFT_MAX:
            raise ValueError("%s: soft inputs of shape %s / %s for %d positions (at most %d slots)" % (
                self.path, ids.shape, w.shape, self.N, fmt.SOFT_MAX))
        return ids, w

    def _write_step(self, rec, old, samp, p_s, p_c, ent, n_top, top_id, top_p, has, stuck, events, fed):
        w, P, N, K, r = self.writer, self.P, self.N, self.K, self.rule
        g = slice(P, N)
        xs = self.tokens
        ids_seen = [xs[g], old[g], samp[g][has[g]], top_id[g][n_top[g] > 0].ravel()]
        cols = {}
        cols["token"] = w.ids(xs[g])
        cols["state"] = w.u8(self.state[g])
        cols["events"] = w.u8(events[g])
        cols["flags"] = w.u8(np.where(has[g], fmt.FLAG_HAS_DIST, 0) | np.where(stuck[g], fmt.FLAG_STUCK, 0))
        cols["sampled"] = w.ids(np.where(has[g], samp[g], 0))
        cols["p_sampled"] = w.u16(fmt.quant_p(p_s[g]))
        cols["p_current"] = w.u16(fmt.quant_p(p_c[g]))
        cols["entropy"] = w.u16(fmt.quant_entropy(ent[g]))
        cols["n_top"] = w.u8(n_top[g])
        cols["top_k"] = K
        valid = np.arange(K)[None, :] < n_top[g][:, None]
        cols["top_id"] = w.ids(np.where(valid, top_id[g], 0))
        cols["top_p"] = w.u16(np.where(valid, fmt.quant_p(top_p[g]), 0))
        changed = np.nonzero(xs[g] != old[g])[0] + P
        pairs = np.zeros((len(changed), 2), dtype="<u4")
        pairs[:, 0], pairs[:, 1] = changed, old[changed]
        cols["changes"] = pairs.tobytes()
        if fed is not None:                          # the soft inputs this step's forward was fed
            ids, wt = fed
            S = ids.shape[1]
            hard = wt[g, -1] >= 1.0
            cols["soft_k"] = S
            cols["n_soft"] = w.u8(np.where(hard, 0, S))
            cols["soft_id"] = w.ids(np.where(hard[:, None], 0, ids[g]))
            cols["soft_w"] = w.u16(np.where(hard[:, None], 0, fmt.bf16_bits(wt[g])))
            ids_seen.append(ids[g][~hard].ravel())
        sess = {"rule": r.spec()}
        s = self.sched
        for k in ("block", "step_in_block", "post_steps", "step", "block_masks"):
            sess[k] = int(s[k])
        for k in ("done", "stopped", "prev_valid"):
            sess[k] = bool(s[k])
        if r.name == "evotoken":
            sess["hist_conf"] = w.f32(self.hist_conf[g])
        if r.name == "t2m":
            sess["prev_p"] = w.f32(self.prev_p[g])
            sess["remask_count"] = w.u16(self.remask_count[g])
        if self.soft_next is not None:
            ids, wt = self.soft_next
            sess["soft_k"] = int(ids.shape[1])
            sess["soft_ids"] = w.ids(ids[g])
            sess["soft_w"] = w.u16(fmt.bf16_bits(wt[g]))
        new = {}
        for i in np.unique(np.concatenate([np.asarray(a, dtype=np.int64).ravel() for a in ids_seen])):
            i = int(i)
            if 0 <= i < self.V and not w.seen[i]:
                new[i] = self.token_bytes(i)
        w.set_last_tokens(xs[P:P + self.G])
        w.step(rec, cols, sess, new)
        # What this record says, before quantisation (for tests and for loops that want to look).
        self.last_step = dict(rec, token=xs.copy(), prev=old, state=self.state.copy(), events=events, has=has,
                              sampled=samp, p_sampled=p_s, p_current=p_c, entropy=ent, n_top=n_top, top_id=top_id,
                              top_p=top_p, stuck_pos=stuck, fed=fed, hist_conf=self.hist_conf.copy(),
                              remask_count=self.remask_count.copy())

    # ---- Dream's per-step callback ----------------------------------------------------------------------

    def dream_hook(self):
        """A generation_tokens_hook_func for Dream's diffusion_generate (batch of 1): called with
        (step, x, logits) after each step (step None, logits None once before the first)."""
        def hook(step, x, logits):
            if step is not None and logits is not None:
                self.step(x, logits)
            return x
        return hook


class BatchRecorder:
    """One trace per sequence of a batched run: paths[i] records row i.

        with dlmscope.BatchRecorder(["a.dlmtrace", "b.dlmtrace"], prompts=input_ids, rule=..., ...) as rec:
            ... rec.step(x, logits)          # x [B, L], logits [B, L, V]; per-row keyword arguments too

    Keyword arguments of step() that are batched tensors ([B, ...]) are split by row; others are
    passed to every row. A row whose generation is done is no longer recorded.
    """

    def __init__(self, paths, prompts, **kwargs):
        prompts = _np(prompts) if not isinstance(prompts, (list, tuple)) else prompts
        if len(prompts) != len(paths):
            raise ValueError("%d trace paths for %d prompts" % (len(paths), len(prompts)))
        self.recorders = [Recorder(p, prompt=q, **kwargs) for p, q in zip(paths, prompts)]

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        for r in self.recorders:
            r.__exit__(exc_type, exc, tb)
        return False

    def close(self):
        for r in self.recorders:
            r.close()

    def step(self, x, logits=None, **kwargs):
        n = len(self.recorders)
        for i, rec in enumerate(self.recorders):
            if not rec.enabled or (rec.writer is not None and rec.sched["done"]):
                continue
            row = {k: (v[i] if self._batched(v, n) else v) for k, v in kwargs.items()}
            if isinstance(kwargs.get("soft"), tuple) and self._batched(kwargs["soft"][0], n):
                row["soft"] = (kwargs["soft"][0][i], kwargs["soft"][1][i])
            rec.step(x[i], None if logits is None else logits[i], **row)

    @staticmethod
    def _batched(v, n):
        return (_is_torch(v) or isinstance(v, np.ndarray)) and v.ndim >= 1 and v.shape[0] == n and n > 1

    def dream_hook(self):
        """Dream's generation_tokens_hook_func for a batch: x [B, L], logits [B, L, V]."""
        def hook(step, x, logits):
            if step is not None and logits is not None:
                self.step(x, logits)
            return x
        return hook
