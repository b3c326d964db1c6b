// checkers.c — extraction and judging rules (docs/eval.md). Every function tolerates any input:
// a malformed answer is wrong, never a crash.
#include "checkers.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"

static const struct {
    const char *name, *help;
} table[] = {
#define X(e, name, help) {name, help},
    DLM_CHECKERS(X)
#undef X
};

const char *dlm_checker_name(dlm_checker c) { return (unsigned)c < DLM_CHECK_COUNT ? table[c].name : "?"; }
const char *dlm_checker_help(dlm_checker c) { return (unsigned)c < DLM_CHECK_COUNT ? table[c].help : "?"; }
int dlm_checker_find(const char *name) {
    for (int i = 0; i < DLM_CHECK_COUNT; i++)
        if (strcmp(table[i].name, name) == 0) return i;
    return -1;
}

#define MAX_ANSWER 4096
#define MAX_INT_DIGITS 30

static void copy_out(char *out, size_t n, const char *s, size_t len) {
    if (!out || !n) return;
    if (len >= n) len = n - 1;
    memcpy(out, s, len);
    out[len] = 0;
}

// ---- extraction -------------------------------------------------------------------------------------

bool dlm_last_boxed(const char *text, char *out, size_t n) {
    const char *p = NULL, *q = text;
    while ((q = strstr(q, "\\boxed{"))) p = q++;
    if (!p) return false;
    const char *start = p + 7;
    int depth = 1;
    for (const char *c = start; *c; c++) {
        if (*c == '{') depth++;
        else if (*c == '}' && --depth == 0) {
            copy_out(out, n, start, (size_t)(c - start));
            return true;
        }
    }
    return false; // unbalanced
}

static void trim(char *s) {
    size_t len = strlen(s), a = 0;
    while (a < len && isspace((unsigned char)s[a])) a++;
    while (len > a && isspace((unsigned char)s[len - 1])) len--;
    memmove(s, s + a, len - a);
    s[len - a] = 0;
}

// A plain integer: optional '-', digits only, at most MAX_INT_DIGITS. Normalised into out
// ("-007" -> "-7", "-0" -> "0"), so equal integers compare equal as strings.
static bool norm_int(const char *in, char *out, size_t n) {
    char s[64];
    size_t len = strlen(in);
    if (len >= sizeof s) return false;
    memcpy(s, in, len + 1);
    trim(s);
    const char *d = s;
    bool neg = *d == '-';
    if (neg) d++;
    size_t nd = strlen(d);
    if (nd == 0 || nd > MAX_INT_DIGITS) return false;
    for (size_t i = 0; i < nd; i++)
        if (!isdigit((unsigned char)d[i])) return false;
    while (*d == '0' && d[1]) d++;
    snprintf(out, n, "%s%s", neg && strcmp(d, "0") ? "-" : "", d);
    return true;
}

// Python-style float(): optional sign, digits with an optional fraction, optional exponent.
static bool parse_float(const char *in, double *v) {
    char s[128];
    size_t len = strlen(in);
    if (len == 0 || len >= sizeof s) return false;
    memcpy(s, in, len + 1);
    trim(s);
    const char *c = s;
    if (*c == '+' || *c == '-') c++;
    bool digits = false;
    while (isdigit((unsigned char)*c)) c++, digits = true;
    if (*c == '.') {
        c++;
        while (isdigit((unsigned char)*c)) c++, digits = true;
    }
    if (!digits) return false;
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '+' || *c == '-') c++;
        if (!isdigit((unsigned char)*c)) return false;
        while (isdigit((unsigned char)*c)) c++;
    }
    if (*c) return false;
    *v = strtod(s, NULL);
    return isfinite(*v);
}

// Numbers matching -?\d+\.?\d* in text, in order. Returns how many were found (at most max).
static int find_numbers(const char *text, double *out, int max) {
    int k = 0;
    for (const char *c = text; *c && k < max;) {
        const char *start = c;
        if (*c == '-' && isdigit((unsigned char)c[1])) c++;
        if (!isdigit((unsigned char)*c)) {
            c = start + 1;
            continue;
        }
        while (isdigit((unsigned char)*c)) c++;
        if (*c == '.') {
            c++;
            while (isdigit((unsigned char)*c)) c++;
        }
        char buf[64];
        size_t len = (size_t)(c - start) < sizeof buf - 1 ? (size_t)(c - start) : sizeof buf - 1;
        memcpy(buf, start, len);
        buf[len] = 0;
        out[k++] = strtod(buf, NULL);
    }
    return k;
}

