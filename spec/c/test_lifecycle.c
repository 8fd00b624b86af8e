/* test_lifecycle.c — load / tokenize / generate / fork / save / free cycles
 * through the C API only, and the failure paths of each (issue 8). `make
 * ctest` runs it once; `make test-valgrind` runs it under valgrind memcheck,
 * which must report nothing "definitely lost". Prints TAP-style lines; exits
 * non-zero when a check fails. An argument sets the number of cycles (2). */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

#define FIXTURES "spec/fixtures/models"

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* The 32k-vocabulary fixture has a tokenizer: text in, greedy ids out (the
 * ids tools/make_fixtures.py recorded in its expected.lua). */
static const int32_t greedy32k[] = { 17126, 17126, 17126, 6170, 6170, 6170 };

static void cycle(int k)
{
    char err[MLLM_ERRLEN], what[MLLM_ERRLEN + 64];
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = 2;  /* a thread pool per session: its threads must be joined and freed too */
    mllm_model *m = NULL;
    mllm_status st = mllm_model_load(FIXTURES "/bf16-vocab32k", &mp, &m, err, sizeof err);
    snprintf(what, sizeof what, "cycle %d: load (%s)", k, st ? err : "ok");
    check(st == MLLM_OK, what);
    if (st) return;
    const mllm_tokenizer *tok = mllm_model_tokenizer(m);
    check(tok != NULL && mllm_tokenizer_vocab_size(tok) == 32000, "the model has its tokenizer");

    int32_t *ids = NULL;
    size_t n = 0;
    st = mllm_tokenizer_encode(tok, "Once upon a time", 16, true, &ids, &n, err, sizeof err);
    check(st == MLLM_OK && n == 5 && ids[0] == 1 && ids[4] == 931, "encode with BOS");

    mllm_session_params sp = mllm_session_default_params();
    sp.n_ctx = 64;
    mllm_session *s = NULL;
    st = mllm_session_new(m, &sp, &s, err, sizeof err);
    check(st == MLLM_OK, "session");
    mllm_model_release(m);  /* the session holds the model now */
    if (st) { free(ids); return; }

    mllm_generate_params gp = mllm_generate_default_params();
    gp.max_tokens = 6;
    gp.stops[0] = "never appears \xe2\x96\x81";
    gp.n_stops = 1;
    mllm_generator *g = NULL;
    st = mllm_generator_new(s, ids, n, &gp, &g, err, sizeof err);
    check(st == MLLM_OK, "generator");
    int32_t got[8];
    int n_got = 0;
    size_t text_len = 0;
    const char *piece;
    size_t len;
    int32_t id;
    while (g && (st = mllm_generator_next(g, &piece, &len, &id, err, sizeof err)) == MLLM_OK) {
        if (id >= 0 && n_got < 8) got[n_got++] = id;
        text_len += len;
    }
    check(st == MLLM_DONE && n_got == 6 && memcmp(got, greedy32k, sizeof greedy32k) == 0,
          "greedy ids as recorded");
    check(g && mllm_generator_info(g)->stop == MLLM_STOP_LENGTH && text_len > 0, "stops at max_tokens with text");
    mllm_generator_free(g);

    char *text = NULL;
    size_t tlen = 0;
    st = mllm_tokenizer_decode(tok, got, (size_t)n_got, &text, &tlen, err, sizeof err);
    check(st == MLLM_OK && text && strlen(text) == tlen, "decode");
    free(text);
    int32_t bad = 32000;
    st = mllm_tokenizer_decode(tok, &bad, 1, &text, &tlen, err, sizeof err);
    check(st == MLLM_ERR_ARG && text == NULL, "decode refuses an id outside the vocabulary");

    /* the attention probe: weights over every position, summing to 1; bad heads refused */
    int layers[2] = { 0, 1 }, heads[2] = { 0, 1 }, n_pos = -1;
    check(mllm_session_probe(s, &n_pos) == NULL && n_pos == 0, "no probe before it is set");
    st = mllm_session_set_probe(s, layers, heads, 2, err, sizeof err);
    check(st == MLLM_OK && mllm_session_probe(s, NULL) == NULL, "probe set, no weights before an eval");
    int32_t one = 11;
    st = mllm_session_eval(s, &one, 1, err, sizeof err);
    const float *w = mllm_session_probe(s, &n_pos);
    double sum = 0.0;
    for (int i = 0; w && i < n_pos; i++) sum += w[i];
    check(st == MLLM_OK && w && n_pos == mllm_session_pos(s) && sum > 0.9999 && sum < 1.0001,
          "probe weights over every position sum to 1");
    layers[1] = 99;
    check(mllm_session_set_probe(s, layers, heads, 2, err, sizeof err) == MLLM_ERR_ARG && strstr(err, "layer 99"),
          "probe refuses a layer out of range");
    check(mllm_session_set_probe(s, layers, heads, MLLM_MAX_PROBE_HEADS + 1, err, sizeof err) == MLLM_ERR_ARG,
          "probe refuses too many heads");

    /* fork, save, restore: the copies give the same logits */
    mllm_session *f = NULL;
    st = mllm_session_fork(s, &f, err, sizeof err);
    check(st == MLLM_OK && mllm_session_pos(f) == mllm_session_pos(s), "fork");
    int f_pos = -1;
    const float *fw = f ? mllm_session_probe(f, &f_pos) : NULL;
    check(fw && f_pos == n_pos && memcmp(fw, w, (size_t)n_pos * sizeof *fw) == 0, "a fork keeps the probe");
    char path[64];
    snprintf(path, sizeof path, "/tmp/mllm-lifecycle-%ld-%d.state", (long)getpid(), k);
    st = mllm_session_save(s, path, err, sizeof err);
    mllm_session *r = NULL;
    if (!st) st = mllm_session_new(m, &sp, &r, err, sizeof err);
    if (!st) st = mllm_session_restore(r, path, err, sizeof err);
    remove(path);
    check(st == MLLM_OK && mllm_session_pos(r) == mllm_session_pos(s), "save and restore");
    int32_t next = 7;
    if (f && r && mllm_session_eval(f, &next, 1, err, sizeof err) == MLLM_OK &&
        mllm_session_eval(r, &next, 1, err, sizeof err) == MLLM_OK && mllm_session_eval(s, &next, 1, err, sizeof err) == MLLM_OK) {
        const float *a = mllm_session_logits(s), *b = mllm_session_logits(f), *c = mllm_session_logits(r);
        check(memcmp(a, b, 32000 * sizeof(float)) == 0 && memcmp(a, c, 32000 * sizeof(float)) == 0,
              "fork and restore continue as the original");
        check(argmax(a, 32000) >= 0, "logits");
        /* score: the greedy token is the likeliest, and scoring feeds it as eval does */
        int32_t best = argmax(c, 32000), other = best == 0 ? 1 : 0;
        double lp_best = 0.0, lp_other = 0.0;
        check(mllm_session_score(r, &best, 1, &lp_best, err, sizeof err) == MLLM_OK &&
                  mllm_session_score(f, &other, 1, &lp_other, err, sizeof err) == MLLM_OK,
              "score");
        check(lp_best < 0.0 && lp_other < lp_best, "the greedy token scores highest");
        check(mllm_session_pos(r) == mllm_session_pos(s) + 1, "score advances the session");
    } else {
        check(0, "eval after fork and restore");
    }
    /* a prompt past the context is refused and leaves the session as it was */
    int pos = mllm_session_pos(s);
    int32_t *many = calloc(100, sizeof *many);
    st = mllm_session_eval(s, many, 100, err, sizeof err);
    check(st == MLLM_ERR_CONTEXT && mllm_session_pos(s) == pos, "context full is an error");
    st = mllm_generator_new(s, many, 100, &gp, &g, err, sizeof err);
    check(st == MLLM_ERR_CONTEXT && g == NULL, "a prompt past the context is refused");
    free(many);
    mllm_session_free(r);
    mllm_session_free(f);
    mllm_session_free(s);  /* the last reference: the model goes with it */
    free(ids);
}

