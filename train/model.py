"""model.py — the LLaDA architecture in PyTorch, with LLaDA's tensor names, soft-token inputs and LoRA.

Architecture (research/algorithms.md 1.1): token embedding (not scaled), n_layers pre-norm Llama
blocks, each  x += attn_out(Attn(RMSNorm(x) * attn_norm))  then
x += ff_out(silu(ff_proj(h)) * up_proj(h)) with h = RMSNorm(x) * ff_norm  (ff_proj is the gate),
then ln_f and an untied LM head (transformer.ff_out). RMSNorm in fp32, cast back, times the weight.
RoPE rotate-half over the full head dim, in fp32, positions 0..L-1. Attention is bidirectional
(no mask), scale 1/sqrt(head_dim), GQA when n_kv_heads < n_heads. No biases. Logits are unshifted.

Soft inputs (EvoToken, algorithms.md 4.2): soft_ids [B, L, K] and soft_w [B, L, K] give every
position the embedding  sum_k w_k * wte[id_k]  with w = clamp_min(w, 0) / clamp_min(sum w, 1e-12).

Files: model.safetensors (bf16) with names model.transformer.*, and config.json with LLaDA's
native keys; load_model() reads them back (bf16 or f32 safetensors).
"""

import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

import st_io

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def default_config(vocab_size, mask_id, eos_id, bos_id, d_model=256, n_heads=8, n_kv_heads=None, n_layers=8,
                   mlp_hidden_size=768, rope_theta=10000.0, max_sequence_length=4096):
    return {
        "model_type": "llada",
        "architectures": ["LLaDAModelLM"],
        "d_model": d_model,
        "n_heads": n_heads,
        "n_kv_heads": n_kv_heads or n_heads,
        "n_layers": n_layers,
        "mlp_hidden_size": mlp_hidden_size,
        "mlp_ratio": mlp_hidden_size / d_model,
        "vocab_size": vocab_size,
        "embedding_size": vocab_size,
        "max_sequence_length": max_sequence_length,
        "rope": True,
        "rope_theta": rope_theta,
        "rope_full_precision": True,
        "rms_norm_eps": 1e-5,
        "layer_norm_type": "rms",
        "layer_norm_with_affine": True,
        "activation_type": "silu",
        "block_type": "llama",
        "weight_tying": False,
        "include_bias": False,
        "include_qkv_bias": False,
        "alibi": False,
        "scale_logits": False,
        "input_emb_norm": False,
        "attention_layer_norm": False,
        "mask_token_id": mask_id,
        "eos_token_id": eos_id,
        "pad_token_id": eos_id,
        "bos_token_id": bos_id,
        "torch_dtype": "bfloat16",
    }


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        dt = x.dtype
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.to(dt) * self.weight.to(dt)


class LoRALinear(nn.Linear):
    """nn.Linear plus an optional LoRA branch: y = x W^T + (alpha/r) * B(A(dropout(x))).
    State keys: weight, lora_A.weight [r, in], lora_B.weight [out, r] (PEFT's names)."""

    def __init__(self, d_in, d_out):
        super().__init__(d_in, d_out, bias=False)
        self.lora_A = None
        self.lora_B = None
        self.lora_scale = 0.0
        self.lora_dropout = nn.Identity()

    def add_lora(self, r, alpha, dropout=0.0):
        self.lora_A = nn.Linear(self.in_features, r, bias=False).to(self.weight.device)
        self.lora_B = nn.Linear(r, self.out_features, bias=False).to(self.weight.device)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))   # PEFT's initialisation
        nn.init.zeros_(self.lora_B.weight)
        self.lora_scale = alpha / r
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.lora_A is not None:
            y = y + self.lora_scale * self.lora_B(self.lora_A(self.lora_dropout(x)))
        return y


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, nh, nkv = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
        hd = cfg.get("head_dim") or d // nh
        self.nh, self.nkv, self.hd = nh, nkv, hd
        eps = cfg["rms_norm_eps"]
        self.attn_norm = RMSNorm(d, eps)
        self.q_proj = LoRALinear(d, nh * hd)
        self.k_proj = LoRALinear(d, nkv * hd)
        self.v_proj = LoRALinear(d, nkv * hd)
        self.attn_out = LoRALinear(nh * hd, d)
        self.ff_norm = RMSNorm(d, eps)
        self.ff_proj = LoRALinear(d, cfg["mlp_hidden_size"])   # gate (SiLU)
        self.up_proj = LoRALinear(d, cfg["mlp_hidden_size"])
        self.ff_out = LoRALinear(cfg["mlp_hidden_size"], d)    # down

    def forward(self, x, cos, sin):
        B, L, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(B, L, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, L, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, L, self.nkv, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if self.nkv != self.nh:
            rep = self.nh // self.nkv
            k = k.repeat_interleave(rep, 1)
            v = v.repeat_interleave(rep, 1)
        if HAS_SDPA:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False)
        else:
            # scale q (B*L*d values) rather than the scores (B*h*L*L): a tenth of the time at L ~ 70
            s = torch.matmul(q * (1.0 / math.sqrt(self.hd)), k.transpose(-1, -2))
            o = torch.matmul(torch.softmax(s.float(), -1).to(v.dtype), v)
        o = o.transpose(1, 2).reshape(B, L, self.nh * self.hd)
        x = x + self.attn_out(o)
        h = self.ff_norm(x)
        x = x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))
        return x


