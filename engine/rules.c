// rules.c — parameters: names, defaults, parsing, validation, formatting. What is particular to a
// rule comes from its operations table (engine/rules/*.c).
#include "rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "rules/rule.h"
#include "util.h"

typedef enum { PT_INT, PT_FLOAT, PT_SEED, PT_ENUM, PT_BOOL } param_type;
enum { SCOPE_ALL, SCOPE_RULE };

static const struct {
    const char *name;
    size_t      offset;
    param_type  type;
    int         scope;
    double      lo, hi;
    const char *help;
} params[] = {
#define X(name, field, type, scope, lo, hi, help) {#name, offsetof(dlm_rule_config, field), PT_##type, SCOPE_##scope, lo, hi, help},
    DLM_RULE_PARAMS(X)
#undef X
};

static const struct {
    const char *param, *value;
} enum_values[] = {
#define X(param, e, name) {#param, name},
    DLM_ENUM_VALUES(X)
#undef X
};

const char *dlm_rule_name(dlm_rule_kind k) { return (unsigned)k < DLM_RULE_COUNT ? dlm_rule_ops_of(k)->name : "?"; }
const char *dlm_rule_help(dlm_rule_kind k) { return (unsigned)k < DLM_RULE_COUNT ? dlm_rule_ops_of(k)->help : "?"; }
const char *dlm_param_name(dlm_param_id p) { return params[p].name; }
const char *dlm_param_help(dlm_param_id p) { return params[p].help; }

// The rule's entry for p, or NULL.
static const dlm_rule_param *rule_param(dlm_rule_kind k, dlm_param_id p) {
    const dlm_rule_ops *ops = dlm_rule_ops_of(k);
    for (int i = 0; i < ops->n_params; i++)
        if (ops->params[i].id == p) return &ops->params[i];
    return NULL;
}

bool dlm_param_applies(dlm_param_id p, dlm_rule_kind k) {
    return (unsigned)k < DLM_RULE_COUNT && (params[p].scope == SCOPE_ALL || rule_param(k, p));
}

int dlm_rule_find(const char *name) {
    for (int i = 0; i < DLM_RULE_COUNT; i++)
        if (strcmp(dlm_rule_ops_of(i)->name, name) == 0) return i;
    return -1;
}

const char *const *dlm_param_values(dlm_param_id p, int *n) {
    static const char *table[DLM_PARAM_COUNT][8];
    static int counts[DLM_PARAM_COUNT];
    static bool built;
    if (!built) { // group the flat X-macro list by parameter, once
        for (int i = 0; i < DLM_PARAM_COUNT; i++)
            for (size_t j = 0; j < sizeof enum_values / sizeof enum_values[0]; j++)
                if (strcmp(enum_values[j].param, params[i].name) == 0 && counts[i] < 8)
                    table[i][counts[i]++] = enum_values[j].value;
        built = true;
    }
    if (params[p].type != PT_ENUM) return NULL;
    *n = counts[p];
    return table[p];
}

static void *field(dlm_rule_config *rc, dlm_param_id p) { return (char *)rc + params[p].offset; }
static const void *cfield(const dlm_rule_config *rc, dlm_param_id p) { return (const char *)rc + params[p].offset; }

bool dlm_rule_is_set(const dlm_rule_config *rc, dlm_param_id p) { return rc->set & (1ull << p); }

// Defaults of the parameters every rule takes; a rule's table may change them (evotoken's T).
static void set_default(dlm_rule_config *rc, dlm_param_id p, double v) {
    void *f = field(rc, p);
    switch (params[p].type) {
    case PT_INT:
    case PT_BOOL:
    case PT_ENUM: *(int *)f = (int)v; break;
    case PT_SEED: *(uint64_t *)f = (uint64_t)v; break;
    case PT_FLOAT: *(double *)f = v; break;
    }
}

void dlm_rule_defaults(dlm_rule_kind kind, dlm_rule_config *rc) {
    memset(rc, 0, sizeof *rc);
    rc->kind = kind;
    rc->gen = 128;
    rc->block = 32;
    rc->temperature = 0.0;
    rc->seed = 0;
    rc->stuck_eps = 0.05;
    rc->stuck_tau = -1;
    rc->top_k = 5;
    rc->cache = DLM_RULE_CACHE_NONE;
    const dlm_rule_ops *ops = dlm_rule_ops_of(kind);
    for (int i = 0; i < ops->n_params; i++) set_default(rc, ops->params[i].id, ops->params[i].def);
}

