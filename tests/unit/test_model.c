// test_model.c — config.json parsing, checkpoint validation, LoRA loading, forward-pass invariants.
#include <math.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "testmodel.h"

static char *dir;

static int setup(void **state) {
    dir = tu_tmpdir();
    return 0;
}
static int teardown(void **state) {
    tu_rmtree(dir);
    free(dir);
    return 0;
}

static char *subdir(const char *name) {
    char *p = dlm_path_join(dir, name);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", p, p);
    assert_int_equal(system(cmd), 0);
    return p;
}

#define EXPECT_MSG(needle)                                                                     \
    do {                                                                                       \
        if (!strstr(dlm_error_message(), needle))                                              \
            fail_msg("message '%s' does not contain '%s'", dlm_error_message(), needle);       \
    } while (0)

static void test_config_llada_and_llama_keys(void **state) {
    dlm_config c;
    const char *llada = "{\"d_model\": 4096, \"n_heads\": 32, \"n_kv_heads\": 32, \"n_layers\": 32,"
                        " \"mlp_hidden_size\": 12288, \"vocab_size\": 126464, \"embedding_size\": 126464,"
                        " \"rope_theta\": 500000.0, \"rms_norm_eps\": 1e-05, \"mask_token_id\": 126336,"
                        " \"eos_token_id\": 126081, \"weight_tying\": false, \"include_bias\": false,"
                        " \"activation_type\": \"silu\", \"block_type\": \"llama\", \"layer_norm_type\": \"rms\","
                        " \"max_sequence_length\": 4096, \"alibi\": false, \"rope\": true}";
    assert_int_equal(dlm_config_parse(llada, "config.json", &c), DLM_STATUS_OK);
    assert_int_equal(c.d_model, 4096);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.d_ff, 12288);
    assert_int_equal(c.n_vocab, 126464);
    assert_int_equal(c.mask_id, 126336);
    assert_int_equal(c.eos_id, 126081);
    assert_true(c.rope_theta == 500000.0f);
    assert_false(c.tied_embeddings);

    const char *llama = "{\"model_type\": \"a2d-llama\", \"hidden_size\": 64, \"num_attention_heads\": 8, \"num_key_value_heads\": 2,"
                        " \"num_hidden_layers\": 3, \"intermediate_size\": 96, \"vocab_size\": 100,"
                        " \"max_position_embeddings\": 256, \"tie_word_embeddings\": true, \"eos_token_id\": [7, 8]}";
    assert_int_equal(dlm_config_parse(llama, "config.json", &c), DLM_STATUS_OK);
    assert_int_equal(c.n_kv_heads, 2);
    assert_int_equal(c.head_dim, 8);
    assert_int_equal(c.max_seq_len, 256);
    assert_int_equal(c.eos_id, 7);
    assert_int_equal(c.mask_id, -1);
    assert_true(c.tied_embeddings);
    assert_true(c.rope_theta == 10000.0f);
}

