// test_checkers.c — the evaluator's checkers: the bundled families against train/tasks.py's
// verdicts on 3,300 right, wrong and malformed responses (tests/fixtures/checkers.jsonl), and the
// formats users bring (GSM8K, SVAMP, MATH, CMATH) on hand-written answers.
#include <jansson.h>

#include "eval/checkers.h"
#include "testutil.h"

static void test_bundled_against_python(void **state) {
    FILE *f = fopen("tests/fixtures/checkers.jsonl", "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, right = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        assert_non_null(o);
        const char *task = json_string_value(json_object_get(o, "task"));
        int c = dlm_checker_find(task);
        assert_true(c >= 0);
        char ex[256];
        bool got = dlm_check(c, json_string_value(json_object_get(o, "prompt")), json_string_value(json_object_get(o, "answer")),
                             json_string_value(json_object_get(o, "response")), ex, sizeof ex);
        bool want = json_is_true(json_object_get(o, "correct"));
        if (got != want)
            fail_msg("line %d (%s): response '%s' judged %d, train/tasks.py says %d", n + 1, task,
                     json_string_value(json_object_get(o, "response")), got, want);
        right += want;
        n++;
        json_decref(o);
    }
    free(line);
    fclose(f);
    assert_true(n > 3000 && right > 500 && right < n - 500);
}

#define YES(c, prompt, gold, resp) assert_true(dlm_check(c, prompt, gold, resp, NULL, 0))
#define NO(c, prompt, gold, resp) assert_false(dlm_check(c, prompt, gold, resp, NULL, 0))

static void test_gsm8k_svamp(void **state) {
    const char *gold = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72";
    YES(DLM_CHECK_GSM8K, "", gold, "so \\boxed{72}");
    YES(DLM_CHECK_GSM8K, "", gold, "\\boxed{72.0}");
    YES(DLM_CHECK_GSM8K, "", gold, "\\boxed{$72 clips}");               // first number inside
    YES(DLM_CHECK_GSM8K, "", gold, "\\boxed{...} then \\boxed{72}");    // dots are skipped
    NO(DLM_CHECK_GSM8K, "", gold, "\\boxed{71} then \\boxed{72}");      // the FIRST usable box counts
    YES(DLM_CHECK_GSM8K, "", gold, "<answer>\nIt is 70 or 72\n</answer>"); // fallback: last number
    NO(DLM_CHECK_GSM8K, "", gold, "72");                                  // no box, no answer tag
    YES(DLM_CHECK_GSM8K, "", "#### 1,234", "\\boxed{1234}");
    YES(DLM_CHECK_GSM8K, "", "#### $5.50", "\\boxed{5.5}");
    YES(DLM_CHECK_GSM8K, "", "18", "\\boxed{18}");                        // a plain gold number
    NO(DLM_CHECK_GSM8K, "", "#### 3", "\\boxed{3.5}");                   // no truncation
    YES(DLM_CHECK_SVAMP, "", "27.0", "\\boxed{27}");
    NO(DLM_CHECK_SVAMP, "", "27", "\\boxed{\n27}");                      // the box regex stays on one line
    NO(DLM_CHECK_SVAMP, "", "not a number", "\\boxed{27}");
}

static void test_math(void **state) {
    YES(DLM_CHECK_MATH, "", "\\frac{1}{2}", "so \\boxed{\\dfrac{1}{2}}");
    YES(DLM_CHECK_MATH, "", "\\frac{1}{2}", "\\boxed{0.5}");
    YES(DLM_CHECK_MATH, "", "\\frac{1}{2}", "\\boxed{1/2}");
    YES(DLM_CHECK_MATH, "", "\\frac{1}{2}", "\\boxed{\\frac12}");
    YES(DLM_CHECK_MATH, "", "3\\sqrt{2}", "\\boxed{3\\sqrt2}");
    YES(DLM_CHECK_MATH, "", "10", "\\boxed{10^\\circ}");
    YES(DLM_CHECK_MATH, "", "5", "\\boxed{x = 5}");
    YES(DLM_CHECK_MATH, "", "5", "\\boxed{5\\text{ cm}}");
    YES(DLM_CHECK_MATH, "", "\\left( 3, 4 \\right)", "\\boxed{(3,4)}");
    YES(DLM_CHECK_MATH, "", "12", "first \\boxed{3} then \\boxed{12}"); // the LAST box
    YES(DLM_CHECK_MATH, "", "7", "$\\boxed 7$");
    YES(DLM_CHECK_MATH, "", "7", "<answer>7</answer>");
    NO(DLM_CHECK_MATH, "", "7", "\\boxed{8}");
    NO(DLM_CHECK_MATH, "", "\\frac{1}{3}", "\\boxed{0.33}");
    char out[64];
    dlm_math_normalize(" .5 ", out, sizeof out); // " ." -> " 0.", spaces go, 0.5 -> \frac{1}{2}
    assert_string_equal(out, "\\frac{1}{2}");
    dlm_math_normalize("\\sqrt", out, sizeof out); // the reference raises: left as is
    assert_string_equal(out, "\\sqrt");
}

static void test_cmath(void **state) {
    YES(DLM_CHECK_CMATH, "", "42", "步骤……\n答案是42");
    YES(DLM_CHECK_CMATH, "", "42", "The answer is 42.");
    YES(DLM_CHECK_CMATH, "", "1234", "so the answer is 1,234");
    YES(DLM_CHECK_CMATH, "", "42", "\\boxed{42}");
    YES(DLM_CHECK_CMATH, "", "42", "we get 40 then 42");               // last number
    NO(DLM_CHECK_CMATH, "", "3", "The answer is 3.5");                  // T2M truncated this to 3: fixed
    YES(DLM_CHECK_CMATH, "", "3.5", "The answer is 3.5");
    NO(DLM_CHECK_CMATH, "", "42", "no numbers here");
}

static void test_never_crash(void **state) {
    static const char *const nasty[] = {"", "\\boxed{", "\\boxed{{{{{{", "}}}}", "\\boxed{\\boxed{\\boxed{}}}",
                                        "<answer>", "</answer><answer>", "####", "答案", "\\frac", "\\sqrt", "9e999",
                                        "-", "--5", "\\boxed{-}", "Numbers: [", "Numbers: [1, 2]\nTarget: "};
    char ex[16];
    for (int c = 0; c < DLM_CHECK_COUNT; c++)
        for (size_t i = 0; i < sizeof nasty / sizeof nasty[0]; i++)
            for (size_t j = 0; j < sizeof nasty / sizeof nasty[0]; j++) {
                dlm_check(c, nasty[i], nasty[j], nasty[i], ex, sizeof ex);
                dlm_check(c, NULL, nasty[j], nasty[i], NULL, 0);
            }
    NO(DLM_CHECK_ARITH, "", NULL, "\\boxed{1}");
    NO(DLM_CHECK_ARITH, "", "1", NULL);
    assert_int_equal(dlm_checker_find("countdown"), DLM_CHECK_COUNTDOWN);
    assert_int_equal(dlm_checker_find("nope"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundled_against_python),
        cmocka_unit_test(test_gsm8k_svamp),
        cmocka_unit_test(test_math),
        cmocka_unit_test(test_cmath),
        cmocka_unit_test(test_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
