// cpu_attention.h — scaled dot-product attention on the CPU, for full, block-causal and cached passes.
//
// For query rows q0 .. q0+Lq-1 of a sequence of L positions and every head h (KV head
// h / (n_heads / n_kv_heads)): out[:, h] = softmax(Q_h K_g^T / sqrt(hd) + mask) V_g, where the mask
// lets query i see key j iff block_size == 0 or blk(j) <= blk(i) (j < L always), where blk(p) = 0 for
// p < block_origin and 1 + (p - block_origin) / block_size after it (origin 0: p / block_size, LLaDA2
// and SDAR; origin = prompt length: D2F's prompt as block 0).
// Q is (Lq, ldq) with head h at column h*hd; K and V are (L, ldkv) with KV head g at column g*hd;
// out is (Lq, ldo).
//
// cpu_attention is the fast one: fused and tiled (online softmax over tiles of keys, no L x L score
// matrix, SIMD over keys for Q K^T and over the head dimension for P V), parallel over (head, query
// tile). cpu_attention_reference is the readable one (scores, softmax, product, one head at a
// time), kept as the oracle the tests compare the fast one against.
#ifndef DLM_CPU_ATTENTION_H
#define DLM_CPU_ATTENTION_H

#include <stddef.h>

typedef struct {
    int n_heads, n_kv_heads, head_dim;
    int q0, Lq;      // query rows: positions q0 .. q0 + Lq - 1
    int L;           // keys and values: positions 0 .. L - 1
    int block_size;  // 0: bidirectional
    int block_origin; // first position of the first block_size block (0 unless the prompt is block 0)
} cpu_attention_shape;

// Floats of scratch cpu_attention needs (the keys transposed per KV head, padded).
size_t cpu_attention_scratch_floats(const cpu_attention_shape *s);

void cpu_attention(const cpu_attention_shape *s, float *out, int ldo, const float *q, int ldq, const float *k,
                   const float *v, int ldkv, float *scratch);

void cpu_attention_reference(const cpu_attention_shape *s, float *out, int ldo, const float *q, int ldq,
                             const float *k, const float *v, int ldkv);

#endif
