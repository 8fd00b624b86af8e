/* fuzz_tokenizer.c — libFuzzer harness for loading a tokenizer.model
 * (mllm_tokenizer_load: src/text/tokenizer.c reads the file through fileio.c,
 * src/text/tokenizer_sp.cpp hands the bytes to sentencepiece), issue 34.
 *
 * Input: the bytes of a tokenizer.model, written to a temporary file that is
 * then loaded by path as a user's would be. A refusal must name the file. A
 * tokenizer that loads must encode a fixed text into ids inside its own
 * vocabulary, decode them again and give every id's piece without writing
 * past a buffer (ASan watches a heap buffer of exactly that size).
 *
 * Seeds (fuzz/corpus/tokenizer/): the LLaMA-2 tokenizer.model and truncations
 * of it, made by tools/make_fuzz_seeds.py.
 *
 *   build/fuzz/fuzz_tokenizer build/fuzz/corpus/tokenizer fuzz/corpus/tokenizer
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char tok_path[64];

static void remove_tok_file(void) { unlink(tok_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(tok_path, sizeof tok_path, "/tmp/fuzz_tokenizer.XXXXXX");
    int fd = mkstemp(tok_path);
    if (fd < 0) {
        perror("fuzz_tokenizer: mkstemp");
        exit(1);
    }
    close(fd);
    atexit(remove_tok_file);
    return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) abort();
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    close(fd);
}

/* Text that goes through the normalizer's paths: spaces, a tab and newline,
 * digits, accents, CJK, an emoji and a byte sentencepiece may have to fall back on. */
static const char TEXT[] = "Hello,  world!\tcafé 123\n你好 😀 \x01 <s></s>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_file(tok_path, data, size);
    mllm_tokenizer *t;
    char err[MLLM_ERRLEN];
    err[0] = '\0';
    if (mllm_tokenizer_load(tok_path, &t, err, sizeof err) != MLLM_OK) {
        if (!strstr(err, tok_path)) abort();  /* every refusal names the file */
        return 0;
    }
    int n_vocab = mllm_tokenizer_vocab_size(t);
    int32_t *ids = NULL;
    size_t n = 0;
    if (mllm_tokenizer_encode(t, TEXT, sizeof TEXT - 1, false, &ids, &n, err, sizeof err) == MLLM_OK) {
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= n_vocab) abort();  /* sentencepiece's ids are its own */
        char *text = NULL;
        size_t len = 0;
        if (mllm_tokenizer_decode(t, ids, n, &text, &len, err, sizeof err) == MLLM_OK) {
            if (strlen(text) > len) abort();  /* NUL-terminated at len (a piece may hold a NUL) */
            free(text);
        } else if (!err[0]) {
            abort();
        }
        for (size_t i = 0; i < n; i++) {
            int need = mllm_tokenizer_piece(t, ids[i], NULL, 0);
            if (need < 0) abort();  /* an id in the vocabulary always has a piece */
            char *buf = malloc(need ? (size_t)need : 1);
            if (!buf) abort();
            if (mllm_tokenizer_piece(t, ids[i], buf, (size_t)need) != need) abort();
            free(buf);
        }
        free(ids);
    } else if (!err[0]) {
        abort();
    }
    mllm_tokenizer_free(t);
    return 0;
}
