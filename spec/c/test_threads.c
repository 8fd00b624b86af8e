/* test_threads.c — sessions of one model in several pthreads at once (issue 8).
 *
 * One model is loaded; a single-threaded run records the logits after the
 * prompt and after each of a few greedy steps. Then THREADS pthreads each
 * open their own session on the same model (and retain/release it, and use
 * its tokenizer) at the same time, several rounds each, and must get exactly
 * the same logits. The main thread drops its own reference while they run,
 * so the last thread to finish frees the model. Prints TAP-style lines. */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#define THREADS 4   /* workers on models run with one thread per session */
#define ROUNDS 3
#define STEPS 6

typedef struct {
    mllm_model *m;
    const int32_t *prompt;
    size_t n_prompt;
    int n_vocab;
    float *want;            /* (STEPS + 1, n_vocab): after the prompt, then after each step */
    int32_t steps[STEPS];   /* the greedy ids fed */
} job;

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* Prompt then STEPS greedy tokens on a fresh session; logits into out (or
 * compared with j->want when out is NULL). Returns the number of mismatches,
 * or -1 when a call failed. */
static int run(job *j, float *out)
{
    char err[MLLM_ERRLEN];
    mllm_session_params sp = mllm_session_default_params();
    sp.n_ctx = 64;
    sp.n_batch = 4;  /* the prompt goes through batched prefill in two chunks */
    mllm_session *s = NULL;
    if (mllm_session_new(j->m, &sp, &s, err, sizeof err) != MLLM_OK) return -1;
    int bad = 0;
    size_t row = (size_t)j->n_vocab * sizeof(float);
    if (mllm_session_eval(s, j->prompt, j->n_prompt, err, sizeof err) != MLLM_OK) bad = -1;
    for (int k = 0; bad >= 0 && k <= STEPS; k++) {
        const float *lg = mllm_session_logits(s);
        if (out) {
            memcpy(out + (size_t)k * j->n_vocab, lg, row);
            if (k < STEPS) j->steps[k] = argmax(lg, j->n_vocab);
        } else if (memcmp(lg, j->want + (size_t)k * j->n_vocab, row) != 0) {
            bad++;
        }
        if (k < STEPS && mllm_session_eval(s, &j->steps[k], 1, err, sizeof err) != MLLM_OK) bad = -1;
    }
    mllm_session_free(s);
    return bad;
}

typedef struct {
    job *j;
    mllm_model *m;          /* a reference of the worker's own, taken before it starts */
    int mismatches, failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    mllm_model *m = w->m;
    for (int r = 0; r < ROUNDS; r++) {
        int bad = run(w->j, NULL);
        if (bad < 0) w->failures++;
        else w->mismatches += bad;
        const mllm_tokenizer *t = mllm_model_tokenizer(m);
        if (t) {  /* the tokenizer is shared too */
            int32_t *ids = NULL;
            size_t n = 0;
            char *text = NULL, err[MLLM_ERRLEN];
            size_t len = 0;
            if (mllm_tokenizer_encode(t, "Once upon a time", 16, false, &ids, &n, err, sizeof err) != MLLM_OK ||
                mllm_tokenizer_decode(t, ids, n, &text, &len, err, sizeof err) != MLLM_OK ||
                strcmp(text, "Once upon a time") != 0)
                w->failures++;
            free(ids);
            free(text);
        }
    }
    mllm_model_release(m);
    return NULL;
}

static void test_model(const char *dir, int n_threads, int n_workers, const int32_t *prompt, size_t n_prompt)
{
    char err[MLLM_ERRLEN], what[MLLM_ERRLEN + 128];
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = n_threads;
    job j = { 0 };
    mllm_status st = mllm_model_load(dir, &mp, &j.m, err, sizeof err);
    snprintf(what, sizeof what, "%s: load (%s)", dir, st ? err : "ok");
    check(st == MLLM_OK, what);
    if (st) return;
    j.prompt = prompt;
    j.n_prompt = n_prompt;
    j.n_vocab = mllm_model_config(j.m)->vocab_size;
    j.want = malloc((size_t)(STEPS + 1) * j.n_vocab * sizeof(float));
    check(j.want && run(&j, j.want) == 0, "the single-threaded reference run");

    pthread_t th[THREADS];
    worker w[THREADS];
    int started = 0;
    for (int i = 0; i < n_workers; i++) {
        w[i] = (worker){ &j, mllm_model_retain(j.m), 0, 0 };
        if (pthread_create(&th[i], NULL, work, &w[i]) == 0) {
            started++;
        } else {
            mllm_model_release(w[i].m);
            break;
        }
    }
    mllm_model_release(j.m);  /* the workers hold it now: the last one out frees it */
    int mismatches = 0, failures = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        mismatches += w[i].mismatches;
        failures += w[i].failures;
    }
    snprintf(what, sizeof what, "%s (%d threads per session): %d pthreads x %d rounds, no call failed",
             dir, n_threads, started, ROUNDS);
    check(started == n_workers && failures == 0, what);
    snprintf(what, sizeof what, "%s: every thread's logits equal the single-threaded run's (%d mismatches)",
             dir, mismatches);
    check(mismatches == 0, what);
    free(j.want);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    static const int32_t p256[] = { 241, 83, 117, 139, 34, 215, 47 };
    static const int32_t p32k[] = { 1, 9038, 2501, 263, 931 };
    test_model("spec/fixtures/models/f32-basic", 1, THREADS, p256, 7);
    test_model("spec/fixtures/models/bf16-vocab32k", 1, THREADS, p32k, 5);  /* with a shared tokenizer */
    /* each session with a pool of its own: few workers, as the pools spin while they wait */
    test_model("spec/fixtures/models/f16-gqa3", 2, 2, p256, 7);
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed ? 1 : 0;
}
