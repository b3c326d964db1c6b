// registry.h — the list of decoding rules. Adding a rule: write engine/rules/NAME.c defining
// `const dlm_rule_ops dlm_rule_NAME_ops` (see docs/adding-a-rule.md) and add one line here.
// The order is the order of --help-rules, the TUI's rule cycle and the dlm_rule_kind values.
//
// X(ENUM, name)
#ifndef DLM_RULES_REGISTRY_H
#define DLM_RULES_REGISTRY_H

#define DLM_RULE_LIST(X) \
    X(LLADA, llada)      \
    X(THRESHOLD, threshold) \
    X(T2T, t2t)          \
    X(T2M, t2m)          \
    X(EVOTOKEN, evotoken) \
    X(MARGIN, margin)    \
    X(DREAM, dream)      \
    X(FDLLM2, fdllm2)    \
    X(D2F, d2f)

#endif
