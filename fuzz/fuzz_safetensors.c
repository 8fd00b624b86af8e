/* fuzz_safetensors.c — libFuzzer harness for the safetensors header parser
 * (st_parse_header in src/formats/safetensors.c), issue 8.
 *
 * Input: the first 8 bytes are a little-endian size for the data area (taken
 * modulo 1 MiB, so offsets both inside and past it are tried; no data is
 * allocated, the parser only compares offsets), the rest is the JSON header.
 * An accepted header must describe tensors that are sorted, unique, inside
 * the data area, contiguous from 0 to its end, and sized by shape x dtype.
 *
 *   make fuzz                # every harness for FUZZ_SECONDS (60) each
 *   build-fuzz/fuzz_safetensors build-fuzz/corpus/safetensors fuzz/corpus/safetensors
 */
#include "core/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8) return 0;
    uint64_t ds = 0;
    for (int i = 7; i >= 0; i--) ds = (ds << 8) | data[i];
    size_t data_size = (size_t)(ds % (1u << 20));
    /* a heap copy of exactly the header bytes, so ASan sees any read past it */
    size_t hlen = size - 8;
    char *header = malloc(hlen ? hlen : 1);
    if (!header) return 0;
    memcpy(header, data + 8, hlen);
    static const char base[1];  /* data pointers are base + offset: never dereferenced */
    st_file f;
    memset(&f, 0, sizeof f);
    char err[MLLM_ERRLEN];
    err[0] = '\0';
    mllm_status st = st_parse_header(header, hlen, base, data_size, "fuzz.safetensors", &f, err, sizeof err);
    if (st == MLLM_OK) {
        size_t covered = 0;
        for (size_t i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            if (i && strcmp(f.tensors[i - 1].name, t->name) >= 0) abort();  /* sorted, unique */
            if (st_find(&f, t->name) != t) abort();
            if (t->ndim < 0 || t->ndim > ST_MAX_DIMS) abort();
            size_t off = (size_t)((const char *)t->data - base);
            if (off > data_size || t->nbytes > data_size - off) abort();
            size_t count = 1;
            for (int d = 0; d < t->ndim; d++) {
                if (t->shape[d] < 0) abort();
                count *= (size_t)t->shape[d];  /* cannot wrap: nbytes bounds it */
            }
            if (st_nbytes(t->dtype, count) != t->nbytes) abort();  /* blocks of 32 for Q8_0/Q4_0 */
            covered += t->nbytes;
        }
        if (covered != data_size) abort();  /* contiguous and non-overlapping */
    } else if (!err[0] || !strstr(err, "fuzz.safetensors")) {
        abort();  /* every refusal names the file */
    }
    st_close(&f);  /* map and path are NULL: frees the tensors only */
    free(header);
    return 0;
}
