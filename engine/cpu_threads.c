// cpu_threads.c — passive OpenMP waiting by default, and the affinity-based thread count.
#include "cpu_threads.h"

#include <sched.h>
#include <stdlib.h>
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
