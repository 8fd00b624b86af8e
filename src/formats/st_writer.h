/* st_writer.h — the one safetensors writer: model:save (a loaded model's
 * weights) and mllm_checkpoint_convert (a checkpoint's tensors as stored)
 * both describe their tensors and hand them here. */
#ifndef MLLM_ST_WRITER_H
#define MLLM_ST_WRITER_H

#include "safetensors.h"

#include <stdbool.h>

typedef struct st_out st_out;
struct st_out {
    const char *name;  /* owned by the caller */
    mllm_dtype dtype;
    bool rows8;        /* a matrix of 8-row groups, tagged "Q8_0x8" / "Q4_0x8" */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    const void *data;  /* the bytes as the file holds them */
};

/* Writes the n tensors (sorted here by name; two of one name, or a dtype the
 * format has no name for, are refused with MLLM_ERR_TENSOR) as one
 * safetensors file: the header is what safetensors.c accepts (contiguous
 * data_offsets from 0, JSON padded with spaces to a multiple of 8,
 * "__metadata__" {"format": "pt"} and writer when given). The file is written
 * beside path and renamed over it (atomic_file.h): path may be a file whose
 * memory map is being read, and a failure keeps the old file. progress (may
 * be NULL) is called with the fraction written; returning false cancels
 * (MLLM_CANCELLED, "saving cancelled"). */
mllm_status st_write_file(const char *path, st_out *t, size_t n, const char *writer,
                          bool (*progress)(float fraction, void *ud), void *ud, char *err, size_t errlen);

#endif
