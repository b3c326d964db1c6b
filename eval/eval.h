// eval.h — headless evaluation: run decoding rules over task items, judge, summarise.
//
//   dlm_eval_items items;
//   dlm_eval_read_items("arith-test.jsonl", -1, &items, report_bad_line);
//   dlm_eval_run(&run_config, &items, results);     // results: n_rules x n_items
//   dlm_eval_summarize(...) / dlm_eval_mcnemar(...)
#ifndef DLM_EVAL_H
#define DLM_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "checkers.h"
#include "engine/chat.h"
#include "engine/model.h"
#include "engine/rules.h"
#include "engine/tokenizer.h"

typedef struct {
    char *id;       // as given (in full), or "lineN"
    char *name;     // file name of its traces (without .dlmtrace): the id made safe and unique
    char *task;     // family name as given ("" when absent)
    int   checker;  // dlm_checker
    char *prompt;
    char *answer;
    char *file;     // where it came from, for messages
    int   line;
} dlm_eval_item;

typedef struct {
    dlm_eval_item *v;
    int            n, cap;
    int            n_bad; // lines skipped
} dlm_eval_items;

// Append the items of a JSONL file: {"prompt", "answer", optional "id", optional "task"}. A bad
// line (not JSON, missing field, unknown family) is reported through `bad` (file, line, reason),
// counted and skipped. forced_checker >= 0 overrides each item's task. Errors: unreadable file.
dlm_status dlm_eval_read_items(const char *path, int forced_checker, dlm_eval_items *items,
                               void (*bad)(const char *file, int line, const char *reason));
// Give every item its trace file name once all files are read: the id with '/', '\\', control
// characters and a leading '.' replaced by '_', cut at a character boundary to a length every
// file system takes (a hash of the whole id marks the cut), then made unique ("~2", "~3", ...).
// `note` is told of each item whose id repeats an earlier one.
void dlm_eval_items_name(dlm_eval_items *items, void (*note)(const char *file, int line, const char *msg));
void dlm_eval_items_free(dlm_eval_items *items);

typedef struct {
    bool     correct;
    int      forwards, commits, edits, remasks;
    double   ms;
    char     extracted[96];
    char    *response;   // malloc'd
    char     error[160]; // a failure to run (the item then counts as wrong)
    char     undecodable[160]; // why the answer's ids could not be decoded (scored wrong; "" if they could)
} dlm_eval_result;

typedef struct {
    const dlm_model     *model;
    const char          *device;
    int                  threads;  // CPU threads in all
    int                  jobs;     // items run in parallel, each with its own backend
    const dlm_tokenizer *tok;
    const char          *tok_path;
    const dlm_rule_config *rules;
    int                  n_rules;
    int                  block_causal;
    bool                 raw_prompt;  // do not apply the chat template
    dlm_chat_template    chat;        // the model's chat template (engine/chat.h)
    const char          *record_dir;  // trace per item and rule: DIR/<rule label>/<item name>.dlmtrace
    const char *const   *rule_labels; // directory names for the traces
    // progress: called from the main thread every ~0.2 s and at the end
    void (*progress)(int done, int total, double elapsed, void *ctx);
    void                *ctx;
} dlm_eval_config;

// Run every rule on every item. results[r * n + i]. Returns an error only for setup failures
// (backend, record folder); a failing item is recorded in its result.
dlm_status dlm_eval_run(const dlm_eval_config *cfg, const dlm_eval_items *items, dlm_eval_result *results);
void dlm_eval_results_free(dlm_eval_result *r, int n);

// Wilson score interval for k successes in n at 95%.
void dlm_eval_wilson(int k, int n, double *lo, double *hi);
// Exact two-sided McNemar p-value for b and c discordant pairs.
double dlm_eval_mcnemar(int b, int c);

#endif
