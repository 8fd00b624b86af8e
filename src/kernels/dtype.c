/* dtype.c — the one table of weight types (dtype.h). */
#include "dtype.h"

#include <string.h>

static const struct {
    mllm_dtype dtype;
    const char *name, *tag;
    mllm_wtype wtype;
} table[] = {
    { MLLM_F32, "f32", "F32", MLLM_W_F32 },
    { MLLM_F16, "f16", "F16", MLLM_W_F16 },
    { MLLM_BF16, "bf16", "BF16", MLLM_W_BF16 },
    { MLLM_Q8_0, "q8", "Q8_0", MLLM_W_Q8 },
    { MLLM_Q4_0, "q4", "Q4_0", MLLM_W_Q4 },
};
#define N_TYPES (sizeof table / sizeof table[0])

int mllm_dtype_count(void) { return (int)N_TYPES; }

const char *mllm_dtype_name(mllm_dtype t)
{
    return (unsigned)t < N_TYPES ? table[t].name : "?";
}

const char *mllm_dtype_tag(mllm_dtype t)
{
    return (unsigned)t < N_TYPES ? table[t].tag : "?";
}

bool mllm_dtype_from_tag(const char *tag, mllm_dtype *t)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (strcmp(tag, table[i].tag) == 0) {
            *t = table[i].dtype;
            return true;
        }
    return false;
}

bool mllm_dtype_from_name(const char *name, mllm_dtype *t)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (strcmp(name, table[i].name) == 0) {
            *t = table[i].dtype;
            return true;
        }
    return false;
}

mllm_wtype mllm_wtype_of(mllm_dtype t)
{
    return table[(unsigned)t < N_TYPES ? t : 0].wtype;
}

mllm_dtype mllm_dtype_of(mllm_wtype t)
{
    if (t == MLLM_W_Q8X8) return MLLM_Q8_0;
    if (t == MLLM_W_Q4X8) return MLLM_Q4_0;
    for (size_t i = 0; i < N_TYPES; i++)
        if (table[i].wtype == t) return table[i].dtype;
    return MLLM_F32;
}
