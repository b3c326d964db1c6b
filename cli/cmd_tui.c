// cmd_tui.c — the visualizer's entry points: `dlmscope [--model DIR ...]` (live) and
// `dlmscope view TRACE` (replay). Everything that can fail with a message happens here, before
// the screen is taken.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "engine/util.h"
#include "tui/tui.h"

#define CLI_LOOK_OPTS                                                                    \
    {"theme", "NAME", "dark (default), light, high-contrast, mono, or a .theme file"}, \
    {"no-color", NULL, "no colours (also when NO_COLOR is set)"},                       \
    {"no-mouse", NULL, "leave the mouse to the terminal (text selection)"},             \
    {"demo", NULL, "autoplay with captions (teaching)"},                                \
    {"script", "FILE", "no terminal: read keys from FILE (docs/tui.md, script mode)"},     \
    {"dump-screens", "DIR", "with --script: write each `screen NAME` of the script to DIR/NAME.txt"}

// The bundled model and prompts: $DLMSCOPE_MODEL / $DLMSCOPE_PROMPTS, else in the data folder.
static char *bundled(const char *rel) {
    const char *env = getenv(strcmp(rel, "samples/prompts.txt") == 0 ? "DLMSCOPE_PROMPTS" : "DLMSCOPE_MODEL");
    return env && *env ? dlm_xstrdup(env) : cli_data_path(rel);
}

int cmd_live(int argc, char **argv) {
    cli_opt opts[] = {CLI_MODEL_OPTS,
                      CLI_PROMPT_OPTS,
                      CLI_RULE_OPTS,
                      CLI_LOOK_OPTS,
                      {"record", "FILE", "keep the session's trace in FILE (default: a temporary file)"},
                      {"paused", NULL, "start paused (default: play)"},
                      {0}};
    cli_positional pos;
    int exit_status;
    if (!cli_begin("", "[--model MODEL] [--prompt TEXT] [--rule SPEC] [options]   (the live visualizer)", opts, argc,
                       argv, &pos, &exit_status))
        return exit_status;
    int status = 2;
    cli_engine e = {0};
    int32_t *prompt = NULL;
    int n_prompt = 0;
    char *model_dir = NULL, *prompts_file = bundled("samples/prompts.txt");
    dlm_buf chat = {0};
    dlm_rule_config rule;
    if (pos.n) {
        cli_error("", "unexpected argument '%s' (dlmscope --help lists the commands)", pos.items[0]);
        goto done;
    }
    if (cli_has(opts, "rule") && !cli_rule_from_opts("", opts, &rule)) goto done; // else the family's (below)
    // No --model: the bundled one.
    cli_opt *mo = &opts[0];
    if (!cli_has(opts, "model")) {
        model_dir = bundled("samples/models/dlm-tiny"); // $DLMSCOPE_MODEL may also be a name (cli_model_folder)
        const char *env = getenv("DLMSCOPE_MODEL");
        if (!(env && *env) && !dlm_is_dir(model_dir)) {
            fprintf(stderr, "dlmscope: no bundled model at %s (give --model MODEL, set DLMSCOPE_DATA, or build it: train/run_all.sh)\n", model_dir);
            goto done;
        }
        mo->count = 1;
        mo->value = model_dir;
    }
    if (!cli_engine_open("", opts, !cli_has(opts, "prompt-ids"), &e)) goto done;
    if (!cli_has(opts, "prompt") && !cli_has(opts, "prompt-ids")) { // the first sample prompt
        char *text = NULL;
        if (dlm_read_file(prompts_file, 1 << 20, &text, NULL) != DLM_STATUS_OK) {
            fprintf(stderr, "dlmscope: give --prompt TEXT (no sample prompts: %s)\n", dlm_error_message());
            goto done;
        }
        char *line = strtok(text, "\n");
        while (line && (!*line || *line == '#')) line = strtok(NULL, "\n");
        cli_opt *po = NULL;
        for (cli_opt *o = opts; o->name; o++)
            if (strcmp(o->name, "prompt") == 0) po = o;
        static char first[4096];
        size_t k = 0;
        for (const char *c = line ? line : "Sort these numbers from smallest to largest: 42, 17, 93, 8"; *c && k + 2 < sizeof first; c++) {
            if (c[0] == '\\' && c[1] == 'n') first[k++] = '\n', c++;
            else first[k++] = *c;
        }
        first[k] = 0;
        free(text);
        po->count = 1;
        po->value = first;
    }
    if (!cli_rule_fit_model("", opts, &e, &rule)) goto done;
    if (!cli_prompt_from_opts("", opts, &e, &prompt, &n_prompt)) goto done;
    if (cli_has(opts, "prompt") && !cli_prompt_text("", opts, &e, &chat)) goto done;
    tui_opts to = {.model = e.model,
                   .backend = e.be,
                   .tok = e.tok,
                   .tok_path = e.tok_path,
                   .prompt_ids = prompt,
                   .n_prompt = n_prompt,
                   .prompt_text = chat.data ? chat.data : cli_get(opts, "prompt"),
                   .prompts_file = prompts_file,
                   .rule = rule,
                   .block_causal = e.block_causal,
                   .record = cli_get(opts, "record"),
                   .theme = cli_get(opts, "theme"),
                   .no_color = cli_has(opts, "no-color"),
                   .no_mouse = cli_has(opts, "no-mouse"),
                   .demo = cli_has(opts, "demo"),
                   .script = cli_get(opts, "script"),
                   .dump_dir = cli_get(opts, "dump-screens"),
                   .autoplay = !cli_has(opts, "paused")};
    status = tui_main(&to);
done:
    dlm_buf_free(&chat);
    free(prompt);
    free(model_dir);
    free(prompts_file);
    cli_engine_close(&e);
    cli_free(opts, &pos);
    return status;
}

