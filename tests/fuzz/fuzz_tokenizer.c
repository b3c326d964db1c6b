// fuzz_tokenizer.c — libFuzzer target: encode arbitrary bytes with a small real tokenizer
// (tests/fuzz/tokenizer.json, built from the unit-test vocabulary), then decode the ids back and
// check the round trip for valid UTF-8 input.
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"

static dlm_tokenizer *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) {
        const char *path = getenv("DLM_FUZZ_TOKENIZER");
        tok = dlm_tokenizer_load(path ? path : "tests/fuzz/tokenizer.json");
        if (!tok) abort();
    }
    int32_t *ids;
    int n;
    if (dlm_tokenizer_encode(tok, (const char *)data, size, &ids, &n) != DLM_STATUS_OK) return 0;
    dlm_buf out = {0};
    if (dlm_tokenizer_decode(tok, ids, n, false, &out) != DLM_STATUS_OK) abort();
    // Without a normalizer, decode(encode(x)) == x for valid UTF-8 (every byte has a token).
    if (out.len != size || (size && memcmp(out.data, data, size) != 0)) abort();
    dlm_buf_free(&out);
    free(ids);
    return 0;
}
