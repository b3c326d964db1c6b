// version.c — `dlmscope --version`: the version and the build facts a bug report needs.
#include <cblas.h>
#include <stdio.h>

#include "common.h"
#include "engine/version.h"
#include "gen/buildinfo.h"
#include "manual.h"

char *openblas_get_config(void); // OpenBLAS extension (in its cblas.h; repeated for other CBLAS headers)

void cli_print_version(FILE *f) {
    const char *data = cli_data_dir();
    fprintf(f, "dlmscope %s\n", DLM_VERSION);
    fprintf(f, "revision  %s\n", DLM_GIT_REVISION);
    fprintf(f, "CUDA      %s\n", DLM_CUDA_INFO);
    fprintf(f, "BLAS      %s (%s)\n", openblas_get_config(), DLM_BLAS_INFO);
#if defined(__clang__)
    fprintf(f, "compiler  clang %s, OpenMP %d\n", __clang_version__, _OPENMP);
#elif defined(__GNUC__)
    fprintf(f, "compiler  gcc %s, OpenMP %d\n", __VERSION__, _OPENMP);
#endif
    fprintf(f, "prefix    %s\n", DLM_PREFIX);
    fprintf(f, "data      %s\n", data ? data : "not found (set DLMSCOPE_DATA to the folder holding samples/)");
}
