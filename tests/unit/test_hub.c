// test_hub.c — Hugging Face names: what counts as ORG/NAME[@REV], the cache folder's variables in
// huggingface_hub's order, snapshot paths mapped back to names, and resolution on a cache laid out
// here (refs, snapshots of symlinks, commits, tags, what is missing). tests/cli/test_hub.sh runs
// real checkpoints through it.
#include <sys/stat.h>

#include "engine/hub.h"
#include "testutil.h"

static void test_is_name(void **state) {
    static const char *const yes[] = {"GSAI-ML/LLaDA-8B-Instruct", "a/b", "inclusionAI/LLaDA2.0-mini", "org_1/m.v2",
                                      "a/b@main", "a/b@v1.0", "a/b@refs/pr/1",
                                      "a/b@0123456789abcdef0123456789abcdef01234567"};
    static const char *const no[] = {"", "a", "/a/b", "./a", "a/", "/b", "a/b/c", "../a", "a/..", "a/b@", "a/b@..",
                                     "a/b@x/../y", "a/b@/x", "a/b@x/", "a--b/c", "a/b--c", "a/b..c", "-a/b", "a/b-",
                                     ".a/b", "a b/c", "a/b@x y", "samples/models/dlm-tiny", "a/b@c@d", "~/x"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!dlm_hub_is_name(yes[i])) fail_msg("'%s' should be a hub name", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (dlm_hub_is_name(no[i])) fail_msg("'%s' should not be a hub name", no[i]);
    char long_part[120];
    memset(long_part, 'x', sizeof long_part - 1);
    long_part[sizeof long_part - 1] = 0;
    char name[256];
    snprintf(name, sizeof name, "org/%s", long_part);
    assert_false(dlm_hub_is_name(name)); // a part has at most 96 characters
}

static void expect_cache(const char *want) {
    char *got = dlm_hub_cache_dir();
    assert_string_equal(got, want);
    free(got);
}

static void test_cache_dir(void **state) {
    static const char *const vars[] = {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME"};
    char *saved[5];
    for (int i = 0; i < 5; i++) saved[i] = getenv(vars[i]) ? dlm_xstrdup(getenv(vars[i])) : NULL;
    for (int i = 0; i < 5; i++) unsetenv(vars[i]);
    setenv("HOME", "/home/u", 1);
    expect_cache("/home/u/.cache/huggingface/hub");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    expect_cache("/xdg/huggingface/hub");
    setenv("HF_HOME", "~/hf", 1); // expanded, as huggingface_hub does
    expect_cache("/home/u/hf/hub");
    setenv("HUGGINGFACE_HUB_CACHE", "/old", 1);
    expect_cache("/old");
    setenv("HF_HUB_CACHE", "/new", 1);
    expect_cache("/new");
    setenv("HF_HUB_CACHE", "", 1); // empty counts as unset
    expect_cache("/old");
    for (int i = 0; i < 5; i++) {
        if (saved[i]) setenv(vars[i], saved[i], 1);
        else unsetenv(vars[i]);
        free(saved[i]);
    }
}

static void test_name_of(void **state) {
    char buf[128] = "untouched";
    assert_true(dlm_hub_name_of("/c/hub/models--GSAI-ML--LLaDA-8B-Instruct/snapshots/0123abc", buf, sizeof buf));
    assert_string_equal(buf, "GSAI-ML/LLaDA-8B-Instruct");
    assert_true(dlm_hub_name_of("models--a--b/snapshots/x/", buf, sizeof buf));
    assert_string_equal(buf, "a/b");
    strcpy(buf, "untouched");
    static const char *const no[] = {"/c/hub/models--a--b",  "/c/hub/models--a--b/blobs/x", "/c/datasets--a--b/snapshots/x",
                                     "/c/models--ab/snapshots/x", "snapshots/x", "x", "/",
                                     "/c/models--a--b--c/snapshots/x"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (dlm_hub_name_of(no[i], buf, sizeof buf)) fail_msg("'%s' should not map to a hub name", no[i]);
        assert_string_equal(buf, "untouched");
    }
}

static void put(const char *dir, const char *rel, const char *text) {
    char *p = dlm_path_join(dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(p);
}

static void mkdirs(const char *dir, const char *rel) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", dir, rel);
    assert_int_equal(system(cmd), 0);
}

static void expect_resolves(const char *name, const char *cache, const char *want_rel) {
    char *dir = NULL;
    if (dlm_hub_resolve(name, &dir) != DLM_STATUS_OK) fail_msg("%s: %s", name, dlm_error_message());
    char *want = dlm_path_join(cache, want_rel);
    assert_string_equal(dir, want);
    free(want);
    free(dir);
}

static void expect_fails(const char *name, const char *needle) {
    char *dir = (char *)"set";
    assert_int_not_equal(dlm_hub_resolve(name, &dir), DLM_STATUS_OK);
    assert_null(dir);
    if (!strstr(dlm_error_message(), needle)) fail_msg("%s: '%s' lacks '%s'", name, dlm_error_message(), needle);
}

static void test_resolve(void **state) {
    char *cache = tu_tmpdir();
    char *old = getenv("HF_HUB_CACHE") ? dlm_xstrdup(getenv("HF_HUB_CACHE")) : NULL;
    setenv("HF_HUB_CACHE", cache, 1);
    const char *c1 = "1111111111111111111111111111111111111111", *c2 = "2222222222222222222222222222222222222222";
    char rel[256];
    mkdirs(cache, "models--o--m/blobs");
    mkdirs(cache, "models--o--m/refs/refs/pr");
    snprintf(rel, sizeof rel, "models--o--m/snapshots/%s", c1);
    mkdirs(cache, rel);
    snprintf(rel, sizeof rel, "models--o--m/snapshots/%s", c2);
    mkdirs(cache, rel);
    put(cache, "models--o--m/refs/main", c1);
    char line[64];
    snprintf(line, sizeof line, "%s\n", c2); // a trailing newline is tolerated
    put(cache, "models--o--m/refs/v2", line);
    put(cache, "models--o--m/refs/refs/pr/1", c2);

    snprintf(rel, sizeof rel, "models--o--m/snapshots/%s", c1);
    expect_resolves("o/m", cache, rel);
    expect_resolves("o/m@main", cache, rel);
    expect_resolves("o/m@1111111111111111111111111111111111111111", cache, rel);
    snprintf(rel, sizeof rel, "models--o--m/snapshots/%s", c2);
    expect_resolves("o/m@v2", cache, rel);
    expect_resolves("o/m@refs/pr/1", cache, rel);

    expect_fails("o/other", "models--o--other");
    expect_fails("o/other", "hf download o/other");
    expect_fails("o/m@nope", "no revision 'nope'");
    expect_fails("o/m@nope", "cached snapshots: ");
    expect_fails("o/m@nope", "--revision nope");
    expect_fails("not a name", "not a Hugging Face name");
    put(cache, "models--o--m/refs/main", "3333333333333333333333333333333333333333");
    expect_fails("o/m", "points at 3333333333333333333333333333333333333333");
    put(cache, "models--o--m/refs/main", "../../x");
    expect_fails("o/m", "not a commit hash");
    put(cache, "models--o--m/refs/main", "");
    expect_fails("o/m", "not a commit hash");

    if (old) setenv("HF_HUB_CACHE", old, 1);
    else unsetenv("HF_HUB_CACHE");
    free(old);
    tu_rmtree(cache);
    free(cache);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_name),
        cmocka_unit_test(test_cache_dir),
        cmocka_unit_test(test_name_of),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