static double last_number_in(const char *text, bool *found) {
    static double nums[4096];
    int k = find_numbers(text, nums, 4096);
    *found = k > 0;
    return k ? nums[k - 1] : 0;
}

// <answer>...</answer> content (first occurrence, across lines), trimmed.
static bool answer_tag(const char *text, char *out, size_t n) {
    const char *a = strstr(text, "<answer>");
    if (!a) return false;
    const char *b = strstr(a + 8, "</answer>");
    if (!b) return false;
    copy_out(out, n, a + 8, (size_t)(b - a - 8));
    trim(out);
    return true;
}

// ---- bundled families (train/tasks.py is the reference) ------------------------------------------------

static bool check_int(const char *gold, const char *response, char *ex, size_t n) {
    char box[MAX_ANSWER], g[64], p[64];
    if (!dlm_last_boxed(response, box, sizeof box)) return false;
    copy_out(ex, n, box, strlen(box));
    return norm_int(gold, g, sizeof g) && norm_int(box, p, sizeof p) && strcmp(g, p) == 0;
}

static int int_list(const char *s, char items[][64], int max) {
    if (strlen(s) > 200) return -1;
    int k = 0;
    const char *c = s;
    for (;;) {
        const char *comma = strchr(c, ',');
        size_t len = comma ? (size_t)(comma - c) : strlen(c);
        char part[64];
        if (len >= sizeof part || k == max) return -1;
        memcpy(part, c, len);
        part[len] = 0;
        if (!norm_int(part, items[k++], 64)) return -1;
        if (!comma) return k;
        c = comma + 1;
    }
}

static bool check_sort(const char *gold, const char *response, char *ex, size_t n) {
    char box[MAX_ANSWER], g[64][64], p[64][64];
    if (!dlm_last_boxed(response, box, sizeof box)) return false;
    copy_out(ex, n, box, strlen(box));
    int ng = int_list(gold, g, 64), np = int_list(box, p, 64);
    if (ng < 0 || np != ng) return false;
    for (int i = 0; i < ng; i++)
        if (strcmp(g[i], p[i])) return false;
    return true;
}

// ---- countdown (EvoToken, research/algorithms.md §4.4) ---------------------------------------------------

typedef struct {
    __int128 num, den; // den > 0
} rational;

typedef struct {
    const char *s;
    bool        bad;
    int         depth;
} parser;

static __int128 gcd128(__int128 a, __int128 b) {
    if (a < 0) a = -a;
    while (b) {
        __int128 t = a % b;
        a = b, b = t;
    }
    return a ? a : 1;
}

#define LIMIT ((__int128)1 << 100) // beyond this a value is "too large": wrong, as in train/tasks.py

static rational make(__int128 n, __int128 d, parser *p) {
    if (d < 0) n = -n, d = -d;
    __int128 g = gcd128(n, d);
    rational r = {n / g, d / g};
    if (r.num > LIMIT || r.num < -LIMIT || r.den > LIMIT) p->bad = true;
    return r;
}

static void skip_ws(parser *p) {
    while (isspace((unsigned char)*p->s)) p->s++;
}

static rational expr(parser *p);

static rational atom(parser *p) {
    rational zero = {0, 1};
    skip_ws(p);
    if (p->bad || ++p->depth > 50) return p->bad = true, zero;
    rational v = zero;
    if (*p->s == '(') {
        p->s++;
        v = expr(p);
        skip_ws(p);
        if (*p->s != ')') p->bad = true;
        else p->s++;
    } else if (*p->s == '-') {
        p->s++;
        v = atom(p);
        v.num = -v.num;
    } else if (isdigit((unsigned char)*p->s)) {
        __int128 x = 0;
        int nd = 0;
        while (isdigit((unsigned char)*p->s)) {
            if (++nd > MAX_INT_DIGITS) p->bad = true;
            else x = x * 10 + (*p->s - '0');
            p->s++;
        }
        v = make(x, 1, p);
    } else {
        p->bad = true;
    }
    p->depth--;
    return v;
}

