/* dtype.c — the one table of weight types (dtype.h). */
#include "dtype.h"

#include <string.h>

static const struct {
    mllm_dtype dtype;
    const char *name, *tag;
    mllm_wtype wtype;
    const char *tag8;     /* the tag of its matrices stored 8 rows interleaved, or NULL */
    mllm_wtype wtype8;
} table[] = {
    { MLLM_F32, "f32", "F32", MLLM_W_F32, NULL, MLLM_W_F32 },
    { MLLM_F16, "f16", "F16", MLLM_W_F16, NULL, MLLM_W_F16 },
    { MLLM_BF16, "bf16", "BF16", MLLM_W_BF16, NULL, MLLM_W_BF16 },
    { MLLM_Q8_0, "q8", "Q8_0", MLLM_W_Q8, "Q8_0x8", MLLM_W_Q8X8 },
    { MLLM_Q4_0, "q4", "Q4_0", MLLM_W_Q4, "Q4_0x8", MLLM_W_Q4X8 },
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

const char *mllm_dtype_tag8(mllm_dtype t)
{
    return (unsigned)t < N_TYPES && table[t].tag8 ? table[t].tag8 : "?";
}

bool mllm_dtype_from_tag(const char *tag, mllm_dtype *t, bool *rows8)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        bool plain = strcmp(tag, table[i].tag) == 0;
        if (plain || (table[i].tag8 && strcmp(tag, table[i].tag8) == 0)) {
            *t = table[i].dtype;
            *rows8 = !plain;
            return true;
        }
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

mllm_wtype mllm_wtype8_of(mllm_dtype t)
{
    return table[(unsigned)t < N_TYPES ? t : 0].wtype8;
}

mllm_dtype mllm_dtype_of(mllm_wtype t)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (table[i].wtype == t || (table[i].tag8 && table[i].wtype8 == t)) return table[i].dtype;
    return MLLM_F32;
}