static void test_config_errors(void **state) {
    dlm_config c;
    struct {
        const char *json, *needle;
    } cases[] = {
        {"{", "not valid JSON"},
        {"[]", "not a JSON object"},
        {"{\"n_heads\": 4}", "missing field 'd_model'"},
        {"{\"d_model\": \"64\", \"n_heads\": 4}", "'d_model' is not an integer"},
        {"{\"d_model\": 99999999, \"n_heads\": 4}", "'d_model' = 99999999 is out of range"},
        {"{\"d_model\": 64, \"n_heads\": 0}", "'n_heads' = 0"},
        {"{\"d_model\": 64, \"n_heads\": 4, \"n_layers\": 2, \"mlp_hidden_size\": 8, \"vocab_size\": 1}", "'vocab_size' = 1"},
        {"{\"d_model\": 66, \"n_heads\": 4, \"n_layers\": 2, \"mlp_hidden_size\": 8, \"vocab_size\": 10}",
         "not a multiple of n_heads"},
        {"{\"d_model\": 64, \"n_heads\": 4, \"n_kv_heads\": 3, \"n_layers\": 2, \"mlp_hidden_size\": 8, \"vocab_size\": 10}",
         "not a multiple of n_kv_heads"},
        {"{\"d_model\": 64, \"n_heads\": 4, \"n_layers\": 2, \"mlp_hidden_size\": 8, \"vocab_size\": 10, \"mask_token_id\": 10}",
         "'mask_token_id' = 10 is out of range"},
        {"{\"include_bias\": true}", "'include_bias' is set"},
        {"{\"alibi\": true}", "'alibi' is set"},
        {"{\"activation_type\": \"gelu\"}", "only SiLU"},
        {"{\"layer_norm_type\": \"default\"}", "only 'rms'"},
        {"{\"rope_scaling\": {\"type\": \"linear\"}}", "'rope_scaling'"},
        {"{\"d_model\": 64, \"n_heads\": 4, \"n_layers\": 2, \"mlp_hidden_size\": 8, \"vocab_size\": 10, \"rope_theta\": -1}",
         "'rope_theta'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dlm_status st = dlm_config_parse(cases[i].json, "cfg.json", &c);
        if (st == DLM_STATUS_OK) fail_msg("case %zu parsed: %s", i, cases[i].json);
        EXPECT_MSG(cases[i].needle);
        EXPECT_MSG("cfg.json");
    }
}

static void test_load_errors(void **state) {
    struct {
        const char *omit, *bad_shape, *bad_dtype, *needle;
    } cases[] = {
        {"model.transformer.blocks.1.up_proj.weight", NULL, NULL, "missing tensor 'model.transformer.blocks.1.up_proj.weight'"},
        {"model.transformer.ff_out.weight", NULL, NULL, "LM head"},
        {"model.transformer.wte.weight", NULL, NULL, "token embedding"},
        {NULL, "model.transformer.blocks.0.k_proj.weight", NULL, "'model.transformer.blocks.0.k_proj.weight' has shape [17, 32]"},
        {NULL, "model.transformer.ln_f.weight", NULL, "has shape [33], config.json implies [32]"},
        {NULL, NULL, "model.transformer.blocks.0.ff_norm.weight", "has dtype I64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *md = subdir("broken");
        tu_model_spec m = tu_small_spec();
        m.omit = cases[i].omit, m.bad_shape = cases[i].bad_shape, m.bad_dtype = cases[i].bad_dtype;
        tu_write_model(md, &m);
        assert_null(dlm_model_load(md, NULL));
        EXPECT_MSG(cases[i].needle);
        free(md);
    }
    char *md = subdir("noconfig");
    assert_null(dlm_model_load(md, NULL));
    EXPECT_MSG("config.json");
    assert_null(dlm_model_load("/definitely/not/here", NULL));
    EXPECT_MSG("/definitely/not/here");
    free(md);
}

// The issue-12 repro: a LLaDA checkpoint with a q_proj.bias no part of the LLaDA forward uses
// loaded and ran with silently wrong logits. Now every tensor must be claimed by the family.
static void test_unclaimed_tensor_refused(void **state) {
    char *md = subdir("qbias");
    tu_model_spec m = tu_small_spec();
    m.extra_tensor = "model.transformer.blocks.0.q_proj.bias";
    tu_write_model(md, &m);
    assert_null(dlm_model_load(md, NULL));
    EXPECT_MSG("model.safetensors: tensor 'model.transformer.blocks.0.q_proj.bias' is not part of the llada architecture");
    free(md);
}

// Every family: it loads in its own layout, and a broken checkpoint or a config.json that
// contradicts it fails with one line naming the file and the tensor or key.
static void test_family_checkpoints(void **state) {
    static const struct {
        const char *family, *own_tensor, *foreign_tensor, *bad_config, *bad_config_msg;
    } fams[] = {
        {"llada", "model.transformer.blocks.1.attn_out.weight", "model.layers.0.self_attn.q_proj.bias",
         ", \"rope_scaling\": {\"type\": \"linear\"}", "'rope_scaling'"},
        {"dream", "model.layers.1.self_attn.k_proj.bias", "model.layers.0.self_attn.q_norm.weight",
         ", \"head_dim\": 16", "'head_dim' = 16 contradicts"},
        {"a2d-qwen2", "model.layers.0.self_attn.v_proj.bias", "model.layers.0.self_attn.o_proj.bias",
         ", \"use_sliding_window\": true", "'use_sliding_window' is set"},
        {"a2d-qwen3", "model.layers.1.self_attn.q_norm.weight", "model.layers.1.self_attn.q_proj.bias",
         ", \"attention_bias\": true", "'attention_bias' is set"},
        {"sdar", "model.layers.0.self_attn.k_norm.weight", "model.layers.0.self_attn.k_proj.bias",
         ", \"partial_rotary_factor\": 0.5", "'partial_rotary_factor'"},
        {"fast-dllm-v2", "model.layers.1.self_attn.q_proj.bias", "model.layers.0.self_attn.k_norm.weight",
         ", \"layer_types\": [\"full_attention\", \"sliding_attention\"]", "layer_types[1] is not \"full_attention\""},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        char *md = subdir(fams[f].family);
        tu_model_spec m = tu_small_spec();
        m.family = fams[f].family;
        tu_write_model(md, &m);
        dlm_model *ok = dlm_model_load(md, NULL);
        if (!ok) fail_msg("%s: %s", fams[f].family, dlm_error_message());
        assert_string_equal(ok->cfg.arch->name, fams[f].family);
        dlm_model_free(ok);

        char want[256];
        m = tu_small_spec(), m.family = fams[f].family, m.omit = fams[f].own_tensor;
        tu_write_model(md, &m);
        assert_null(dlm_model_load(md, NULL));
        snprintf(want, sizeof want, "missing tensor '%s'", fams[f].own_tensor);
        EXPECT_MSG(want);
        EXPECT_MSG(fams[f].family);

        m = tu_small_spec(), m.family = fams[f].family, m.extra_tensor = fams[f].foreign_tensor;
        tu_write_model(md, &m);
        assert_null(dlm_model_load(md, NULL));
        snprintf(want, sizeof want, "model.safetensors: tensor '%s' is not part of the %s architecture",
                 fams[f].foreign_tensor, fams[f].family);
        EXPECT_MSG(want);

        m = tu_small_spec(), m.family = fams[f].family, m.bad_shape = fams[f].own_tensor;
        tu_write_model(md, &m);
        assert_null(dlm_model_load(md, NULL));
        snprintf(want, sizeof want, "model.safetensors: tensor '%s' has shape", fams[f].own_tensor);
        EXPECT_MSG(want);

        m = tu_small_spec(), m.family = fams[f].family, m.bad_dtype = fams[f].own_tensor;
        tu_write_model(md, &m);
        assert_null(dlm_model_load(md, NULL));
        EXPECT_MSG("has dtype I64");

        m = tu_small_spec(), m.family = fams[f].family, m.extra_config = fams[f].bad_config;
        tu_write_model(md, &m);
        assert_null(dlm_model_load(md, NULL));
        EXPECT_MSG("config.json");
        EXPECT_MSG(fams[f].bad_config_msg);
        free(md);
    }
}

// Unknown architectures and model types are refused by name; known unsupported ones say so;
// architectures and model_type that disagree are a contradiction.
static void test_family_detection(void **state) {
    dlm_config c;
    struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\"}", "architectures 'Qwen2ForCausalLM' is not"},
        {"{\"model_type\": \"gpt2\"}", "model_type 'gpt2' is not"},
        {"{\"architectures\": [\"ModernBertForMaskedLM\"]}", "ModernBERT"},
        {"{\"architectures\": [\"Fast_dLLM_QwenForCausalLM\"], \"model_type\": \"Dream\"}", "model_type 'Dream' contradicts"},
        {"{\"architectures\": [\"MMadaModelLM\"]}", "MMaDA"},
        {"{\"architectures\": [\"DreamModel\"], \"model_type\": \"sdar\"}", "model_type 'sdar' contradicts architectures 'DreamModel'"},
        {"{\"hidden_size\": 64, \"num_attention_heads\": 4}", "no 'architectures' or 'model_type'"},
        {"{\"architectures\": \"DreamModel\"}", "'architectures' is not a list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (dlm_config_parse(cases[i].json, "cfg.json", &c) == DLM_STATUS_OK) fail_msg("case %zu parsed: %s", i, cases[i].json);
        EXPECT_MSG(cases[i].needle);
        EXPECT_MSG("cfg.json");
    }
    const char *sdar = "{\"architectures\": [\"SDARForCausalLM\"], \"model_type\": \"sdar\", \"hidden_size\": 64,"
                       " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 32, \"num_hidden_layers\": 2,"
                       " \"intermediate_size\": 96, \"vocab_size\": 100, \"block_size\": 8}";
    assert_int_equal(dlm_config_parse(sdar, "config.json", &c), DLM_STATUS_OK);
    assert_string_equal(c.arch->name, "sdar");
    assert_true(c.qk_norm && !c.qkv_bias && !c.shift_logits);
    assert_int_equal(c.block_causal, 8);
    assert_int_equal(c.head_dim, 32);
    // Fast_dLLM_v2_1.5B's config.json (layer_types shortened to 2 entries with 2 layers)
    const char *fast = "{\"architectures\": [\"Fast_dLLM_QwenForCausalLM\"], \"attention_dropout\": 0.0, \"bd_size\": 32,"
                       " \"bos_token_id\": 151643, \"eos_token_id\": 151645, \"hidden_act\": \"silu\", \"hidden_size\": 1536,"
                       " \"initializer_range\": 0.02, \"intermediate_size\": 8960, \"layer_types\": [\"full_attention\","
                       " \"full_attention\"], \"max_position_embeddings\": 32768, \"max_window_layers\": 21,"
                       " \"model_type\": \"Fast_dLLM_Qwen\", \"num_attention_heads\": 12, \"num_hidden_layers\": 2,"
                       " \"num_key_value_heads\": 2, \"pad_token_id\": 151645, \"rms_norm_eps\": 1e-06, \"rope_scaling\": null,"
                       " \"rope_theta\": 1000000.0, \"sliding_window\": null, \"tie_word_embeddings\": true,"
                       " \"torch_dtype\": \"bfloat16\", \"use_cache\": true, \"use_sliding_window\": false, \"vocab_size\": 151936}";
    assert_int_equal(dlm_config_parse(fast, "config.json", &c), DLM_STATUS_OK);
    assert_string_equal(c.arch->name, "fast-dllm-v2");
    assert_true(c.qkv_bias && !c.qk_norm && c.shift_logits && c.tied_embeddings);
    assert_int_equal(c.block_causal, 32);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.eos_id, 151645);
    assert_int_equal(c.mask_id, -1); // from the tokenizer's |<MASK>| (151665)
}

