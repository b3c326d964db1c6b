// rules.h — decoding rules and their parameters as data.
//
// Each rule is one file under engine/rules/ with one operations table (engine/rules/rule.h): its
// name, help, parameters and their defaults, validation, per-step decision, block end, stuck
// threshold and per-position state; engine/rules/registry.h lists them. The parameters are one
// X-macro shared by all rules (one field each in dlm_rule_config). Everything here reads those
// tables: the names used on the command line (`--rule t2m:detector=logitdiff,tau_remask=0.2`), in
// the TUI, in trace headers and in docs. research/algorithms.md is the specification of each rule.
//
//   dlm_rule_config rc;
//   if (dlm_rule_parse("t2m:cmax=3", &rc) != DLM_STATUS_OK) ... dlm_error_message()
//   rc.gen = 256;  dlm_rule_mark_set(&rc, "gen");         // flags override spec defaults
//   if (dlm_rule_finalize(&rc) != DLM_STATUS_OK) ...       // derived defaults + range checks
#ifndef DLM_RULES_H
#define DLM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "rules/registry.h"

// The rules themselves: one file each under engine/rules/, listed in engine/rules/registry.h.
typedef enum {
#define X(e, name) DLM_RULE_##e,
    DLM_RULE_LIST(X)
#undef X
    DLM_RULE_COUNT
} dlm_rule_kind;

// Enumerated parameter values: X(param, ENUM, "name")
#define DLM_ENUM_VALUES(X)                               \
    X(remasking, LOW_CONFIDENCE, "low_confidence")       \
    X(remasking, RANDOM, "random")                       \
    X(mode, Q, "q")                                      \
    X(mode, S, "s")                                      \
    X(detector, LOWPROB, "lowprob")                      \
    X(detector, T2T_REMASK, "t2t-remask")                \
    X(detector, LOGITDIFF, "logitdiff")                  \
    X(cap, CODE, "code")                                 \
    X(cap, PAPER, "paper")                               \
    X(editable, BEFORE, "before")                        \
    X(editable, AFTER, "after")                          \
    X(cache, NONE, "none")                               \
    X(cache, PREFIX, "prefix")                           \
    X(cache, DUAL, "dual")                               \
    X(cache, OFFICIAL_BLOCK, "official-block")           \
    X(alg, ORIGIN, "origin")                             \
    X(alg, MASKGIT_PLUS, "maskgit_plus")                 \
    X(alg, TOPK_MARGIN, "topk_margin")                   \
    X(alg, ENTROPY, "entropy")

// Values count from 0 within each parameter, in the order listed above:
enum { DLM_REMASK_LOW_CONFIDENCE = 0, DLM_REMASK_RANDOM = 1 };
enum { DLM_MODE_Q = 0, DLM_MODE_S = 1 };
enum { DLM_DETECT_LOWPROB = 0, DLM_DETECT_T2T_REMASK = 1, DLM_DETECT_LOGITDIFF = 2 };
enum { DLM_CAP_CODE = 0, DLM_CAP_PAPER = 1 };
enum { DLM_EDITABLE_BEFORE = 0, DLM_EDITABLE_AFTER = 1 };
enum { DLM_ALG_ORIGIN = 0, DLM_ALG_MASKGIT_PLUS = 1, DLM_ALG_TOPK_MARGIN = 2, DLM_ALG_ENTROPY = 3 };
// The first three equal dlm_cache_mode (forward.h); official-block is the prefix cache fed the
// tokens each finished block held at its last forward (engine/session.c, docs/rules.md).
enum { DLM_RULE_CACHE_NONE = 0, DLM_RULE_CACHE_PREFIX = 1, DLM_RULE_CACHE_DUAL = 2, DLM_RULE_CACHE_OFFICIAL_BLOCK = 3 };

