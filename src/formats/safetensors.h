/* safetensors.h — a memory-mapped safetensors file, validated like the
 * reference implementation (bounded header, known dtypes, offsets contiguous,
 * non-overlapping and inside the data area, sizes matching shapes). */
#ifndef MLLM_SAFETENSORS_H
#define MLLM_SAFETENSORS_H

#include "mobilellm.h"

#define ST_MAX_DIMS MLLM_MAX_DIMS

typedef struct st_tensor {
    char *name;
    mllm_dtype dtype;
    bool rows8;         /* a Q8_0x8 / Q4_0x8 matrix: 8 rows interleaved (dtype.h) */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;   /* inside the mapping */
    size_t nbytes;
} st_tensor;

typedef struct st_file {
    char *path;
    void *map;          /* whole file, read-only */
    size_t size;
    st_tensor *tensors; /* sorted by name */
    size_t n_tensors;
} st_file;

/* Maps a regular file of at least min_size bytes into f (map, size, path);
 * too_small names the format in the message for a shorter file ("a
 * safetensors file needs at least 8"). Shared by the safetensors and the
 * pytorch_model.bin readers. On failure f is left closed. */
mllm_status st_map(const char *path, size_t min_size, const char *too_small, st_file *f, char *err,
                   size_t errlen);
/* Maps and validates path. On failure f is left closed (st_close is safe). */
mllm_status st_open(const char *path, st_file *f, char *err, size_t errlen);
/* Validates a header already in memory (header = the JSON bytes, data_size =
 * bytes after it). Fills f->tensors with offsets as data pointers relative to
 * data_base. Exposed for the fuzzer. */
mllm_status st_parse_header(const char *header, size_t header_len, const char *data_base,
                            size_t data_size, const char *path, st_file *f,
                            char *err, size_t errlen);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);
/* Bytes of one element (F32/F16/BF16) or of one 32-value block (Q8_0/Q4_0). */
size_t st_dtype_size(mllm_dtype t);
/* Bytes of count values, or SIZE_MAX when that is not a whole number of
 * blocks or overflows. */
size_t st_nbytes(mllm_dtype t, size_t count);
#endif
