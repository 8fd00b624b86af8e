/* grow.h — the one growable-array helper of the C sources. */
#ifndef MLLM_GROW_H
#define MLLM_GROW_H

#include "base/alloc.h"
#include <stdbool.h>
#include <stdlib.h>

/* Makes *buf hold at least need elements of elem bytes, doubling from 64;
 * false (and *buf untouched) when memory runs out. */
static inline bool mllm_grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *nb = mllm_realloc(*buf, nc * elem);
    if (!nb) return false;
    *buf = nb;
    *cap = nc;
    return true;
}

#endif
