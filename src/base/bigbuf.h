/* bigbuf.h — large buffers (KV caches, weights converted on load) mapped
 * straight from the kernel. malloc keeps freed memory of this size in its heap
 * once its mmap threshold has risen (glibc raises it to the largest block
 * freed, up to 32 MiB), so a program that makes and drops sessions or models
 * over hours would keep the peak resident; a mapped buffer is returned to the
 * system the moment it is freed. Pages are touched lazily and read as zero. */
#ifndef MLLM_BIGBUF_H
#define MLLM_BIGBUF_H

#include <stddef.h>

/* n bytes (n may be 0), zero-filled, aligned to 64 bytes; NULL when out of memory. */
void *mllm_bigbuf_alloc(size_t n);
/* Frees what mllm_bigbuf_alloc returned; NULL is ignored. */
void mllm_bigbuf_free(void *p);

/* Hands the free pages of malloc's heap back to the system (glibc's
 * malloc_trim; nothing elsewhere). Called after freeing a tokenizer: its
 * hundreds of thousands of small allocations leave a heap that malloc would
 * otherwise keep resident after they are gone. */
void mllm_heap_trim(void);

#endif
