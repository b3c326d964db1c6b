// fuzz_safetensors.c — libFuzzer target: the safetensors header parser and converters on
// arbitrary bytes, through an in-memory file (memfd) so the real mmap path runs.
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    dlm_tensor_set *ts;
    if (dlm_tensor_set_open_file(path, &ts) == DLM_STATUS_OK) {
        float buf[64];
        for (int i = 0; i < dlm_tensor_set_count(ts); i++) {
            const dlm_tensor *t = dlm_tensor_set_at(ts, i);
            int64_t n = dlm_tensor_numel(t);
            if (t->dtype != DLM_DTYPE_OTHER && n > 0) dlm_tensor_to_f32(t, 0, n < 64 ? n : 64, buf);
        }
        dlm_tensor_set_free(ts);
    }
    close(fd);
    return 0;
}
