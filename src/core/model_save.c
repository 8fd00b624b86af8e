/* model_save.c — a loaded model's weights → one safetensors file, in the
 * compute format (a quantized model stays quantized: "Q8_0"/"Q4_0"). */
#define _POSIX_C_SOURCE 200809L
#include "base/atomic_file.h"
#include "internal.h"
#include "kernels/dtype.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[96];
    mllm_dtype dtype;
    int64_t rows, cols;  /* cols = 0: a vector of rows values */
    const void *data;
    size_t nbytes;
    const mllm_weight *w;  /* a matrix's weight (NULL for a vector): q8x8/q4x8 are written as q8/q4 */
} out_tensor;

static void add_matrix(out_tensor *t, size_t *n, const char *name, const mllm_weight *w)
{
    out_tensor *o = &t[(*n)++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->dtype = mllm_dtype_of(w->type);
    o->rows = w->rows;
    o->cols = w->cols;
    o->data = w->data;
    o->nbytes = mllm_weight_row_bytes(w->type, w->cols) * (size_t)w->rows;
    o->w = w;
}

static void add_vector(out_tensor *t, size_t *n, const char *name, const float *v, int len)
{
    out_tensor *o = &t[(*n)++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->dtype = MLLM_F32;
    o->rows = len;
    o->cols = 0;
    o->data = v;
    o->nbytes = (size_t)len * sizeof(float);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const out_tensor *)a)->name, ((const out_tensor *)b)->name);
}

/* Bytes written between two progress reports: small enough for a smooth bar,
 * large enough that the callback costs nothing next to the write. */
#define SAVE_CHUNK ((size_t)4 << 20)

static bool interleaved(const out_tensor *t)
{
    return t->w && mllm_wtype_rows8(t->w->type);
}

/* Bytes [off, off + len) of a tensor as the file holds them: its memory
 * itself, or for an interleaved matrix (len a whole number of 8-row groups)
 * its rows moved back out of their groups into buf. */
static const unsigned char *file_bytes(const out_tensor *t, size_t off, size_t len, unsigned char *buf)
{
    if (!interleaved(t)) return (const unsigned char *)t->data + off;
    int nb = t->w->cols / MLLM_QK;
    size_t rb = mllm_weight_row_bytes(t->w->type, t->w->cols), group = MLLM_ROWS8 * rb;
    for (size_t i = 0; i < len / group; i++) {
        const void *g = (const unsigned char *)t->data + off + i * group;
        for (int r = 0; r < MLLM_ROWS8; r++) mllm_unpack_rows8(t->w->type, g, r, nb, buf + i * group + (size_t)r * rb);
    }
    return buf;
}

/* Writes a tensor's bytes in chunks (of whole 8-row groups), reporting after
 * each one. Returns 0 on success, -1 on a write error or when out of memory,
 * 1 when the callback cancels. */
static int write_data(FILE *fp, const out_tensor *t, size_t *written, size_t total,
                      bool (*progress)(float, void *), void *ud)
{
    size_t chunk = SAVE_CHUNK;
    unsigned char *buf = NULL;
    if (interleaved(t)) {
        size_t group = MLLM_ROWS8 * mllm_weight_row_bytes(t->w->type, t->w->cols);
        chunk = group * (SAVE_CHUNK / group ? SAVE_CHUNK / group : 1);
        if (!(buf = malloc(chunk))) return -1;
    }
    int rc = 0;
    for (size_t off = 0; off < t->nbytes && rc == 0; off += chunk) {
        size_t len = t->nbytes - off < chunk ? t->nbytes - off : chunk;
        if (fwrite(file_bytes(t, off, len, buf), 1, len, fp) != len) rc = -1;
        *written += len;
        if (rc == 0 && progress && !progress(total ? (float)((double)*written / (double)total) : 1.0f, ud)) rc = 1;
    }
    free(buf);
    return rc;
}

mllm_status mllm_model_save(const mllm_model *m, const char *path, char *err, size_t errlen)
{
    return mllm_model_save_progress(m, path, NULL, NULL, err, errlen);
}

mllm_status mllm_model_save_progress(const mllm_model *m, const char *path,
                                     bool (*progress)(float fraction, void *ud), void *ud,
                                     char *err, size_t errlen)
{
    const mllm_config *c = &m->cfg;
    size_t cap = 4 + (size_t)c->n_layers * 9, n = 0;
    out_tensor *t = calloc(cap, sizeof *t);
    if (!t) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    add_matrix(t, &n, mllm_name_embed, &m->embed);
    add_vector(t, &n, mllm_name_final_norm, m->final_norm, c->dim);
    if (!c->share_embedding) add_matrix(t, &n, mllm_name_head, &m->head);
    for (int l = 0; l < c->n_layers; l++) {
        const mllm_block *b = &m->blocks[l];
        char name[96];
        for (size_t i = 0; i < mllm_n_block_tensors; i++) {
            const mllm_block_tensor *bt = &mllm_block_tensors[i];
            const void *src = (const char *)b + bt->offset;
            snprintf(name, sizeof name, "model.layers.%d.%s", l, bt->suffix);
            if (bt->matrix) add_matrix(t, &n, name, src);
            else add_vector(t, &n, name, *(const float *const *)src, (int)mllm_config_size(c, bt->rows));
        }
    }
    qsort(t, n, sizeof *t, cmp_name);

    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddStringToObject(meta, "writer", "mobilellm " MLLM_VERSION);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", mllm_dtype_tag(t[i].dtype));
        double shape[2] = { (double)t[i].rows, (double)t[i].cols };
        cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(shape, t[i].cols ? 2 : 1));
        double offs[2] = { (double)off, (double)(off + t[i].nbytes) };
        cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
        off += t[i].nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) {
        free(t);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    /* written beside path and renamed over it: path may be the file this
       model's weights are mapped from, and a failure keeps the old file */
    mllm_atomic_file af;
    mllm_status st = mllm_atomic_open(&af, path, err, errlen);
    if (!st) {
        FILE *fp = af.fp;
        unsigned char len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
        bool ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(json, 1, hlen, fp) == hlen;
        for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
        int cancelled = 0;
        if (ok && progress && !progress(0.0f, ud)) cancelled = 1;
        for (size_t i = 0, written = 0; ok && !cancelled && i < n; i++) {
            int r = write_data(fp, &t[i], &written, off, progress, ud);
            if (r < 0) ok = false;
            cancelled = r > 0;
        }
        int e = errno;
        if (cancelled) {
            mllm_atomic_discard(&af);
            st = mllm_fail(err, errlen, MLLM_CANCELLED, "saving cancelled");
        } else if (!ok) {
            mllm_atomic_discard(&af);
            st = mllm_fail(err, errlen, MLLM_ERR_IO, "%s: write failed: %s", path, strerror(e));
        } else {
            st = mllm_atomic_commit(&af, err, errlen);
        }
    }
    free(json);
    free(t);
    return st;
}