static rational term(parser *p) {
    rational v = atom(p);
    for (;;) {
        skip_ws(p);
        char op = *p->s;
        if (p->bad || (op != '*' && op != '/')) return v;
        p->s++;
        rational w = atom(p);
        if (p->bad) return v;
        if (op == '*') v = make(v.num * w.num, v.den * w.den, p);
        else if (w.num == 0) p->bad = true;
        else v = make(v.num * w.den, v.den * w.num, p);
    }
}

static rational expr(parser *p) {
    rational v = term(p);
    for (;;) {
        skip_ws(p);
        char op = *p->s;
        if (p->bad || (op != '+' && op != '-')) return v;
        p->s++;
        rational w = term(p);
        if (p->bad) return v;
        v = make(op == '+' ? v.num * w.den + w.num * v.den : v.num * w.den - w.num * v.den, v.den * w.den, p);
    }
}

static bool prompt_numbers(const char *prompt, long *nums, int *n, long *target) {
    const char *a = strstr(prompt, "Numbers: [");
    if (!a) return false;
    a += 10;
    *n = 0;
    while (*a && *a != ']') {
        while (*a == ' ' || *a == ',') a++;
        if (*a == ']') break;
        if (!isdigit((unsigned char)*a) || *n >= 16) return false;
        nums[(*n)++] = strtol(a, (char **)&a, 10);
    }
    const char *t = strstr(a, "]\nTarget: ");
    if (!t) return false;
    char *end;
    *target = strtol(t + 10, &end, 10);
    return end != t + 10;
}

static int cmp_long(const void *x, const void *y) {
    long a = *(const long *)x, b = *(const long *)y;
    return (a > b) - (a < b);
}

// EvoToken's judgement of an equation string against numbers and target.
static bool countdown_correct(const long *nums, int n, long target, const char *equation) {
    size_t len = strlen(equation);
    if (len > 200) return false;
    char eq[512];
    size_t o = 0;
    for (size_t i = 0; i < len && o + 2 < sizeof eq;) { // \div -> /, \times and \cdot -> *
        if (!strncmp(equation + i, "\\div", 4)) eq[o++] = '/', i += 4;
        else if (!strncmp(equation + i, "\\times", 6)) eq[o++] = '*', i += 6;
        else if (!strncmp(equation + i, "\\cdot", 5)) eq[o++] = '*', i += 5;
        else eq[o++] = equation[i++];
    }
    eq[o] = 0;
    // ([0-9+\-*/() ]+)=[0-9. ]+  -> keep the left side of the first such '='
    for (char *e = strchr(eq, '='); e; e = strchr(e + 1, '=')) {
        char *b = e;
        while (b > eq && strchr("0123456789+-*/() ", b[-1])) b--;
        if (b < e && e[1] && strchr("0123456789. ", e[1])) {
            memmove(eq, b, (size_t)(e - b));
            eq[e - b] = 0;
            break;
        }
    }
    long used[64];
    int k = 0;
    for (const char *c = eq; *c;) {
        if (isdigit((unsigned char)*c)) {
            if (k == 64) return false;
            char *end;
            used[k++] = strtol(c, &end, 10);
            c = end;
        } else c++;
    }
    long want[16];
    memcpy(want, nums, (size_t)n * sizeof *want);
    if (k != n) return false;
    qsort(used, (size_t)k, sizeof *used, cmp_long);
    qsort(want, (size_t)n, sizeof *want, cmp_long);
    for (int i = 0; i < n; i++)
        if (used[i] != want[i]) return false;
    for (const char *c = eq; *c; c++)
        if (!strchr("0123456789+-*/(). \t\n\r\f\v", *c)) return false;
    if (strchr(eq, '.') || strstr(eq, "**") || strstr(eq, "//")) return false; // Python-only operators, decimals
    parser p = {eq, false, 0};
    rational v = expr(&p);
    skip_ws(&p);
    if (p.bad || *p.s) return false;
    return fabs((double)v.num / (double)v.den - (double)target) < 1e-5;
}

