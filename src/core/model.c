/* model.c — a checkpoint directory → immutable, refcounted weights. */
#define _DEFAULT_SOURCE
#include "base/bigbuf.h"
#include "base/fileio.h"
#include "kernels/dtype.h"
#include "formats/checkpoint.h"
#include "internal.h"
#include "kernels/kernels.h"
#include "formats/torch_bin.h"
#include "base/alloc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>


mllm_model_params mllm_model_default_params(void)
{
    mllm_model_params p = { 0, NULL, false, NULL, NULL, NULL, false };
    return p;
}

const char *mllm_model_compute_type(const mllm_model *m) { return mllm_dtype_name(mllm_dtype_of(m->wtype)); }
const char *mllm_model_kernels(const mllm_model *m) { return m->kernels->name; }

/* Finds a tensor in any shard; it must be in exactly one. */
static mllm_status find_tensor(const mllm_model *m, const char *name, const st_tensor **out, char *err,
                               size_t errlen)
{
    *out = NULL;
    for (size_t i = 0; i < m->n_files; i++) {
        const st_tensor *t = st_find(&m->files[i], name);
        if (!t) continue;
        if (*out)
            return mllm_fail(err, errlen, MLLM_ERR_TENSOR, "tensor '%s' is stored in two shards (%s)", name,
                             m->files[i].path);
        *out = t;
    }
    return MLLM_OK;
}

static void *own(mllm_model *m, size_t bytes)
{
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **no = mllm_realloc(m->owned, cap * sizeof *no);
        if (!no) return NULL;
        m->owned = no;
        m->cap_owned = cap;
    }
    void *p = mllm_bigbuf_alloc(bytes);  /* back to the system when the model is freed */
    if (p) {
        m->owned[m->n_owned++] = p;
        m->owned_bytes += bytes;
    }
    return p;
}

/* Looks a tensor up and checks its shape (rows, cols; cols = 0 for a vector). */
static mllm_status find_shaped(mllm_model *m, const char *name, int64_t rows, int64_t cols,
                               const st_tensor **out, char *err, size_t errlen)
{
    const st_tensor *t;
    mllm_status st = find_tensor(m, name, &t, err, errlen);
    if (st) return st;
    if (!t) return mllm_fail(err, errlen, MLLM_ERR_TENSOR, "missing tensor '%s'", name);
    bool ok = cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                   : (t->ndim == 1 && t->shape[0] == rows);
    if (!ok) {
        char got[128] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                     (long long)t->shape[d]);
        strncat(got, "]", sizeof got - strlen(got) - 1);
        if (cols)
            return mllm_fail(err, errlen, MLLM_ERR_TENSOR,
                             "tensor '%s' has shape %s, expected [%lld, %lld] from config.json", name, got,
                             (long long)rows, (long long)cols);
        return mllm_fail(err, errlen, MLLM_ERR_TENSOR,
                         "tensor '%s' has shape %s, expected [%lld] from config.json", name, got,
                         (long long)rows);
    }
    m->n_params += (size_t)rows * (size_t)(cols ? cols : 1);
    *out = t;
    return MLLM_OK;
}

/* Row r of a stored tensor as F32. */
static void stored_row_f32(const st_tensor *t, int64_t r, int64_t cols, float *out)
{
    mllm_weight w = { t->rows8 ? mllm_wtype8_of(t->dtype) : mllm_wtype_of(t->dtype), t->data, (int)(r + 1),
                      (int)cols };
    mllm_weight_row_f32(&w, (int)r, out);
}

/* A norm vector, always F32 (tiny): the mapping itself when aligned F32. */
static mllm_status get_vector(mllm_model *m, const char *name, int64_t n, const float **out, char *err,
                              size_t errlen)
{
    const st_tensor *t;
    mllm_status st = find_shaped(m, name, n, 0, &t, err, errlen);
    if (st) return st;
    if (t->dtype == MLLM_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = t->data;
        return MLLM_OK;
    }
    if (t->dtype == MLLM_Q8_0 || t->dtype == MLLM_Q4_0)
        return mllm_fail(err, errlen, MLLM_ERR_TENSOR, "tensor '%s' is a norm and must be F32, F16 or BF16", name);
    float *dst = own(m, (size_t)n * sizeof(float));
    if (!dst) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for tensor '%s'", name);
    stored_row_f32(t, 0, n, dst);
    *out = dst;
    return MLLM_OK;
}