int cmd_view(int argc, char **argv) {
    cli_opt opts[] = {{"compare", "TRACE", "a second trace shown side by side, in lockstep"},
                      {"step", "N", "start at step N (numbered from 0, as in trace dump)"},
                      CLI_LOOK_OPTS,
                      {"model", "MODEL", "the trace's model, to fork from the trace with other rules (optional)"},
                      {"adapter", "ADAPTER", "with --model: its adapter"},
                      {"tokenizer", "FILE", "with --model: tokenizer.json"},
                      {"device", "NAME", "with --model: cpu, cuda or auto"},
                      {"threads", "N", "with --model: CPU threads, fixed (default: adaptive)"},
                      {"block-causal", "B", "with --model: block-causal attention"},
                      {"export", "FORMAT", "no terminal: write the replay as an asciinema recording (cast) or the screen at --step as svg or html"},
                      {"out", "FILE", "with --export: the file to write"},
                      {"loop", NULL, "demo mode that starts again after the last step (kiosks)"},
                      {0}};
    cli_positional pos;
    int exit_status;
    if (!cli_begin("view", "TRACE [--compare TRACE] [options]", opts, argc, argv, &pos, &exit_status))
        return exit_status;
    int status = 2;
    long long step;
    cli_engine e = {0};
    if (pos.n != 1) {
        cli_error("view", "expected one TRACE file (dlmscope view --help)");
        goto done;
    }
    if (!cli_get_int("view", opts, "step", 0, INT32_MAX, 0, &step)) goto done;
    const char *fmt = cli_get(opts, "export");
    if (fmt && strcmp(fmt, "cast") != 0 && strcmp(fmt, "svg") != 0 && strcmp(fmt, "html") != 0) {
        cli_error("view", "--export: unknown format '%s' (cast, svg or html)", fmt);
        goto done;
    }
    if (fmt && !cli_has(opts, "out")) {
        cli_error("view", "--export %s needs --out FILE", fmt);
        goto done;
    }
    if (cli_has(opts, "model") && !cli_engine_open("view", opts, false, &e)) goto done;
    long long bc;
    cli_get_int("view", opts, "block-causal", 1, 1 << 20, 0, &bc);
    tui_opts to = {.trace_path = pos.items[0],
                   .compare_path = cli_get(opts, "compare"),
                   .model = e.model,
                   .backend = e.be,
                   .tok = e.tok,
                   .tok_path = e.tok_path,
                   .block_causal = (int)bc,
                   .theme = cli_get(opts, "theme"),
                   .no_color = cli_has(opts, "no-color"),
                   .no_mouse = cli_has(opts, "no-mouse"),
                   .demo = cli_has(opts, "demo"),
                   .script = cli_get(opts, "script"),
                   .dump_dir = cli_get(opts, "dump-screens"),
                   .export_format = fmt,
                   .export_path = cli_get(opts, "out"),
                   .loop = cli_has(opts, "loop"),
                   .start_step = (int)step};
    status = tui_main(&to);
done:
    cli_engine_close(&e);
    cli_free(opts, &pos);
    return status;
}
