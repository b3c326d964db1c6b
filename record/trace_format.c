// trace_format.c — the declared trace fields as data (trace_format.h).
#include "trace_format.h"

const dlm_trace_field_info dlm_trace_fields[DLM_TF_COUNT] = {
#define X(rec, key) {#rec, #key},
    DLM_TRACE_FIELDS(X)
#undef X
};
