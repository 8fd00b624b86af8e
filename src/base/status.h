/* status.h — the one error helper of the C sources, at the bottom of the
 * layers: every file that fails writes its message through it. */
#ifndef MLLM_STATUS_H
#define MLLM_STATUS_H

#include "mobilellm.h"

#include <stddef.h>

/* Writes a formatted message into err (if any) and returns status. */
mllm_status mllm_fail(char *err, size_t errlen, mllm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