typedef struct {
    dlm_rule_kind kind;
    int      gen;           // generation length G
    int      block;         // block length B
    int      steps;         // total refinement steps (llada, evotoken); 0 = rule default
    double   temperature;   // 0: argmax; > 0: Gumbel-max sample of softmax(logits / T)
    uint64_t seed;
    int      remasking;     // llada: DLM_REMASK_*
    double   tau;           // threshold: commit threshold; t2t/t2m: M2T fill threshold
    double   factor;        // threshold: > 0 selects Fast-dLLM's factor mode
    int      fastdllm_nfe;  // threshold: run the extra cached forward of Fast-dLLM's June 2025 loops
    int      mode;          // t2t/t2m: DLM_MODE_Q (0.7 / 0.5) or DLM_MODE_S (0.5 / 0.0)
    double   tau_edit;      // t2t: T2T edit threshold
    int      max_post;      // t2t/t2m: mask-free refinement steps allowed per block
    int      eos_stop;      // t2t/t2m: stop generating once a finished block holds EOS
    int      detector;      // t2m: DLM_DETECT_*
    double   tau_remask;    // t2m: detector threshold
    int      cmax;          // t2m: remasks allowed per position per block (C_max)
    double   rho_max;       // t2m: remasks per step at most rho_max * |editable|
    int      cap;           // t2m: DLM_CAP_CODE max(1, int(.)) or DLM_CAP_PAPER floor(.)
    int      editable;      // t2m: editable set taken BEFORE (code) or AFTER (paper) the fill
    int      k_soft;        // evotoken: candidates in a soft token
    double   alpha;         // evotoken: weight of [MASK] in Soft([MASK] u V)
    double   stuck_eps;     // stuck set: p(current token) below this ...
    double   stuck_tau;     // ... and max p below this (< 0: the rule's edit threshold)
    int      top_k;         // candidates per position kept in step snapshots
    int      cache;         // DLM_RULE_CACHE_*: none, prefix, dual (Fast-dLLM) or official-block (T2M repository)
    int      alg;           // dream: DLM_ALG_* order of unmasking
    double   eps;           // dream: the schedule's last time step (timesteps = linspace(1, eps, steps + 1))
    int      sub_block;     // fdllm2: sub-block length (Fast-dLLM v2's small_block_size)
    double   block_add;     // d2f: open the next block once the last one is this fraction decoded
    double   decoded;       // d2f: a block whose predecessor is this fraction decoded commits >= 1 a step
    uint64_t set;           // bit i: parameter i was given explicitly
} dlm_rule_config;

// X(name, field, type, scope, lo, hi, help). Types: INT, FLOAT, SEED, ENUM, BOOL. Scope ALL: every
// rule takes it; RULE: the rules whose parameter table (engine/rules/*.c) lists it.
#define DLM_RULE_PARAMS(X)                                                                                           \
    X(gen, gen, INT, ALL, 1, 1 << 20, "generation length G (tokens after the prompt)")                              \
    X(block, block, INT, ALL, 1, 1 << 20, "block length B")                                                         \
    X(steps, steps, INT, RULE, 1, 1 << 20,                                                                         \
      "refinement steps in total, spread evenly over the G/B blocks (llada: G, evotoken: G/2)")                    \
    X(temperature, temperature, FLOAT, ALL, 0, 100, "0: argmax; > 0: Gumbel-max sampling at T")                     \
    X(seed, seed, SEED, ALL, 0, 0, "random seed (Gumbel noise, random remasking)")                                  \
    X(remasking, remasking, ENUM, RULE, 0, 1, "low_confidence or random")                                           \
    X(tau, tau, FLOAT, RULE, 0, 1,                                                                                  \
      "threshold: commit masks with confidence >= tau (0.9); t2t/t2m: fill masks with conf > tau (Q 0.7, S 0.5); "  \
      "fdllm2, d2f: commit masks with p > tau (0.9; D2F's skip_threshold)")                                         \
    X(factor, factor, FLOAT, RULE, 0, 100, "> 0: Fast-dLLM factor mode, thresholds 1 - f/(n+1)")                    \
    X(fastdllm_nfe, fastdllm_nfe, BOOL, RULE, 0, 1,                                                                 \
      "1: forwards as Fast-dLLM's June 2025 cached loops run them (a block filled by its first forward gets one more)") \
    X(mode, mode, ENUM, RULE, 0, 1, "LLaDA2.1 preset: q (tau 0.7, tau_edit 0.5) or s (0.5, 0.0)")                   \
    X(tau_edit, tau_edit, FLOAT, RULE, 0, 1, "T2T edit: replace a token when p(argmax) > tau_edit")                 \
    X(max_post, max_post, INT, RULE, 0, 1 << 16, "refinement steps per block after its masks are gone")             \
    X(eos_stop, eos_stop, BOOL, RULE, 0, 1, "stop after the block in which EOS appears (1)")                        \
    X(detector, detector, ENUM, RULE, 0, 2, "lowprob, t2t-remask or logitdiff")                                     \
    X(tau_remask, tau_remask, FLOAT, RULE, 0, 1, "detector threshold (lowprob 0.3, t2t-remask 0.9, logitdiff 0.3)") \
    X(cmax, cmax, INT, RULE, 0, 1 << 16, "remasks allowed per position per block, C_max (1)")                       \
    X(rho_max, rho_max, FLOAT, RULE, 0, 1, "remasks per step at most rho_max x |editable| (0.25)")                  \
    X(cap, cap, ENUM, RULE, 0, 1, "per-step cap: code max(1, int(rho|E|)) or paper floor(rho|E|)")                  \
    X(editable, editable, ENUM, RULE, 0, 1, "editable set before (code) or after (paper) the fill")                 \
    X(k_soft, k_soft, INT, RULE, 1, 8, "candidates mixed into a soft token (3)")                                    \
    X(alpha, alpha, FLOAT, RULE, 0, 0.999999, "[MASK] weight in a soft mask token (0.7)")                           \
    X(stuck_eps, stuck_eps, FLOAT, ALL, 0, 1, "stuck set: p(current token) < stuck_eps (0.05) ...")                 \
    X(stuck_tau, stuck_tau, FLOAT, ALL, -1, 1, "... and max p < stuck_tau (default: the edit threshold)")           \
    X(top_k, top_k, INT, ALL, 1, 8, "candidates per position kept in snapshots and traces (5)")                     \
    X(cache, cache, ENUM, ALL, 0, 3,                                                                                \
      "KV cache: none, prefix or dual (Fast-dLLM), official-block (t2t/t2m: the T2M repository's block cache)")     \
    X(alg, alg, ENUM, RULE, 0, 3,                                                                                   \
      "dream: unmasking order origin (random, p = 1 - s/t), maskgit_plus (top p), topk_margin or entropy")          \
    X(eps, eps, FLOAT, RULE, 1e-9, 1, "dream: last time step of the schedule linspace(1, eps, steps + 1) (0.001)") \
    X(sub_block, sub_block, INT, RULE, 1, 1 << 20, "fdllm2: sub-block length; sub-blocks are decoded in order (8)") \
    X(block_add, block_add, FLOAT, RULE, 0, 1,                                                                      \
      "d2f: open a new block once the last open one is this fraction decoded (0.1; block_add_threshold)")          \
    X(decoded, decoded, FLOAT, RULE, 0, 1,                                                                          \
      "d2f: a block whose predecessor is this fraction decoded commits its best mask even below tau (0.55)")

