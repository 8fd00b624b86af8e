/* bigbuf.c — large buffers mapped from the kernel (bigbuf.h). */
#define _DEFAULT_SOURCE
#include "bigbuf.h"
#include "base/alloc.h"

#include <stdint.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif
#include <sys/mman.h>

/* The mapping's length is kept in a header one cache line long, so the
 * buffer after it keeps the 64-byte alignment the kernels like. */
#define HEADER 64

void *mllm_bigbuf_alloc(size_t n)
{
    if (n > SIZE_MAX - HEADER || mllm_fault_hit()) return NULL;
    size_t len = n + HEADER;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return NULL;
    *(size_t *)map = len;
    return (char *)map + HEADER;
}

void mllm_bigbuf_free(void *p)
{
    if (!p) return;
    void *map = (char *)p - HEADER;
    munmap(map, *(size_t *)map);
}

void mllm_heap_trim(void)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
