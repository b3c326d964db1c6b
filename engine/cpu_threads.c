// cpu_threads.c — passive OpenMP waiting by default, the affinity-based thread count, and the
// adaptive thread governor (see cpu_threads.h).
#include "cpu_threads.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// libgomp reads its environment in a constructor that runs before main(), so the default is set
// from the executable's .preinit_array, which the dynamic loader runs before any shared library's
// constructors. An explicit OMP_WAIT_POLICY or GOMP_SPINCOUNT from the user wins.
static void cpu_threads_wait_policy(void) {
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) setenv("OMP_WAIT_POLICY", "passive", 0);
}
__attribute__((section(".preinit_array"), used)) static void (*const cpu_threads_preinit)(void) = cpu_threads_wait_policy;

int cpu_threads_available(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

// ---- governor ---------------------------------------------------------------------------------

// Probing costs a pass at a worse count (on a busy core, 30x slower), so the interval doubles each
// time a probe confirms the current count, up to PROBE_MAX passes; a switch resets it.
#define PROBE_MIN 4
#define PROBE_MAX 256
#define SWITCH_GAIN 0.9 // a count must be 10% cheaper per unit of work to be switched to

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cpu_governor_init(cpu_governor *g, int max_threads) {
    memset(g, 0, sizeof *g);
    g->adaptive = max_threads <= 0;
    g->max_threads = max_threads > 0 ? max_threads : cpu_threads_available();
    if (g->max_threads > CPU_GOVERNOR_MAX_THREADS) g->max_threads = CPU_GOVERNOR_MAX_THREADS;
    g->last_threads = g->max_threads;
    for (int b = 0; b < CPU_GOVERNOR_BUCKETS; b++) g->bucket[b].interval = 1; // the first probe comes early
}

int cpu_governor_begin(cpu_governor *g, int rows, double work) {
    int b = 0;
    while (b + 1 < CPU_GOVERNOR_BUCKETS && (2 << b) <= rows) b++;
    cpu_governor_bucket *k = &g->bucket[b];
    if (k->passes == 0) k->threads = g->last_threads; // a new size starts from what the others learned
    int t = k->threads;
    if (g->adaptive && g->max_threads > 1 && k->passes > 0 && k->since_probe >= k->interval) {
        const bool down = (k->probe_down && t > 1) || t == g->max_threads;
        t = down ? t - 1 : t + 1;
        k->probe_down = !down;
        k->since_probe = 0;
    }
    g->pass_bucket = b, g->pass_threads = t, g->pass_work = work > 1 ? work : 1, g->pass_start_ns = now_ns();
    return t;
}

void cpu_governor_end(cpu_governor *g, bool ok) { cpu_governor_record(g, ok, now_ns() - g->pass_start_ns); }

void cpu_governor_record(cpu_governor *g, bool ok, int64_t elapsed_ns) {
    if (!g->adaptive || !ok) return;
    cpu_governor_bucket *k = &g->bucket[g->pass_bucket];
    const int t = g->pass_threads;
    const double c = (double)elapsed_ns / g->pass_work;
    if (k->passes++ == 0) return; // the first pass of a size faults the weights in: not representative
    g->last_threads = k->threads;
    if (t != k->threads) { // a probe: fresh news of this count, whatever it cost before
        k->cost[t] = c;
        if (k->cost[t] < SWITCH_GAIN * k->cost[k->threads]) {
            k->threads = g->last_threads = t, k->interval = PROBE_MIN;
        } else if (k->interval < PROBE_MAX) {
            k->interval *= 2;
        }
        return;
    }
    k->cost[t] = k->cost[t] > 0 ? 0.5 * (k->cost[t] + c) : c;
    k->since_probe++;
    // The current count got much worse than a neighbour measured before (a core became busy): move now.
    for (int n = t - 1; n <= t + 1; n += 2)
        if (n >= 1 && n <= g->max_threads && k->cost[n] > 0 && k->cost[n] < SWITCH_GAIN * k->cost[t]) {
            k->threads = g->last_threads = n, k->interval = PROBE_MIN, k->since_probe = 0;
            return;
        }
}