typedef enum {
#define X(name, field, type, scope, lo, hi, help) DLM_PARAM_##name,
    DLM_RULE_PARAMS(X)
#undef X
    DLM_PARAM_COUNT
} dlm_param_id;

#define DLM_SNAPSHOT_TOP_MAX 8

const char *dlm_rule_name(dlm_rule_kind kind);
const char *dlm_rule_help(dlm_rule_kind kind);
// -1 if unknown.
int dlm_rule_find(const char *name);

// Defaults of the papers' main experiments for a rule (everything unset).
void dlm_rule_defaults(dlm_rule_kind kind, dlm_rule_config *rc);
// Parse "name" or "name:key=value,key=value" into rc (defaults first). Errors name the key.
dlm_status dlm_rule_parse(const char *spec, dlm_rule_config *rc);
// Set one parameter from text ("alpha", "0.5"). Errors name the parameter and the allowed range.
dlm_status dlm_rule_set(dlm_rule_config *rc, const char *key, const char *value);
bool dlm_rule_is_set(const dlm_rule_config *rc, dlm_param_id p);
// Derived defaults (steps from gen, taus from mode and detector) and cross-parameter checks
// (G multiple of B, steps multiple of G/B). Call after every explicit setting.
dlm_status dlm_rule_finalize(dlm_rule_config *rc);
// Canonical "name:key=value,..." with every parameter that applies to the rule.
void dlm_rule_format(const dlm_rule_config *rc, char *buf, size_t n);
// The threshold that decides whether a committed token can still be edited (for the stuck set).
double dlm_rule_stuck_tau(const dlm_rule_config *rc);
// A short label for status lines ("t2m lowprob τ0.3 C1 ρ0.25 T0.5"); unicode: Greek letters, else names.
void dlm_rule_describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n);
// Whether the rule's steps feed soft inputs (EvoToken's soft states exist only under such a rule).
bool dlm_rule_has_soft_states(dlm_rule_kind kind);

// Parameter metadata, for help screens and the TUI.
const char *dlm_param_name(dlm_param_id p);
const char *dlm_param_help(dlm_param_id p);
bool dlm_param_applies(dlm_param_id p, dlm_rule_kind kind);
// Current value as text ("0.7", "lowprob").
void dlm_param_format(const dlm_rule_config *rc, dlm_param_id p, char *buf, size_t n);
// Names of an enumerated parameter's values, or NULL if it is not one.
const char *const *dlm_param_values(dlm_param_id p, int *n);

#endif
