// cmd_tokenize.c — `dlmscope tokenize`: encode and decode with a tokenizer.json, for scripts.
//
//   dlmscope tokenize --tokenizer T "text"            one line of ids
//   dlmscope tokenize --tokenizer T < file            the whole of stdin as one text
//   dlmscope tokenize --tokenizer T --jsonl           one JSON string per stdin line -> ids per line
//   dlmscope tokenize --tokenizer T --decode          ids per stdin line -> text per line
//   dlmscope tokenize --tokenizer T --decode --jsonl  ids per stdin line -> JSON string per line
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "commands.h"
#include "engine/tokenizer.h"
#include "engine/util.h"

static void print_ids(const int32_t *ids, int n) {
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
}

static int encode_text(const dlm_tokenizer *tok, const char *text, size_t len, bool chat, const char *where) {
    dlm_buf prompt = {0};
    if (chat) {
        if (dlm_tokenizer_chat_prompt(tok, text, &prompt) != DLM_STATUS_OK) {
            cli_error("tokenize", "%s%s", where, dlm_error_message());
            return 1;
        }
        text = prompt.data;
        len = prompt.len;
    }
    int32_t *ids;
    int n;
    int rc = 0;
    if (dlm_tokenizer_encode(tok, text, len, &ids, &n) != DLM_STATUS_OK) {
        cli_error("tokenize", "%s%s", where, dlm_error_message());
        rc = 1;
    } else {
        print_ids(ids, n);
        free(ids);
    }
    dlm_buf_free(&prompt);
    return rc;
}

static int decode_line(const dlm_tokenizer *tok, char *line, bool jsonl, bool skip_special, long lineno) {
    int32_t *ids = NULL;
    int n = 0, cap = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r\n,", &save); w; w = strtok_r(NULL, " \t\r\n,", &save)) {
        long long v;
        if (!dlm_parse_int(w, 0, INT32_MAX, &v)) {
            cli_error("tokenize", "stdin line %ld: '%s' is not a token id", lineno, w);
            free(ids);
            return 1;
        }
        if (n == cap) ids = dlm_xrealloc(ids, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *ids);
        ids[n++] = (int32_t)v;
    }
    dlm_buf out = {0};
    int rc = 0;
    if (dlm_tokenizer_decode(tok, ids, n, skip_special, &out) != DLM_STATUS_OK) {
        cli_error("tokenize", "stdin line %ld: %s", lineno, dlm_error_message());
        rc = 1;
    } else if (jsonl) {
        json_t *s = json_stringn(out.data ? out.data : "", out.len);
        char *dumped = json_dumps(s, JSON_ENCODE_ANY);
        puts(dumped);
        free(dumped);
        json_decref(s);
    } else {
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
        putchar('\n');
    }
    dlm_buf_free(&out);
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    cli_opt opts[] = {
        {"tokenizer", "FILE", "tokenizer.json, or a folder with vocab.json + merges.txt (Qwen2 slow tokenizer) (required)"},
        {"jsonl", NULL, "stdin holds one JSON string per line (with --decode: print JSON strings)"},
        {"decode", NULL, "decode: stdin holds space-separated ids, one sequence per line"},
        {"skip-special", NULL, "with --decode: leave special tokens out"},
        {"chat", NULL, "wrap the text in the LLaDA chat template (one user turn) before encoding"},
        {0}};
    cli_positional pos;
    int exit_status;
    if (!cli_begin("tokenize", "--tokenizer FILE [--jsonl] [--decode] [TEXT]", opts, argc, argv, &pos, &exit_status))
        return exit_status;
    dlm_tokenizer *tok = NULL;
    int status = 2;
    bool jsonl = cli_has(opts, "jsonl"), decode = cli_has(opts, "decode"), chat = cli_has(opts, "chat");
    if (!cli_has(opts, "tokenizer")) {
        cli_error("tokenize", "--tokenizer FILE is required (see --help)");
        goto done;
    }
    if (pos.n > 1 || (pos.n == 1 && (jsonl || decode))) {
        cli_error("tokenize", "give one TEXT argument, or use stdin with --jsonl / --decode");
        goto done;
    }
    if (decode && chat) {
        cli_error("tokenize", "--chat applies to encoding only");
        goto done;
    }
    // A folder: Qwen2's slow-tokenizer files (vocab.json + merges.txt), as some checkpoints ship them.
    const char *tpath = cli_get(opts, "tokenizer");
    char *vocab = dlm_path_join(tpath, "vocab.json");
    bool slow = dlm_is_dir(tpath) && dlm_file_exists(vocab);
    free(vocab);
    tok = slow ? dlm_tokenizer_load_qwen2_slow(tpath) : dlm_tokenizer_load(tpath);
    if (!tok) {
        cli_error("tokenize", "%s", dlm_error_message());
        goto done;
    }
    status = 0;
    if (pos.n == 1) {
        status = encode_text(tok, pos.items[0], strlen(pos.items[0]), chat, "");
    } else if (!jsonl && !decode) {
        dlm_buf in = {0};
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) dlm_buf_append(&in, chunk, n);
        status = encode_text(tok, in.data ? in.data : "", in.len, chat, "stdin: ");
        dlm_buf_free(&in);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        long lineno = 0;
        while (status == 0 && (len = getline(&line, &cap, stdin)) >= 0) {
            lineno++;
            if (decode) {
                status = decode_line(tok, line, jsonl, cli_has(opts, "skip-special"), lineno);
                continue;
            }
            json_error_t jerr;
            json_t *s = json_loadb(line, (size_t)len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
            if (!json_is_string(s)) {
                cli_error("tokenize", "stdin line %ld: not a JSON string%s%s", lineno, s ? "" : ": ", s ? "" : jerr.text);
                json_decref(s);
                status = 1;
                break;
            }
            char where[48];
            snprintf(where, sizeof where, "stdin line %ld: ", lineno);
            status = encode_text(tok, json_string_value(s), json_string_length(s), chat, where);
            json_decref(s);
        }
        free(line);
    }
    fflush(stdout);
done:
    dlm_tokenizer_free(tok);
    cli_free(opts, &pos);
    return status;
}