/* The source of a converted tensor is not read again: let the kernel drop its
 * pages now, so converting a checkpoint does not hold it all in memory. */
static void drop_pages(const void *data, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t b = ((uintptr_t)data + n) & ~((uintptr_t)page - 1);
    if (page > 0 && b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* A matrix in the model's compute format: the mapping itself when the stored
 * format is the compute format (no copy: a Q8_0x8/Q4_0x8 matrix where the
 * kernels take 8 rows interleaved, a plain one where they do not), otherwise
 * converted row by row; quantized rows then interleaved 8 at a time where the
 * kernels take them so, or moved out of their groups where they do not. */
static mllm_status get_matrix(mllm_model *m, const char *name, int64_t rows, int64_t cols, mllm_weight *w,
                              char *err, size_t errlen)
{
    const st_tensor *t;
    mllm_status st = find_shaped(m, name, rows, cols, &t, err, errlen);
    if (st) return st;
    mllm_wtype target = m->wtype;
    w->type = target;
    w->rows = (int)rows;
    w->cols = (int)cols;
    /* quantized rows go to the kernels 8 at a time, interleaved, when the
       CPU's kernels have that form (a copy: a mapped q8/q4 file is read once) */
    bool pack = rows % MLLM_ROWS8 == 0 && ((target == MLLM_W_Q8 && m->kernels->gemv_q8x8) ||
                                          (target == MLLM_W_Q4 && m->kernels->gemv_q4x8));
    size_t align = target == MLLM_W_F32 ? 4 : 2;
    bool as_stored = mllm_wtype_of(t->dtype) == target && ((uintptr_t)t->data % align) == 0;
    if (as_stored && t->rows8 == pack) {
        w->data = t->data;
        if (pack) w->type = mllm_wtype8_of(t->dtype);
        return MLLM_OK;
    }
    if ((target == MLLM_W_Q8 || target == MLLM_W_Q4) && cols % MLLM_QK != 0)
        return mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                         "dtype %s needs rows that are a multiple of %d values, but tensor '%s' has %lld",
                         mllm_dtype_name(mllm_dtype_of(target)), MLLM_QK, name, (long long)cols);
    size_t rb = mllm_weight_row_bytes(target, (int)cols);
    char *dst = own(m, rb * (size_t)rows);
    if (!dst) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for tensor '%s'", name);
    int nb = (int)(cols / MLLM_QK);
    if (as_stored && pack) {  /* as stored, only interleaved */
        for (int64_t r = 0; r < rows; r += MLLM_ROWS8)
            mllm_pack_rows8(target, (const char *)t->data + (size_t)r * rb, nb, dst + (size_t)r * rb);
    } else if (as_stored) {  /* stored interleaved, for kernels that take plain rows */
        for (int64_t r = 0; r < rows; r++) {
            const char *group = (const char *)t->data + (size_t)(r / MLLM_ROWS8) * MLLM_ROWS8 * rb;
            mllm_unpack_rows8(mllm_wtype8_of(t->dtype), group, (int)(r % MLLM_ROWS8), nb, dst + (size_t)r * rb);
        }
    } else {
        /* converted row by row; when packing, 8 rows at a time through rows8 */
        float *tmp = mllm_malloc((size_t)cols * sizeof(float));
        char *rows8 = pack ? mllm_malloc(rb * MLLM_ROWS8) : NULL;
        if (!tmp || (pack && !rows8)) {
            mllm_free(tmp);
            mllm_free(rows8);
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for tensor '%s'", name);
        }
        for (int64_t r = 0; r < rows; r++) {
            char *row = pack ? rows8 + (size_t)(r % MLLM_ROWS8) * rb : dst + (size_t)r * rb;
            stored_row_f32(t, r, cols, tmp);
            switch (target) {
            case MLLM_W_F32: memcpy(row, tmp, rb); break;
            case MLLM_W_F16:
                for (int64_t i = 0; i < cols; i++) ((uint16_t *)row)[i] = mllm_f32_to_f16_1(tmp[i]);
                break;
            case MLLM_W_BF16:
                for (int64_t i = 0; i < cols; i++) {
                    uint32_t bits;
                    memcpy(&bits, &tmp[i], sizeof bits);
                    bits += 0x7FFF + ((bits >> 16) & 1);  /* round to nearest even */
                    ((uint16_t *)row)[i] = (uint16_t)(bits >> 16);
                }
                break;
            case MLLM_W_Q8: mllm_quantize_row_q8(tmp, (block_q8 *)row, (int)cols); break;
            case MLLM_W_Q4: mllm_quantize_row_q4(tmp, (block_q4 *)row, (int)cols); break;
            default: break;  /* m->wtype is never an interleaved type */
            }
            if (pack && r % MLLM_ROWS8 == MLLM_ROWS8 - 1)
                mllm_pack_rows8(target, rows8, nb, dst + (size_t)(r - (MLLM_ROWS8 - 1)) * rb);
        }
        mllm_free(tmp);
        mllm_free(rows8);
    }
    if (pack) w->type = target == MLLM_W_Q8 ? MLLM_W_Q8X8 : MLLM_W_Q4X8;
    w->data = dst;
    drop_pages(t->data, t->nbytes);
    return MLLM_OK;
}

static mllm_status load_weights(mllm_model *m, const mllm_model_params *p, char *err, size_t errlen)
{
    const mllm_config *c = &m->cfg;
    mllm_status st;
    const st_tensor *emb;
    if ((st = find_tensor(m, mllm_name_embed, &emb, err, errlen))) return st;
    if (emb) m->cfg.dtype = emb->dtype;
    if (m->wtype == (mllm_wtype)-1) m->wtype = mllm_wtype_of(m->cfg.dtype);  /* "auto": as stored */
    if ((st = get_matrix(m, mllm_name_embed, c->vocab_size, c->dim, &m->embed, err, errlen))) return st;
    if ((st = get_vector(m, mllm_name_final_norm, c->dim, &m->final_norm, err, errlen))) return st;
    m->blocks = mllm_calloc((size_t)c->n_layers, sizeof *m->blocks);
    if (!m->blocks) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    for (int l = 0; l < c->n_layers; l++) {
        mllm_block *b = &m->blocks[l];
        char name[160];
        for (size_t i = 0; i < mllm_n_block_tensors; i++) {
            const mllm_block_tensor *bt = &mllm_block_tensors[i];
            void *dst = (char *)b + bt->offset;
            int64_t rows = mllm_config_size(c, bt->rows);
            mllm_block_tensor_name(c, bt, l, name, sizeof name);
            st = bt->matrix ? get_matrix(m, name, rows, mllm_config_size(c, bt->cols), dst, err, errlen)
                            : get_vector(m, name, rows, dst, err, errlen);
            if (st) return st;
        }
        if (p->progress && !p->progress((float)(l + 1) / (float)(c->n_layers + 1), p->progress_ud))
            return mllm_fail(err, errlen, MLLM_CANCELLED, "loading cancelled");
    }
    /* The head is the embedding when the config says so or when no lm_head exists. */
    const st_tensor *head;
    if ((st = find_tensor(m, mllm_name_head, &head, err, errlen))) return st;
    if (m->cfg.share_embedding || !head) {
        m->cfg.share_embedding = true;
        m->head = m->embed;
    } else if ((st = get_matrix(m, mllm_name_head, c->vocab_size, c->dim, &m->head, err, errlen))) {
        return st;
    }
    return MLLM_OK;
}

/* ---------------------------------------------------------- weight check */

/* How the values of a stored dtype are laid out for the check: a float of
 * `width` bytes every `stride` bytes (a Q8_0/Q4_0 block's f16 scale leads its
 * block; its integer values are always finite). In each format a value is
 * NaN or infinite when its bits without the sign are >= `inf` (the exponent
 * all ones); NaN when they are above it. */
typedef struct { size_t stride; int width; uint32_t inf, sign; } value_layout;

static value_layout layout_of(mllm_dtype d)
{
    switch (d) {
    case MLLM_F32: return (value_layout){ 4, 4, 0x7f800000u, 0x80000000u };
    case MLLM_BF16: return (value_layout){ 2, 2, 0x7f80u, 0x8000u };
    case MLLM_F16: return (value_layout){ 2, 2, 0x7c00u, 0x8000u };
    case MLLM_Q8_0: return (value_layout){ sizeof(block_q8), 2, 0x7c00u, 0x8000u };
    case MLLM_Q4_0: return (value_layout){ sizeof(block_q4), 2, 0x7c00u, 0x8000u };
    }
    return (value_layout){ 0, 0, 0, 0 };
}

static uint32_t value_bits(const unsigned char *p, int width)
{
    if (width == 4) {
        uint32_t b;
        memcpy(&b, p, sizeof b);
        return b;
    }
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return h;
}

/* Whether any of CHECK_CHUNK packed floats has its exponent all ones (NaN or
 * infinity). Loops with a fixed trip count, which the compiler vectorizes:
 * an OR of compares for f32; for 16-bit values the largest magnitude, a
 * signed max (one SSE2 instruction on 16-bit lanes, pmaxsw), which measured
 * faster than the compares there. */
enum { CHECK_CHUNK = 1024 };

static bool any_nonfinite_f32(const unsigned char *p)
{
    unsigned bad = 0;
    for (int i = 0; i < CHECK_CHUNK; i++) {
        uint32_t b;
        memcpy(&b, p + 4 * i, sizeof b);
        bad |= (b & 0x7f800000u) == 0x7f800000u;
    }
    return bad;
}

static bool any_nonfinite_16(const unsigned char *p, uint16_t exponent)
{
    int16_t max = 0;
    for (int i = 0; i < CHECK_CHUNK; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        int16_t magnitude = (int16_t)(h & 0x7fffu);
        max = magnitude > max ? magnitude : max;
    }
    return (uint16_t)max >= exponent;
}

/* The index of the first of n values that is NaN or infinite, or n. Packed
 * floats are tested a chunk at a time; only a chunk that holds a bad value,
 * the tail and the strided block scales are read one by one. */
static size_t first_nonfinite_value(const unsigned char *data, size_t n, value_layout v)
{
    size_t at = 0;
    if (v.stride == (size_t)v.width)
        for (; at + CHECK_CHUNK <= n; at += CHECK_CHUNK) {
            const unsigned char *p = data + at * v.stride;
            if (v.width == 4 ? any_nonfinite_f32(p) : any_nonfinite_16(p, (uint16_t)v.inf)) break;
        }
    for (; at < n; at++)
        if ((value_bits(data + v.stride * at, v.width) & ~v.sign) >= v.inf) return at;
    return n;
}

/* The scale of block i (in row-major order) of an interleaved matrix: block
 * b of row r sits in its group's (r / 8) struct b, lane r % 8 (dot.h). */
static const unsigned char *scale8_at(const st_tensor *t, size_t i, size_t blk)
{
    size_t nb = (size_t)t->shape[1] / MLLM_QK, row = i / nb, b = i % nb;
    return (const unsigned char *)t->data + ((row / MLLM_ROWS8) * nb + b) * MLLM_ROWS8 * blk +
           2 * (row % MLLM_ROWS8);
}

static size_t first_nonfinite_scale8(const st_tensor *t, size_t n, value_layout v)
{
    for (size_t i = 0; i < n; i++)
        if ((value_bits(scale8_at(t, i, v.stride), v.width) & ~v.sign) >= v.inf) return i;
    return n;
}

/* Reads every tensor of the checkpoint (those the model uses and any other)
 * and fails at the first NaN or infinity, naming the file, the tensor and
 * where in it. */
static mllm_status check_weights(const mllm_model *m, char *err, size_t errlen)
{
    for (size_t f = 0; f < m->n_files; f++) {
        const st_file *file = &m->files[f];
        for (size_t k = 0; k < file->n_tensors; k++) {
            const st_tensor *t = &file->tensors[k];
            value_layout v = layout_of(t->dtype);
            if (!v.stride) continue;
            size_t n = t->nbytes / v.stride;
            size_t i = t->rows8 ? first_nonfinite_scale8(t, n, v) : first_nonfinite_value(t->data, n, v);
            if (i == n) continue;
            const unsigned char *at = t->rows8 ? scale8_at(t, i, v.stride)
                                               : (const unsigned char *)t->data + v.stride * i;
            uint32_t bits = value_bits(at, v.width);
            const char *what = (bits & ~v.sign) > v.inf ? "NaN" : (bits & v.sign) ? "-Inf" : "+Inf";
            bool blocked = t->dtype == MLLM_Q8_0 || t->dtype == MLLM_Q4_0;
            size_t first = blocked ? i * MLLM_QK : i;  /* index of the (first) value */
            char rowcol[64] = "";
            if (t->ndim == 2 && t->shape[1] > 0)
                snprintf(rowcol, sizeof rowcol, "row %lld, column %lld", (long long)(first / (size_t)t->shape[1]),
                         (long long)(first % (size_t)t->shape[1]));
            if (blocked)
                return mllm_fail(err, errlen, MLLM_ERR_TENSOR,
                                 "%s: tensor '%s' has a %s block scale at block %zu (values %zu..%zu%s%s): "
                                 "the checkpoint is corrupt", file->path, t->name, what, i, first,
                                 first + MLLM_QK - 1, rowcol[0] ? ", from " : "", rowcol);
            return mllm_fail(err, errlen, MLLM_ERR_TENSOR,
                             "%s: tensor '%s' holds %s at index %zu%s%s%s: the checkpoint is corrupt", file->path,
                             t->name, what, first, rowcol[0] ? " (" : "", rowcol, rowcol[0] ? ")" : "");
        }
    }
    return MLLM_OK;
}

static bool points_into(const void *p, const st_file *f)
{
    return f->map && (const char *)p >= (const char *)f->map && (const char *)p < (const char *)f->map + f->size;
}

/* Unmaps every shard no weight points into any more (all converted or
 * quantized): its pages would otherwise stay in the resident set. */
static void release_unused_files(mllm_model *m)
{
    for (size_t i = 0; i < m->n_files; i++) {
        st_file *f = &m->files[i];
        bool used = points_into(m->embed.data, f) || points_into(m->head.data, f) ||
                    points_into(m->final_norm, f);
        for (int l = 0; !used && l < m->cfg.n_layers; l++) {
            const mllm_block *b = &m->blocks[l];
            const void *ptrs[] = { b->attn_norm, b->ffn_norm, b->wq.data, b->wk.data, b->wv.data,
                                   b->wo.data, b->wg.data, b->wu.data, b->wd.data };
            for (size_t k = 0; k < sizeof ptrs / sizeof ptrs[0]; k++) used = used || points_into(ptrs[k], f);
        }
        if (!used) {
            m->mapped_bytes -= f->size;
            st_close(f);
        }
    }
}

/* positions whose RoPE angles a load computes (1 MB with 64-wide heads); a longer context grows them */
#define ROPE_LOAD_POSITIONS 4096

static void model_free(mllm_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++) mllm_bigbuf_free(m->owned[i]);
    mllm_free(m->owned);
    for (size_t i = 0; i < m->n_files; i++) st_close(&m->files[i]);
    mllm_free(m->files);
    mllm_free(m->blocks);
    mllm_tokenizer_free(m->tok);
    XXH3_freeState(m->fingerprint_state);
    pthread_mutex_destroy(&m->fingerprint_lock);
    mllm_rope_free_all(m->rope);
    pthread_mutex_destroy(&m->rope_lock);
    mllm_free(m);
}

