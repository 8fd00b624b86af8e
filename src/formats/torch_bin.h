/* torch_bin.h — pytorch_model.bin (a torch.save zip archive of a state dict)
 * read into the same st_file a safetensors file gives: tensors whose data
 * points into the memory map, closed with st_close. */
#ifndef MLLM_TORCH_BIN_H
#define MLLM_TORCH_BIN_H

#include "mobilellm.h"
#include "safetensors.h"

/* Maps and validates path. On failure f is left closed (st_close is safe). */
mllm_status torch_open(const char *path, st_file *f, char *err, size_t errlen);
/* Validates an archive already in memory and fills f->tensors with data
 * pointers into base (f->map and f->path are left alone). Exposed for the
 * fuzzer; on failure f has no tensors. */
mllm_status torch_parse(const unsigned char *base, size_t size, const char *path, st_file *f,
                        char *err, size_t errlen);

#endif