static bool check_countdown(const char *prompt, const char *response, char *ex, size_t n) {
    long nums[16], target;
    int k;
    if (!prompt || !prompt_numbers(prompt, nums, &k, &target)) return false;
    // the last boxed content, else the <answer> content, else the whole text (EvoToken)
    char eq[MAX_ANSWER];
    if (!dlm_last_boxed(response, eq, sizeof eq) && !answer_tag(response, eq, sizeof eq)) copy_out(eq, sizeof eq, response, strlen(response));
    copy_out(ex, n, eq, strlen(eq));
    return countdown_correct(nums, k, target, eq);
}

// ---- gsm8k / svamp (EvoToken's get_acc.py) ---------------------------------------------------------------

static bool gsm_gold(const char *gold, bool hash_form, double *v) {
    const char *h = hash_form ? strstr(gold, "####") : NULL;
    if (!h) return parse_float(gold, v);
    h += 4;
    while (isspace((unsigned char)*h)) h++;
    if (*h == '$') h++;
    char buf[64];
    size_t o = 0;
    while ((isdigit((unsigned char)*h) || *h == ',') && o + 1 < sizeof buf) {
        if (*h != ',') buf[o++] = *h;
        h++;
    }
    if (*h == '.' && isdigit((unsigned char)h[1])) {
        buf[o++] = *h++;
        while (isdigit((unsigned char)*h) && o + 1 < sizeof buf) buf[o++] = *h++;
    }
    buf[o] = 0;
    return o > 0 && parse_float(buf, v);
}

static bool gsm_pred(const char *response, double *v, char *ex, size_t n) {
    // every \boxed{...} up to the first '}' on the same line (the regex \\boxed{(.*?)}), first usable one
    for (const char *b = strstr(response, "\\boxed{"); b; b = strstr(b + 1, "\\boxed{")) {
        const char *c = b + 7, *e = c;
        while (*e && *e != '}' && *e != '\n') e++;
        if (*e != '}') continue;
        char content[512];
        copy_out(content, sizeof content, c, (size_t)(e - c));
        trim(content);
        bool dots = content[0] != 0;
        for (char *d = content; *d; d++) dots &= *d == '.';
        if (!content[0] || dots) continue;
        copy_out(ex, n, content, strlen(content));
        if (parse_float(content, v)) return true;
        double nums[1];
        if (find_numbers(content, nums, 1) == 1) {
            *v = nums[0];
            return true;
        }
    }
    char ans[MAX_ANSWER];
    if (answer_tag(response, ans, sizeof ans) && ans[0]) {
        copy_out(ex, n, ans, strlen(ans));
        if (parse_float(ans, v)) return true;
        bool found;
        *v = last_number_in(ans, &found);
        return found;
    }
    return false;
}

// ---- MATH (Hendrycks normalisation) --------------------------------------------------------------------------

static void replace_all(char *s, size_t cap, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to);
    char *p = s;
    while ((p = strstr(p, from))) {
        size_t rest = strlen(p + fl);
        if ((size_t)(p - s) + tl + rest + 1 > cap) return;
        memmove(p + tl, p + fl, rest + 1);
        memcpy(p, to, tl);
        p += tl;
    }
}

