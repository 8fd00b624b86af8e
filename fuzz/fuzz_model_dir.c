/* fuzz_model_dir.c — libFuzzer harness for loading a whole model directory
 * (mllm_model_load: config.json, safetensors or pytorch_model.bin files,
 * shard indexes, tokenizer.model), then running it, issue 34.
 *
 * Input: a small container of files. Byte 0 picks the compute format
 * (auto, f32, f16, bf16, q8, q4: conversion and quantization on load); then
 * records of [1 byte: which file (FILES below, modulo their count)]
 * [4 bytes: length, little-endian] [that many bytes, or what is left]. A
 * later record of the same file replaces an earlier one. The files are
 * written to a temporary directory and loaded; a model that loads gets a
 * session of 4 positions and evaluates its BOS token, and all vocab_size
 * logits are read (ASan sees a short buffer; their values are not checked:
 * fuzzed weights may overflow). A refusal must come with a message. Every
 * file is removed after each input.
 *
 * Seeds (fuzz/corpus/model_dir/): the fixture models of spec/fixtures,
 * packed by tools/make_fuzz_seeds.py.
 *
 *   build/fuzz/fuzz_model_dir build/fuzz/corpus/model_dir fuzz/corpus/model_dir
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

/* The order is the container's: tools/make_fuzz_seeds.py writes these indexes. */
static const char *const FILES[] = {
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "pytorch_model-00001-of-00002.bin",
    "pytorch_model-00002-of-00002.bin",
    "tokenizer.model",
};
#define N_FILES (sizeof FILES / sizeof FILES[0])
static const char *const DTYPES[] = { "auto", "f32", "f16", "bf16", "q8", "q4" };

static char dir[64];

static void file_path(char *out, size_t cap, size_t i) { snprintf(out, cap, "%s/%s", dir, FILES[i]); }

static void remove_files(void)
{
    char path[128];
    for (size_t i = 0; i < N_FILES; i++) {
        file_path(path, sizeof path, i);
        unlink(path);
    }
}

static void remove_dir(void)
{
    remove_files();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/fuzz_model_dir.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("fuzz_model_dir: mkdtemp");
        exit(1);
    }
    atexit(remove_dir);
    return 0;
}

static void write_file(size_t i, const uint8_t *data, size_t size)
{
    char path[128];
    file_path(path, sizeof path, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) abort();
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    mllm_model_params p = mllm_model_default_params();
    p.n_threads = 1;
    p.dtype = DTYPES[data[0] % (sizeof DTYPES / sizeof DTYPES[0])];
    for (size_t at = 1; at + 5 <= size;) {
        size_t which = data[at] % N_FILES;
        size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8 | (size_t)data[at + 3] << 16 |
                     (size_t)data[at + 4] << 24;
        at += 5;
        if (len > size - at) len = size - at;
        write_file(which, data + at, len);
        at += len;
    }

    mllm_model *m;
    char err[MLLM_ERRLEN];
    err[0] = '\0';
    if (mllm_model_load(dir, &p, &m, err, sizeof err) == MLLM_OK) {
        const mllm_config *c = mllm_model_config(m);
        mllm_session_params sp = mllm_session_default_params();
        sp.n_ctx = 4;  /* the config's context may be huge: the cache is not what is fuzzed */
        mllm_session *s;
        if (mllm_session_new(m, &sp, &s, err, sizeof err) == MLLM_OK) {
            int32_t id = c->bos_id;
            if (mllm_session_eval(s, &id, 1, err, sizeof err) != MLLM_OK) abort();  /* in range, fits */
            const float *logits = mllm_session_logits(s);
            if (!logits) abort();
            volatile float sum = 0;
            for (int i = 0; i < c->vocab_size; i++) sum += logits[i];  /* ASan: all vocab_size are there */
            mllm_session_free(s);
        } else if (!err[0]) {
            abort();
        }
        mllm_model_release(m);
    } else if (!err[0]) {
        abort();  /* every refusal says why */
    }
    remove_files();
    return 0;
}
