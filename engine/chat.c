// chat.c — chat templates (chat.h). The renderings are those of the official Jinja templates for
// one user turn with add_generation_prompt=True.
#include "chat.h"

#include <string.h>

static const struct {
    const char *name, *help;
} templates[] = {
#define X(e, name, help) {name, help},
    DLM_CHAT_TEMPLATES(X)
#undef X
};

const char *dlm_chat_name(dlm_chat_template t) {
    return (unsigned)t < DLM_CHAT_TEMPLATE_COUNT ? templates[t].name : "?";
}

int dlm_chat_find(const char *name) {
    for (int i = 0; i < DLM_CHAT_TEMPLATE_COUNT; i++)
        if (strcmp(templates[i].name, name) == 0) return i;
    return -1;
}

int dlm_chat_identify(const char *jinja) {
    if (strstr(jinja, "<|start_header_id|>")) return DLM_CHAT_LLADA;
    if (strstr(jinja, "<role>SYSTEM</role>") && strstr(jinja, "<|role_end|>")) return DLM_CHAT_LING;
    if (!strstr(jinja, "<|im_start|>")) return -1;
    if (strstr(jinja, "<think>")) return DLM_CHAT_QWEN3;
    if (strstr(jinja, "You are Qwen, created by Alibaba Cloud")) return DLM_CHAT_QWEN25;
    if (strstr(jinja, "You are a helpful assistant")) return DLM_CHAT_CHATML;
    return DLM_CHAT_QWEN3; // ChatML without a default system message
}

static dlm_status need_tokens(const dlm_tokenizer *tok, const char *const *names, dlm_chat_template t) {
    for (int i = 0; names[i]; i++)
        if (dlm_tokenizer_find(tok, names[i]) < 0)
            return dlm_error(DLM_STATUS_UNSUPPORTED, "the tokenizer has no special token '%s' for the %s chat template",
                             names[i], templates[t].name);
    return DLM_STATUS_OK;
}

dlm_status dlm_chat_render(dlm_chat_template t, const dlm_tokenizer *tok, const char *user, dlm_buf *out) {
    static const char *const chatml_tokens[] = {"<|im_start|>", "<|im_end|>", NULL};
    dlm_status st = DLM_STATUS_OK;
    switch (t) {
    case DLM_CHAT_NONE: dlm_buf_append(out, user, strlen(user)); break;
    case DLM_CHAT_LLADA: st = dlm_tokenizer_chat_prompt(tok, user, out); break; // strips the message, as LLaDA's template does
    case DLM_CHAT_CHATML:
    case DLM_CHAT_QWEN25:
    case DLM_CHAT_QWEN3:
    case DLM_CHAT_QWEN3_NO_THINK:
        if ((st = need_tokens(tok, chatml_tokens, t)) != DLM_STATUS_OK) break;
        // Qwen's templates insert a default system turn when the conversation has none (Qwen2 and
        // Dream: "You are a helpful assistant."; Qwen2.5: the Qwen identity); Qwen3's does not.
        if (t == DLM_CHAT_CHATML) dlm_buf_printf(out, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n");
        if (t == DLM_CHAT_QWEN25)
            dlm_buf_printf(out, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                                "assistant.<|im_end|>\n");
        dlm_buf_printf(out, "<|im_start|>user\n");
        dlm_buf_append(out, user, strlen(user));
        dlm_buf_printf(out, "<|im_end|>\n<|im_start|>assistant\n");
        if (t == DLM_CHAT_QWEN3_NO_THINK) dlm_buf_printf(out, "<think>\n\n</think>\n\n");
        break;
    case DLM_CHAT_LING: {
        // LLaDA2.x's tokenizer_config.json (Ling): a system turn that only sets the thinking option
        // ('off' in the template), then the user turn and the opened assistant turn. <role> and
        // </role> encode as whatever the tokenizer makes of them; <|role_end|> must be one token.
        static const char *const ling_tokens[] = {"<|role_end|>", NULL};
        if ((st = need_tokens(tok, ling_tokens, t)) != DLM_STATUS_OK) break;
        dlm_buf_printf(out, "<role>SYSTEM</role>detailed thinking off<|role_end|><role>HUMAN</role>");
        dlm_buf_append(out, user, strlen(user));
        dlm_buf_printf(out, "<|role_end|><role>ASSISTANT</role>");
        break;
    }
    case DLM_CHAT_TEMPLATE_COUNT: st = dlm_error(DLM_STATUS_ARG, "chat template %d", (int)t); break;
    }
    return st;
}
