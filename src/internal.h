/* internal.h — structures shared by the engine's C files (not installed). */
#ifndef MLLM_INTERNAL_H
#define MLLM_INTERNAL_H

#include "mobilellm.h"
#include "safetensors.h"
#include "tokenizer.h"

#include <stdarg.h>

/* Writes a formatted message into err (if any) and returns status. */
mllm_status mllm_fail(char *err, size_t errlen, mllm_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Reads config.json into cfg; every bound checked. */
mllm_status mllm_config_load(const char *path, mllm_config *cfg, char *err, size_t errlen);
/* Checks values that must hold whatever their source. */
mllm_status mllm_config_validate(const mllm_config *cfg, const char *path, char *err, size_t errlen);

/* The weights of one stored transformer block, all F32, row-major as Hugging
 * Face stores them ([out_features, in_features]). */
typedef struct mllm_block {
    const float *attn_norm; /* (dim) */
    const float *wq;        /* (n_heads * head_dim, dim) */
    const float *wk;        /* (n_kv_heads * head_dim, dim) */
    const float *wv;        /* (n_kv_heads * head_dim, dim) */
    const float *wo;        /* (dim, n_heads * head_dim) */
    const float *ffn_norm;  /* (dim) */
    const float *wg;        /* (ffn_dim, dim) */
    const float *wu;        /* (ffn_dim, dim) */
    const float *wd;        /* (dim, ffn_dim) */
} mllm_block;

struct mllm_model {
    int refs;                 /* atomic via __atomic builtins */
    mllm_config cfg;
    const float *embed;       /* (vocab_size, dim) */
    const float *head;        /* (vocab_size, dim); == embed when shared */
    const float *final_norm;  /* (dim) */
    mllm_block *blocks;       /* n_layers stored blocks */
    st_file *files;           /* memory-mapped safetensors shards */
    size_t n_files;
    void **owned;             /* buffers of weights widened to F32 */
    size_t n_owned, cap_owned;
    size_t owned_bytes, mapped_bytes, n_params;
    mllm_tokenizer *tok;      /* NULL when the directory has no tokenizer */
    uint64_t fingerprint;     /* shape + sampled weights, tags saved sessions */
    int n_threads;
};

struct mllm_session {
    mllm_model *model;
    int n_ctx, n_batch, pos;
    int kv_dim;               /* n_kv_heads * head_dim */
    float *k_cache;           /* (n_exec_layers, n_ctx, kv_dim) */
    float *v_cache;           /* (n_exec_layers, n_ctx, kv_dim) */
    /* scratch for a batch of up to n_batch tokens */
    float *rope_cos, *rope_sin; /* (n_ctx, head_dim / 2) */
    float *x, *xb, *q, *k, *v, *att_out, *gate, *up, *scores;
    float *logits;            /* (vocab_size) of the last evaluated token */
    bool has_logits;
};

/* forward.c: runs n tokens (n <= s->n_batch) at s->pos, advances s->pos and
 * leaves the last token's logits in s->logits. Ids are already validated. */
void mllm_forward(mllm_session *s, const int32_t *ids, int n);

/* Monotonic seconds. */
double mllm_now(void);

#endif