// The mixture-of-experts configs: LLaDA2.1-mini's keys and values are read as its modeling code
// reads them; LLaDA-MoE is told from LLaDA-8B by its keys; what the code does differently from
// what we run is refused by name.
static void test_moe_configs(void **state) {
    dlm_config c;
    const char *llada2 = "{\"architectures\": [\"LLaDA2MoeModelLM\"], \"model_type\": \"llada2_moe\", \"hidden_size\": 2048,"
                         " \"num_attention_heads\": 16, \"num_key_value_heads\": 4, \"head_dim\": 128, \"num_hidden_layers\": 20,"
                         " \"intermediate_size\": 5120, \"vocab_size\": 157184, \"moe_intermediate_size\": 512,"
                         " \"num_experts\": 256, \"num_experts_per_tok\": 8, \"num_shared_experts\": 1, \"n_group\": 8,"
                         " \"topk_group\": 4, \"routed_scaling_factor\": 2.5, \"first_k_dense_replace\": 1,"
                         " \"partial_rotary_factor\": 0.5, \"rotary_dim\": 64, \"rope_theta\": 600000, \"score_function\": \"sigmoid\","
                         " \"moe_router_enable_expert_bias\": true, \"norm_topk_prob\": true, \"use_qk_norm\": true,"
                         " \"use_qkv_bias\": false, \"use_bias\": false, \"rms_norm_eps\": 1e-06, \"sliding_window\": 4096%s}";
    char buf[2048];
    snprintf(buf, sizeof buf, llada2, "");
    assert_int_equal(dlm_config_parse(buf, "config.json", &c), DLM_STATUS_OK);
    assert_string_equal(c.arch->name, "llada2");
    assert_true(c.fused_qkv && c.qk_norm && c.expert_bias);
    assert_int_equal(c.rotary_dim, 64);
    assert_int_equal(c.n_experts, 256);
    assert_int_equal(c.n_experts_used, 8);
    assert_int_equal(c.d_expert, 512);
    assert_int_equal(c.d_shared, 512);
    assert_int_equal(c.n_dense_layers, 1);
    assert_int_equal(c.d_ff, 5120);
    assert_int_equal(c.n_group, 8);
    assert_int_equal(c.topk_group, 4);
    assert_int_equal(c.block_causal, 32);
    assert_int_equal(c.router, DLM_ROUTER_SIGMOID_GROUPED);
    assert_true(dlm_config_layer_has_role(&c, DLM_TENSOR_W_GATE, 0) && !dlm_config_layer_has_role(&c, DLM_TENSOR_W_GATE, 1));
    assert_true(dlm_config_layer_has_role(&c, DLM_TENSOR_ROUTER, 1) && !dlm_config_layer_has_role(&c, DLM_TENSOR_ROUTER, 0));
    assert_true(!dlm_config_has_role(&c, DLM_TENSOR_WQ) && dlm_config_has_role(&c, DLM_TENSOR_WQKV));
    struct {
        const char *extra, *needle;
    } bad[] = {
        {", \"score_function\": \"softmax\"", "'score_function'"},
        {", \"use_bias\": true", "'use_bias'"},
        {", \"rotary_dim\": 32", "'rotary_dim' = 32"},
        {", \"moe_router_enable_expert_bias\": false", "'moe_router_enable_expert_bias'"},
        {", \"n_group\": 5", "groups"},
        {", \"norm_head\": true", "'norm_head'"},
        {", \"rope_scaling\": {\"type\": \"yarn\"}", "'rope_scaling'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, llada2, bad[i].extra); // a repeated key: jansson keeps the last
        if (dlm_config_parse(buf, "config.json", &c) == DLM_STATUS_OK) fail_msg("accepted: %s", bad[i].extra);
        EXPECT_MSG(bad[i].needle);
    }
    const char *moe = "{\"model_type\": \"llada\", \"hidden_size\": 2048, \"num_attention_heads\": 16,"
                      " \"num_hidden_layers\": 3, \"dense_intermediate_size\": 8192, \"vocab_size\": 157184,"
                      " \"expert_intermediate_size\": 1024, \"shared_expert_intermediate_size\": null, \"num_experts\": 64,"
                      " \"num_experts_per_tok\": 8, \"partial_rotary_factor\": 1.0, \"qk_layernorm\": true,"
                      " \"moe_router_score_function\": \"softmax\", \"moe_layer_freq\": %s}";
    snprintf(buf, sizeof buf, moe, "[0, 1, 1]");
    assert_int_equal(dlm_config_parse(buf, "config.json", &c), DLM_STATUS_OK);
    assert_string_equal(c.arch->name, "llada-moe"); // model_type "llada" and num_experts: not LLaDA-8B
    assert_int_equal(c.router, DLM_ROUTER_SOFTMAX_TOPK);
    assert_int_equal(c.n_dense_layers, 1);
    assert_int_equal(c.d_shared, 0);
    assert_int_equal(c.head_dim, 128);
    assert_false(c.expert_bias);
    snprintf(buf, sizeof buf, moe, "[1, 0, 1]");
    assert_int_not_equal(dlm_config_parse(buf, "config.json", &c), DLM_STATUS_OK);
    EXPECT_MSG("moe_layer_freq");
    snprintf(buf, sizeof buf, moe, "[0, 1]");
    assert_int_not_equal(dlm_config_parse(buf, "config.json", &c), DLM_STATUS_OK);
    EXPECT_MSG("moe_layer_freq");
}

// Strict loading of a MoE checkpoint: every expert is claimed, a missing expert is named.
static void test_moe_strict(void **state) {
    const char *const shapes[] = {"llada2-tiny", "llada-moe-tiny"};
    for (int i = 0; i < 2; i++) {
        char *md = subdir(shapes[i]);
        dlm_synth_spec spec;
        assert_true(dlm_synth_preset(shapes[i], &spec));
        assert_int_equal(dlm_synth_write(md, &spec), DLM_STATUS_OK);
        dlm_model *m = dlm_model_load(md, NULL);
        if (!m) fail_msg("%s: %s", shapes[i], dlm_error_message());
        assert_non_null(dlm_model_expert_tensor(m, 1, spec.cfg.n_experts - 1, 2));
        assert_null(m->expert[0]); // layer 0 is dense
        dlm_model_free(m);
        spec.omit = "model.layers.1.mlp.experts.3.up_proj.weight";
        assert_int_equal(dlm_synth_write(md, &spec), DLM_STATUS_OK);
        assert_null(dlm_model_load(md, NULL));
        EXPECT_MSG("missing tensor 'model.layers.1.mlp.experts.3.up_proj.weight'");
        spec.omit = NULL;
        spec.extra_tensor = "model.layers.0.mlp.experts.0.up_proj.weight"; // an expert in the dense layer
        assert_int_equal(dlm_synth_write(md, &spec), DLM_STATUS_OK);
        assert_null(dlm_model_load(md, NULL));
        EXPECT_MSG("is not part of the");
        free(md);
    }
}

static dlm_backend *load(const char *md, const char *adapter, dlm_model **m) {
    *m = dlm_model_load(md, adapter);
    if (!*m) fail_msg("load %s: %s", md, dlm_error_message());
    dlm_backend *be = dlm_backend_new(*m, "cpu", 1);
    assert_non_null(be);
    return be;
}

// Run a forward over ids and return full probabilities (n_rows = L).
static float *probs_of(dlm_backend *be, const int32_t *ids, int L, int block, const int32_t *soft_ids, const float *soft_w,
                       int soft_k) {
    int V = be->model->cfg.n_vocab;
    int32_t rows[64];
    for (int i = 0; i < L; i++) rows[i] = i;
    dlm_row_summary sum[64];
    float *probs = malloc((size_t)L * V * sizeof *probs);
    dlm_forward_args fa = {.n_tokens = L, .ids = ids, .block_size = block, .n_rows = L, .rows = rows,
                           .soft_k = soft_k, .soft_ids = soft_ids, .soft_w = soft_w};
    dlm_sample_opts so = dlm_sample_opts_default();
    so.probs = probs;
    assert_int_equal(dlm_backend_forward(be, &fa, &so, sum), DLM_STATUS_OK);
    return probs;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void test_forward_invariants(void **state) {
    char *md = subdir("good");
    tu_model_spec spec = tu_small_spec();
    tu_write_model(md, &spec);
    dlm_model *m;
    dlm_backend *be = load(md, NULL, &m);
    const int L = 12, V = m->cfg.n_vocab;
    int32_t ids[12] = {3, 17, 5, 60, 2, 2, 9, 41, 33, 7, 63, 1};

    // Block-causal with one block covering everything equals bidirectional.
    float *bidir = probs_of(be, ids, L, 0, NULL, NULL, 0);
    float *big_block = probs_of(be, ids, L, 16, NULL, NULL, 0);
    assert_true(max_abs_diff(bidir, big_block, (size_t)L * V) < 1e-6);
    // Block-causal: the first block does not see later tokens.
    float *blk = probs_of(be, ids, L, 4, NULL, NULL, 0);
    int32_t changed[12];
    memcpy(changed, ids, sizeof ids);
    changed[10] = 4;
    float *blk2 = probs_of(be, changed, L, 4, NULL, NULL, 0);
    assert_true(max_abs_diff(blk, blk2, (size_t)8 * V) < 1e-6);          // blocks 0 and 1 untouched
    assert_true(max_abs_diff(blk + 8 * V, blk2 + 8 * V, (size_t)4 * V) > 1e-4); // block 2 sees the change
    // Bidirectional: everything sees the change.
    float *bid2 = probs_of(be, changed, L, 0, NULL, NULL, 0);
    assert_true(max_abs_diff(bidir, bid2, (size_t)V) > 1e-5);

    // A one-hot soft input equals the hard token; a 50/50 mix differs.
    int32_t sid[12 * 2] = {0};
    float sw[12 * 2] = {0};
    sid[5 * 2] = ids[5], sw[5 * 2] = 0.7f; // one-hot with an unnormalised weight
    sid[5 * 2 + 1] = 11, sw[5 * 2 + 1] = -3.0f; // negative weights are clamped away
    float *soft = probs_of(be, ids, L, 0, sid, sw, 2);
    assert_true(max_abs_diff(bidir, soft, (size_t)L * V) < 1e-6);
    sw[5 * 2 + 1] = 0.7f;
    float *mix = probs_of(be, ids, L, 0, sid, sw, 2);
    assert_true(max_abs_diff(bidir, mix, (size_t)L * V) > 1e-4);

    // Rows are independent of which other rows are requested; summaries agree with the probabilities.
    int32_t rows[2] = {7, 2}, given[2] = {5, -1};
    dlm_row_summary sum[2];
    dlm_forward_args fa = {.n_tokens = L, .ids = ids, .n_rows = 2, .rows = rows, .given = given};
    dlm_sample_opts so = dlm_sample_opts_default();
    so.top_k = 3;
    assert_int_equal(dlm_backend_forward(be, &fa, &so, sum), DLM_STATUS_OK);
    const float *p7 = bidir + 7 * V;
    int best = 0;
    for (int v = 1; v < V; v++)
        if (p7[v] > p7[best]) best = v;
    assert_int_equal(sum[0].token, best);
    assert_int_equal(sum[0].top_id[0], best);
    assert_true(fabsf(sum[0].p_token - p7[best]) < 1e-6f);
    assert_true(fabsf(sum[0].p_given - p7[5]) < 1e-6f);
    assert_true(sum[1].p_given == 0.0f);
    double h = 0;
    for (int v = 0; v < V; v++) h -= p7[v] > 0 ? p7[v] * log(p7[v]) : 0;
    assert_true(fabs(sum[0].entropy - h) < 1e-4);

    // Argument errors are reported, not crashes.
    int32_t bad_ids[2] = {1, 999};
    dlm_forward_args bad = {.n_tokens = 2, .ids = bad_ids};
    assert_int_equal(dlm_backend_forward(be, &bad, &so, sum), DLM_STATUS_ARG);
    EXPECT_MSG("token id 999 at position 1");
    int32_t far[1] = {50};
    dlm_forward_args bad_row = {.n_tokens = 2, .ids = ids, .n_rows = 1, .rows = far};
    assert_int_equal(dlm_backend_forward(be, &bad_row, &so, sum), DLM_STATUS_ARG);
    dlm_forward_args too_long = {.n_tokens = 100000, .ids = ids};
    assert_int_equal(dlm_backend_forward(be, &too_long, &so, sum), DLM_STATUS_ARG);
    EXPECT_MSG("the model takes 1 to 512");

    free(bidir); free(big_block); free(blk); free(blk2); free(bid2); free(soft); free(mix);
    dlm_backend_free(be);
    dlm_model_free(m);
    free(md);
}

static void test_tied_and_dtypes(void **state) {
    // The same weights stored as F32, F16 and BF16 give close probabilities; tied heads work.
    const char *dtypes[] = {"F32", "F16", "BF16"};
    float *ref = NULL;
    int32_t ids[6] = {1, 2, 3, 4, 5, 6};
    for (int k = 0; k < 3; k++) {
        char *md = subdir(dtypes[k]);
        tu_model_spec spec = tu_small_spec();
        spec.dtype = dtypes[k];
        spec.tied = true;
        tu_write_model(md, &spec);
        dlm_model *m;
        dlm_backend *be = load(md, NULL, &m);
        assert_true(m->cfg.tied_embeddings);
        float *p = probs_of(be, ids, 6, 0, NULL, NULL, 0);
        if (!ref) ref = p;
        else {
            double d = max_abs_diff(ref, p, (size_t)6 * m->cfg.n_vocab);
            if (d > (k == 1 ? 2e-3 : 2e-2)) fail_msg("%s differs from F32 by %g", dtypes[k], d);
            free(p);
        }
        dlm_backend_free(be);
        dlm_model_free(m);
        free(md);
    }
    free(ref);
}

static void write_adapter(const char *ad, const char *config, int r, bool extra_tensor, bool bad_shape) {
    tu_write_str(ad, "adapter_config.json", config);
    tu_model_spec spec = tu_small_spec();
    int hd = spec.d / spec.n_heads;
    tu_st st = {0};
    char name[160];
    for (int l = 0; l < spec.n_layers; l++) {
        const char *mods[] = {"q_proj", "v_proj"};
        int outs[] = {spec.n_heads * hd, spec.n_kv_heads * hd};
        for (int k = 0; k < 2; k++) {
            float a[64 * 32], b[64 * 8];
            int64_t sa[2] = {r, spec.d}, sb[2] = {outs[k] + (bad_shape && l == 1), r};
            tu_fill(a, (size_t)(r * spec.d), (uint64_t)(7 + l * 2 + k), 0.2f);
            tu_fill(b, (size_t)(sb[0] * r), (uint64_t)(70 + l * 2 + k), 0.2f);
            snprintf(name, sizeof name, "base_model.model.model.transformer.blocks.%d.%s.lora_A.weight", l, mods[k]);
            tu_st_add_f32(&st, name, "F32", 2, sa, a);
            snprintf(name, sizeof name, "base_model.model.model.transformer.blocks.%d.%s.lora_B.weight", l, mods[k]);
            tu_st_add_f32(&st, name, "F32", 2, sb, b);
        }
    }
    if (extra_tensor) {
        float z[4] = {0};
        int64_t s[2] = {2, 2};
        tu_st_add_f32(&st, "base_model.model.model.transformer.blocks.0.k_proj.lora_A.weight", "F32", 2, s, z);
    }
    tu_st_write(&st, ad, "adapter_model.safetensors");
}

static void test_lora(void **state) {
    char *md = subdir("base");
    tu_model_spec spec = tu_small_spec();
    tu_write_model(md, &spec);
    const char *good = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"],"
                       " \"bias\": \"none\", \"fan_in_fan_out\": false, \"modules_to_save\": null}";
    char *ad = subdir("adapter");
    write_adapter(ad, good, 4, false, false);
    dlm_model *m;
    dlm_backend *be = load(md, ad, &m);
    assert_true(m->lora_scale == 2.0f);
    // The merged weight is W + scale * B @ A, checked element-wise against a direct computation.
    float *w = malloc((size_t)32 * 32 * sizeof *w), *base = malloc((size_t)32 * 32 * sizeof *base);
    dlm_model_load_tensor(m, DLM_TENSOR_WQ, 1, w);
    dlm_model *plain = dlm_model_load(md, NULL);
    dlm_model_load_tensor(plain, DLM_TENSOR_WQ, 1, base);
    float a[4 * 32], b[32 * 4];
    tu_fill(a, 4 * 32, 7 + 1 * 2 + 0, 0.2f);
    tu_fill(b, 32 * 4, 70 + 1 * 2 + 0, 0.2f);
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++) {
            float delta = 0;
            for (int k = 0; k < 4; k++) delta += b[i * 4 + k] * a[k * 32 + j];
            assert_true(fabsf(w[i * 32 + j] - (base[i * 32 + j] + 2.0f * delta)) < 1e-5f);
        }
    int32_t ids[5] = {1, 9, 30, 4, 22};
    dlm_backend *pbe = dlm_backend_new(plain, "cpu", 1);
    float *p1 = probs_of(be, ids, 5, 0, NULL, NULL, 0), *p0 = probs_of(pbe, ids, 5, 0, NULL, NULL, 0);
    assert_true(max_abs_diff(p1, p0, (size_t)5 * 64) > 1e-3); // the adapter changes the model
    free(p1); free(p0); free(w); free(base);
    dlm_backend_free(pbe);
    dlm_model_free(plain);
    dlm_backend_free(be);
    dlm_model_free(m);

    struct {
        const char *config;
        bool extra, bad_shape;
        const char *needle;
    } cases[] = {
        {"{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"o_proj\"]}", false, false,
         "'o_proj' matches no module"},
        {"{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\"]}", false, false,
         "no lora_A tensor for target 'k_proj'"},
        {"{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"]}", false, false, "not in target_modules"},
        {good, true, false, "k_proj.lora_A.weight' targets a module not in target_modules"},
        {good, false, true, "lora_B.weight' must be a float [32, 4]"},
        {"{\"r\": 0, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"]}", false, false, "'r' must be a positive"},
        {"{\"r\": 4, \"target_modules\": [\"q_proj\"]}", false, false, "'lora_alpha'"},
        {"{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": \"q_proj\"}", false, false, "target_modules"},
        {"{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"], \"fan_in_fan_out\": true}", false, false,
         "fan_in_fan_out"},
        {"{\"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"], \"use_dora\": true}", false, false, "use_dora"},
        {"{\"peft_type\": \"IA3\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"]}", false, false, "IA3"},
        {"{oops", false, false, "adapter_config.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        free(ad);
        ad = subdir("adapter");
        write_adapter(ad, cases[i].config, 4, cases[i].extra, cases[i].bad_shape);
        assert_null(dlm_model_load(md, ad));
        EXPECT_MSG(cases[i].needle);
    }
    free(ad);
    ad = subdir("empty-adapter");
    assert_null(dlm_model_load(md, ad));
    EXPECT_MSG("adapter_config.json");
    free(ad);
    free(md);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_llada_and_llama_keys),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_unclaimed_tensor_refused),
        cmocka_unit_test(test_family_checkpoints),
        cmocka_unit_test(test_family_detection),
        cmocka_unit_test(test_moe_configs),
        cmocka_unit_test(test_moe_strict),
        cmocka_unit_test(test_forward_invariants),
        cmocka_unit_test(test_tied_and_dtypes),
        cmocka_unit_test(test_lora),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
