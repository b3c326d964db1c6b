// checkers.h — answer extraction and judging for every task family the evaluator knows.
//
// Bundled families (train/tasks.py is the reference): arith, digits (boxed integer), sort (boxed
// list), countdown (EvoToken's expression rule). Formats users bring: gsm8k and svamp (EvoToken /
// d1 harness rules), math (boxed, Hendrycks normalisation), cmath (T2M's extraction chain, with its
// integer truncation fixed). docs/eval.md states each rule and the quirks fixed.
#ifndef DLM_EVAL_CHECKERS_H
#define DLM_EVAL_CHECKERS_H

#include <stdbool.h>
#include <stddef.h>

// X(ENUM, "name", "description")
#define DLM_CHECKERS(X)                                                                          \
    X(ARITH, "arith", "last \\boxed{} holds the gold integer")                                  \
    X(DIGITS, "digits", "last \\boxed{} holds the gold integer")                                \
    X(SORT, "sort", "last \\boxed{} holds the gold comma-separated integer list")               \
    X(COUNTDOWN, "countdown", "expression using each number once, equal to the target (EvoToken)") \
    X(GSM8K, "gsm8k", "first non-empty \\boxed{} (else <answer>, else last number) equals #### gold") \
    X(SVAMP, "svamp", "as gsm8k, gold a plain number")                                           \
    X(MATH, "math", "last \\boxed{}, Hendrycks-normalised, equals the gold string")            \
    X(CMATH, "cmath", "T2M's chain: boxed > 'The answer is' > 'Answer:' > 答案 > #### > last number")

typedef enum {
#define X(e, name, help) DLM_CHECK_##e,
    DLM_CHECKERS(X)
#undef X
    DLM_CHECK_COUNT
} dlm_checker;

const char *dlm_checker_name(dlm_checker c);
const char *dlm_checker_help(dlm_checker c);
int dlm_checker_find(const char *name); // -1 if unknown

// Judge a response. `prompt` is needed by countdown (numbers and target). `extracted` (may be
// NULL) receives the extracted answer ("" if none). Never fails: malformed input is just wrong.
bool dlm_check(dlm_checker c, const char *prompt, const char *gold, const char *response, char *extracted, size_t n);

// Exposed for tests.
bool dlm_last_boxed(const char *text, char *out, size_t n);    // content of the last \boxed{...}
void dlm_math_normalize(const char *in, char *out, size_t n);  // Hendrycks strip_string

#endif
