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
#include "st_writer.h"
#include "base/status.h"
#include "checkpoint.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mllm_status mllm_checkpoint_convert(const char *dir, const char *out_path, char *err, size_t errlen)
{
    if (!dir || !*dir) return mllm_fail(err, errlen, MLLM_ERR_ARG, "empty model directory");
    if (!out_path || !*out_path) return mllm_fail(err, errlen, MLLM_ERR_ARG, "empty output path");
    st_file *files = NULL;
    size_t n_files = 0, total = 0;
    mllm_status st;
    if ((st = mllm_checkpoint_open(dir, &files, &n_files, err, errlen))) return st;
    for (size_t i = 0; i < n_files; i++) total += files[i].n_tensors;
    st_out *t = mllm_calloc(total ? total : 1, sizeof *t);
    if (!t) {
        mllm_checkpoint_close(files, n_files);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n_files; i++)
        for (size_t j = 0; j < files[i].n_tensors; j++, k++) {
            const st_tensor *s = &files[i].tensors[j];
            t[k].name = s->name;
            t[k].dtype = s->dtype;
            t[k].rows8 = s->rows8;
            t[k].ndim = s->ndim;
            memcpy(t[k].shape, s->shape, sizeof t[k].shape);
            t[k].nbytes = s->nbytes;
            t[k].data = s->data;
        }
    st = st_write_file(out_path, t, total, NULL, NULL, NULL, err, errlen);
    mllm_free(t);
    mllm_checkpoint_close(files, n_files);
    return st;
}
