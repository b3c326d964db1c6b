// cpu_threads.h — how many threads the CPU backend uses, and how they wait.
//
// Threads never busy-wait by default: OpenMP (and OpenBLAS's OpenMP build, which shares its pool)
// is started with OMP_WAIT_POLICY=passive unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT,
// so an idle worker sleeps instead of spinning on a core another process needs (a laptop running
// the visualizer next to a browser). The default thread count is the number of CPUs this process
// may run on (sched_getaffinity: taskset, cgroups' cpusets), not the machine's.
#ifndef DLM_CPU_THREADS_H
#define DLM_CPU_THREADS_H

// CPUs in this process's affinity mask (at least 1).
int cpu_threads_available(void);

#endif
