// jsonl_equal.c — compare two JSON-lines files value by value (escaping styles may differ).
//   jsonl_equal A B    exit 0 if every line parses and A[i] == B[i]; prints the first differences.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: jsonl_equal A B\n");
        return 2;
    }
    FILE *fa = fopen(argv[1], "r"), *fb = fopen(argv[2], "r");
    if (!fa || !fb) {
        perror(fa ? argv[2] : argv[1]);
        return 2;
    }
    char *la = NULL, *lb = NULL;
    size_t ca = 0, cb = 0;
    long line = 0, bad = 0;
    for (;;) {
        ssize_t na = getline(&la, &ca, fa), nb = getline(&lb, &cb, fb);
        if (na < 0 || nb < 0) {
            if (na >= 0 || nb >= 0) {
                printf("line counts differ after line %ld\n", line);
                bad++;
            }
            break;
        }
        line++;
        json_error_t e;
        json_t *a = json_loadb(la, (size_t)na, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e),
               *b = json_loadb(lb, (size_t)nb, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!a || !b || !json_equal(a, b)) {
            if (bad++ < 5) printf("line %ld differs:\n  %s  %s", line, la, lb);
        }
        json_decref(a);
        json_decref(b);
    }
    free(la);
    free(lb);
    fclose(fa);
    fclose(fb);
    printf("%ld lines, %ld differ\n", line, bad);
    return bad ? 1 : 0;
}
