// cpu_threads.h — how many threads the CPU backend uses, and how they wait.
//
// Threads never busy-wait by default: OpenMP (and OpenBLAS's OpenMP build, which shares its pool)
// is started with OMP_WAIT_POLICY=passive unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT,
// so an idle worker sleeps instead of spinning on a core another process needs (a laptop running
// the visualizer next to a browser). The most threads used is the number of CPUs this process may
// run on (sched_getaffinity: taskset, cgroups' cpusets), not the machine's.
//
// Without --threads the count is adaptive (cpu_governor): a pass is only as fast as its slowest
// thread, and a thread that shares its core with another busy process arrives at every barrier a
// scheduler time slice late (measured: the bundled model's 128-token pass took 14 ms on one thread
// and 510 ms on two with the second core busy). The governor times every pass, now and then tries
// one thread fewer or one more, and keeps the count that was faster per unit of work.
#ifndef DLM_CPU_THREADS_H
#define DLM_CPU_THREADS_H

#include <stdbool.h>
#include <stdint.h>

// CPUs in this process's affinity mask (at least 1).
int cpu_threads_available(void);

#define CPU_GOVERNOR_BUCKETS 16  // passes are compared with passes of similar size: log2(rows)
#define CPU_GOVERNOR_MAX_THREADS 256

typedef struct {
    double cost[CPU_GOVERNOR_MAX_THREADS + 1]; // smoothed ns per unit of work at t threads; 0 = not measured
    int    threads;                            // the count this bucket runs at
    int    passes;                             // passes measured (the first, which faults pages in, is not)
    int    since_probe, interval;              // passes since the last probe; passes between probes
    int    probe_down;                         // the next probe tries threads - 1 (else threads + 1)
} cpu_governor_bucket;

typedef struct {
    int    max_threads;
    bool   adaptive;     // false: always max_threads (an explicit --threads)
    int    last_threads; // the count chosen last, where a pass of a new size starts
    cpu_governor_bucket bucket[CPU_GOVERNOR_BUCKETS];
    // the pass in flight
    int     pass_bucket, pass_threads;
    double  pass_work;
    int64_t pass_start_ns;
} cpu_governor;

// max_threads > 0: fixed at that count; 0: adaptive up to cpu_threads_available().
void cpu_governor_init(cpu_governor *g, int max_threads);
// The thread count for a pass computing `rows` rows with about `work` units (flops); starts its clock.
int cpu_governor_begin(cpu_governor *g, int rows, double work);
// Ends the pass begun last; `ok` false (an error or a cancelled pass) leaves the statistics alone.
void cpu_governor_end(cpu_governor *g, bool ok);
// cpu_governor_end with the pass's duration given (the tests drive the governor with made-up times).
void cpu_governor_record(cpu_governor *g, bool ok, int64_t elapsed_ns);

#endif
