// test_tokenizer.c — byte-level BPE on a small hand-built tokenizer.json: merges by rank, added
// tokens (lstrip, special), NFC, Digits, decode with partial UTF-8, chat template, bad files.
// The comparison with real Llama-3 / Qwen3 tokenizers is tests/cli/test_tokenizer_real.sh.
#include <jansson.h>

#include "engine/chat.h"
#include "engine/tokenizer.h"
#include "testutil.h"

static char *dir;
static const char LLAMA3_SPLIT[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                   "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// GPT-2 byte -> character mapping, to spell vocabulary entries.
static void byte_char(int b, char *out) {
    int n = 0, cp = -1;
    for (int x = 0; x < 256; x++) {
        bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
        int c = printable ? x : 256 + n++;
        if (x == b) cp = c;
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xc0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
}

// Token ids: 0..255 single bytes; then the merged tokens in this order.
static const char *const MERGES[][2] = {
    {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"a", "a"}, {"Ġ", "w"}, {"Ġw", "o"}, {"r", "l"}, {"rl", "d"},
    {"Ġwo", "rld"}, {"Ã", "©"}, {"1", "2"},
};
#define N_MERGES (int)(sizeof MERGES / sizeof MERGES[0])

static char *write_tokenizer(const char *name, const char *model_type, const char *normalizer, const char *pre,
                             bool bad_merge) {
    json_t *vocab = json_object(), *merges = json_array();
    char ch[4];
    for (int b = 0; b < 256; b++) {
        byte_char(b, ch);
        json_object_set_new(vocab, ch, json_integer(b));
    }
    for (int i = 0; i < N_MERGES; i++) {
        char joined[32];
        snprintf(joined, sizeof joined, "%s%s", MERGES[i][0], MERGES[i][1]);
        json_object_set_new(vocab, joined, json_integer(256 + i));
        char m[32];
        snprintf(m, sizeof m, "%s %s", MERGES[i][0], bad_merge && i == 3 ? "zzz" : MERGES[i][1]);
        json_array_append_new(merges, json_string(m));
    }
    json_t *added = json_array();
    const char *specials[] = {"<|startoftext|>", "<|endoftext|>", "<|start_header_id|>", "<|end_header_id|>",
                              "<|eot_id|>", "<|mdm_mask|>", "<|role_end|>"};
    for (int i = 0; i < 7; i++)
        json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 300 + i, "content", specials[i],
                                               "single_word", 0, "lstrip", i == 5, "rstrip", 0, "normalized", 0,
                                               "special", 1));
    json_t *root = json_pack("{s:s, s:o, s:o, s:o, s:o}", "version", "1.0", "added_tokens", added, "normalizer",
                             json_loads(normalizer, JSON_DECODE_ANY, NULL), "pre_tokenizer", json_loads(pre, JSON_DECODE_ANY, NULL), "decoder",
                             json_pack("{s:s}", "type", "ByteLevel"));
    json_object_set_new(root, "model", json_pack("{s:s, s:o, s:o, s:b}", "type", model_type, "vocab", vocab, "merges", merges,
                                                 "ignore_merges", 0));
    char *text = json_dumps(root, 0);
    tu_write_str(dir, name, text);
    free(text);
    json_decref(root);
    return dlm_path_join(dir, name);
}

static char *default_pre(void) {
    json_t *pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type", "Sequence", "pretokenizers",
                            "type", "Split", "pattern", "Regex", LLAMA3_SPLIT, "behavior", "Isolated", "invert", 0, "type",
                            "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0);
    char *s = json_dumps(pre, 0);
    json_decref(pre);
    return s;
}

static dlm_tokenizer *tok;

static int setup(void **state) {
    dir = tu_tmpdir();
    char *pre = default_pre();
    char *path = write_tokenizer("tokenizer.json", "BPE", "{\"type\": \"NFC\"}", pre, false);
    tok = dlm_tokenizer_load(path);
    if (!tok) fprintf(stderr, "load: %s\n", dlm_error_message());
    free(pre);
    free(path);
    return tok ? 0 : -1;
}

static int teardown(void **state) {
    dlm_tokenizer_free(tok);
    tu_rmtree(dir);
    free(dir);
    return 0;
}

// Encode and compare with an expected list terminated by -1.
static void expect_ids(const char *text, size_t len, const int *want) {
    int32_t *ids;
    int n;
    assert_int_equal(dlm_tokenizer_encode(tok, text, len, &ids, &n), DLM_STATUS_OK);
    int nw = 0;
    while (want[nw] >= 0) nw++;
    bool same = n == nw;
    for (int i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same) {
        char got[256] = "";
        for (int i = 0; i < n && strlen(got) < 200; i++) snprintf(got + strlen(got), 16, "%d ", ids[i]);
        fail_msg("'%s': got [%s], %d ids, wanted %d", text, got, n, nw);
    }
    free(ids);
}
#define EXPECT(text, ...) expect_ids(text, strlen(text), (const int[]){__VA_ARGS__, -1})
enum { HE = 256, LL, HELL, HELLO, AA, GW, GWO, RL, RLD, GWORLD, E_ACUTE, D12, BOS = 300, EOS, SH, EH, EOT, MASK };

