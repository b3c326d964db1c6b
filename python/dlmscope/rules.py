"""dlmscope's decoding rules and their parameters, as the trace header names them.

This mirrors engine/rules.h / engine/rules.c (DLM_RULE_PARAMS, dlm_rule_defaults,
dlm_rule_finalize, dlm_rule_format) and the rules' operations tables in engine/rules/*.c (their
parameters, defaults, presets and cache modes): a trace's `rule` must be a spec the C
reader parses, in canonical form. tests/cli/test_python_trace.sh checks this table against
`dlmscope run --help-rules`, so the two cannot drift apart silently.
"""

RULES = ("llada", "threshold", "t2t", "t2m", "evotoken", "margin", "dream", "fdllm2", "d2f")
_ALL = set(RULES)
_LLADA2 = {"t2t", "t2m"}

# (name, type, rules it applies to, lo, hi, enum values). Order = DLM_RULE_PARAMS order.
PARAMS = (
    ("gen", "int", _ALL, 1, 1 << 20, None),
    ("block", "int", _ALL, 1, 1 << 20, None),
    ("steps", "int", {"llada", "evotoken", "margin", "dream"}, 1, 1 << 20, None),
    ("temperature", "float", _ALL, 0, 100, None),
    ("seed", "seed", _ALL, 0, 2 ** 63 - 1, None),
    ("remasking", "enum", {"llada"}, 0, 1, ("low_confidence", "random")),
    ("tau", "float", {"threshold", "fdllm2", "d2f"} | _LLADA2, 0, 1, None),
    ("factor", "float", {"threshold"}, 0, 100, None),
    ("fastdllm_nfe", "bool", {"threshold"}, 0, 1, None),
    ("mode", "enum", _LLADA2, 0, 1, ("q", "s")),
    ("tau_edit", "float", {"t2t"}, 0, 1, None),
    ("max_post", "int", _LLADA2, 0, 1 << 16, None),
    ("eos_stop", "bool", _LLADA2, 0, 1, None),
    ("detector", "enum", {"t2m"}, 0, 2, ("lowprob", "t2t-remask", "logitdiff")),
    ("tau_remask", "float", {"t2m"}, 0, 1, None),
    ("cmax", "int", {"t2m"}, 0, 1 << 16, None),
    ("rho_max", "float", {"t2m"}, 0, 1, None),
    ("cap", "enum", {"t2m"}, 0, 1, ("code", "paper")),
    ("editable", "enum", {"t2m"}, 0, 1, ("before", "after")),
    ("k_soft", "int", {"evotoken"}, 1, 8, None),
    ("alpha", "float", {"evotoken"}, 0, 0.999999, None),
    ("stuck_eps", "float", _ALL, 0, 1, None),
    ("stuck_tau", "float", _ALL, -1, 1, None),
    ("top_k", "int", _ALL, 1, 8, None),
    ("cache", "enum", _ALL, 0, 3, ("none", "prefix", "dual", "official-block")),
    ("alg", "enum", {"dream"}, 0, 3, ("origin", "maskgit_plus", "topk_margin", "entropy")),
    ("eps", "float", {"dream"}, 1e-9, 1, None),
    ("sub_block", "int", {"fdllm2"}, 1, 1 << 20, None),
    ("block_add", "float", {"d2f"}, 0, 1, None),
    ("decoded", "float", {"d2f"}, 0, 1, None),
)
_BY_NAME = {p[0]: p for p in PARAMS}


def defaults(rule):
    """dlm_rule_defaults: the papers' main settings (before finalize)."""
    return dict(gen=128, block=32, steps=0, temperature=0.5 if rule == "evotoken" else 0.0, seed=0,
                remasking="low_confidence", tau=0.9 if rule in ("threshold", "fdllm2", "d2f") else 0.7, factor=0.0, fastdllm_nfe=0, mode="q",
                tau_edit=0.5, max_post=16, eos_stop=1, detector="lowprob", tau_remask=0.3, cmax=1, rho_max=0.25,
                cap="code", editable="before", k_soft=3, alpha=0.7, stuck_eps=0.05, stuck_tau=-1.0, top_k=5,
                cache="prefix" if rule in ("fdllm2", "d2f") else "none", alg="origin", eps=1e-3, sub_block=8,
                block_add=0.1, decoded=0.55)


def _fmt_float(v):
    """Shortest %g form that reads back the same double (dlm_param_format)."""
    for prec in range(1, 18):
        s = "%.*g" % (prec, v)
        if float(s) == v:
            return s
    return repr(v)


