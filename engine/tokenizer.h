// tokenizer.h — Hugging Face tokenizer.json byte-level BPE (Llama-3, Qwen, LLaDA style).
//
// Pipeline of encode: added/special tokens are matched in the raw text first (leftmost-longest,
// honouring lstrip/rstrip/single_word); each stretch between them goes through the normalizer
// (NFC/NFD/NFKC/NFKD, via utf8proc), the pre-tokenizer chain (Split with PCRE2 regexes including
// Unicode classes, Digits, ByteLevel) and BPE merges by rank. No post-processor tokens (BOS/EOS)
// are added: callers add what their template needs.
//
//   dlm_tokenizer *tok = dlm_tokenizer_load("tokenizer.json");
//   int32_t *ids; int n;
//   if (dlm_tokenizer_encode(tok, text, strlen(text), &ids, &n) == DLM_STATUS_OK) { ...; free(ids); }
//   dlm_tokenizer_free(tok);
#ifndef DLM_TOKENIZER_H
#define DLM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

typedef struct dlm_tokenizer dlm_tokenizer;

// NULL on error (message names the file and the field).
dlm_tokenizer *dlm_tokenizer_load(const char *path);
// A Qwen2 slow tokenizer as some checkpoints ship it instead of tokenizer.json: DIR/vocab.json,
// DIR/merges.txt and the added tokens of DIR/tokenizer_config.json, with Qwen2's normalizer (NFC)
// and pre-tokenizer regex (tokenization_qwen2.py). NULL on error.
dlm_tokenizer *dlm_tokenizer_load_qwen2_slow(const char *dir);
void dlm_tokenizer_free(dlm_tokenizer *tok);

// One more than the largest id (vocabulary plus added tokens).
int dlm_tokenizer_n_vocab(const dlm_tokenizer *tok);

// Encode UTF-8 text (len bytes; NUL bytes allowed). *ids is malloc'd; caller frees.
// Invalid UTF-8 is an error naming the byte offset.
dlm_status dlm_tokenizer_encode(const dlm_tokenizer *tok, const char *text, size_t len, int32_t **ids, int *n);

// Raw bytes of one token (byte-level decoded; an added token's content). NULL if the id is
// unknown. The bytes may be a partial UTF-8 sequence. Valid until the tokenizer is freed.
const char *dlm_tokenizer_token_bytes(const dlm_tokenizer *tok, int32_t id, size_t *len);
bool dlm_tokenizer_is_special(const dlm_tokenizer *tok, int32_t id);

// Decode ids to UTF-8, replacing invalid sequences with U+FFFD as Hugging Face does. Unknown ids
// are an error. Appends to out.
dlm_status dlm_tokenizer_decode(const dlm_tokenizer *tok, const int32_t *ids, int n, bool skip_special, dlm_buf *out);
// The same, leaving out ids the tokenizer does not know, as Hugging Face's decode does (a model's
// vocabulary can be larger than its tokenizer's). Returns how many were left out (callers say so);
// *first_unknown (may be NULL) is set to the first of them.
int dlm_tokenizer_decode_known(const dlm_tokenizer *tok, const int32_t *ids, int n, bool skip_special, dlm_buf *out,
                               int32_t *first_unknown);

// One token for display on a single line: \n, \t and other control characters escaped, bytes of
// an incomplete UTF-8 sequence shown as \xNN. Unknown ids read "<id 123>". Always NUL-terminated.
void dlm_tokenizer_token_display(const dlm_tokenizer *tok, int32_t id, char *buf, size_t n);

// Id of a token by its text (added tokens and vocabulary entries in byte-level form), or -1.
int32_t dlm_tokenizer_find(const dlm_tokenizer *tok, const char *text);
// Id of the token whose raw bytes are exactly `text` (" cat", not "Ġcat"; the lowest such id),
// else dlm_tokenizer_find's answer, or -1. For people typing a token to force.
int32_t dlm_tokenizer_lookup(const dlm_tokenizer *tok, const char *text);

// LLaDA-Instruct chat template for one user turn (research/algorithms.md §1.1):
//   <|startoftext|><|start_header_id|>user<|end_header_id|>\n\n{strip(user)}<|eot_id|>
//   <|start_header_id|>assistant<|end_header_id|>\n\n
// The special tokens are taken by name from the tokenizer; a missing one is an error.
dlm_status dlm_tokenizer_chat_prompt(const dlm_tokenizer *tok, const char *user, dlm_buf *out);

// Append `len` bytes to out, replacing invalid UTF-8 with U+FFFD (maximal subparts, as
// String::from_utf8_lossy). Returns the number of replacements.
int dlm_utf8_append_lossy(dlm_buf *out, const char *s, size_t len);
// Offset of the first invalid UTF-8 byte, or len if valid.
size_t dlm_utf8_check(const char *s, size_t len);

#endif
