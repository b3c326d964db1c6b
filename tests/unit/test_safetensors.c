// test_safetensors.c — the safetensors reader on good files and on every kind of broken one.
#include <math.h>

#include "testutil.h"

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

static void test_conversions(void **state) {
    assert_true(dlm_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(dlm_bf16_to_f32(0xc000) == -2.0f);
    assert_true(isinf(dlm_bf16_to_f32(0x7f80)));
    assert_true(isnan(dlm_bf16_to_f32(dlm_f32_to_bf16(NAN))));
    assert_int_equal(dlm_f32_to_bf16(1.0f), 0x3f80);
    // round to nearest even: 1 + 2^-8 is exactly halfway between two bf16 values -> even (1.0)
    assert_int_equal(dlm_f32_to_bf16(1.00390625f), 0x3f80);
    assert_int_equal(dlm_f32_to_bf16(1.01171875f), 0x3f82);
    assert_true(dlm_f16_to_f32(0x3c00) == 1.0f);
    assert_true(dlm_f16_to_f32(0xc000) == -2.0f);
    assert_true(dlm_f16_to_f32(0x0001) == ldexpf(1.0f, -24)); // smallest subnormal
    assert_true(dlm_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24)); // largest subnormal
    assert_true(dlm_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(isinf(dlm_f16_to_f32(0xfc00)) && dlm_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(dlm_f16_to_f32(0x7e00)));
    assert_true(dlm_f16_to_f32(0x8000) == 0.0f && signbit(dlm_f16_to_f32(0x8000)));
    // f32 -> f16 round trips every finite f16 exactly, and rounds to nearest even in between.
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = dlm_f16_to_f32((uint16_t)h);
        if (isnan(f)) assert_true(isnan(dlm_f16_to_f32(dlm_f32_to_f16(f))));
        else if (dlm_f32_to_f16(f) != h) fail_msg("f16 %04x -> %g -> %04x", h, f, dlm_f32_to_f16(f));
    }
    assert_int_equal(dlm_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);   // halfway: to even
    assert_int_equal(dlm_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    assert_int_equal(dlm_f32_to_f16(65520.0f), 0x7c00);                // overflow to inf
    assert_int_equal(dlm_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(dlm_f32_to_f16(ldexpf(1, -25)), 0x0000);           // half the smallest subnormal: to even (0)
    assert_int_equal(dlm_f32_to_f16(ldexpf(3, -26)), 0x0001);
}

static void test_read_all_dtypes(void **state) {
    float v[6] = {1.5f, -2.0f, 0.25f, 3.0f, -0.125f, 1024.0f};
    int64_t shape[2] = {2, 3};
    tu_st st = {0};
    tu_st_add_f32(&st, "a", "F32", 2, shape, v);
    tu_st_add_f32(&st, "b", "F16", 2, shape, v);
    tu_st_add_f32(&st, "c", "BF16", 2, shape, v);
    tu_st_write(&st, dir, "ok.safetensors");
    char *p = dlm_path_join(dir, "ok.safetensors");
    dlm_tensor_set *ts;
    assert_int_equal(dlm_tensor_set_open_file(p, &ts), DLM_STATUS_OK);
    assert_int_equal(dlm_tensor_set_count(ts), 3);
    const char *names[] = {"a", "b", "c"};
    for (int k = 0; k < 3; k++) {
        const dlm_tensor *t = dlm_tensor_set_find(ts, names[k]);
        assert_non_null(t);
        assert_int_equal(t->n_dims, 2);
        assert_int_equal(t->shape[1], 3);
        float out[6];
        dlm_tensor_to_f32(t, 0, 6, out);
        for (int i = 0; i < 6; i++) assert_true(out[i] == v[i]); // all exactly representable
        float part[2];
        dlm_tensor_to_f32(t, 4, 2, part);
        assert_true(part[0] == v[4] && part[1] == v[5]);
    }
    assert_null(dlm_tensor_set_find(ts, "missing"));
    dlm_tensor_set_free(ts);
    free(p);
}

// Write raw bytes as a file and expect opening it to fail with a message containing `needle`.
static void expect_open_error(const void *bytes, size_t len, dlm_status want, const char *needle) {
    tu_write(dir, "bad.safetensors", bytes, len);
    char *p = dlm_path_join(dir, "bad.safetensors");
    dlm_tensor_set *ts = (dlm_tensor_set *)1;
    dlm_status st = dlm_tensor_set_open_file(p, &ts);
    if (st != want || !strstr(dlm_error_message(), needle) || !strstr(dlm_error_message(), "bad.safetensors"))
        fail_msg("status %d, message '%s' (wanted %d containing '%s')", st, dlm_error_message(), want, needle);
    assert_null(ts);
    free(p);
}

static void expect_header_error(const char *json, size_t data_len, const char *needle) {
    dlm_buf b = {0};
    uint64_t n = strlen(json);
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n >> (8 * i));
    dlm_buf_append(&b, le, 8);
    dlm_buf_append(&b, json, n);
    for (size_t i = 0; i < data_len; i++) dlm_buf_putc(&b, 0);
    expect_open_error(b.data, b.len, DLM_STATUS_FORMAT, needle);
    dlm_buf_free(&b);
}

static void test_bad_files(void **state) {
    expect_open_error("", 0, DLM_STATUS_FORMAT, "too short");
    expect_open_error("1234", 4, DLM_STATUS_FORMAT, "too short");
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    expect_open_error(huge, sizeof huge, DLM_STATUS_FORMAT, "past the end of the file");
    expect_header_error("{not json", 0, "not valid JSON");
    expect_header_error("[1,2]", 0, "not a JSON object");
    expect_header_error("{\"t\": 5}", 0, "not an object");
    expect_header_error("{\"t\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "'dtype'");
    expect_header_error("{\"t\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unknown dtype");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "'shape'");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, "non-negative");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "data_offsets");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4, "begin <= end");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4, "past the end of the data");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 8, "4 bytes for 2 elements");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [2, 6]}}", 8, "not aligned");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4], \"data_offsets\": [0, 4]}}", 4,
                        "overflows");
    expect_header_error("{\"t\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4,
                        "dimensions");
}

