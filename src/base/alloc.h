/* alloc.h — the one allocator seam of the C sources: every heap allocation of
 * src/ goes through mllm_malloc / _calloc / _realloc / _strdup and mllm_free
 * (mapped buffers through mllm_fault_hit, bigbuf.c). In a normal build they
 * are the C library's own functions, inlined: the seam costs nothing.
 *
 * Built with -DMLLM_FAULT_INJECTION (make test-oom, spec/c/test_oom.c) a
 * counter runs under them: after mllm_fault_arm(n, persist) the nth
 * allocation from then on returns NULL (and, with persist, every one after
 * it), as SQLite's test builds do, so that every error path of the library
 * can be walked one allocation at a time. Memory the library hands to its
 * caller stays the C library's (mllm_free is free): a caller frees it with
 * free() in every build. */
#ifndef MLLM_ALLOC_H
#define MLLM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef MLLM_FAULT_INJECTION

void *mllm_malloc(size_t n);
void *mllm_calloc(size_t count, size_t size);
void *mllm_realloc(void *p, size_t n);
char *mllm_strdup(const char *s);
/* Counts an allocation the seam does not make itself (an mmap); true when it must fail. */
bool mllm_fault_hit(void);

/* Arms the counter: the nth allocation counted from now fails (n <= 0: none
 * does), and with persist every later one too. Resets both counts. Also routes
 * cJSON's allocations through the seam (cJSON_InitHooks: process-wide, so in
 * this build only). Safe from any thread (atomic counts), but not while
 * another thread is inside cJSON. An injected failure sets errno to ENOMEM,
 * as a failing malloc does. */
void mllm_fault_arm(long n, bool persist);
/* Allocations counted, and failures injected, since the last mllm_fault_arm. */
long mllm_fault_count(void);
long mllm_fault_failed(void);

#else

static inline void *mllm_malloc(size_t n) { return malloc(n); }
static inline void *mllm_calloc(size_t count, size_t size) { return calloc(count, size); }
static inline void *mllm_realloc(void *p, size_t n) { return realloc(p, n); }
static inline char *mllm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = (char *)malloc(n);
    return d ? (char *)memcpy(d, s, n) : NULL;
}
static inline bool mllm_fault_hit(void) { return false; }

#endif

static inline void mllm_free(void *p) { free(p); }

/* The seam as PCRE2's general-context allocator (pcre2_general_context_create). */
static inline void *mllm_pcre2_malloc(size_t n, void *data) { (void)data; return mllm_malloc(n); }
static inline void mllm_pcre2_free(void *p, void *data) { (void)data; mllm_free(p); }

#ifdef __cplusplus
}
#endif

#endif