def rope_tables(L, hd, theta, device):
    inv_freq = theta ** (-torch.arange(0, hd, 2, device=device, dtype=torch.float32) / hd)
    freqs = torch.outer(torch.arange(L, device=device, dtype=torch.float32), inv_freq)
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos(), emb.sin()


def rope(x, cos, sin):
    """Rotate-half RoPE in fp32 over the full head dim; x [B, H, L, hd]."""
    dt = x.dtype
    xf = x.float()
    h = xf.shape[-1] // 2
    rot = torch.cat([-xf[..., h:], xf[..., :h]], -1)
    return (xf * cos + rot * sin).to(dt)


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg["embedding_size"], cfg["d_model"])
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layers"])])
        self.ln_f = RMSNorm(cfg["d_model"], cfg["rms_norm_eps"])
        self.ff_out = nn.Linear(cfg["d_model"], cfg["embedding_size"], bias=False)   # LM head, untied


class LLaDA(nn.Module):
    """state_dict keys are exactly LLaDA's: model.transformer.{wte,blocks.i.*,ln_f,ff_out}.weight"""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        self.model = nn.Module()
        self.model.transformer = Transformer(cfg)
        self._rope = None

    @property
    def tr(self):
        return self.model.transformer

    def init_weights(self, seed=0, std=0.02):
        g = torch.Generator().manual_seed(seed)
        n_layers = self.cfg["n_layers"]
        for name, p in self.named_parameters():
            if "lora_" in name:
                continue
            if name.endswith("norm.weight") or name.endswith("ln_f.weight"):
                nn.init.ones_(p)
                continue
            s = std
            if name.endswith("attn_out.weight") or (".blocks." in name and name.endswith("ff_out.weight")):
                s = std / math.sqrt(2 * n_layers)
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * s)

    def embed(self, ids, soft_ids=None, soft_w=None):
        wte = self.tr.wte.weight
        if soft_ids is None:
            return F.embedding(ids, wte)
        w = soft_w.float().clamp_min(0)
        w = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
        e = F.embedding(soft_ids, wte)                       # [B, L, K, d]
        return (w.unsqueeze(-1).to(e.dtype) * e).sum(-2)

    def forward(self, ids, soft_ids=None, soft_w=None):
        """ids [B, L] -> logits [B, L, V] (float32). soft_ids/soft_w [B, L, K] replace every position's
        embedding with the normalised mixture (pass a one-hot weight for hard positions)."""
        x = self.embed(ids, soft_ids, soft_w)
        L = x.shape[1]
        hd = self.cfg.get("head_dim") or self.cfg["d_model"] // self.cfg["n_heads"]
        if self._rope is None or self._rope[0].shape[0] < L or self._rope[0].device != x.device:
            with torch.autocast(x.device.type, enabled=False):
                self._rope = rope_tables(max(L, 256), hd, self.cfg["rope_theta"], x.device)
        cos, sin = self._rope[0][:L], self._rope[1][:L]
        for blk in self.tr.blocks:
            x = blk(x, cos, sin)
        x = self.tr.ln_f(x)
        return self.tr.ff_out(x).float()

    # ---- LoRA -------------------------------------------------------------------------------

    def add_lora(self, r, alpha, targets=("q_proj", "k_proj", "v_proj"), dropout=0.0):
        for p in self.parameters():
            p.requires_grad_(False)
        for blk in self.tr.blocks:
            for t in targets:
                getattr(blk, t).add_lora(r, alpha, dropout)
        return [p for n, p in self.named_parameters() if "lora_" in n]

    def lora_state(self):
        """PEFT key names -> tensors: base_model.model.model.transformer.blocks.{i}.q_proj.lora_A.weight"""
        return {"base_model.model." + n: p.detach() for n, p in self.named_parameters() if "lora_" in n}

    def load_lora(self, adapter_dir):
        with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
            ac = json.load(f)
        sd = st_io.load(os.path.join(adapter_dir, "adapter_model.safetensors"))
        self.add_lora(ac["r"], ac["lora_alpha"], tuple(ac["target_modules"]), 0.0)
        own = dict(self.named_parameters())
        for k, v in sd.items():
            name = k[len("base_model.model."):].replace(".default.weight", ".weight")
            own[name].data.copy_(v)
        return ac


def param_count(model, trainable_only=False):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def base_state(model):
    """The base weights (no LoRA) by LLaDA name, in a stable order."""
    return {n: p.detach() for n, p in model.named_parameters() if "lora_" not in n}


def save_model(model, outdir):
    os.makedirs(outdir, exist_ok=True)
    st_io.save(os.path.join(outdir, "model.safetensors"), base_state(model), "BF16")
    with open(os.path.join(outdir, "config.json"), "w") as f:
        json.dump(model.cfg, f, indent=2)
        f.write("\n")


def load_model(model_dir, device="cpu", adapter=None):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    cfg.setdefault("n_kv_heads", cfg["n_heads"])
    cfg.setdefault("embedding_size", cfg["vocab_size"])
    model = LLaDA(cfg)
    sd = st_io.load(os.path.join(model_dir, "model.safetensors"))
    missing = set(base_state(model)) - set(sd)
    if missing:
        raise ValueError("%s: missing tensors %s" % (model_dir, sorted(missing)[:3]))
    model.load_state_dict(sd, strict=False)
    if adapter:
        model.load_lora(adapter)
    return model.to(device).eval()


def pick_device(name="auto"):
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def autocast(device):
    """bf16 autocast on CUDA, a no-op context on CPU."""
    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)