// Returns false where the reference implementation raises (then the raw strings are compared).
static bool math_strip(const char *in, char *s, size_t cap) {
    snprintf(s, cap, "%s", in);
    replace_all(s, cap, "\n", "");
    replace_all(s, cap, "\\!", "");
    replace_all(s, cap, "\\\\", "\\");
    replace_all(s, cap, "tfrac", "frac");
    replace_all(s, cap, "dfrac", "frac");
    replace_all(s, cap, "\\left", "");
    replace_all(s, cap, "\\right", "");
    replace_all(s, cap, "^{\\circ}", "");
    replace_all(s, cap, "^\\circ", "");
    replace_all(s, cap, "\\$", "");
    char *units = strstr(s, "\\text{ "); // units on the right; more than one: the reference asserts
    if (units) {
        if (strstr(units + 7, "\\text{ ")) return false;
        *units = 0;
    }
    replace_all(s, cap, "\\%", "");
    replace_all(s, cap, " .", " 0.");
    replace_all(s, cap, "{.", "{0.");
    if (!s[0]) return true;
    if (s[0] == '.') {
        memmove(s + 1, s, strlen(s) + 1);
        s[0] = '0';
    }
    char *eq = strchr(s, '='); // "k = 3" -> "3" when the left side is short
    if (eq && !strchr(eq + 1, '=') && eq - s <= 2) memmove(s, eq + 1, strlen(eq + 1) + 1);
    // \sqrt3 -> \sqrt{3}
    dlm_buf b = {0};
    const char *c = s, *q;
    while ((q = strstr(c, "\\sqrt"))) {
        dlm_buf_append(&b, c, (size_t)(q - c));
        const char *after = q + 5;
        if (!*after) {
            dlm_buf_free(&b);
            return false; // the reference indexes past the end
        }
        if (*after != '{') {
            dlm_buf_printf(&b, "\\sqrt{%c}", *after);
            c = after + 1;
        } else {
            dlm_buf_append(&b, "\\sqrt", 5);
            c = after;
        }
    }
    dlm_buf_append(&b, c, strlen(c));
    snprintf(s, cap, "%s", dlm_buf_cstr(&b));
    dlm_buf_free(&b);
    replace_all(s, cap, " ", "");
    // \frac12 -> \frac{1}{2}, \frac1b -> \frac{1}{b}, \frac1{72} -> \frac{1}{72}
    b = (dlm_buf){0};
    c = s;
    const char *f = strstr(c, "\\frac");
    dlm_buf_append(&b, c, f ? (size_t)(f - c) : strlen(c));
    while (f) {
        const char *sub = f + 5, *next = strstr(sub, "\\frac");
        size_t sl = next ? (size_t)(next - sub) : strlen(sub);
        dlm_buf_append(&b, "\\frac", 5);
        if (sl == 0) {
            dlm_buf_free(&b);
            return false; // substr[0] on an empty piece raises
        }
        if (sub[0] == '{') dlm_buf_append(&b, sub, sl);
        else if (sl < 2) { // the reference returns the string unchanged
            dlm_buf_free(&b);
            b = (dlm_buf){0};
            dlm_buf_append(&b, s, strlen(s));
            break;
        } else if (sub[1] != '{') {
            dlm_buf_printf(&b, "{%c}{%c}", sub[0], sub[1]);
            dlm_buf_append(&b, sub + 2, sl - 2);
        } else {
            dlm_buf_printf(&b, "{%c}", sub[0]);
            dlm_buf_append(&b, sub + 1, sl - 1);
        }
        f = next;
    }
    snprintf(s, cap, "%s", dlm_buf_cstr(&b));
    dlm_buf_free(&b);
    if (strcmp(s, "0.5") == 0) snprintf(s, cap, "\\frac{1}{2}");
    char *slash = strchr(s, '/'); // a/b -> \frac{a}{b} for plain integers
    if (slash && !strchr(slash + 1, '/')) {
        char a[64], bb[64], ra[64], rb[64];
        size_t la = (size_t)(slash - s);
        if (la < sizeof a && strlen(slash + 1) < sizeof bb) {
            memcpy(a, s, la);
            a[la] = 0;
            snprintf(bb, sizeof bb, "%s", slash + 1);
            long long x, y;
            if (dlm_parse_int(a, -(1LL << 62), 1LL << 62, &x) && dlm_parse_int(bb, -(1LL << 62), 1LL << 62, &y)) {
                snprintf(ra, sizeof ra, "%lld", x);
                snprintf(rb, sizeof rb, "%lld", y);
                if (!strcmp(ra, a) && !strcmp(rb, bb)) snprintf(s, cap, "\\frac{%s}{%s}", ra, rb);
            }
        }
    }
    return true;
}

void dlm_math_normalize(const char *in, char *out, size_t n) {
    if (!math_strip(in, out, n)) snprintf(out, n, "%s", in);
}

static bool math_equiv(const char *a, const char *b) {
    char x[MAX_ANSWER], y[MAX_ANSWER];
    if (!math_strip(a, x, sizeof x) || !math_strip(b, y, sizeof y)) return strcmp(a, b) == 0;
    return strcmp(x, y) == 0;
}

