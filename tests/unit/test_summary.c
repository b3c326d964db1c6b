// test_summary.c — the per-row softmax summary on hand-computed distributions.
#include <math.h>

#include "engine/forward.h"
#include "testutil.h"

static void test_plain_softmax(void **state) {
    // logits log(1), log(2), log(3), log(4): probabilities 0.1 0.2 0.3 0.4
    float lg[4] = {0.0f, logf(2), logf(3), logf(4)};
    dlm_sample_opts o = dlm_sample_opts_default();
    o.top_k = 3;
    dlm_row_summary s;
    float probs[4];
    dlm_summarize_logits(lg, 4, 0, 1, &o, &s, probs);
    assert_int_equal(s.token, 3);
    assert_true(fabsf(s.p_token - 0.4f) < 1e-6f);
    assert_true(fabsf(s.p_given - 0.2f) < 1e-6f);
    assert_int_equal(s.n_top, 3);
    assert_int_equal(s.top_id[0], 3);
    assert_int_equal(s.top_id[1], 2);
    assert_int_equal(s.top_id[2], 1);
    assert_true(fabsf(s.top_p[2] - 0.2f) < 1e-6f);
    double h = -(0.1 * log(0.1) + 0.2 * log(0.2) + 0.3 * log(0.3) + 0.4 * log(0.4));
    assert_true(fabs(s.entropy - h) < 1e-6);
    for (int i = 0; i < 4; i++) assert_true(fabsf(probs[i] - 0.1f * (i + 1)) < 1e-6f);
}

static void test_ties_go_to_lowest_id(void **state) {
    float lg[5] = {1, 3, 2, 3, 3};
    dlm_sample_opts o = dlm_sample_opts_default();
    o.top_k = 4;
    dlm_row_summary s;
    dlm_summarize_logits(lg, 5, 0, -1, &o, &s, NULL);
    assert_int_equal(s.token, 1);
    assert_int_equal(s.top_id[0], 1);
    assert_int_equal(s.top_id[1], 3);
    assert_int_equal(s.top_id[2], 4);
    assert_int_equal(s.top_id[3], 2);
    assert_true(s.p_given == 0.0f);
}

static void test_exclusions(void **state) {
    float lg[3] = {0.0f, 5.0f, logf(3)};
    dlm_sample_opts o = dlm_sample_opts_default();
    dlm_row_summary s;
    // sample_exclude: id 1 cannot be sampled, but keeps its probability
    o.sample_exclude = 1;
    dlm_summarize_logits(lg, 3, 0, 1, &o, &s, NULL);
    assert_int_equal(s.token, 2);
    assert_int_equal(s.top_id[0], 1);
    double z = 1 + exp(5.0) + 3;
    assert_true(fabs(s.p_token - 3 / z) < 1e-6);
    assert_true(fabs(s.p_given - exp(5.0) / z) < 1e-6);
    // prob_exclude as well (EvoToken at temperature 0): the softmax renormalises without it
    o.prob_exclude = 1;
    dlm_summarize_logits(lg, 3, 0, 1, &o, &s, NULL);
    assert_int_equal(s.token, 2);
    assert_true(fabsf(s.p_token - 0.75f) < 1e-6f);
    assert_true(s.p_given == 0.0f);
    assert_int_equal(s.top_id[0], 2);
    assert_true(fabsf(s.top_p[1] - 0.25f) < 1e-6f);
}

static void test_gumbel_sampling(void **state) {
    // Deterministic for a given (seed, counter, position); distributed as softmax(logits / T).
    float lg[3] = {0.0f, logf(2), logf(7)}; // 0.1 0.2 0.7
    dlm_sample_opts o = dlm_sample_opts_default();
    o.temperature = 1.0;
    o.seed = 42;
    dlm_row_summary a, b;
    dlm_summarize_logits(lg, 3, 5, -1, &o, &a, NULL);
    dlm_summarize_logits(lg, 3, 5, -1, &o, &b, NULL);
    assert_int_equal(a.token, b.token);
    int counts[3] = {0};
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        o.counter = (uint64_t)i;
        dlm_summarize_logits(lg, 3, 5, -1, &o, &a, NULL);
        counts[a.token]++;
        assert_true(fabsf(a.p_token - (a.token == 0 ? 0.1f : a.token == 1 ? 0.2f : 0.7f)) < 1e-6f);
    }
    // 5 sigma bounds on a binomial
    const double expect[3] = {0.1, 0.2, 0.7};
    for (int k = 0; k < 3; k++) {
        double mu = n * expect[k], sd = sqrt(n * expect[k] * (1 - expect[k]));
        if (fabs(counts[k] - mu) > 5 * sd) fail_msg("token %d sampled %d times, expected %.0f +- %.0f", k, counts[k], mu, sd);
    }
    // Temperature sharpens: at T = 0.25, p ∝ p^4, so the 0.7 token has 0.2401 / 0.2418 = 0.99297
    o.temperature = 0.25;
    int top = 0;
    for (int i = 0; i < n; i++) {
        o.counter = (uint64_t)i;
        dlm_summarize_logits(lg, 3, 5, -1, &o, &a, NULL);
        top += a.token == 2;
    }
    if (fabs(top - 0.99297 * n) > 5 * sqrt(n * 0.99297 * 0.00703)) fail_msg("T=0.25: %d of %d", top, n);
}

static void test_tempered(void **state) {
    // softmax(l / T) at T = 0.5 squares the probabilities: 0.1 0.2 0.7 -> 0.01 0.04 0.49 (/ 0.54)
    float lg[3] = {0.0f, logf(2), logf(7)};
    dlm_sample_opts o = dlm_sample_opts_default();
    o.temperature = 0.5;
    o.tempered = true;
    o.top_k = 1;
    dlm_row_summary s;
    dlm_summarize_logits(lg, 3, 0, 1, &o, &s, NULL);
    assert_true(fabsf(s.p_given - 0.04f / 0.54f) < 1e-6f);
    assert_true(fabsf(s.top_p[0] - 0.49f / 0.54f) < 1e-6f);
    o.tempered = false;
    dlm_summarize_logits(lg, 3, 0, 1, &o, &s, NULL);
    assert_true(fabsf(s.p_given - 0.2f) < 1e-6f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_softmax),
        cmocka_unit_test(test_ties_go_to_lowest_id),
        cmocka_unit_test(test_exclusions),
        cmocka_unit_test(test_gumbel_sampling),
        cmocka_unit_test(test_tempered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
