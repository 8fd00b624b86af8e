/* fuzz_detokenize.c — libFuzzer harness for turning arbitrary id arrays into
 * text (mllm_tokenizer_decode, mllm_tokenizer_piece in src/text/tokenizer.c and
 * src/text/tokenizer_sp.cpp), issue 8, with the LLaMA-2 tokenizer the project
 * ships (models/llama2-tokenizer/tokenizer.model, or $MLLM_FUZZ_TOKENIZER).
 *
 * Input: byte 0 is the piece buffer size (0..31; 0 passes a NULL buffer),
 * then 2 bytes per id, mapped onto [-8, vocab + 8) so ids just outside the
 * vocabulary come up too. Decode must refuse exactly the arrays with a bad
 * id, naming it; piece must return -1 exactly for a bad id, and never write
 * past the buffer (ASan watches a heap buffer of exactly that size).
 *
 *   build-fuzz/fuzz_detokenize build-fuzz/corpus/detokenize fuzz/corpus/detokenize
 */
#include "core/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mllm_tokenizer *tok;
static int n_vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("MLLM_FUZZ_TOKENIZER");
    if (!path) path = "models/llama2-tokenizer/tokenizer.model";
    char err[MLLM_ERRLEN];
    if (mllm_tokenizer_load(path, &tok, err, sizeof err) != MLLM_OK) {
        fprintf(stderr, "fuzz_detokenize: %s (run from the repository root or set MLLM_FUZZ_TOKENIZER)\n", err);
        exit(1);
    }
    n_vocab = mllm_tokenizer_vocab_size(tok);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t cap = data[0] % 32;
    size_t n = (size - 1) / 2;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return 0;
    size_t first_bad = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned v = data[1 + 2 * i] | (unsigned)data[2 + 2 * i] << 8;
        ids[i] = (int32_t)(v % (unsigned)(n_vocab + 16)) - 8;
        if ((ids[i] < 0 || ids[i] >= n_vocab) && first_bad == SIZE_MAX) first_bad = i;
    }

    char *text = NULL;
    size_t len = 0;
    char err[MLLM_ERRLEN];
    err[0] = '\0';
    mllm_status st = mllm_tokenizer_decode(tok, ids, n, &text, &len, err, sizeof err);
    if (first_bad == SIZE_MAX) {
        if (st != MLLM_OK || !text || text[len] != '\0') abort();
    } else {
        char want[64];
        snprintf(want, sizeof want, "at index %zu ", first_bad + 1);
        if (st != MLLM_ERR_ARG || text || !strstr(err, want)) abort();
    }
    free(text);

    char *buf = cap ? malloc(cap) : NULL;
    if (cap && !buf) abort();
    for (size_t i = 0; i < n; i++) {
        int r = mllm_tokenizer_piece(tok, ids[i], buf, cap);
        if ((ids[i] < 0 || ids[i] >= n_vocab) != (r == -1)) abort();
        if (r < -1) abort();
    }
    free(buf);
    free(ids);
    return 0;
}
