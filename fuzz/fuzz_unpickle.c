/* fuzz_unpickle.c — libFuzzer harness for the restricted unpickler and the
 * torch zip reader (issue 7).
 *
 * An input that starts with "PK" (a zip header) goes through the whole
 * pytorch_model.bin path in memory (torch_parse: zip reader, CRC,
 * unpickler, storage resolution); anything else is a data.pkl for
 * pk_load_state_dict. Every tensor the reader accepts is read end to end, so
 * ASan sees a data pointer outside the input. FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
 * turns off the CRC-32 check of data.pkl, which would otherwise stop nearly every
 * mutated archive before the unpickler.
 *
 * Build and run: `make fuzz-build` (clang and libclang-rt-14-dev from apt), then
 *   build/fuzz/fuzz_unpickle build/fuzz/corpus/unpickle fuzz/corpus/unpickle -max_total_time=120
 *
 * (New inputs go to build/fuzz/corpus/unpickle; the committed seeds in fuzz/corpus/unpickle
 * are made by tools/make_torch_fixtures.py.)
 *
 * Found so far: qsort(NULL, 0) on an archive with no records (undefined
 * behaviour, fixed; seed archive-empty.zip). */
#include "core/internal.h"
#include "formats/torch_bin.h"
#include "formats/unpickle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned char sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[MLLM_ERRLEN];
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        st_file f;
        memset(&f, 0, sizeof f);
        if (torch_parse(data, size, "fuzz.bin", &f, err, sizeof err) == MLLM_OK) {
            for (size_t i = 0; i < f.n_tensors; i++) {
                const st_tensor *t = &f.tensors[i];
                const unsigned char *p = t->data;
                if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
                if (st_find(&f, t->name) == NULL) abort();
            }
        } else if (!err[0]) {
            abort();  /* every failure names itself */
        }
        st_close(&f);  /* map and path are NULL: frees the tensors only */
        return 0;
    }
    pk_state_dict sd;
    if (pk_load_state_dict(data, size, "fuzz.pkl", &sd, err, sizeof err) == MLLM_OK) {
        for (size_t i = 0; i < sd.n; i++) {
            const pk_tensor *t = &sd.tensors[i];
            uint64_t numel = 1;
            for (int d = 0; d < t->ndim; d++) numel *= (uint64_t)t->shape[d];
            if (t->offset > t->storage_numel || numel > t->storage_numel - t->offset) abort();
            sink ^= (unsigned char)strlen(t->name) ^ (unsigned char)strlen(t->storage_key);
        }
    } else if (!err[0]) {
        abort();
    }
    pk_state_dict_free(&sd);
    return 0;
}
