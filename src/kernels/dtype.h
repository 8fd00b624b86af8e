/* dtype.h — the one table of weight types: each stored dtype (mllm_dtype, the
 * public enum) with its name ("bf16"), its safetensors tag ("BF16") and the
 * compute type the kernels run it as (mllm_wtype). The loader, the savers, the
 * readers of safetensors and pytorch_model.bin, the Lua binding and the CLI
 * all name and parse weight types through it. */
#ifndef MLLM_DTYPE_H
#define MLLM_DTYPE_H

#include "mobilellm.h"
#include "dot.h"

#include <stdbool.h>

/* The safetensors tag of t ("F32", "F16", "BF16", "Q8_0", "Q4_0"); "?" outside the enum. */
const char *mllm_dtype_tag(mllm_dtype t);
/* The tag of a matrix of t stored as the kernels take it, 8 rows interleaved
 * (dot.h): "Q8_0x8", "Q4_0x8"; "?" for a dtype without that form. Such a
 * file maps straight into a model, with no conversion at load. */
const char *mllm_dtype_tag8(mllm_dtype t);
/* The dtype whose safetensors tag is tag, and whether the tag is its
 * interleaved form (*rows8); false when no dtype has that tag. */
bool mllm_dtype_from_tag(const char *tag, mllm_dtype *t, bool *rows8);
/* The dtype named name ("f32", "f16", "bf16", "q8", "q4"); false when none is. */
bool mllm_dtype_from_name(const char *name, mllm_dtype *t);
/* How many dtypes there are: 0 .. mllm_dtype_count() - 1 are the enum's values
 * (the Lua side lists their names as the choices of its dtype options). */
int mllm_dtype_count(void);
/* The compute type of a stored dtype, and the dtype a compute type is stored
 * as (an interleaved q8x8/q4x8 matrix is stored as q8/q4). */
mllm_wtype mllm_wtype_of(mllm_dtype t);
mllm_dtype mllm_dtype_of(mllm_wtype t);
/* The compute type of t's interleaved form (MLLM_W_Q8X8, MLLM_W_Q4X8; the plain
 * type for a dtype without one). */
mllm_wtype mllm_wtype8_of(mllm_dtype t);

#endif