static int find_param(const char *key) {
    for (int i = 0; i < DLM_PARAM_COUNT; i++)
        if (strcmp(params[i].name, key) == 0) return i;
    return -1;
}

static void list_params(const dlm_rule_config *rc, char *buf, size_t n) {
    buf[0] = 0;
    for (int i = 0; i < DLM_PARAM_COUNT; i++)
        if (dlm_param_applies(i, rc->kind))
            snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? ", " : "", params[i].name);
}

dlm_status dlm_rule_set(dlm_rule_config *rc, const char *key, const char *value) {
    int p = find_param(key);
    char names[512];
    if (p < 0 || !dlm_param_applies(p, rc->kind)) {
        list_params(rc, names, sizeof names);
        return dlm_error(DLM_STATUS_ARG, "rule %s has no parameter '%s' (it takes: %s)", dlm_rule_name(rc->kind), key, names);
    }
    long long iv;
    double dv;
    switch (params[p].type) {
    case PT_INT:
        if (!dlm_parse_int(value, (long long)params[p].lo, (long long)params[p].hi, &iv))
            return dlm_error(DLM_STATUS_ARG, "%s=%s: expected an integer in [%lld, %lld]", key, value, (long long)params[p].lo,
                             (long long)params[p].hi);
        *(int *)field(rc, p) = (int)iv;
        break;
    case PT_BOOL:
        if (!dlm_parse_int(value, 0, 1, &iv)) return dlm_error(DLM_STATUS_ARG, "%s=%s: expected 0 or 1", key, value);
        *(int *)field(rc, p) = (int)iv;
        break;
    case PT_SEED:
        if (!dlm_parse_int(value, 0, INT64_MAX, &iv))
            return dlm_error(DLM_STATUS_ARG, "%s=%s: expected a non-negative integer", key, value);
        *(uint64_t *)field(rc, p) = (uint64_t)iv;
        break;
    case PT_FLOAT:
        if (!dlm_parse_double(value, &dv) || dv < params[p].lo || dv > params[p].hi) {
            if (p == DLM_PARAM_alpha)
                return dlm_error(DLM_STATUS_ARG, "alpha=%s: expected a number in [0, 1)", value);
            return dlm_error(DLM_STATUS_ARG, "%s=%s: expected a number in [%g, %g]", key, value, params[p].lo, params[p].hi);
        }
        *(double *)field(rc, p) = dv;
        break;
    case PT_ENUM: {
        int n;
        const char *const *vals = dlm_param_values(p, &n);
        int found = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(vals[i], value) == 0) found = i;
        if (found < 0) {
            names[0] = 0;
            for (int i = 0; i < n; i++) snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", vals[i]);
            return dlm_error(DLM_STATUS_ARG, "%s=%s: expected one of %s", key, value, names);
        }
        *(int *)field(rc, p) = found;
        break;
    }
    }
    rc->set |= 1ull << p;
    return DLM_STATUS_OK;
}

dlm_status dlm_rule_parse(const char *spec, dlm_rule_config *rc) {
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    char name[32];
    if (len == 0 || len >= sizeof name) return dlm_error(DLM_STATUS_ARG, "rule '%s': expected NAME[:key=value,...]", spec);
    memcpy(name, spec, len);
    name[len] = 0;
    int kind = dlm_rule_find(name);
    if (kind < 0) {
        char names[128] = "";
        for (int i = 0; i < DLM_RULE_COUNT; i++) snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", dlm_rule_name(i));
        return dlm_error(DLM_STATUS_ARG, "unknown rule '%s' (rules: %s)", name, names);
    }
    dlm_rule_defaults(kind, rc);
    if (!colon) return DLM_STATUS_OK;
    char *copy = dlm_xstrdup(colon + 1), *save = NULL;
    dlm_status st = DLM_STATUS_OK;
    for (char *kv = strtok_r(copy, ",", &save); kv && st == DLM_STATUS_OK; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            st = dlm_error(DLM_STATUS_ARG, "rule %s: '%s' is not key=value", name, kv);
            break;
        }
        *eq = 0;
        st = dlm_rule_set(rc, kv, eq + 1);
    }
    free(copy);
    return st;
}

