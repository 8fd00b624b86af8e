/* checkpoint.h — opening a checkpoint directory's weight files. */
#ifndef MLLM_CHECKPOINT_H
#define MLLM_CHECKPOINT_H

#include "safetensors.h"

/* The checkpoint files of dir, found in this order: model.safetensors,
 * model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json
 * (shards named by "weight_map", inside dir), for the model loader and
 * mllm_checkpoint_convert. *files is malloc'd; free it with
 * mllm_checkpoint_close. */
mllm_status mllm_checkpoint_open(const char *dir, st_file **files, size_t *n_files, char *err,
                                 size_t errlen);
void mllm_checkpoint_close(st_file *files, size_t n_files);

#endif