/* Feeds a matrix to the hash as model:save writes it: rows of plain blocks,
 * whatever this CPU's kernels interleave in memory, so that a session saved
 * on one machine restores on another with the same weights. */
static void hash_matrix(XXH3_state_t *h, const mllm_weight *w)
{
    size_t row = mllm_weight_row_bytes(w->type, w->cols);
    if (!mllm_wtype_rows8(w->type)) {
        XXH3_64bits_update(h, w->data, row * (size_t)w->rows);
        return;
    }
    /* an 8-row group is nb interleaved blocks; row r comes back out of it
       CHUNK blocks at a time */
    enum { CHUNK = 64 };
    unsigned char buf[CHUNK * sizeof(block_q8)];
    int nb = w->cols / MLLM_QK;
    size_t block = row / (size_t)nb, group_block = MLLM_ROWS8 * block;  /* plain and interleaved */
    for (int g = 0; g < w->rows / MLLM_ROWS8; g++) {
        const unsigned char *group = (const unsigned char *)w->data + (size_t)g * MLLM_ROWS8 * row;
        for (int r = 0; r < MLLM_ROWS8; r++)
            for (int b = 0; b < nb; b += CHUNK) {
                int k = nb - b < CHUNK ? nb - b : CHUNK;
                mllm_unpack_rows8(w->type, group + (size_t)b * group_block, r, k, buf);
                XXH3_64bits_update(h, buf, (size_t)k * block);
            }
    }
}

