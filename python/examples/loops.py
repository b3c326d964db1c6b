"""Five decoding loops, written from research/algorithms.md (our transcriptions of the official
code), each instrumented with dlmscope's recorder. The lines marked `# dlmscope` are all it takes.

    model(x, soft_token=None, prob=None) -> logits [L, V]     (one sequence; the EvoToken loop
                                                                passes soft inputs as its official
                                                                modeling code takes them)

With a Hugging Face checkpoint, model = lambda x, **kw: hf_model(x[None]).logits[0] (see
docs/recording.md). Decisions follow dlmscope's definitions (docs/rules.md): argmax ties to the
lowest id, position rankings stable (ties to the lowest position), so that at temperature 0 the
trajectories equal `dlmscope run` on the same model step for step (tests/cli/test_python_trace.sh).
At temperature > 0 these loops draw PyTorch Gumbel noise and pass the draw to the recorder as
`sampled=`; dlmscope's own runs use another random stream, so sampled runs differ.
"""

import torch

NEG = float("-inf")


def gumbel_argmax(logits, temperature, exclude=None):
    """x0: argmax of logits (T = 0) or of logits / T + Gumbel noise, float64 (LLaDA add_gumbel_noise)."""
    scores = logits.to(torch.float64)
    if temperature > 0:
        u = torch.rand_like(scores)
        scores = scores / temperature - torch.log(-torch.log(u))
    if exclude is not None:
        scores = scores.clone()
        scores[..., exclude] = NEG
    return scores.argmax(-1)


def ranked(conf):
    """Positions by confidence, descending; ties to the lowest position."""
    return torch.sort(conf, descending=True, stable=True).indices


def num_transfer_tokens(n_masks, steps):
    """LLaDA's schedule: n // steps per step, the remainder to the first steps."""
    base, rem = divmod(int(n_masks), steps)
    return [base + (1 if i < rem else 0) for i in range(steps)]


def llada(model, prompt, *, gen, block, steps, mask_id, temperature=0.0, rec=None):
    """LLaDA generate.py: fixed steps per block, commit the most confident masks (low_confidence)."""
    P = len(prompt)
    x = torch.cat([prompt, torch.full((gen,), mask_id, dtype=torch.long, device=prompt.device)])
    nb = gen // block
    spb = steps // nb
    for b in range(nb):
        bs, be = P + b * block, P + (b + 1) * block
        ntt = num_transfer_tokens((x[bs:be] == mask_id).sum(), spb)
        for i in range(spb):
            mask_index = x == mask_id
            logits = model(x)
            sampled = gumbel_argmax(logits, temperature)
            p = torch.softmax(logits.to(torch.float64), -1)
            conf = p.gather(-1, sampled[:, None])[:, 0]
            conf[be:] = NEG
            conf = torch.where(mask_index, conf, torch.full_like(conf, NEG))
            x0 = torch.where(mask_index, sampled, x)
            sel = ranked(conf)[:ntt[i]]
            x[sel] = x0[sel]
            if rec:
                rec.step(x, logits, sampled=sampled)                                     # dlmscope
    return x


