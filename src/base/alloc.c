/* alloc.c — the counter of the fault-injection build (alloc.h). A normal
 * build compiles this file to nothing: the seam is inline there. */
#define _DEFAULT_SOURCE /* backtrace, for MLLM_FAULT_BACKTRACE */
#include "base/alloc.h"

#ifdef MLLM_FAULT_INJECTION

#include <cjson/cJSON.h>
#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static atomic_long armed_at;   /* the allocation that fails, 1-based; 0: none */
static atomic_bool persistent; /* every allocation after it fails too */
static atomic_long counted, failed;

bool mllm_fault_hit(void)
{
    long at = atomic_load(&armed_at);
    long k = atomic_fetch_add(&counted, 1) + 1;
    if (at <= 0 || k < at || (k > at && !atomic_load(&persistent))) return false;
    atomic_fetch_add(&failed, 1);
    if (getenv("MLLM_FAULT_BACKTRACE")) { /* where the failure hit, to read a walk's absorbed ones */
        void *frames[24];
        fprintf(stderr, "mllm fault injected at allocation %ld:\n", k);
        backtrace_symbols_fd(frames, backtrace(frames, 24), STDERR_FILENO);
    }
    return true;
}

/* An injected failure sets errno as a failing malloc does (base/json.c reads it). */
static bool injected(void)
{
    if (!mllm_fault_hit()) return false;
    errno = ENOMEM;
    return true;
}

void *mllm_malloc(size_t n) { return injected() ? NULL : malloc(n); }
void *mllm_calloc(size_t count, size_t size) { return injected() ? NULL : calloc(count, size); }
void *mllm_realloc(void *p, size_t n) { return injected() ? NULL : realloc(p, n); }

char *mllm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = mllm_malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

static void *cjson_malloc(size_t n) { return mllm_malloc(n); }
static void cjson_free(void *p) { free(p); }

void mllm_fault_arm(long n, bool persist)
{
    /* cJSON allocates through the seam in this build only: its hooks are
       process-wide, and a host may have set its own */
    static cJSON_Hooks hooks = { cjson_malloc, cjson_free };
    cJSON_InitHooks(&hooks);
    atomic_store(&armed_at, 0);
    atomic_store(&counted, 0);
    atomic_store(&failed, 0);
    atomic_store(&persistent, persist);
    atomic_store(&armed_at, n > 0 ? n : 0);
}

long mllm_fault_count(void) { return atomic_load(&counted); }
long mllm_fault_failed(void) { return atomic_load(&failed); }

#else
typedef int mllm_alloc_c_is_empty_in_a_normal_build; /* ISO C wants a declaration */
#endif