/* Every failure path frees what it took. */
static void failures(void)
{
    char err[MLLM_ERRLEN];
    mllm_model *m = (mllm_model *)1;
    check(mllm_model_load("/nonexistent/model", NULL, &m, err, sizeof err) == MLLM_ERR_IO && m == NULL,
          "a missing directory");
    char dir[] = "/tmp/mllm-lifecycle-XXXXXX";
    if (!mkdtemp(dir)) { check(0, "mkdtemp"); return; }
    char path[256], cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s/f32-basic/config.json %s/ && head -c 3000 %s/f32-basic/model.safetensors > %s/model.safetensors",
             FIXTURES, dir, FIXTURES, dir);
    check(system(cmd) == 0, "a truncated checkpoint made");
    check(mllm_model_load(dir, NULL, &m, err, sizeof err) == MLLM_ERR_FORMAT && m == NULL, "a truncated checkpoint");
    snprintf(cmd, sizeof cmd, "cp %s/f32-basic/model.safetensors %s/", FIXTURES, dir);
    check(system(cmd) == 0, "a whole checkpoint made");
    mllm_model_params mp = mllm_model_default_params();
    snprintf(path, sizeof path, "%s/config.json", dir);
    mp.tokenizer_path = path;  /* not a tokenizer */
    check(mllm_model_load(dir, &mp, &m, err, sizeof err) == MLLM_ERR_TOKENIZER && m == NULL, "a bad tokenizer");
    mp.tokenizer_path = NULL;
    mp.dtype = "q8";
    check(mllm_model_load(dir, &mp, &m, err, sizeof err) == MLLM_OK, "a quantized load");
    mllm_session_params sp = { 100000, 0, NULL };
    mllm_session *s = (mllm_session *)1;
    check(mllm_session_new(m, &sp, &s, err, sizeof err) == MLLM_ERR_ARG && s == NULL, "n_ctx past the model's");
    mllm_sampler_params smp = mllm_sampler_default_params();
    smp.temperature = -1;
    mllm_sampler *sm = (mllm_sampler *)1;
    check(mllm_sampler_new(&smp, 256, &sm, err, sizeof err) == MLLM_ERR_ARG && sm == NULL, "a bad sampler");
    mllm_model_release(m);
    mllm_tokenizer *t = (mllm_tokenizer *)1;
    check(mllm_tokenizer_load(path, &t, err, sizeof err) == MLLM_ERR_TOKENIZER && t == NULL, "a bad tokenizer file");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    check(system(cmd) == 0, "cleanup");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int cycles = argc > 1 ? atoi(argv[1]) : 2;
    for (int k = 1; k <= cycles; k++) cycle(k);
    failures();
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed ? 1 : 0;
}