def threshold(model, prompt, *, gen, block, tau, mask_id, temperature=0.0, rec=None):
    """Fast-dLLM parallel decoding (get_transfer_index with a threshold): the most confident mask
    always, every other mask with conf >= tau, until the block has no masks."""
    P = len(prompt)
    x = torch.cat([prompt, torch.full((gen,), mask_id, dtype=torch.long, device=prompt.device)])
    for b in range(gen // block):
        bs, be = P + b * block, P + (b + 1) * block
        while (x[bs:be] == mask_id).any():
            mask_index = x == mask_id
            mask_index[be:] = False
            logits = model(x)
            x0 = gumbel_argmax(logits, temperature)
            p = torch.softmax(logits.to(torch.float64), -1)
            conf = p.gather(-1, x0[:, None])[:, 0]
            conf = torch.where(mask_index, conf, torch.full_like(conf, NEG))
            order = ranked(conf)[:int(mask_index.sum())]
            sel = torch.cat([order[:1], order[1:][conf[order[1:]] >= tau]])
            x[sel] = x0[sel]
            if rec:
                rec.step(x, logits, sampled=x0)                                          # dlmscope
    return x


def llada21(model, prompt, *, gen, block, mask_id, eos_id, remask=None, tau=0.7, tau_edit=0.5, max_post=16,
            eos_stop=True, temperature=0.0, rec=None):
    """LLaDA2.1's generate (M2T + T2T editing), or, with remask=dict(tau_remask=, cmax=, rho_max=),
    the T2M fork's _token_edit_step with the LowProb detector (research notes sections 5 and 6).
    Bidirectional blocks after the prompt (the bundled model); a block-causal model would align
    blocks to position 0 and forward only x[:we]."""
    P = len(prompt)
    x = torch.cat([prompt, torch.full((gen,), mask_id, dtype=torch.long, device=prompt.device)])
    stopped = False
    for b in range(gen // block):
        bs, we = P + b * block, P + (b + 1) * block
        post = 0
        counters = torch.zeros(block, dtype=torch.long, device=x.device)
        while True:
            old = x[bs:we].clone()
            act = old == mask_id
            if not act.any():
                if eos_stop and (x[P:we] == eos_id).any():      # T2M fork: the in-loop EOS break
                    stopped = True
                    break
                post += 1
                if post > max_post:
                    break
            logits = model(x)
            lg = logits[bs:we].to(torch.float64)
            if temperature > 0:
                lg = lg / temperature
            p = torch.softmax(lg, -1)
            sampled = gumbel_argmax(logits, temperature)
            x0 = sampled[bs:we]
            c = p.gather(-1, x0[:, None])[:, 0]
            m2t = act & (c > tau)
            if not m2t.any() and act.any():                      # at least the most confident mask
                m2t[ranked(torch.where(act, c, torch.full_like(c, NEG)))[0]] = True
            editable = ~act
            blk = x[bs:we]
            if remask is None:                                   # T2T: overwrite confident disagreeing tokens
                t2t = editable & (c > tau_edit) & (x0 != old)
                blk[m2t | t2t] = x0[m2t | t2t]
                changed = bool(t2t.any())
            else:                                                # T2M LowProb: reset suspect tokens to [MASK]
                blk[m2t] = x0[m2t]
                if not editable.any():
                    counters.zero_()
                    changed = False
                else:
                    p_old = p.gather(-1, old[:, None])[:, 0]
                    R = editable & (p_old < remask["tau_remask"]) & (counters < remask["cmax"])
                    if R.any() and remask["rho_max"] < 1.0:
                        cap = max(1, int(int(editable.sum()) * remask["rho_max"]))
                        if int(R.sum()) > cap:                   # keep the cap least probable (ties: lowest position)
                            score = torch.where(R, p_old, torch.full_like(p_old, float("inf")))
                            keep = torch.sort(score, stable=True).indices[:cap]
                            R = torch.zeros_like(R)
                            R[keep] = True
                    blk[R] = mask_id
                    counters[R] += 1
                    changed = bool(R.any())
            if rec:
                rec.step(x, logits, sampled=sampled)                                     # dlmscope
            if not act.any() and not changed:
                break
        if stopped:
            break
        if eos_stop and not (x[P:we] == mask_id).any() and (x[P:we] == eos_id).any():
            break
    return x


def evotoken(model, prompt, *, gen, block, steps, mask_id, k_soft=3, alpha=0.7, temperature=0.0, rec=None):
    """EvoToken-DLM generate_soft_token: masks become soft tokens (top-k mixtures, mixed with the
    mask embedding by alpha), the LLaDA schedule moves them to Soft(V), historical best decides."""
    P = len(prompt)
    L = P + gen
    x = torch.cat([prompt, torch.full((gen,), mask_id, dtype=torch.long, device=prompt.device)])
    nb = gen // block
    spb = steps // nb
    soft_token = prob = None
    conf_x = torch.zeros(L, dtype=torch.float64, device=x.device)
    pos = torch.arange(L, device=x.device)
    for b in range(nb):
        bs, be = P + b * block, P + (b + 1) * block
        ntt = num_transfer_tokens((x[bs:be] == mask_id).sum(), spb)
        i = 0
        while True:
            mask_index = x == mask_id
            mask_index[be:] = False
            logits = model(x, soft_token=soft_token, prob=prob)
            lg = logits.to(torch.float64).clone()
            x0 = gumbel_argmax(lg, temperature, exclude=mask_id)      # [MASK] is never sampled
            if temperature == 0:
                lg[:, mask_id] = NEG                                    # quirk Q1: p excludes [MASK] at T = 0
            p = torch.softmax(lg, -1)
            c0 = p.gather(-1, x0[:, None])[:, 0]
            conf = torch.where(mask_index, c0, torch.full_like(c0, NEG))
            sel = ranked(conf)[:ntt[i]]
            x[sel] = x0[sel]
            conf_x[sel] = c0[sel]
            dec = (x != mask_id) & (pos >= bs) & (pos < be)             # historical best in the block
            dec[sel] = False
            better = dec & (c0 > conf_x) & (x0 != mask_id)
            x[better] = x0[better]
            conf_x[better] = c0[better]
            # the next forward's soft inputs: top-k of p, plus the own token (alpha-weighted for masks)
            order = torch.sort(p, dim=-1, descending=True, stable=True)
            pk, vk = order.values[:, :k_soft], order.indices[:, :k_soft]
            S = pk.sum(-1, keepdim=True)
            w_own = torch.where((x == mask_id)[:, None], S * alpha / (1 - alpha), torch.zeros_like(S))
            w = torch.cat([pk, w_own], -1)
            w = w / w.sum(-1, keepdim=True)
            soft_token = torch.cat([vk, x[:, None]], -1)
            hard = torch.zeros_like(w)
            hard[:, -1] = 1.0
            prob = torch.where((pos < bs)[:, None], hard, w).to(torch.bfloat16).to(torch.float32)
            i += 1
            if rec:
                rec.step(x, logits, sampled=x0, soft=(soft_token, prob), hist_conf=conf_x)  # dlmscope
            if not (x[bs:be] == mask_id).any():
                break
    return x
