// topk.h — the top-K list every softmax summary keeps, shared by summary.c and the CUDA backend.
#ifndef DLM_TOPK_H
#define DLM_TOPK_H

#include <stdint.h>

#include "hostdev.h"

// Insert (id, p) into a top list of at most k entries sorted by p descending, ids ascending among
// equal p: callers offer ids in ascending order, and an equal p with a larger id never displaces.
static inline DLM_HOSTDEV void dlm_top_insert(int32_t *ids, double *ps, int *n, int k, int32_t id, double p) {
    if (*n == k && !(p > ps[k - 1])) return;
    int i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && p > ps[i - 1]) {
        ids[i] = ids[i - 1];
        ps[i] = ps[i - 1];
        i--;
    }
    ids[i] = id;
    ps[i] = p;
}

#endif