/* The shape, the compute format and every weight, in a fixed order. */
static uint64_t hash_model(const mllm_model *m, XXH3_state_t *h)
{
    const mllm_config *c = &m->cfg;
    int32_t shape[] = { c->n_layers, c->n_exec_layers, c->dim, c->n_heads, c->n_kv_heads, c->head_dim,
                        c->ffn_dim, c->vocab_size, c->layer_sharing, c->share_embedding, (int32_t)m->wtype };
    float rope[] = { c->rope_theta, c->norm_eps };  /* the cached keys depend on them too */
    size_t norm = (size_t)c->dim * sizeof(float);
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, shape, sizeof shape);
    XXH3_64bits_update(h, rope, sizeof rope);
    if (c->rope_factor > 0) {  /* llama3 RoPE scaling (a model without it hashes as before) */
        float scaling[] = { c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                            (float)c->rope_original_max_pos };
        XXH3_64bits_update(h, scaling, sizeof scaling);
    }
    if (c->rope_pairs) {  /* llama4_text: its attention flags (the other types hash as before) */
        int32_t flags[] = { c->qk_norm, c->temperature_tuning, c->attention_chunk_size };
        float temp[] = { c->floor_scale, c->attn_scale };
        XXH3_64bits_update(h, flags, sizeof flags);
        XXH3_64bits_update(h, temp, sizeof temp);
        XXH3_64bits_update(h, c->layer_nope, (size_t)c->n_layers * sizeof c->layer_nope[0]);
        XXH3_64bits_update(h, c->layer_chunked, (size_t)c->n_layers * sizeof c->layer_chunked[0]);
    }
    hash_matrix(h, &m->embed);
    XXH3_64bits_update(h, m->final_norm, norm);
    if (!c->share_embedding) hash_matrix(h, &m->head);
    for (int l = 0; l < c->n_layers; l++) {
        const mllm_block *b = &m->blocks[l];
        XXH3_64bits_update(h, b->attn_norm, norm);
        XXH3_64bits_update(h, b->ffn_norm, norm);
        const mllm_weight *mats[] = { &b->wq, &b->wk, &b->wv, &b->wo, &b->wg, &b->wu, &b->wd };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) hash_matrix(h, mats[i]);
    }
    return XXH3_64bits_digest(h);
}

