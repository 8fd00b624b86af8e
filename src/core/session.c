/* session.c — one conversation: KV cache, position, scratch buffers. */
#define _POSIX_C_SOURCE 200809L
#include "base/atomic_file.h"
#include "base/bigbuf.h"
#include "base/fileio.h"
#include "internal.h"
#include "base/alloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define DEFAULT_BATCH 64

double mllm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

mllm_session_params mllm_session_default_params(void)
{
    mllm_session_params p = { 0, 0, NULL };
    return p;
}

/* The one table of KV cache types: "auto" (f16 for quantized weights, f32 for
 * float ones), then the two element types. */
const char *const mllm_kv_type_names[] = { "auto", "f32", "f16", NULL };

const char *mllm_session_kv_type(const mllm_session *s)
{
    return s->kv_f16 ? "f16" : "f32";
}

/* Bytes of one cached value. */
static size_t kv_elem(const mllm_session *s)
{
    return s->kv_f16 ? sizeof(uint16_t) : sizeof(float);
}

void mllm_session_free(mllm_session *s)
{
    if (!s) return;
    mllm_job_detach_session(s);  /* a job still on it: cancelled and joined first */
    mllm_bigbuf_free(s->k_cache);
    mllm_bigbuf_free(s->v_cache);
    mllm_free(s->x); mllm_free(s->xb); mllm_free(s->q); mllm_free(s->k); mllm_free(s->v);
    mllm_free(s->att_out); mllm_free(s->gate); mllm_free(s->up); mllm_free(s->scores); mllm_free(s->logits);
    mllm_free(s->tiles);
    mllm_free(s->xq);
    mllm_free(s->xa);
    mllm_free(s->probe);
    mllm_free(s->row_logits);
    mllm_free(s->row_probe);
    mllm_pool_free(s->pool);
    mllm_model_release(s->model);
    mllm_free(s);
}

static void *alloc_bytes(size_t n, bool *ok)
{
    void *p = mllm_malloc(n ? n : 1);
    if (!p) *ok = false;
    return p;
}

static float *alloc_floats(size_t n, bool *ok)
{
    return alloc_bytes(n * sizeof(float), ok);
}

