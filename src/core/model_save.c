/* model_save.c — a loaded model's weights → one safetensors file, in the
 * compute format (a quantized model stays quantized: "Q8_0"/"Q4_0", or
 * "Q8_0x8"/"Q4_0x8" for matrices the kernels take 8 rows interleaved, as
 * they are in memory, so that the file maps in with no conversion). */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "kernels/dtype.h"
#include "formats/st_writer.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tensor of the model as the file will hold it; names are built in names[]. */
#define NAME_CAP 96

static st_out *add_tensor(st_out *t, size_t *n, char (*names)[NAME_CAP], const char *name)
{
    st_out *o = &t[*n];
    snprintf(names[*n], NAME_CAP, "%s", name);
    o->name = names[(*n)++];
    return o;
}

static void add_matrix(st_out *t, size_t *n, char (*names)[NAME_CAP], const char *name, const mllm_weight *w)
{
    st_out *o = add_tensor(t, n, names, name);
    o->dtype = mllm_dtype_of(w->type);  /* q8x8/q4x8: q8/q4, tagged as interleaved */
    o->rows8 = mllm_wtype_rows8(w->type);
    o->ndim = 2;
    o->shape[0] = w->rows;
    o->shape[1] = w->cols;
    o->data = w->data;
    o->nbytes = mllm_weight_row_bytes(w->type, w->cols) * (size_t)w->rows;
}

static void add_vector(st_out *t, size_t *n, char (*names)[NAME_CAP], const char *name, const float *v, int len)
{
    st_out *o = add_tensor(t, n, names, name);
    o->dtype = MLLM_F32;
    o->ndim = 1;
    o->shape[0] = len;
    o->data = v;
    o->nbytes = (size_t)len * sizeof(float);
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
    size_t cap = 3 + (size_t)c->n_layers * mllm_n_block_tensors, n = 0;
    st_out *t = mllm_calloc(cap, sizeof *t);
    char (*names)[NAME_CAP] = mllm_calloc(cap, NAME_CAP);
    if (!t || !names) {
        mllm_free(t);
        mllm_free(names);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    add_matrix(t, &n, names, mllm_name_embed, &m->embed);
    add_vector(t, &n, names, mllm_name_final_norm, m->final_norm, c->dim);
    if (!c->share_embedding) add_matrix(t, &n, names, mllm_name_head, &m->head);
    for (int l = 0; l < c->n_layers; l++) {
        const mllm_block *b = &m->blocks[l];
        char name[NAME_CAP];
        for (size_t i = 0; i < mllm_n_block_tensors; i++) {
            const mllm_block_tensor *bt = &mllm_block_tensors[i];
            const void *src = (const char *)b + bt->offset;
            mllm_block_tensor_name(c, bt, l, name, sizeof name);
            if (bt->matrix) add_matrix(t, &n, names, name, src);
            else add_vector(t, &n, names, name, *(const float *const *)src, (int)mllm_config_size(c, bt->rows));
        }
    }
    /* written beside path and renamed over it: path may be the file this
       model's weights are mapped from, and a failure keeps the old file */
    mllm_status st = st_write_file(path, t, n, "mobilellm " MLLM_VERSION, progress, ud, err, errlen);
    mllm_free(names);
    mllm_free(t);
    return st;
}
