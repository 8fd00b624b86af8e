/* fuzz_session_restore.c — libFuzzer harness for mllm_session_restore
 * (src/core/session.c): a saved session read back from a file (issue 34).
 *
 * Input: the bytes of a session file. The fixture model f32-ls is loaded once
 * (spec/fixtures/models/f32-ls from the repository root, where `make fuzz`
 * runs; MLLM_FUZZ_MODEL names another directory), with an f32 and an f16
 * session of n_ctx 64. Each input is written to a temporary file and restored
 * into both sessions twice: as it is, and with its last 8 bytes replaced by
 * the right checksum, so that mutations of the header and the cache also reach
 * the checks behind the checksum. A refused file must leave the session at
 * position 0 without logits and have a message naming the file; a restored
 * one must be within n_ctx, and the session then evaluates one more token on
 * the restored cache (ASan checks its reads).
 *
 *   make fuzz-build && build/fuzz/fuzz_session_restore fuzz/corpus/session_restore
 * Seeds: sessions saved by this model (f32 and f16 caches, fresh and after a
 * prompt) and cuts of them.
 */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_CTX 64

/* Loaded once and kept (reachable, so LeakSanitizer does not count them). */
static mllm_model *model;
static mllm_session *sessions[2];  /* kv f32, kv f16 */
static char path[64];
static int fd = -1;

static void remove_tmp(void)
{
    if (fd >= 0) unlink(path);
}

static void setup(void)
{
    const char *dir = getenv("MLLM_FUZZ_MODEL");
    if (!dir) dir = "spec/fixtures/models/f32-ls";
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = 1;
    char err[MLLM_ERRLEN];
    if (mllm_model_load(dir, &mp, &model, err, sizeof err)) {
        fprintf(stderr, "fuzz_session_restore: %s (run from the repository root or set MLLM_FUZZ_MODEL)\n", err);
        abort();
    }
    static const char *const kv[2] = { "f32", "f16" };
    for (int i = 0; i < 2; i++) {
        mllm_session_params sp = { N_CTX, 0, kv[i] };
        if (mllm_session_new(model, &sp, &sessions[i], err, sizeof err)) abort();
    }
    snprintf(path, sizeof path, "/tmp/mllm-fuzz-session-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) abort();
    atexit(remove_tmp);
}

static void write_input(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0) abort();
    for (size_t off = 0; off < size;) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
}

static void restore_and_check(mllm_session *s)
{
    char err[MLLM_ERRLEN];
    err[0] = '\0';
    if (mllm_session_restore(s, path, err, sizeof err) != MLLM_OK) {
        if (mllm_session_pos(s) != 0 || mllm_session_logits(s)) abort();  /* never half a state */
        if (!strstr(err, path)) abort();                                  /* the message names the file */
        return;
    }
    int pos = mllm_session_pos(s);
    if (pos < 0 || pos > N_CTX) abort();
    if (pos < N_CTX) {
        int32_t id = 3;
        if (mllm_session_eval(s, &id, 1, err, sizeof err) != MLLM_OK) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!model) setup();
    write_input(data, size);
    for (int i = 0; i < 2; i++) restore_and_check(sessions[i]);
    if (size < 8) return 0;
    /* again with the checksum the writer would have put there */
    uint8_t *fixed = malloc(size);
    if (!fixed) abort();
    memcpy(fixed, data, size);
    uint64_t sum = XXH3_64bits(fixed, size - 8);
    for (int i = 0; i < 8; i++) fixed[size - 8 + i] = (uint8_t)(sum >> (8 * i));
    write_input(fixed, size);
    free(fixed);
    for (int i = 0; i < 2; i++) restore_and_check(sessions[i]);
    return 0;
}
