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

/* The checkpoint files of dir, found in this order: model.safetensors,
 * model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json
 * (shards named by "weight_map", inside dir). Defined in model.c, next to the
 * loader that uses it; mllm_checkpoint_convert uses it too. *files is
 * malloc'd; free it with mllm_checkpoint_close. */
mllm_status mllm_checkpoint_open(const char *dir, st_file **files, size_t *n_files, char *err,
                                 size_t errlen);
void mllm_checkpoint_close(st_file *files, size_t n_files);

#endif