static void test_merges(void **state) {
    EXPECT("hello", HELLO);
    EXPECT("helo", HE, 'l', 'o');            // no merge of "l o"
    EXPECT("aaa", AA, 'a');                  // the leftmost pair of equal rank merges first
    EXPECT("aaaa", AA, AA);
    EXPECT("hello world", HELLO, GWORLD);    // pre-tokenized into "hello" and " world"
    EXPECT("hellohello", HELLO, HELLO);
    EXPECT("", -1);
    EXPECT("12345", D12, '3', '4', '5');     // \p{N}{1,3}: "123" "45"
}

static void test_added_tokens(void **state) {
    EXPECT("x<|eot_id|>y", 'x', EOT, 'y');
    EXPECT("<|eot_id|><|eot_id|>", EOT, EOT);
    EXPECT("a  <|mdm_mask|>b", 'a', MASK, 'b'); // lstrip swallows the spaces before the mask
    EXPECT("a <|eot_id|>", 'a', ' ', EOT);     // no lstrip: the space stays a token
    EXPECT("<|eot_id", '<', '|', 'e', 'o', 't', '_', 'i', 'd'); // broken special tokens are plain text
}

static void test_nfc_and_utf8(void **state) {
    EXPECT("\xc3\xa9", E_ACUTE);          // é precomposed
    EXPECT("e\xcc\x81", E_ACUTE);         // e + combining acute -> NFC -> é
    int32_t *ids;
    int n;
    assert_int_equal(dlm_tokenizer_encode(tok, "ab\xff", 3, &ids, &n), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "byte 2"));
    assert_int_equal(dlm_tokenizer_encode(tok, "\xed\xa0\x80", 3, &ids, &n), DLM_STATUS_FORMAT); // surrogate
    expect_ids("a\0b", 3, (const int[]){'a', 0, 'b', -1});                                        // NUL is a byte
}

static void test_decode(void **state) {
    dlm_buf out = {0};
    int32_t ids[] = {HELLO, GWORLD, EOT};
    assert_int_equal(dlm_tokenizer_decode(tok, ids, 3, false, &out), DLM_STATUS_OK);
    assert_string_equal(out.data, "hello world<|eot_id|>");
    out.len = 0;
    assert_int_equal(dlm_tokenizer_decode(tok, ids, 3, true, &out), DLM_STATUS_OK);
    assert_string_equal(dlm_buf_cstr(&out), "hello world");
    // A multi-byte character split over two tokens decodes whole; alone, each half is U+FFFD.
    int32_t split[] = {0xe4, 0xb8, 0xad}; // 中 as three byte tokens
    out.len = 0;
    dlm_tokenizer_decode(tok, split, 3, false, &out);
    assert_string_equal(dlm_buf_cstr(&out), "\xe4\xb8\xad");
    out.len = 0;
    dlm_tokenizer_decode(tok, split, 2, false, &out);
    assert_string_equal(dlm_buf_cstr(&out), "\xef\xbf\xbd"); // one U+FFFD for the truncated sequence
    size_t len;
    const char *b = dlm_tokenizer_token_bytes(tok, 0xe4, &len);
    assert_int_equal(len, 1);
    assert_int_equal((unsigned char)b[0], 0xe4);
    assert_int_equal(dlm_tokenizer_decode(tok, (int32_t[]){9999}, 1, false, &out), DLM_STATUS_ARG);
    assert_true(dlm_tokenizer_is_special(tok, EOT));
    assert_false(dlm_tokenizer_is_special(tok, HELLO));
    assert_int_equal(dlm_tokenizer_find(tok, "<|mdm_mask|>"), MASK);
    assert_int_equal(dlm_tokenizer_find(tok, "hello"), HELLO);
    assert_int_equal(dlm_tokenizer_find(tok, "nope"), -1);
    assert_int_equal(dlm_tokenizer_n_vocab(tok), MASK + 2); // <|role_end|> after the mask (test_chat_ling)
    dlm_buf_free(&out);
}

