/* status.c — the error helper and the names of mllm_status (status.h). */
#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>

mllm_status mllm_fail(char *err, size_t errlen, mllm_status status, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *mllm_status_name(mllm_status s)
{
    static const char *const failures[] = { "ok", "io", "format", "config", "tensor",
                                            "nomem", "arg", "context", "tokenizer", "numeric" };
    static const char *const outcomes[] = { "done", "cancelled" };
    if ((unsigned)s < sizeof failures / sizeof failures[0]) return failures[s];
    if (s >= MLLM_DONE && (unsigned)(s - MLLM_DONE) < sizeof outcomes / sizeof outcomes[0])
        return outcomes[s - MLLM_DONE];
    return "?";
}
