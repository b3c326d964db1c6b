// chat.h — chat templates as a table keyed by name: one user turn rendered to the text a model
// was trained to see. A family names its own template (arch.h); a checkpoint's
// tokenizer_config.json can select another one we know; an unknown one is reported, never guessed.
#ifndef DLM_CHAT_H
#define DLM_CHAT_H

#include "error.h"
#include "tokenizer.h"
#include "util.h"

// X(ENUM, "name", "what it renders for one user turn")
#define DLM_CHAT_TEMPLATES(X)                                                                                     \
    X(NONE, "none", "the prompt as is (raw)")                                                                     \
    X(LLADA, "llada", "<|startoftext|><|start_header_id|>user<|end_header_id|>\\n\\n{q}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\\n\\n") \
    X(CHATML, "chatml", "<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n{q}<|im_end|>\\n<|im_start|>assistant\\n") \
    X(QWEN25, "qwen2.5", "ChatML with Qwen2.5's default system message (You are Qwen, created by Alibaba Cloud. ...)") \
    X(QWEN3, "qwen3", "<|im_start|>user\\n{q}<|im_end|>\\n<|im_start|>assistant\\n")                           \
    X(QWEN3_NO_THINK, "qwen3-no-think", "qwen3 with enable_thinking=False: the assistant turn opens with an empty <think></think>") \
    X(LING, "ling", "<role>SYSTEM</role>detailed thinking off<|role_end|><role>HUMAN</role>{q}<|role_end|><role>ASSISTANT</role>")

typedef enum {
#define X(e, name, help) DLM_CHAT_##e,
    DLM_CHAT_TEMPLATES(X)
#undef X
    DLM_CHAT_TEMPLATE_COUNT
} dlm_chat_template;

const char *dlm_chat_name(dlm_chat_template t);
// -1 if unknown.
int dlm_chat_find(const char *name);

// Which known template a tokenizer_config.json "chat_template" string is, by the markers each
// template's Jinja source contains; -1 when none matches (the caller reports it once).
int dlm_chat_identify(const char *jinja);

// Render one user turn with the assistant's turn opened, appending to out. The template's special
// tokens must exist in tok (else an error naming the token and the tokenizer): text that names a
// missing token would be encoded as plain characters.
dlm_status dlm_chat_render(dlm_chat_template t, const dlm_tokenizer *tok, const char *user, dlm_buf *out);

#endif
