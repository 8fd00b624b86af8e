/* internal.h — structures shared by the engine's C files (not installed). */
#ifndef MLLM_INTERNAL_H
#define MLLM_INTERNAL_H

#include "mobilellm.h"
#include "base/status.h"
#include "formats/safetensors.h"
#include "text/tokenizer.h"
#include "kernels/kernels.h"
#include "base/threadpool.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

/* mllm_session_cancel is called from signal handlers: its flag must be lock-free */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free for mllm_session_cancel");


/* sampler.c: MLLM_ERR_NUMERIC when the logits of position pos hold NaN or
 * infinity, with a message that names the position and, after it in
 * parentheses, the step (what_fmt: "token 5 of the generation"). */
mllm_status mllm_check_logits(const float *logits, int n_vocab, int pos, char *err, size_t errlen,
                              const char *what_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Reads config.json into cfg; every bound checked. */
mllm_status mllm_config_load(const char *path, mllm_config *cfg, char *err, size_t errlen);
/* Whether id is one of the config's end-of-sequence ids (eos_token_id, or any of its list). */
bool mllm_config_is_eos(const mllm_config *cfg, int32_t id);
/* Checks values that must hold whatever their source. */
mllm_status mllm_config_validate(const mllm_config *cfg, const char *path, char *err, size_t errlen);

/* The weights of one stored transformer block: matrices in the compute
 * format (as stored, or quantized on load), norms as F32. */
typedef struct mllm_block {
    const float *attn_norm; /* (dim) */
    mllm_weight wq;         /* (n_heads * head_dim, dim) */
    mllm_weight wk;         /* (n_kv_heads * head_dim, dim) */
    mllm_weight wv;         /* (n_kv_heads * head_dim, dim) */
    mllm_weight wo;         /* (dim, n_heads * head_dim) */
    const float *ffn_norm;  /* (dim) */
    mllm_weight wg;         /* (ffn_dim, dim) */
    mllm_weight wu;         /* (ffn_dim, dim) */
    mllm_weight wd;         /* (dim, ffn_dim) */
} mllm_block;

/* The Hugging Face names of a checkpoint's tensors, in one table
 * (tensor_names.c): the loader reads them, the saver writes them. A block's
 * are "model.layers.<l>." + suffix, kept at offset in mllm_block: a
 * const float * (a norm, rows values) or an mllm_weight (a matrix). */
typedef enum { MLLM_SIZE_NONE, MLLM_SIZE_DIM, MLLM_SIZE_Q, MLLM_SIZE_KV, MLLM_SIZE_FFN } mllm_size_kind;
typedef struct {
    const char *suffix;
    size_t offset;
    bool matrix;
    mllm_size_kind rows, cols;
    bool ffn;               /* an MLP matrix: "mlp." or (llama4_text) "feed_forward." before the suffix */
} mllm_block_tensor;
extern const mllm_block_tensor mllm_block_tensors[];
extern const size_t mllm_n_block_tensors;
extern const char *const mllm_name_embed, *const mllm_name_final_norm, *const mllm_name_head;
/* The full name of block tensor bt of stored layer `layer` in a checkpoint of config c. */
void mllm_block_tensor_name(const mllm_config *c, const mllm_block_tensor *bt, int layer, char *name, size_t n);
/* The parameters a checkpoint of config c stores: embedding, final norm, the
 * blocks and, unless share_embedding, the output head. */
int64_t mllm_config_n_params(const mllm_config *c);
/* RoPE frequency i (of head_dim / 2): theta^(-2i/head_dim), with llama3 scaling when set. */
double mllm_config_inv_freq(const mllm_config *c, int i);
/* dim, n_heads * head_dim, n_kv_heads * head_dim or ffn_dim of c. */
int64_t mllm_config_size(const mllm_config *c, mllm_size_kind k);

struct mllm_model {
    int refs;                 /* atomic via __atomic builtins */
    mllm_config cfg;
    mllm_weight embed;        /* (vocab_size, dim) */
    mllm_weight head;         /* (vocab_size, dim); the embedding itself when shared */
    const float *final_norm;  /* (dim) */
    mllm_block *blocks;       /* n_layers stored blocks */
    st_file *files;           /* memory-mapped safetensors shards */
    size_t n_files;
    void **owned;             /* buffers of weights widened to F32 */
    size_t n_owned, cap_owned;
    size_t owned_bytes, mapped_bytes, n_params;
    mllm_tokenizer *tok;      /* NULL when the directory has no tokenizer */
    /* XXH3-64 of the shape and every weight, tags saved sessions: hashed on
     * first use (mllm_model_fingerprint), under fingerprint_lock, so that a
     * load stays lazy over the mapped file */
    uint64_t fingerprint;
    int fingerprint_ready;    /* atomic: fingerprint is set */
    pthread_mutex_t fingerprint_lock;
    void *fingerprint_state;  /* the XXH3 state, made at load (no failure later); NULL once used */
    int n_threads;
    mllm_wtype wtype;         /* compute format of the matrices */
    const mllm_kernels *kernels;
    int max_cols;             /* widest matrix row, for scratch sizes */
    struct mllm_rope_table *rope;   /* RoPE tables shared by the sessions (rope.c), longest first */
    pthread_mutex_t rope_lock;
};

typedef struct mllm_rope_table {
    struct mllm_rope_table *older;  /* the shorter table before it, still used by older sessions */
    int n_pos;
    float *cos, *sin;               /* (n_pos, head_dim / 2) */
} mllm_rope_table;
/* rope.c: cos and sin of the RoPE angles for positions [0, n_pos) of model m, (n_pos,
 * head_dim / 2) each, shared by its sessions and valid until the model is freed. */
mllm_status mllm_rope_tables(mllm_model *m, int n_pos, const float **cos_out, const float **sin_out, char *err,
                             size_t errlen);
void mllm_rope_free_all(mllm_rope_table *r);

/* The names of the KV cache types a session takes (session.c), NULL-terminated:
 * "auto", "f32", "f16"; the Lua side lists them as its choices. */
extern const char *const mllm_kv_type_names[];

struct mllm_session {
    mllm_model *model;
    int n_ctx, n_batch, pos;
    int kv_dim;               /* n_kv_heads * head_dim */
    /* (n_exec_layers, n_kv_heads, n_ctx, head_dim): head-major, so that the
     * attention of one kv head streams one contiguous block of rows */
    void *k_cache;            /* float, or uint16_t f16 when kv_f16 (bigbuf.h) */
    void *v_cache;
    bool kv_f16;
    size_t bytes;             /* memory it allocated (mllm_session_bytes) */
    /* scratch for a batch of up to n_batch tokens */
    const float *rope_cos, *rope_sin; /* (>= n_ctx, head_dim / 2): the model's (rope.c) */
    float *x, *xb, *q, *k, *v, *att_out, *gate, *up, *scores;
    float *logits;            /* (vocab_size) of the last evaluated token */
    bool has_logits;
    mllm_pool *pool;          /* NULL with one thread */
    int n_threads;
    float *tiles;             /* per-thread sgemm tiles (n_threads, MLLM_TILE_ROWS, max_cols) */
    size_t tile_floats;
    block_q8 *xq;             /* quantized activations (n_batch, max_cols / 32) */
    mllm_xaux *xa;            /* their scales and sums, same shape */
    /* attention probe (probe.c): mean attention of the last evaluated token over the
     * chosen (executed layer, query head) pairs */
    int probe_n;
    int probe_layer[MLLM_MAX_PROBE_HEADS], probe_head[MLLM_MAX_PROBE_HEADS];
    float *probe;             /* (2 * n_ctx): the weights, then a score row; NULL until set */
    int probe_pos;            /* positions the weights cover; 0 = none */
    /* a batch evaluated with every row kept (mllm_forward_rows, for copy drafts):
     * row t is position row_base + t */
    float *row_logits;        /* (row_cap, vocab_size) */
    float *row_probe;         /* (row_cap, n_ctx) probe weights, when the probe is on */
    int row_cap, row_base;
    /* mllm_session_cancel's request: set from any thread or a signal handler, taken
     * (reset) by the operation it stops (mllm_session_take_cancel) */
    atomic_int cancel;
    struct mllm_job *job;     /* the job running on the session (job.c), or NULL */
};

/* forward.c: runs n tokens (n <= s->n_batch) at s->pos, advances s->pos and
 * leaves the last token's logits in s->logits. Ids are already validated.
 * Before each layer it looks at the session's cancel request: when one is
 * there it takes it and returns false, leaving pos and the logits as they were
 * (the cache rows it wrote past pos are unused; the probe's weights are dropped). */
bool mllm_forward(mllm_session *s, const int32_t *ids, int n);
/* mllm_forward keeping every row's logits (and probe weights) in s->row_logits
 * (s->row_probe), for copy drafts; n <= s->row_cap (mllm_session_reserve_rows). */
bool mllm_forward_rows(mllm_session *s, const int32_t *ids, int n);

/* draft.c: room for n kept rows (MLLM_ERR_NOMEM names what failed). */
mllm_status mllm_session_reserve_rows(mllm_session *s, int n, char *err, size_t errlen);
/* Moves the session back to the end of row t of the last mllm_forward_rows: position
 * row_base + t + 1, that row's logits and probe weights. */
void mllm_session_take_row(mllm_session *s, int t);
/* The copy draft after history[0..n): the tokens that followed the latest earlier
 * occurrence of its last 3, else 2 tokens; at most max into out. Returns how many. */
int mllm_draft_lookup(const int32_t *history, size_t n, int32_t *out, int max);

/* session.c: mllm_session_eval without the busy check (the generator and a job
 * use it on the session they hold). */
mllm_status mllm_session_eval_chunk(mllm_session *s, const int32_t *ids, size_t n, char *err, size_t errlen);

/* generate.c: a generator whose prompt is not evaluated yet (mllm_generator_new
 * without the prefill), and the prefill in pieces: evaluates up to max more
 * prompt tokens; *left (may be NULL) tells how many remain. MLLM_CANCELLED ends
 * the generator (stop reason "cancelled"); the tokens evaluated before count.
 * mllm_generator_next evaluates whatever is left first. */
mllm_status mllm_generator_prepare(mllm_session *s, const int32_t *prompt, size_t n_prompt,
                                   const mllm_generate_params *p, mllm_generator **out, char *err, size_t errlen);
mllm_status mllm_generator_prefill(mllm_generator *g, size_t max, size_t *left, char *err, size_t errlen);
size_t mllm_generator_prompt_left(const mllm_generator *g);
/* Held: the next tokens are evaluated alone, without a copy draft (a stepwise job
 * whose frame has no room left for a drafted batch). */
void mllm_generator_hold_drafts(mllm_generator *g, bool held);

/* job.c: stops the job running on s (cancel, join its thread) and frees its
 * generator, so that s can be freed; the job ends "cancelled" and stays valid
 * for mllm_job_poll, _info and _free. Nothing when no job runs. */
void mllm_job_detach_session(mllm_session *s);

/* session.c: takes a pending cancel request (true) or sees none (false). */
bool mllm_session_take_cancel(mllm_session *s);

/* probe.c: adds executed layer l's probed heads of token t of the batch forward() is
 * running at s->pos to the weights row dst (keys of layer l at element layer_off of the cache;
 * chunk > 0: the layer's attention is chunked, see mllm_attention_batch). */
void mllm_probe_layer(mllm_session *s, int l, size_t layer_off, size_t head_stride, int t, float *dst, int chunk);

/* Monotonic seconds. */
double mllm_now(void);

#endif