dlm_status dlm_rule_finalize(dlm_rule_config *rc) {
    if ((unsigned)rc->kind >= DLM_RULE_COUNT) return dlm_error(DLM_STATUS_ARG, "rule kind %d", (int)rc->kind);
    const dlm_rule_ops *ops = dlm_rule_ops_of(rc->kind);
    const char *r = ops->name;
    // Derived defaults apply only to what was not set explicitly; the rule's own come after.
    if (!dlm_rule_is_set(rc, DLM_PARAM_steps)) rc->steps = rc->gen;
    dlm_status st = ops->finalize(rc);
    if (st != DLM_STATUS_OK) return st;
    if (rc->gen % rc->block != 0)
        return dlm_error(DLM_STATUS_ARG, "rule %s: gen %d is not a multiple of block %d", r, rc->gen, rc->block);
    if (dlm_param_applies(DLM_PARAM_steps, rc->kind)) {
        int nb = rc->gen / rc->block;
        if (rc->steps % nb != 0)
            return dlm_error(DLM_STATUS_ARG, "rule %s: steps %d is not a multiple of the %d blocks (gen %d / block %d)", r,
                             rc->steps, nb, rc->gen, rc->block);
    }
    if (!(ops->cache_modes & (1u << rc->cache))) {
        char v[32];
        dlm_param_format(rc, DLM_PARAM_cache, v, sizeof v);
        return dlm_error(DLM_STATUS_ARG, "rule %s does not support cache=%s", r, v);
    }
    return DLM_STATUS_OK;
}

double dlm_rule_stuck_tau(const dlm_rule_config *rc) {
    if (rc->stuck_tau >= 0) return rc->stuck_tau;
    return dlm_rule_ops_of(rc->kind)->stuck_tau(rc);
}

bool dlm_rule_has_soft_states(dlm_rule_kind kind) {
    dlm_rule_config rc;
    dlm_rule_forward f;
    dlm_rule_defaults(kind, &rc);
    dlm_rule_ops_of(kind)->forward(&rc, &f);
    return f.soft_inputs;
}

void dlm_rule_describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    buf[0] = 0;
    if ((unsigned)rc->kind >= DLM_RULE_COUNT) {
        snprintf(buf, n, "?");
        return;
    }
    dlm_rule_ops_of(rc->kind)->describe(rc, unicode, buf, n);
    if (rc->temperature > 0) dlm_rule_appendf(buf, n, " T%g", rc->temperature);
    if (rc->cache != DLM_RULE_CACHE_NONE) {
        char v[32];
        dlm_param_format(rc, DLM_PARAM_cache, v, sizeof v);
        dlm_rule_appendf(buf, n, " %s-cache", v);
    }
}

void dlm_param_format(const dlm_rule_config *rc, dlm_param_id p, char *buf, size_t n) {
    const void *f = cfield(rc, p);
    switch (params[p].type) {
    case PT_INT:
    case PT_BOOL: snprintf(buf, n, "%d", *(const int *)f); break;
    case PT_SEED: snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)f); break;
    case PT_FLOAT: snprintf(buf, n, "%.17g", *(const double *)f); break;
    case PT_ENUM: {
        int count;
        const char *const *vals = dlm_param_values(p, &count);
        int v = *(const int *)f;
        snprintf(buf, n, "%s", v >= 0 && v < count ? vals[v] : "?");
        break;
    }
    }
    // Shortest form that reads back the same double.
    if (params[p].type == PT_FLOAT) {
        double v = *(const double *)f;
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) break;
        }
    }
}

void dlm_rule_format(const dlm_rule_config *rc, char *buf, size_t n) {
    snprintf(buf, n, "%s", dlm_rule_name(rc->kind));
    char v[64];
    bool first = true;
    for (int i = 0; i < DLM_PARAM_COUNT; i++) {
        if (!dlm_param_applies(i, rc->kind)) continue;
        if (i == DLM_PARAM_factor && rc->factor == 0) continue;
        if (i == DLM_PARAM_fastdllm_nfe && rc->fastdllm_nfe == 0) continue; // specs predating it read the same
        if (i == DLM_PARAM_cache && rc->cache == DLM_RULE_CACHE_NONE) continue; // specs predating the cache read the same
        dlm_param_format(rc, i, v, sizeof v);
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s=%s", first ? ":" : ",", params[i].name, v);
        first = false;
    }
}
