/* test_hf_stream.c — the text a generator streams with a tokenizer.json is the
 * text its decode gives for the same ids (issue 37): the bf16-vocab32k
 * fixture with the byte-level BPE fixture's tokenizer.json in place of
 * tokenizer.model, a logits hook that forces a chosen sequence of tokens. A
 * byte-level tokenizer keeps the first token's leading space (Hugging Face's
 * decode does), a SentencePiece-style one drops it (its Strip decoder does),
 * and multi-byte characters split over byte tokens come out whole. Prints
 * TAP-style lines; exits non-zero when a check fails. */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_checks, n_failed;

static void check(int ok, const char *what, const char *detail)
{
    n_checks++;
    if (!ok) n_failed++;
    printf("%sok %d - %s%s%s%s\n", ok ? "" : "not ", n_checks, what, detail ? " (" : "", detail ? detail : "",
           detail ? ")" : "");
}

typedef struct {
    const int32_t *ids;
    size_t n, at;
} forced;

/* Leaves only the next forced token possible. */
static void force_hook(void *ud, float *logits, int n_vocab, const char *text, size_t len)
{
    (void)text, (void)len;
    forced *f = ud;
    for (int i = 0; i < n_vocab; i++) logits[i] = -INFINITY;
    logits[f->ids[f->at < f->n ? f->at : f->n - 1]] = 0.0f;
    f->at++;
}

static void stream_matches_decode(const char *tokenizer, const char *text)
{
    char dir[] = "/tmp/mllm-hfstream-XXXXXX", cmd[1024], err[MLLM_ERRLEN], what[256];
    if (!mkdtemp(dir)) return check(0, "mkdtemp", NULL);
    snprintf(cmd, sizeof cmd,
             "cp spec/fixtures/models/bf16-vocab32k/config.json spec/fixtures/models/bf16-vocab32k/model.safetensors "
             "'%s/' && cp 'spec/fixtures/tokenizers/%s/tokenizer.json' '%s/'",
             dir, tokenizer, dir);
    if (system(cmd) != 0) return check(0, "copied the fixture", dir);
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = 1;
    mllm_model *m = NULL;
    mllm_session *s = NULL;
    mllm_generator *g = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    char *decoded = NULL, streamed[1024] = "";
    size_t dlen = 0, slen = 0;
    mllm_status st = mllm_model_load(dir, &mp, &m, err, sizeof err);
    const mllm_tokenizer *t = st ? NULL : mllm_model_tokenizer(m);
    if (!st) st = mllm_tokenizer_encode(t, text, strlen(text), false, &ids, &n, err, sizeof err);
    if (!st) st = mllm_tokenizer_decode(t, ids, n, &decoded, &dlen, err, sizeof err);
    if (!st) st = mllm_session_new(m, NULL, &s, err, sizeof err);
    forced f = {ids, n, 0};
    mllm_generate_params gp = mllm_generate_default_params();
    gp.max_tokens = (int)n;
    gp.stop_at_eos = false;
    gp.logits_hook = force_hook;
    gp.hook_ud = &f;
    static const int32_t prompt[] = {1};
    if (!st) st = mllm_generator_new(s, prompt, 1, &gp, &g, err, sizeof err);
    while (!st) {
        const char *piece;
        size_t len;
        int32_t id;
        st = mllm_generator_next(g, &piece, &len, &id, err, sizeof err);
        if (st == MLLM_OK && slen + len < sizeof streamed) {
            memcpy(streamed + slen, piece, len);
            slen += len;
        }
    }
    streamed[slen] = '\0';
    snprintf(what, sizeof what, "%s: the stream of \"%s\" is its decode", tokenizer, text);
    check(st == MLLM_DONE && decoded && slen == dlen && memcmp(streamed, decoded, dlen) == 0, what,
          st == MLLM_DONE ? streamed : err);
    mllm_generator_free(g);
    mllm_session_free(s);
    mllm_model_release(m);
    free(ids);
    free(decoded);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) check(0, "removed the temporary directory", dir);
}

int main(void)
{
    stream_matches_decode("bpe-llama3", " Hello world, 日本語 👍🏽");
    stream_matches_decode("bpe-llama3", "Hello");
    stream_matches_decode("sp-metaspace", "Hello world, 日本語 👍🏽");
    printf("%d checks, %d failed\n", n_checks, n_failed);
    return n_failed != 0;
}
