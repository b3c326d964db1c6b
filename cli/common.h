// common.h — what several subcommands share: opening a model, reading a rule and a prompt.
#ifndef DLM_CLI_COMMON_H
#define DLM_CLI_COMMON_H

#include "args.h"
#include "engine/arch.h"
#include "engine/backend.h"
#include "engine/chat.h"
#include "engine/model.h"
#include "engine/rules.h"
#include "engine/session.h"
#include "engine/tokenizer.h"

// Option table entries (put them in a command's cli_opt array).
#define CLI_MODEL_OPTS                                                                              \
    {"model", "MODEL", "model folder (config.json, model*.safetensors, tokenizer.json), bundled NAME, or ORG/NAME[@REV] from the Hugging Face cache"}, \
    {"adapter", "ADAPTER", "PEFT LoRA adapter folder or ORG/NAME[@REV], merged at load (EvoToken's CTS adapter)"}, \
    {"tokenizer", "FILE", "tokenizer.json (default: the one in the model folder)"},                \
    {"device", "NAME", "cpu, cuda or auto (default auto)"},                                        \
    {"threads", "N", "CPU threads, fixed (default: adaptive, up to the CPUs this process may run on; idle threads sleep)"},                                          \
    {"block-causal", "B", "attend block-causally with blocks of B (default: the model's; SDAR: its block_size)"}

#define CLI_RULE_OPTS                                                                               \
    {"rule", "SPEC", "decoding rule NAME[:key=value,...] (default: the model family's; see --help-rules)"}, \
    {"gen", "N", "generation length (default 128)"},                                               \
    {"block", "B", "block length (default 32)"},                                                   \
    {"steps", "S", "refinement steps in total (llada: gen, evotoken: gen/2)"},                     \
    {"seed", "N", "random seed (default 0)"},                                                      \
    {"temperature", "T", "sampling temperature (0: argmax)"},                                      \
    {"help-rules", NULL, "list the rules and their parameters"}

#define CLI_PROMPT_OPTS                                                                             \
    {"prompt", "TEXT", "the user's message (wrapped in the chat template)"},                       \
    {"prompt-ids", "IDS", "the prompt as token ids, used as is"},                                  \
    {"raw", NULL, "do not apply the chat template to --prompt"},                                  \
    {"no-chat", NULL, "the same as --raw"}

typedef struct {
    dlm_model        *model;
    dlm_backend      *be;
    dlm_tokenizer    *tok; // NULL when the model folder has none and none was given
    char             *tok_path;
    dlm_chat_template chat;         // the model's chat template (its family's, or tokenizer_config.json's)
    int               block_causal; // --block-causal, else the model's attention block size (0: full)
} cli_engine;

// cli_parse, finishing early on --help, --help-rules (listed if the table has it) and option
// errors: returns false, with the options freed and *exit_status set, when the command stops there.
bool cli_begin(const char *cmd, const char *usage, cli_opt *opts, int argc, char **argv, cli_positional *pos,
               int *exit_status);

// The data folder (samples/ and themes/): $DLMSCOPE_DATA, else the binary's folder (a checkout),
// BINDIR/../share/dlmscope (an installed tree), the compiled-in $PREFIX/share/dlmscope, or the
// working folder, whichever first holds samples/. NULL if none does.
const char *cli_data_dir(void);
// data folder/rel, or rel itself without a data folder. Caller frees.
char *cli_data_path(const char *rel);
// What --model or --adapter names, as a folder: a folder as given; a bare NAME, the bundled model
// samples/models/NAME; ORG/NAME[@REV], its snapshot in the Hugging Face cache (hub.h). Anything
// else is returned as is for the loader to reject. NULL after printing one line. Caller frees.
char *cli_model_folder(const char *cmd, const char *option, const char *value);

// Open model, backend and tokenizer from the options. need_tokenizer: fail without one.
bool cli_engine_open(const char *cmd, const cli_opt *opts, bool need_tokenizer, cli_engine *e);
void cli_engine_close(cli_engine *e);

// The rule from --rule and the shorthand flags (flags win), finalized. false after an error line.
bool cli_rule_from_opts(const char *cmd, const cli_opt *opts, dlm_rule_config *rc);
// Print the rule table (for --help-rules).
void cli_print_rules(void);

// After cli_engine_open: without --rule, the model family's decoding defaults (arch.h) with the
// shorthand flags applied; a block-causal model's rule block is its attention block unless --block.
bool cli_rule_fit_model(const char *cmd, const cli_opt *opts, const cli_engine *e, dlm_rule_config *rc);

// The text the model sees for --prompt: the engine's chat template unless --raw/--no-chat.
bool cli_prompt_text(const char *cmd, const cli_opt *opts, const cli_engine *e, dlm_buf *out);

// Prompt ids from --prompt (chat template unless --raw) or --prompt-ids. Caller frees *ids.
bool cli_prompt_from_opts(const char *cmd, const cli_opt *opts, const cli_engine *e, int32_t **ids, int *n);
// Parse "1 2 3" / "1,2,3" ids. false with an error line naming the option.
bool cli_parse_ids(const char *cmd, const char *option, const char *text, int32_t **ids, int *n);

// What a step's interventions did, for one line: "force 77'7', pin 77" ("" if none). `text`
// writes a token's display text (the tokenizer's or the trace's).
typedef void (*cli_token_text_fn)(const void *ctx, int32_t id, char *buf, size_t n);
void cli_interventions_text(const dlm_step *st, cli_token_text_fn text, const void *ctx, char *buf, size_t n);

#endif