mllm_status mllm_session_new(mllm_model *m, const mllm_session_params *params, mllm_session **out,
                             char *err, size_t errlen)
{
    *out = NULL;
    const mllm_config *c = &m->cfg;
    mllm_session_params p = params ? *params : mllm_session_default_params();
    if (p.n_ctx < 0 || p.n_ctx > c->max_seq_len)
        return mllm_fail(err, errlen, MLLM_ERR_ARG,
                         "n_ctx must be in [1, %d] (the model's max_position_embeddings), got %d",
                         c->max_seq_len, p.n_ctx);
    if (p.n_batch < 0 || p.n_batch > 4096)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "n_batch must be in [1, 4096], got %d", p.n_batch);
    /* "auto": f16 for quantized weights (their rounding dwarfs f16's; half the
       memory and the bytes read per token, as llama.cpp's default cache),
       f32 for float weights (exact) */
    int kv = 0;  /* index in mllm_kv_type_names; NULL is "auto" */
    while (p.kv_type && mllm_kv_type_names[kv] && strcmp(p.kv_type, mllm_kv_type_names[kv]) != 0) kv++;
    if (p.kv_type && !mllm_kv_type_names[kv])
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "kv_type must be \"auto\", \"f32\" or \"f16\", got \"%.40s\"",
                         p.kv_type);
    bool kv_f16 = kv == 0 ? m->wtype == MLLM_W_Q8 || m->wtype == MLLM_W_Q4 : kv == 2;
    mllm_session *s = mllm_calloc(1, sizeof *s);
    if (!s) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    s->model = mllm_model_retain(m);
    s->n_ctx = p.n_ctx ? p.n_ctx : c->max_seq_len;
    s->n_batch = p.n_batch ? p.n_batch : DEFAULT_BATCH;
    s->kv_f16 = kv_f16;
    if (s->n_batch > s->n_ctx) s->n_batch = s->n_ctx;
    s->kv_dim = c->n_kv_heads * c->head_dim;
    size_t B = (size_t)s->n_batch, qd = (size_t)c->n_heads * c->head_dim;
    size_t cache = (size_t)c->n_exec_layers * s->n_ctx * s->kv_dim;
    bool ok = true;
    if (!(s->k_cache = mllm_bigbuf_alloc(cache * kv_elem(s)))) ok = false;
    if (!(s->v_cache = mllm_bigbuf_alloc(cache * kv_elem(s)))) ok = false;
    s->bytes = 2 * cache * kv_elem(s);
    s->x = alloc_floats(B * c->dim, &ok);
    s->xb = alloc_floats(B * c->dim, &ok);
    s->q = alloc_floats(B * qd, &ok);
    s->k = alloc_floats(B * s->kv_dim, &ok);
    s->v = alloc_floats(B * s->kv_dim, &ok);
    s->att_out = alloc_floats(B * qd, &ok);
    s->gate = alloc_floats(B * c->ffn_dim, &ok);
    s->up = alloc_floats(B * c->ffn_dim, &ok);
    /* the pool decides how many threads really run (it may get fewer) */
    s->pool = mllm_pool_new(m->n_threads);
    s->n_threads = mllm_pool_size(s->pool);
    s->scores = alloc_floats(mllm_attention_scratch_floats(s->n_ctx, c->n_heads / c->n_kv_heads) *
                             (size_t)s->n_threads, &ok);
    s->logits = alloc_floats((size_t)c->vocab_size, &ok);
    s->tile_floats = (size_t)MLLM_TILE_ROWS * m->max_cols;
    s->tiles = alloc_floats(s->tile_floats * s->n_threads, &ok);
    s->xq = mllm_malloc((B * ((size_t)m->max_cols / MLLM_QK + 1)) * sizeof(block_q8));
    s->xa = mllm_malloc((B * ((size_t)m->max_cols / MLLM_QK + 1)) * sizeof(mllm_xaux));
    if (!s->xq || !s->xa) ok = false;
    /* what the collector of a host language should count this session as */
    s->bytes += (B * (2 * c->dim + 2 * qd + 2 * s->kv_dim + 2 * c->ffn_dim) +
                 (size_t)c->vocab_size + s->tile_floats * s->n_threads) * sizeof(float) +
                B * ((size_t)m->max_cols / MLLM_QK + 1) * (sizeof(block_q8) + sizeof(mllm_xaux));
    if (!ok) {
        mllm_session_free(s);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for a session of n_ctx %d",
                         p.n_ctx ? p.n_ctx : c->max_seq_len);
    }
    /* the model's RoPE tables (made at load for the first positions; a longer session grows them) */
    mllm_status st = mllm_rope_tables(m, s->n_ctx, &s->rope_cos, &s->rope_sin, err, errlen);
    if (st) {
        mllm_session_free(s);
        return st;
    }
    *out = s;
    return MLLM_OK;
}

/* The checks before tokens go into the session (eval, score): what = "evaluate" or "score". */
static mllm_status check_tokens(const mllm_session *s, const int32_t *ids, size_t n, const char *what, char *err,
                                size_t errlen)
{
    const mllm_config *c = &s->model->cfg;
    if (n == 0) return mllm_fail(err, errlen, MLLM_ERR_ARG, "no tokens to %s", what);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return mllm_fail(err, errlen, MLLM_ERR_ARG,
                             "token id %ld at index %zu is outside the vocabulary [0, %d)", (long)ids[i],
                             i + 1, c->vocab_size);
    if (n > (size_t)(s->n_ctx - s->pos))
        return mllm_fail(err, errlen, MLLM_ERR_CONTEXT,
                         "context full: %zu tokens at position %d do not fit n_ctx %d", n, s->pos, s->n_ctx);
    return MLLM_OK;
}

void mllm_session_cancel(mllm_session *s)
{
    /* a lock-free store: async-signal-safe */
    atomic_store_explicit(&s->cancel, 1, memory_order_relaxed);
}

void mllm_session_clear_cancel(mllm_session *s)
{
    atomic_store_explicit(&s->cancel, 0, memory_order_relaxed);
}

bool mllm_session_cancel_pending(const mllm_session *s)
{
    return atomic_load_explicit(&((mllm_session *)s)->cancel, memory_order_relaxed) != 0;
}

bool mllm_session_take_cancel(mllm_session *s)
{
    return atomic_exchange_explicit(&s->cancel, 0, memory_order_relaxed) != 0;
}

/* The refusal of a session a job runs on, for the calls a host makes while it runs. */
static mllm_status check_idle(const mllm_session *s, char *err, size_t errlen)
{
    if (s->job)
        return mllm_fail(err, errlen, MLLM_ERR_ARG,
                         "the session is busy: a job is running on it (free the job first)");
    return MLLM_OK;
}

