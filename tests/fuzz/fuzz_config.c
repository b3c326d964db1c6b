// fuzz_config.c — libFuzzer target: config.json parsing, PEFT adapter_config checks are covered by
// unit tests; this one feeds arbitrary text to dlm_config_parse and the rule-spec parser.
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    dlm_config c;
    dlm_config_parse(text, "fuzz/config.json", &c);
    dlm_rule_config rc;
    if (dlm_rule_parse(text, &rc) == DLM_STATUS_OK && dlm_rule_finalize(&rc) == DLM_STATUS_OK) {
        char buf[512];
        dlm_rule_format(&rc, buf, sizeof buf);
        dlm_rule_config back;
        if (dlm_rule_parse(buf, &back) != DLM_STATUS_OK) abort(); // the canonical form must parse back
    }
    free(text);
    return 0;
}
