/* st_write.c — any checkpoint directory → one model.safetensors.
 *
 * The tensors come from mllm_checkpoint_open (safetensors, its shards,
 * pytorch_model.bin or its shards) and are written as stored: same names,
 * dtypes (Q8_0/Q4_0 of a pre-quantized safetensors checkpoint too) and
 * shapes, data copied from the memory maps. The header is what
 * safetensors.c accepts: sorted names, contiguous data_offsets from 0, JSON
 * padded with spaces to a multiple of 8, "__metadata__": {"format": "pt"} as
 * Hugging Face writes it. */
#define _POSIX_C_SOURCE 200809L
#include "base/atomic_file.h"
#include "base/status.h"
#include "kernels/dtype.h"
#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The safetensors dtype of a checkpoint tensor (pre-quantized Q8_0/Q4_0 ones
 * included); NULL for one the format has no name for. */
static const char *st_dtype_label(mllm_dtype t)
{
    const char *tag = mllm_dtype_tag(t);
    return strcmp(tag, "?") == 0 ? NULL : tag;
}

static int cmp_tensor_ptr(const void *a, const void *b)
{
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

/* Every tensor of every file, sorted by name; a name in two files is an error. */
static mllm_status collect(const st_file *files, size_t n_files, const st_tensor ***out, size_t *n,
                           char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t i = 0; i < n_files; i++) total += files[i].n_tensors;
    const st_tensor **all = malloc((total ? total : 1) * sizeof *all);
    if (!all) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n_files; i++)
        for (size_t j = 0; j < files[i].n_tensors; j++) all[k++] = &files[i].tensors[j];
    qsort(all, total, sizeof *all, cmp_tensor_ptr);
    for (size_t i = 0; i < total; i++)
        if (!st_dtype_label(all[i]->dtype)) {
            mllm_status st = mllm_fail(err, errlen, MLLM_ERR_TENSOR,
                                       "tensor '%s' has an unknown dtype (%d)", all[i]->name,
                                       (int)all[i]->dtype);
            free(all);
            return st;
        }
    for (size_t i = 1; i < total; i++)
        if (strcmp(all[i - 1]->name, all[i]->name) == 0) {
            mllm_status st = mllm_fail(err, errlen, MLLM_ERR_TENSOR, "tensor '%s' is stored in two shards",
                                       all[i]->name);
            free(all);  /* after the message: it names a tensor through all */
            return st;
        }
    *out = all;
    *n = total;
    return MLLM_OK;
}

/* The JSON header for the sorted tensors, padded; *len is its length. */
static char *make_header(const st_tensor **t, size_t n, size_t *len)
{
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    if (!root || !meta || !cJSON_AddStringToObject(meta, "format", "pt")) goto oom;
    cJSON_AddItemToObject(root, "__metadata__", meta);
    meta = NULL;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        if (!e || !shape || !offs) {
            cJSON_Delete(e), cJSON_Delete(shape), cJSON_Delete(offs);
            goto oom;
        }
        cJSON_AddItemToObject(root, t[i]->name, e);
        cJSON_AddStringToObject(e, "dtype", st_dtype_label(t[i]->dtype));
        for (int d = 0; d < t[i]->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i]->shape[d]));
        cJSON_AddItemToObject(e, "shape", shape);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += t[i]->nbytes;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToObject(e, "data_offsets", offs);
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return NULL;
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    char *h = realloc(json, padded + 1);
    if (!h) { free(json); return NULL; }
    memset(h + jl, ' ', padded - jl);
    h[padded] = '\0';
    *len = padded;
    return h;
oom:
    cJSON_Delete(meta);
    cJSON_Delete(root);
    return NULL;
}

static mllm_status write_all(FILE *fp, const void *p, size_t n, const char *path, char *err, size_t errlen)
{
    if (n && fwrite(p, 1, n, fp) != n)
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return MLLM_OK;
}

mllm_status mllm_checkpoint_convert(const char *dir, const char *out_path, char *err, size_t errlen)
{
    if (!dir || !*dir) return mllm_fail(err, errlen, MLLM_ERR_ARG, "empty model directory");
    if (!out_path || !*out_path) return mllm_fail(err, errlen, MLLM_ERR_ARG, "empty output path");
    st_file *files = NULL;
    size_t n_files = 0, n = 0, hlen = 0;
    const st_tensor **t = NULL;
    char *header = NULL;
    mllm_atomic_file af = { .fp = NULL };
    mllm_status st;
    if ((st = mllm_checkpoint_open(dir, &files, &n_files, err, errlen))) return st;
    if ((st = collect(files, n_files, &t, &n, err, errlen))) goto done;
    if (!(header = make_header(t, n, &hlen))) {
        st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (hlen > MLLM_MAX_HEADER) {
        st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: a header of %zu bytes would exceed the limit of %u",
                       out_path, hlen, (unsigned)MLLM_MAX_HEADER);
        goto done;
    }
    /* beside out_path, renamed over it: out_path may be a file of the
       checkpoint being read (mapped), and a failure keeps the old file */
    if ((st = mllm_atomic_open(&af, out_path, err, errlen))) goto done;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    if ((st = write_all(af.fp, len8, 8, out_path, err, errlen)) ||
        (st = write_all(af.fp, header, hlen, out_path, err, errlen)))
        goto done;
    for (size_t i = 0; i < n; i++)
        if ((st = write_all(af.fp, t[i]->data, t[i]->nbytes, out_path, err, errlen))) goto done;
    st = mllm_atomic_commit(&af, err, errlen);
done:
    mllm_atomic_discard(&af);  /* never leave a partial file behind (nothing to do after a commit) */
    free(header);
    free(t);
    mllm_checkpoint_close(files, n_files);
    return st;
}
