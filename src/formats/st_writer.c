/* st_writer.c — the one safetensors writer (st_writer.h). */
#define _POSIX_C_SOURCE 200809L
#include "st_writer.h"
#include "base/atomic_file.h"
#include "base/status.h"
#include "kernels/dtype.h"
#include "base/alloc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes written between two progress reports: small enough for a smooth bar,
 * large enough that the callback costs nothing next to the write. */
#define WRITE_CHUNK ((size_t)4 << 20)

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_out *)a)->name, ((const st_out *)b)->name);
}

/* obj[key] = the array of n numbers; on failure the array is freed too (an
 * item cJSON could not add, its key being out of memory, is still the caller's). */
static bool add_numbers(cJSON *obj, const char *key, const double *v, int n)
{
    cJSON *a = cJSON_CreateDoubleArray(v, n);
    if (a && cJSON_AddItemToObject(obj, key, a)) return true;
    cJSON_Delete(a);
    return false;
}

/* The JSON header of the sorted tensors, padded with spaces to a multiple of
 * 8; NULL when out of memory. */
static char *make_header(const st_out *t, size_t n, const char *writer, size_t *len)
{
    cJSON *root = cJSON_CreateObject(), *meta = root ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
    bool ok = meta && cJSON_AddStringToObject(meta, "format", "pt");
    if (ok && writer) ok = cJSON_AddStringToObject(meta, "writer", writer) != NULL;
    size_t off = 0;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        double shape[ST_MAX_DIMS], offs[2] = { (double)off, (double)(off + t[i].nbytes) };
        for (int d = 0; d < t[i].ndim; d++) shape[d] = (double)t[i].shape[d];
        const char *tag = t[i].rows8 ? mllm_dtype_tag8(t[i].dtype) : mllm_dtype_tag(t[i].dtype);
        ok = e && cJSON_AddStringToObject(e, "dtype", tag) &&
             add_numbers(e, "shape", shape, t[i].ndim) && add_numbers(e, "data_offsets", offs, 2);
        off += t[i].nbytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return NULL;
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    char *h = mllm_realloc(json, padded + 1);
    if (!h) {
        mllm_free(json);
        return NULL;
    }
    memset(h + jl, ' ', padded - jl);
    h[padded] = '\0';
    *len = padded;
    return h;
}

/* Writes a tensor's bytes in chunks, reporting after each one. Returns 0 on
 * success, -1 on a write error, 1 when cancelled. */
static int write_data(FILE *fp, const st_out *t, size_t *written, size_t total,
                      bool (*progress)(float, void *), void *ud)
{
    int rc = 0;
    for (size_t off = 0; off < t->nbytes && rc == 0; off += WRITE_CHUNK) {
        size_t len = t->nbytes - off < WRITE_CHUNK ? t->nbytes - off : WRITE_CHUNK;
        if (fwrite((const unsigned char *)t->data + off, 1, len, fp) != len) rc = -1;
        *written += len;
        if (rc == 0 && progress && !progress(total ? (float)((double)*written / (double)total) : 1.0f, ud)) rc = 1;
    }
    return rc;
}

mllm_status st_write_file(const char *path, st_out *t, size_t n, const char *writer,
                          bool (*progress)(float fraction, void *ud), void *ud, char *err, size_t errlen)
{
    qsort(t, n, sizeof *t, cmp_name);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].rows8 ? mllm_dtype_tag8(t[i].dtype) : mllm_dtype_tag(t[i].dtype), "?") == 0)
            return mllm_fail(err, errlen, MLLM_ERR_TENSOR, "tensor '%s' has an unknown dtype (%d%s)", t[i].name,
                             (int)t[i].dtype, t[i].rows8 ? ", interleaved" : "");
        if (i && strcmp(t[i - 1].name, t[i].name) == 0)
            return mllm_fail(err, errlen, MLLM_ERR_TENSOR, "tensor '%s' is stored in two shards", t[i].name);
    }
    size_t hlen = 0, total = 0;
    for (size_t i = 0; i < n; i++) total += t[i].nbytes;
    char *header = make_header(t, n, writer, &hlen);
    if (!header) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    if (hlen > MLLM_MAX_HEADER) {
        mllm_free(header);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: a header of %zu bytes would exceed the limit of %u",
                         path, hlen, (unsigned)MLLM_MAX_HEADER);
    }
    mllm_atomic_file af;
    mllm_status st = mllm_atomic_open(&af, path, err, errlen);
    if (st) {
        mllm_free(header);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    bool ok = fwrite(len8, 1, 8, af.fp) == 8 && fwrite(header, 1, hlen, af.fp) == hlen;
    int cancelled = ok && progress && !progress(0.0f, ud);
    for (size_t i = 0, written = 0; ok && !cancelled && i < n; i++) {
        int r = write_data(af.fp, &t[i], &written, total, progress, ud);
        ok = r >= 0;
        cancelled = r > 0;
    }
    int e = errno;
    mllm_free(header);
    if (cancelled) {
        mllm_atomic_discard(&af);
        return mllm_fail(err, errlen, MLLM_CANCELLED, "saving cancelled");
    }
    if (!ok) {
        mllm_atomic_discard(&af);
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return mllm_atomic_commit(&af, err, errlen);
}