static void test_directory_and_missing(void **state) {
    dlm_tensor_set *ts;
    assert_int_equal(dlm_tensor_set_open_file(dir, &ts), DLM_STATUS_IO);
    assert_non_null(strstr(dlm_error_message(), "not a regular file"));
    char *p = dlm_path_join(dir, "nope.safetensors");
    assert_int_equal(dlm_tensor_set_open_file(p, &ts), DLM_STATUS_IO);
    assert_non_null(strstr(dlm_error_message(), "nope.safetensors"));
    free(p);
    assert_int_equal(dlm_tensor_set_open_dir(dir, "model", &ts), DLM_STATUS_IO);
    assert_non_null(strstr(dlm_error_message(), "model.safetensors.index.json"));
}

static void test_sharded(void **state) {
    char *sub = dlm_path_join(dir, "sharded");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sub);
    assert_int_equal(system(cmd), 0);
    float v[4] = {1, 2, 3, 4};
    int64_t shape[1] = {4};
    tu_st a = {0}, b = {0};
    tu_st_add_f32(&a, "x", "F32", 1, shape, v);
    tu_st_add_f32(&b, "y", "BF16", 1, shape, v);
    tu_st_write(&a, sub, "model-00001-of-00002.safetensors");
    tu_st_write(&b, sub, "model-00002-of-00002.safetensors");
    tu_write_str(sub, "model.safetensors.index.json",
                 "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {\"x\": \"model-00001-of-00002.safetensors\","
                 " \"y\": \"model-00002-of-00002.safetensors\"}}");
    dlm_tensor_set *ts;
    assert_int_equal(dlm_tensor_set_open_dir(sub, "model", &ts), DLM_STATUS_OK);
    float out[4];
    dlm_tensor_to_f32(dlm_tensor_set_find(ts, "y"), 0, 4, out);
    assert_true(out[3] == 4.0f);
    dlm_tensor_set_free(ts);

    // the index names a tensor that is not in the shard it names
    tu_write_str(sub, "model.safetensors.index.json",
                 "{\"weight_map\": {\"x\": \"model-00002-of-00002.safetensors\", \"y\": \"model-00002-of-00002.safetensors\"}}");
    assert_int_equal(dlm_tensor_set_open_dir(sub, "model", &ts), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "'x' is listed in shard"));
    // a shard that does not exist
    tu_write_str(sub, "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"model-00009-of-00009.safetensors\"}}");
    assert_int_equal(dlm_tensor_set_open_dir(sub, "model", &ts), DLM_STATUS_IO);
    assert_non_null(strstr(dlm_error_message(), "model-00009-of-00009.safetensors"));
    // path escapes
    tu_write_str(sub, "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"../x.safetensors\"}}");
    assert_int_equal(dlm_tensor_set_open_dir(sub, "model", &ts), DLM_STATUS_FORMAT);
    // the same tensor in two shards
    tu_st c = {0};
    tu_st_add_f32(&c, "x", "F32", 1, shape, v);
    tu_st_write(&c, sub, "model-00002-of-00002.safetensors");
    tu_write_str(sub, "model.safetensors.index.json",
                 "{\"weight_map\": {\"x\": \"model-00001-of-00002.safetensors\", \"z\": \"model-00002-of-00002.safetensors\"}}");
    assert_int_equal(dlm_tensor_set_open_dir(sub, "model", &ts), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "appears twice"));
    // not JSON / no weight_map
    tu_write_str(sub, "model.safetensors.index.json", "{\"metadata\": {}}");
    assert_int_equal(dlm_tensor_set_open_dir(sub, "model", &ts), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "weight_map"));
    free(sub);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_read_all_dtypes),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_directory_and_missing),
        cmocka_unit_test(test_sharded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
