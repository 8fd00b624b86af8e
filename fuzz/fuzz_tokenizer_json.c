/* fuzz_tokenizer_json.c — libFuzzer harness for loading a Hugging Face
 * tokenizer.json (mllm_tokenizer_load: src/text/tokenizer.c reads the file,
 * src/text/hf_load.c parses it, hf_pretok.c compiles its regexes), issue 37.
 *
 * Input: the bytes of a tokenizer.json, written to a temporary file that is
 * then loaded by path as a user's would be. A refusal must name the file. A
 * tokenizer that loads must encode a fixed text (with and without its
 * post-processor's tokens) into ids inside its own vocabulary, or fail with a
 * message (a regex at its match limit); decode them again and give every id's
 * piece without writing past a buffer (ASan watches a heap buffer of exactly
 * that size).
 *
 * Seeds (fuzz/corpus/tokenizer_json/): the spec fixtures cut to 300 ids, made
 * by tools/make_hf_tokenizers.py --seeds.
 *
 *   build/fuzz/fuzz_tokenizer_json build/fuzz/corpus/tokenizer_json fuzz/corpus/tokenizer_json
 */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <fcntl.h>
#include <stdbool.h>
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
    snprintf(tok_path, sizeof tok_path, "/tmp/fuzz_tokenizer_json.XXXXXX");
    int fd = mkstemp(tok_path);
    if (fd < 0) {
        perror("fuzz_tokenizer_json: mkstemp");
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

/* Text for every path: spaces, a tab and CRLF, digits, a contraction, accents,
 * CJK, an emoji with a modifier, a control byte, and special tokens inside words. */
static const char TEXT[] = "Hello,  world!\tcafé 12345\r\nI'M 你好 👍🏽 \x01 <s>x</s><|begin_of_text|> <|eot_id|>  ";

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
    bool with_bos = size & 1; /* the post-processor's tokens, on every other input */
    if (mllm_tokenizer_encode(t, TEXT, sizeof TEXT - 1, with_bos, &ids, &n, err, sizeof err) == MLLM_OK) {
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= n_vocab) abort();  /* the ids are the file's own */
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