static bool math_boxed(const char *text, char *out, size_t n) {
    const char *sp = strstr(text, "\\boxed "); // "\boxed 5": up to the next '$'
    if (sp) {
        const char *last = sp, *q = sp;
        while ((q = strstr(q + 1, "\\boxed "))) last = q;
        const char *c = last + 7, *d = strchr(c, '$');
        copy_out(out, n, c, d ? (size_t)(d - c) : strlen(c));
        return true;
    }
    return dlm_last_boxed(text, out, n);
}

// ---- CMATH / GSM-Plus (T2M's extract_math_answer) -----------------------------------------------------------

static bool number_after(const char *text, const char *marker, double *v) {
    const char *m = NULL, *q = text;
    while ((q = strstr(q, marker))) m = q++; // the last occurrence
    if (!m) return false;
    double nums[1];
    char tmp[256];
    copy_out(tmp, sizeof tmp, m + strlen(marker), strcspn(m + strlen(marker), "\n"));
    // commas inside numbers ("1,234") go before the number is read
    for (char *a = tmp, *b = tmp;; a++) {
        if (*a == ',' && b > tmp && isdigit((unsigned char)b[-1]) && isdigit((unsigned char)a[1])) continue;
        *b++ = *a;
        if (!*a) break;
    }
    if (find_numbers(tmp, nums, 1) != 1) return false;
    *v = nums[0];
    return true;
}

static bool cmath_pred(const char *response, double *v, char *ex, size_t n) {
    char box[MAX_ANSWER];
    if (dlm_last_boxed(response, box, sizeof box)) {
        copy_out(ex, n, box, strlen(box));
        char clean[MAX_ANSWER];
        size_t o = 0;
        for (const char *c = box; *c && o + 1 < sizeof clean; c++)
            if (*c != ',') clean[o++] = *c;
        clean[o] = 0;
        if (parse_float(clean, v)) return true;
        double nums[1];
        if (find_numbers(clean, nums, 1) == 1) return *v = nums[0], true;
    }
    static const char *const markers[] = {"The answer is", "the answer is", "Answer:", "答案是", "答案为", "答案：", "答案:", "####"};
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
        if (number_after(response, markers[i], v)) return copy_out(ex, n, markers[i], strlen(markers[i])), true;
    bool found;
    *v = last_number_in(response, &found);
    return found;
}

// ---- dispatch ------------------------------------------------------------------------------------------------

bool dlm_check(dlm_checker c, const char *prompt, const char *gold, const char *response, char *ex, size_t n) {
    if (ex && n) ex[0] = 0;
    if (!gold || !response) return false;
    double g, p;
    switch (c) {
    case DLM_CHECK_ARITH:
    case DLM_CHECK_DIGITS: return check_int(gold, response, ex, n);
    case DLM_CHECK_SORT: return check_sort(gold, response, ex, n);
    case DLM_CHECK_COUNTDOWN: return check_countdown(prompt, response, ex, n);
    case DLM_CHECK_GSM8K:
    case DLM_CHECK_SVAMP:
        return gsm_gold(gold, c == DLM_CHECK_GSM8K, &g) && gsm_pred(response, &p, ex, n) && p == g;
    case DLM_CHECK_MATH: {
        char box[MAX_ANSWER];
        if (!math_boxed(response, box, sizeof box) && !answer_tag(response, box, sizeof box)) return false;
        copy_out(ex, n, box, strlen(box));
        return math_equiv(box, gold);
    }
    case DLM_CHECK_CMATH: {
        // T2M compared str(int(float(x))): 3.5 and 3 were "equal". Fixed: exact numeric equality;
        // non-numeric golds compare as trimmed strings.
        char gs[256];
        copy_out(gs, sizeof gs, gold, strlen(gold));
        trim(gs);
        char clean[256];
        size_t o = 0;
        for (const char *q = gs; *q && o + 1 < sizeof clean; q++)
            if (*q != ',') clean[o++] = *q;
        clean[o] = 0;
        if (!parse_float(clean, &g)) {
            char box[MAX_ANSWER];
            if (!dlm_last_boxed(response, box, sizeof box)) return false;
            trim(box);
            copy_out(ex, n, box, strlen(box));
            return strcmp(box, gs) == 0;
        }
        return cmath_pred(response, &p, ex, n) && fabs(p - g) <= 1e-9 * fmax(1.0, fabs(g));
    }
    default: return false;
    }
}