class Rule:
    """A rule and every one of its parameters, finalized as dlmscope does. Errors name the key."""

    def __init__(self, spec, **params):
        name, _, rest = spec.partition(":")
        if name not in RULES:
            raise ValueError("unknown rule '%s' (rules: %s)" % (name, ", ".join(RULES)))
        self.name = name
        self.values = defaults(name)
        self.set = set()
        given = []
        for kv in filter(None, rest.split(",")):
            k, eq, v = kv.partition("=")
            if not eq:
                raise ValueError("rule %s: '%s' is not key=value" % (name, kv))
            given.append((k, v))
        given += list(params.items())
        for k, v in given:
            self._set(k, v)
        self._finalize()

    def applies(self, key):
        return self.name in _BY_NAME[key][2]

    def _set(self, key, value):
        p = _BY_NAME.get(key)
        if p is None or self.name not in p[2]:
            names = ", ".join(q[0] for q in PARAMS if self.name in q[2])
            raise ValueError("rule %s has no parameter '%s' (it takes: %s)" % (self.name, key, names))
        _, typ, _, lo, hi, values = p
        if typ == "enum":
            if str(value) not in values:
                raise ValueError("%s=%s: expected one of %s" % (key, value, ", ".join(values)))
            v = str(value)
        elif typ == "float":
            v = float(value)
            if not lo <= v <= hi:
                raise ValueError("%s=%s: expected a number in [%g, %g]" % (key, value, lo, hi))
        else:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("%s=%s: expected an integer" % (key, value))
            v = int(value)
            if not lo <= v <= hi:
                raise ValueError("%s=%s: expected an integer in [%g, %g]" % (key, value, lo, hi))
        self.values[key] = v
        self.set.add(key)

    def _finalize(self):
        v, name = self.values, self.name
        if name in _LLADA2:
            if "tau" not in self.set:
                v["tau"] = 0.5 if v["mode"] == "s" else 0.7
            if "tau_edit" not in self.set:
                v["tau_edit"] = 0.0 if v["mode"] == "s" else 0.5
        if name == "t2m" and "tau_remask" not in self.set:
            v["tau_remask"] = 0.9 if v["detector"] == "t2t-remask" else 0.3
        if name == "dream" and "block" not in self.set:
            v["block"] = v["gen"]  # Dream's loop has no blocks (engine/rules/dream.c)
        if "steps" not in self.set:
            v["steps"] = max(v["gen"] // 2, 1) if name == "evotoken" else v["gen"]
        if v["gen"] % v["block"]:
            raise ValueError("rule %s: gen %d is not a multiple of block %d" % (name, v["gen"], v["block"]))
        if self.applies("steps") and v["steps"] % (v["gen"] // v["block"]):
            raise ValueError("rule %s: steps %d is not a multiple of the %d blocks (gen %d / block %d)" % (
                name, v["steps"], v["gen"] // v["block"], v["gen"], v["block"]))
        if v["cache"] == "official-block" and name not in _LLADA2:
            raise ValueError("rule %s does not support cache=official-block" % name)
        if v["cache"] == "dual" and name == "d2f":
            raise ValueError("rule d2f does not support cache=dual")
        if name == "fdllm2" and v["sub_block"] < v["block"] and v["block"] % v["sub_block"]:
            raise ValueError("rule fdllm2: sub_block=%d does not divide block=%d" % (v["sub_block"], v["block"]))
        if v["fastdllm_nfe"] and v["cache"] == "none":
            raise ValueError("rule threshold: fastdllm_nfe=1 needs cache=prefix or cache=dual")

    def __getitem__(self, key):
        return self.values[key]

    def format_value(self, key):
        typ = _BY_NAME[key][1]
        v = self.values[key]
        return _fmt_float(v) if typ == "float" else str(v)

    def spec(self):
        """Canonical `name:key=value,...` with every parameter that applies (dlm_rule_format)."""
        parts = []
        for key, *_ in PARAMS:
            if not self.applies(key):
                continue
            if key in ("factor", "fastdllm_nfe") and self.values[key] == 0:
                continue
            if key == "cache" and self.values["cache"] == "none":
                continue
            parts.append("%s=%s" % (key, self.format_value(key)))
        return self.name + (":" + ",".join(parts) if parts else "")

    def params_map(self):
        """The header's rule_params: every applicable parameter as a string, plus name."""
        m = {"name": self.name}
        for key, *_ in PARAMS:
            if self.applies(key):
                m[key] = self.format_value(key)
        return m

    def stuck_tau(self):
        if self.values["stuck_tau"] >= 0:
            return self.values["stuck_tau"]
        return self.values["tau_edit"] if self.name == "t2t" else 0.5

    @property
    def llada2_loop(self):
        return self.name in _LLADA2