mllm_status mllm_session_eval_chunk(mllm_session *s, const int32_t *ids, size_t n, char *err, size_t errlen)
{
    mllm_status st = check_tokens(s, ids, n, "evaluate", err, errlen);
    if (st) return st;
    int start = s->pos;
    for (size_t i = 0; i < n; i += (size_t)s->n_batch) {
        size_t chunk = n - i < (size_t)s->n_batch ? n - i : (size_t)s->n_batch;
        if (!mllm_forward(s, ids + i, (int)chunk))
            return mllm_fail(err, errlen, MLLM_CANCELLED,
                             "cancelled: %zu of %zu tokens evaluated (the session is at position %d, was %d)", i,
                             n, s->pos, start);
    }
    return MLLM_OK;
}

mllm_status mllm_session_eval(mllm_session *s, const int32_t *ids, size_t n, char *err, size_t errlen)
{
    mllm_status st = check_idle(s, err, errlen);
    return st ? st : mllm_session_eval_chunk(s, ids, n, err, errlen);
}

/* log softmax(logits)[id], in double: a sum of exps over the whole vocabulary */
static double log_prob(const float *logits, int vocab, int32_t id)
{
    float max = logits[0];
    for (int i = 1; i < vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - max);
    return (double)logits[id] - max - log(sum);
}

mllm_status mllm_session_score(mllm_session *s, const int32_t *ids, size_t n, double *logprobs, char *err,
                               size_t errlen)
{
    mllm_status st = check_idle(s, err, errlen);
    if (st) return st;
    if (n > 0 && !s->has_logits)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "the session has no logits yet (evaluate a prompt first)");
    st = check_tokens(s, ids, n, "score", err, errlen);
    if (st) return st;
    const mllm_config *c = &s->model->cfg;
    /* One token at a time: each needs the logits of the position before it,
     * and a batched forward keeps only the last position's. */
    for (size_t i = 0; i < n; i++) {
        /* NaN logits would make every log-probability after them NaN */
        st = mllm_check_logits(s->logits, c->vocab_size, s->pos - 1, err, errlen, "scoring token %zu of %zu",
                               i + 1, n);
        if (st) return st;
        logprobs[i] = log_prob(s->logits, c->vocab_size, ids[i]);
        if (!mllm_forward(s, ids + i, 1))
            return mllm_fail(err, errlen, MLLM_CANCELLED,
                             "cancelled: %zu of %zu tokens scored (the session is at position %d)", i, n, s->pos);
    }
    return MLLM_OK;
}

const float *mllm_session_logits(const mllm_session *s) { return s->has_logits ? s->logits : NULL; }
int mllm_session_pos(const mllm_session *s) { return s->pos; }
int mllm_session_n_ctx(const mllm_session *s) { return s->n_ctx; }
size_t mllm_session_bytes(const mllm_session *s) { return s->bytes; }
const mllm_model *mllm_session_model(const mllm_session *s) { return s->model; }

mllm_status mllm_session_rewind(mllm_session *s, int pos)
{
    if (s->job) return MLLM_ERR_ARG;
    if (pos < 0 || pos > s->pos) return MLLM_ERR_ARG;
    s->pos = pos;
    s->has_logits = false;  /* the logits belonged to the old end */
    s->probe_pos = 0;       /* and so did the probe's weights */
    return MLLM_OK;
}

/* The cache is n_exec_layers x n_kv_heads segments of n_ctx rows of head_dim;
 * positions [0, pos) are the first pos rows of each segment. */
static size_t n_segments(const mllm_config *c)
{
    return (size_t)c->n_exec_layers * (size_t)c->n_kv_heads;
}

mllm_status mllm_session_fork(const mllm_session *s, mllm_session **out, char *err, size_t errlen)
{
    *out = NULL;
    if (s->job) return check_idle(s, err, errlen);
    mllm_session_params p = { s->n_ctx, s->n_batch, mllm_session_kv_type(s) };
    mllm_status st = mllm_session_new(s->model, &p, out, err, errlen);
    if (st) return st;
    mllm_session *f = *out;
    const mllm_config *c = &s->model->cfg;
    size_t e = kv_elem(s), used = (size_t)s->pos * c->head_dim * e, seg = (size_t)s->n_ctx * c->head_dim * e;
    for (size_t i = 0; i < n_segments(c); i++) {
        memcpy((char *)f->k_cache + i * seg, (const char *)s->k_cache + i * seg, used);
        memcpy((char *)f->v_cache + i * seg, (const char *)s->v_cache + i * seg, used);
    }
    memcpy(f->logits, s->logits, (size_t)c->vocab_size * sizeof(float));
    f->has_logits = s->has_logits;
    f->pos = s->pos;
    if (s->probe_n) {
        st = mllm_session_set_probe(f, s->probe_layer, s->probe_head, s->probe_n, err, errlen);
        if (st) {
            mllm_session_free(f);
            *out = NULL;
            return st;
        }
        memcpy(f->probe, s->probe, (size_t)s->probe_pos * sizeof *s->probe);
        f->probe_pos = s->probe_pos;
    }
    return MLLM_OK;
}

