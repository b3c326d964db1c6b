// compare_topk.c — compare two `dlmscope logits` outputs with a probability tolerance.
//
//   compare_topk EXPECTED ACTUAL [TOL]      (TOL defaults to 2e-5)
//
// Passes when both have the same positions and, per position, every expected candidate appears
// in the actual top-K with |p - p_ref| <= TOL, and the candidate order agrees wherever the
// expected margin between neighbours exceeds 2*TOL (closer pairs may legitimately swap).
// Prints each mismatch and the maximum absolute difference.
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_K 64

typedef struct {
    int    pos, n;
    int    id[MAX_K];
    double p[MAX_K];
} row;

static int read_rows(const char *path, row **out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    int n = 0, cap = 0;
    char line[16384];
    *out = NULL;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (n == cap) *out = realloc(*out, (size_t)(cap = cap ? 2 * cap : 64) * sizeof **out);
        row *r = &(*out)[n++];
        char *p = line, *end;
        r->pos = (int)strtol(p, &end, 10);
        if (end == p) {
            fprintf(stderr, "%s: line %d: no position\n", path, n);
            exit(2);
        }
        p = end;
        r->n = 0;
        while (r->n < MAX_K) {
            int id;
            double pr;
            int used;
            if (sscanf(p, " %d:%lf%n", &id, &pr, &used) != 2) break;
            r->id[r->n] = id;
            r->p[r->n++] = pr;
            p += used;
        }
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: compare_topk EXPECTED ACTUAL [TOL]\n");
        return 2;
    }
    double tol = argc > 3 ? atof(argv[3]) : 2e-5, max_diff = 0;
    row *e, *a;
    int ne = read_rows(argv[1], &e), na = read_rows(argv[2], &a), bad = 0;
    if (ne != na) {
        printf("position count differs: expected %d, got %d\n", ne, na);
        free(e);
        free(a);
        return 1;
    }
    for (int i = 0; i < ne; i++) {
        if (e[i].pos != a[i].pos) {
            printf("line %d: position %d vs %d\n", i + 1, e[i].pos, a[i].pos);
            bad++;
            continue;
        }
        for (int k = 0; k < e[i].n; k++) {
            int j = 0;
            while (j < a[i].n && a[i].id[j] != e[i].id[k]) j++;
            bool last_close = k == e[i].n - 1 || fabs(e[i].p[k] - e[i].p[k + 1]) <= 2 * tol;
            if (j == a[i].n) {
                // The last expected candidate may fall out of the top-K only through a near tie.
                if (!(k == e[i].n - 1 && last_close)) {
                    printf("pos %d: expected candidate %d (p=%.8f) missing\n", e[i].pos, e[i].id[k], e[i].p[k]);
                    bad++;
                }
                continue;
            }
            double d = fabs(a[i].p[j] - e[i].p[k]);
            if (d > max_diff) max_diff = d;
            if (d > tol) {
                printf("pos %d id %d: p=%.8f expected %.8f (|diff| %.2e > %.1e)\n", e[i].pos, e[i].id[k], a[i].p[j],
                       e[i].p[k], d, tol);
                bad++;
            }
            bool close_prev = k > 0 && fabs(e[i].p[k - 1] - e[i].p[k]) <= 2 * tol;
            bool close_next = k + 1 < e[i].n && fabs(e[i].p[k] - e[i].p[k + 1]) <= 2 * tol;
            if (j != k && !close_prev && !close_next) {
                printf("pos %d: candidate %d is at rank %d, expected rank %d\n", e[i].pos, e[i].id[k], j, k);
                bad++;
            }
        }
    }
    printf("%s: %d positions, max |diff| %.2e, %d mismatches\n", bad ? "FAIL" : "ok", ne, max_diff, bad);
    free(e);
    free(a);
    return bad ? 1 : 0;
}
