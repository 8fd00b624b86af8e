/* unpickle.h — a restricted unpickler for the data.pkl of a torch.save'd state
 * dict. It never runs code: it reads the pickle as data, knows only the
 * opcodes torch.save emits (protocol 2) and only these globals, the same idea
 * as torch.load(weights_only=True):
 *
 *   collections.OrderedDict            the state dict and its _metadata
 *   torch._utils._rebuild_tensor_v2    one tensor: (storage, offset, size, stride,
 *                                      requires_grad, backward_hooks[, metadata])
 *   torch.FloatStorage, torch.HalfStorage, torch.BFloat16Storage
 *                                      storage types in a persistent id
 *   torch.Size                         a size given as torch.Size((...))
 *
 * Anything else (another opcode, another global, a tensor that is not
 * contiguous or reaches past its storage) is refused with a message naming it.
 * Limits (MLLM_MAX_PICKLE*) are in mobilellm.h. */
#ifndef MLLM_UNPICKLE_H
#define MLLM_UNPICKLE_H

#include "mobilellm.h"
#include "safetensors.h"

/* One tensor of the state dict, as the pickle describes it. The storage is an
 * archive record (<prefix>/data/<storage_key>) holding storage_numel elements
 * of dtype; the tensor is the contiguous run [offset, offset + numel(shape)). */
typedef struct pk_tensor {
    char *name;
    mllm_dtype dtype;
    char *storage_key;
    uint64_t storage_numel;
    uint64_t offset;          /* in elements */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} pk_tensor;

typedef struct pk_state_dict {
    pk_tensor *tensors;       /* in pickle order */
    size_t n;
} pk_state_dict;

/* Reads a pickled {name: tensor} dict (plain dict or OrderedDict). what names
 * the source in messages ("model.bin: archive/data.pkl"). On failure *out is
 * empty. */
mllm_status pk_load_state_dict(const void *data, size_t len, const char *what, pk_state_dict *out,
                               char *err, size_t errlen);
void pk_state_dict_free(pk_state_dict *sd);

#endif