/* Saved state, version 3: the header, then per executed layer and kv head
 * the K and V rows [0, pos), then the logits, then the XXH3-64 of all the
 * bytes before it (8 bytes, little-endian). Version 1 (MLLMSES1) stored whole
 * cache rows per layer, version 2 (MLLMSES2) had no checksum and a
 * fingerprint of a sample of the weights; their files are refused with a
 * message. */
#define SESSION_MAGIC "MLLMSES3"
static const char *const old_magics[] = { "MLLMSES1", "MLLMSES2" };

typedef struct {
    char magic[8];
    uint64_t fingerprint;  /* mllm_model_fingerprint: the shape and every weight */
    int32_t pos, kv_dim, n_exec_layers, vocab_size, has_logits, kv_f16;
} session_header;
_Static_assert(sizeof(session_header) == 40, "the session header has no padding");

#define CHECKSUM_BYTES 8

/* Writes n bytes and adds them to the checksum. */
static bool put(FILE *fp, XXH3_state_t *sum, const void *p, size_t n)
{
    XXH3_64bits_update(sum, p, n);
    return fwrite(p, 1, n, fp) == n;
}

/* Reads n bytes into dst and adds them to the checksum. */
static bool get(FILE *fp, XXH3_state_t *sum, void *dst, size_t n)
{
    if (fread(dst, 1, n, fp) != n) return false;
    XXH3_64bits_update(sum, dst, n);
    return true;
}

/* Writes the state to fp; false on a write error (errno tells which). */
static bool write_state(const mllm_session *s, FILE *fp, XXH3_state_t *sum)
{
    const mllm_config *c = &s->model->cfg;
    session_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, SESSION_MAGIC, 8);
    h.fingerprint = mllm_model_fingerprint(s->model);
    h.pos = s->pos;
    h.kv_dim = s->kv_dim;
    h.n_exec_layers = c->n_exec_layers;
    h.vocab_size = c->vocab_size;
    h.has_logits = s->has_logits;
    h.kv_f16 = s->kv_f16;
    XXH3_64bits_reset(sum);
    bool ok = put(fp, sum, &h, sizeof h);
    size_t e = kv_elem(s), used = (size_t)s->pos * c->head_dim * e, seg = (size_t)s->n_ctx * c->head_dim * e;
    for (size_t i = 0; ok && i < n_segments(c); i++)
        ok = put(fp, sum, (const char *)s->k_cache + i * seg, used) &&
             put(fp, sum, (const char *)s->v_cache + i * seg, used);
    /* without logits (a fresh or rewound session) their buffer is stale: zeros instead */
    static const float zeros[256];
    for (size_t i = 0, n = (size_t)c->vocab_size; ok && i < n; i += 256) {
        size_t k = n - i < 256 ? n - i : 256;
        ok = put(fp, sum, s->has_logits ? s->logits + i : zeros, k * sizeof(float));
    }
    uint64_t digest = XXH3_64bits_digest(sum);
    unsigned char le[CHECKSUM_BYTES];
    for (int i = 0; i < CHECKSUM_BYTES; i++) le[i] = (unsigned char)(digest >> (8 * i));
    return ok && fwrite(le, 1, sizeof le, fp) == sizeof le;
}

mllm_status mllm_session_save(const mllm_session *s, const char *path, char *err, size_t errlen)
{
    if (s->job) return check_idle(s, err, errlen);
    XXH3_state_t *sum = XXH3_createState();
    if (!sum) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    /* beside path, renamed over it: a failure keeps the old file */
    mllm_atomic_file af;
    mllm_status st = mllm_atomic_open(&af, path, err, errlen);
    if (!st) {
        if (write_state(s, af.fp, sum)) {
            st = mllm_atomic_commit(&af, err, errlen);
        } else {
            int e = errno;
            mllm_atomic_discard(&af);
            st = mllm_fail(err, errlen, MLLM_ERR_IO, "%s: write failed: %s", path, strerror(e));
        }
    }
    XXH3_freeState(sum);
    return st;
}