uint64_t mllm_model_fingerprint(const mllm_model *cm)
{
    /* computed once, by the first caller; the model is const to its users,
       this cache is the one thing written after the load */
    mllm_model *m = (mllm_model *)cm;
    if (__atomic_load_n(&m->fingerprint_ready, __ATOMIC_ACQUIRE)) return m->fingerprint;
    pthread_mutex_lock(&m->fingerprint_lock);
    if (!m->fingerprint_ready) {
        m->fingerprint = hash_model(m, m->fingerprint_state);
        XXH3_freeState(m->fingerprint_state);
        m->fingerprint_state = NULL;
        __atomic_store_n(&m->fingerprint_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&m->fingerprint_lock);
    return m->fingerprint;
}


mllm_status mllm_model_load(const char *dir, const mllm_model_params *params, mllm_model **out,
                            char *err, size_t errlen)
{
    *out = NULL;
    mllm_model_params p = params ? *params : mllm_model_default_params();
    if (!dir || !*dir) return mllm_fail(err, errlen, MLLM_ERR_ARG, "empty model directory");
    if (p.n_threads < 0 || p.n_threads > 1024)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "threads must be in [0, 1024], got %d", p.n_threads);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: not a directory", dir);

    mllm_model *m = mllm_calloc(1, sizeof *m);
    if (!m) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    m->refs = 1;
    m->wtype = (mllm_wtype)-1;
    pthread_mutex_init(&m->fingerprint_lock, NULL);
    pthread_mutex_init(&m->rope_lock, NULL);
    if (!(m->fingerprint_state = XXH3_createState())) {
        model_free(m);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    if (p.dtype && strcmp(p.dtype, "auto") != 0) {
        mllm_dtype d;
        if (!mllm_dtype_from_name(p.dtype, &d)) {
            model_free(m);
            return mllm_fail(err, errlen, MLLM_ERR_ARG,
                             "dtype must be \"auto\", \"f32\", \"f16\", \"bf16\", \"q8\" or \"q4\", got \"%s\"", p.dtype);
        }
        m->wtype = mllm_wtype_of(d);
    }
    m->kernels = mllm_kernels_best();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    m->n_threads = p.n_threads ? p.n_threads : (cores > 0 ? (int)cores : 1);

    char path[MLLM_MAX_PATH];
    mllm_status st = mllm_path_join_dir(path, dir, "config.json", err, errlen);
    if (!st) st = mllm_config_load(path, &m->cfg, err, errlen);
    if (st) goto fail;

    if ((st = mllm_checkpoint_open(dir, &m->files, &m->n_files, err, errlen))) goto fail;
    for (size_t i = 0; i < m->n_files; i++) m->mapped_bytes += m->files[i].size;
    /* before the conversion, which then finds the pages already read */
    if (p.check_weights && (st = check_weights(m, err, errlen))) goto fail;

    if ((st = load_weights(m, &p, err, errlen))) {
        if (m->n_files == 1 && err && errlen) {  /* name the file the tensor was looked for in */
            char tmp[MLLM_ERRLEN];
            snprintf(tmp, sizeof tmp, "%s", err);
            snprintf(err, errlen, "%s: %s", m->files[0].path, tmp);
        }
        goto fail;
    }

    const char *tok_path = p.tokenizer_path;
    char tp[MLLM_MAX_PATH];
    /* tokenizer.model wins over tokenizer.json: sentencepiece runs it exactly, and a
     * directory that loads today keeps its ids (docs/formats-and-limits.md) */
    static const char *const tok_names[] = {"tokenizer.model", "tokenizer.json"};
    for (int i = 0; i < 2 && !tok_path; i++) {
        if ((st = mllm_path_join_dir(tp, dir, tok_names[i], err, errlen))) goto fail;
        if (mllm_path_exists(tp)) tok_path = tp;
    }
    if (tok_path) {
        if ((st = mllm_tokenizer_load(tok_path, &m->tok, err, errlen))) goto fail;
        int nv = mllm_tokenizer_vocab_size(m->tok);
        if (nv > m->cfg.vocab_size) {
            st = mllm_fail(err, errlen, MLLM_ERR_CONFIG,
                           "%s: tokenizer has %d pieces but the model's vocab_size is %d", tok_path, nv,
                           m->cfg.vocab_size);
            goto fail;
        }
        mllm_tokenizer_pad(m->tok, m->cfg.vocab_size);  /* the ids past its pieces decode to nothing */
    } else if (p.require_tokenizer) {
        st = mllm_fail(err, errlen, MLLM_ERR_TOKENIZER, "%s: no tokenizer.model or tokenizer.json", dir);
        goto fail;
    }
    release_unused_files(m);
    if (p.progress && !p.progress(1.0f, p.progress_ud)) {
        st = mllm_fail(err, errlen, MLLM_CANCELLED, "loading cancelled");
        goto fail;
    }
    /* the RoPE angles of the first positions (2 ms for 2048 of a 125M): made here, a session
       (and a fork, in a game's frame) finds them ready; a longer context grows them */
    const float *rope_cos, *rope_sin;
    if ((st = mllm_rope_tables(m, m->cfg.max_seq_len < ROPE_LOAD_POSITIONS ? m->cfg.max_seq_len : ROPE_LOAD_POSITIONS,
                               &rope_cos, &rope_sin, err, errlen)))
        goto fail;
    m->max_cols = m->cfg.dim > m->cfg.ffn_dim ? m->cfg.dim : m->cfg.ffn_dim;
    if (m->cfg.n_heads * m->cfg.head_dim > m->max_cols) m->max_cols = m->cfg.n_heads * m->cfg.head_dim;
    *out = m;
    return MLLM_OK;
fail:
    model_free(m);
    return st;
}

mllm_model *mllm_model_retain(mllm_model *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void mllm_model_release(mllm_model *m)
{
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) model_free(m);
}

const mllm_config *mllm_model_config(const mllm_model *m) { return &m->cfg; }
size_t mllm_model_n_params(const mllm_model *m) { return m->n_params; }
size_t mllm_model_weight_bytes(const mllm_model *m) { return m->mapped_bytes + m->owned_bytes; }
size_t mllm_model_mapped_bytes(const mllm_model *m) { return m->mapped_bytes; }
int mllm_model_n_threads(const mllm_model *m) { return m->n_threads; }
const mllm_tokenizer *mllm_model_tokenizer(const mllm_model *m) { return m->tok; }