static void test_lossy(void **state) {
    dlm_buf out = {0};
    // overlong, lone continuation, truncated 4-byte, valid tail
    int bad = dlm_utf8_append_lossy(&out, "\xc0\xaf" "\x80" "\xf0\x9f\x98" "ok", 8);
    assert_int_equal(bad, 4);
    assert_string_equal(dlm_buf_cstr(&out), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdok");
    dlm_buf_free(&out);
}

static void test_chat_template(void **state) {
    dlm_buf out = {0};
    assert_int_equal(dlm_tokenizer_chat_prompt(tok, " \n What is 2+2?\t \n", &out), DLM_STATUS_OK);
    assert_string_equal(out.data, "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    int32_t *ids;
    int n;
    assert_int_equal(dlm_tokenizer_encode(tok, out.data, out.len, &ids, &n), DLM_STATUS_OK);
    assert_int_equal(ids[0], BOS);
    assert_int_equal(ids[1], SH);
    assert_int_equal(ids[n - 1], '\n');
    free(ids);
    dlm_buf_free(&out);
}

// LLaDA2.x's template (Ling's tokenizer_config.json, one user turn, add_generation_prompt):
// <|role_end|> must be one token; <role> tags encode as the tokenizer makes them.
static void test_chat_ling(void **state) {
    dlm_buf out = {0};
    assert_int_equal(dlm_chat_render(DLM_CHAT_LING, tok, "hello", &out), DLM_STATUS_OK);
    assert_string_equal(out.data, "<role>SYSTEM</role>detailed thinking off<|role_end|><role>HUMAN</role>hello<|role_end|>"
                                  "<role>ASSISTANT</role>");
    int32_t *ids;
    int n, role_end = 0;
    assert_int_equal(dlm_tokenizer_encode(tok, out.data, out.len, &ids, &n), DLM_STATUS_OK);
    for (int i = 0; i < n; i++) role_end += ids[i] == 306;
    assert_int_equal(role_end, 2);
    free(ids);
    dlm_buf_free(&out);
    assert_int_equal(dlm_chat_render(DLM_CHAT_CHATML, tok, "hello", &out), DLM_STATUS_UNSUPPORTED);
    assert_non_null(strstr(dlm_error_message(), "'<|im_start|>'"));
    dlm_buf_free(&out);
    assert_int_equal(dlm_chat_identify("{% set thinking_option = 'off' %}\n{{- '<role>SYSTEM</role>' }}...'<|role_end|>'"),
                     DLM_CHAT_LING);
    assert_int_equal(dlm_chat_find("ling"), DLM_CHAT_LING);
}

static void test_digits_and_bad_files(void **state) {
    char *path = write_tokenizer("digits.json", "BPE", "null",
                                 "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true},"
                                 " {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}]}",
                                 false);
    dlm_tokenizer *t = dlm_tokenizer_load(path);
    assert_non_null(t);
    int32_t *ids;
    int n;
    assert_int_equal(dlm_tokenizer_encode(t, "a12", 3, &ids, &n), DLM_STATUS_OK);
    assert_int_equal(n, 3); // "1" "2" split before the 1+2 merge could apply
    free(ids);
    dlm_tokenizer_free(t);
    free(path);

    char *pre = default_pre();
    struct {
        const char *model, *norm, *pre;
        bool bad_merge;
        const char *needle;
    } cases[] = {
        {"WordPiece", "null", pre, false, "model.type 'WordPiece'"},
        {"BPE", "null", pre, true, "model.merges[3]"},
        {"BPE", "{\"type\": \"Lowercase\"}", pre, false, "normalizer type 'Lowercase'"},
        {"BPE", "null", "{\"type\": \"Whitespace\"}", false, "pre_tokenizer type 'Whitespace'"},
        {"BPE", "null", "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}", false,
         "does not compile"},
        {"BPE", "null", "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Isolated\"}", false,
         "no ByteLevel"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        path = write_tokenizer("bad.json", cases[i].model, cases[i].norm, cases[i].pre, cases[i].bad_merge);
        assert_null(dlm_tokenizer_load(path));
        if (!strstr(dlm_error_message(), cases[i].needle) || !strstr(dlm_error_message(), "bad.json"))
            fail_msg("case %zu: '%s'", i, dlm_error_message());
        free(path);
    }
    free(pre);
    tu_write_str(dir, "notjson.json", "{\"model\": ");
    path = dlm_path_join(dir, "notjson.json");
    assert_null(dlm_tokenizer_load(path));
    assert_non_null(strstr(dlm_error_message(), "not valid JSON"));
    free(path);
    assert_null(dlm_tokenizer_load(dir));
    assert_non_null(strstr(dlm_error_message(), "is a directory"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merges),       cmocka_unit_test(test_added_tokens), cmocka_unit_test(test_nfc_and_utf8),
        cmocka_unit_test(test_decode),       cmocka_unit_test(test_lossy),        cmocka_unit_test(test_chat_template), cmocka_unit_test(test_chat_ling),
        cmocka_unit_test(test_digits_and_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