/* Reads a saved state into s; on failure s may hold part of it (the caller resets). */
static mllm_status read_state(mllm_session *s, FILE *fp, size_t size, XXH3_state_t *sum, const char *path,
                              char *err, size_t errlen)
{
    const mllm_config *c = &s->model->cfg;
    session_header h;
    size_t got = fread(&h, 1, sizeof h, fp);
    for (size_t i = 0; got >= 8 && i < sizeof old_magics / sizeof old_magics[0]; i++)
        if (memcmp(h.magic, old_magics[i], 8) == 0)
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                             "%s: a session saved by an older mobilellm (format %.8s, this one reads %s): save it "
                             "again", path, old_magics[i], SESSION_MAGIC);
    if (got < 8 || memcmp(h.magic, SESSION_MAGIC, 8) != 0)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: not a saved mobilellm session", path);
    if (got < sizeof h) return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: file is truncated", path);
    if (h.kv_dim != s->kv_dim || h.n_exec_layers != c->n_exec_layers || h.vocab_size != c->vocab_size)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: the session was saved with another model", path);
    if ((h.kv_f16 != 0) != s->kv_f16)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: the session was saved with kv_type %s, this one has %s",
                         path, h.kv_f16 ? "f16" : "f32", mllm_session_kv_type(s));
    if (h.pos < 0) return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: corrupt header (position %d)", path, h.pos);
    if (h.pos > s->n_ctx)
        return mllm_fail(err, errlen, MLLM_ERR_CONTEXT, "%s: %d saved positions do not fit n_ctx %d", path, h.pos,
                         s->n_ctx);
    /* the size the header implies, before reading it into the cache */
    size_t e = kv_elem(s), used = (size_t)h.pos * c->head_dim * e, seg = (size_t)s->n_ctx * c->head_dim * e;
    size_t logits = (size_t)c->vocab_size * sizeof(float);
    size_t expect = sizeof h + 2 * n_segments(c) * used + logits + CHECKSUM_BYTES;
    if (size < expect) return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: file is truncated", path);
    if (size > expect)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: trailing bytes after the session state", path);
    XXH3_64bits_reset(sum);
    XXH3_64bits_update(sum, &h, sizeof h);
    bool ok = true;
    for (size_t i = 0; ok && i < n_segments(c); i++)
        ok = get(fp, sum, (char *)s->k_cache + i * seg, used) && get(fp, sum, (char *)s->v_cache + i * seg, used);
    ok = ok && get(fp, sum, s->logits, logits);
    unsigned char le[CHECKSUM_BYTES];
    if (!ok || fread(le, 1, sizeof le, fp) != sizeof le)  /* it shrank since fstat */
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: file is truncated", path);
    uint64_t stored = 0;
    for (int i = CHECKSUM_BYTES - 1; i >= 0; i--) stored = stored << 8 | le[i];
    if (stored != XXH3_64bits_digest(sum))
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                         "%s: checksum mismatch (XXH3-64 of the saved state): the file is corrupted", path);
    if (fgetc(fp) != EOF)  /* it grew since fstat */
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: trailing bytes after the session state", path);
    /* checked after the checksum: an intact file with another fingerprint is another model's */
    if (h.fingerprint != mllm_model_fingerprint(s->model))
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: the session was saved with another model", path);
    s->pos = h.pos;
    s->has_logits = h.has_logits != 0;
    return MLLM_OK;
}

mllm_status mllm_session_restore(mllm_session *s, const char *path, char *err, size_t errlen)
{
    if (s->job) return check_idle(s, err, errlen);
    /* never half a state: a failure leaves a fresh session */
    s->pos = 0;
    s->has_logits = false;
    s->probe_pos = 0;  /* the probe's weights are not saved */
    int fd;
    size_t size;
    mllm_status st = mllm_open_regular(path, &fd, &size, err, errlen);  /* never blocks on a FIFO */
    if (st) return st;
    FILE *fp = fdopen(fd, "rb");
    XXH3_state_t *sum = XXH3_createState();
    if (!fp || !sum) {
        if (fp) fclose(fp);
        else close(fd);
        XXH3_freeState(sum);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", path);
    }
    st = read_state(s, fp, size, sum, path, err, errlen);
    fclose(fp);
    XXH3_freeState(sum);
    if (st) {
        s->pos = 0;
        s->has_logits = false;
    }
    return st;
}
