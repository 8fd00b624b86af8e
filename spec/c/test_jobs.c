/* test_jobs.c — mllm_job (issue 38): a stepwise job and an async one give the
 * text of mllm_generator_new + _next; cancel from another thread during a long
 * prefill; free a job, and its session, while the worker runs; the session is
 * busy while a job holds it. Outcomes only, never times. Also run under
 * ThreadSanitizer (make test-tsan). Prints TAP-style lines. */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "shipped_fixture.h"

static int32_t *prompt;
static size_t n_prompt;

typedef struct {
    char *buf;
    size_t n;
} text;

static void append(text *t, const char *p, size_t len)
{
    t->buf = realloc(t->buf, t->n + len + 1);
    memcpy(t->buf + t->n, p, len);
    t->n += len;
    t->buf[t->n] = '\0';
}

static mllm_generate_params gen_params(uint64_t seed)
{
    mllm_generate_params gp = mllm_generate_default_params();
    gp.max_tokens = 40;
    gp.sampler.seed = seed;
    gp.sampler.temperature = seed ? 0.8f : 0.0f;
    gp.stops[0] = "\n\n";
    gp.n_stops = 1;
    return gp;
}

/* The reference: mllm_generator_new + next to the end. */
static text reference(uint64_t seed, int *pos, mllm_generate_info *info)
{
    char err[MLLM_ERRLEN];
    text t = { calloc(1, 1), 0 };
    mllm_session *s = new_session(64);
    mllm_generate_params gp = gen_params(seed);
    mllm_generator *g = NULL;
    if (mllm_generator_new(s, prompt, n_prompt, &gp, &g, err, sizeof err) == MLLM_OK) {
        const char *piece;
        size_t len;
        int32_t id;
        while (mllm_generator_next(g, &piece, &len, &id, err, sizeof err) == MLLM_OK) append(&t, piece, len);
        *info = *mllm_generator_info(g);
    }
    *pos = mllm_session_pos(s);
    mllm_generator_free(g);
    mllm_session_free(s);
    return t;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* mode 0: steps of budget_ms; 1: async polled; 2: async waited. */
static void same_as_generate(uint64_t seed, int mode, double budget_ms, size_t chunk)
{
    char err[MLLM_ERRLEN], what[MLLM_ERRLEN + 256];
    int want_pos = -1;
    mllm_generate_info want_info;
    memset(&want_info, 0, sizeof want_info);
    text want = reference(seed, &want_pos, &want_info);
    mllm_session *s = new_session(64);
    mllm_job_params jp = mllm_job_default_params();
    jp.gen = gen_params(seed);
    jp.async = mode > 0;
    jp.prefill_chunk = chunk;
    mllm_job *j = NULL;
    mllm_status st = mllm_job_start(s, prompt, n_prompt, &jp, &j, err, sizeof err);
    text got = { calloc(1, 1), 0 };
    int calls = 0;
    const char *piece;
    size_t len;
    while (st == MLLM_OK) {
        calls++;
        if (mode == 0) st = mllm_job_step(j, budget_ms, &piece, &len, err, sizeof err);
        else if (mode == 1) st = mllm_job_poll(j, &piece, &len, err, sizeof err);
        else st = mllm_job_wait(j, &piece, &len, err, sizeof err);
        append(&got, piece, len);
        if (mode == 1 && st == MLLM_OK) sleep_ms(1);
    }
    mllm_generate_info info;
    mllm_job_info(j, &info);
    snprintf(what, sizeof what, "%s (seed %llu%s): the text of generate in %d calls, ends MLLM_DONE (%s)",
             mode == 0 ? "step" : mode == 1 ? "async, polled" : "async, waited", (unsigned long long)seed,
             chunk ? ", fixed chunks" : "", calls, st == MLLM_DONE ? "done" : err);
    check(st == MLLM_DONE && got.n == want.n && memcmp(got.buf, want.buf, want.n) == 0, what);
    snprintf(what, sizeof what, "  same tokens (%d), stop reason (%s) and position (%d)", info.generated_tokens,
             mllm_stop_reason_name(info.stop), mllm_session_pos(s));
    check(info.generated_tokens == want_info.generated_tokens && info.stop == want_info.stop &&
              info.prompt_tokens == (int)n_prompt && mllm_session_pos(s) == want_pos,
          what);
    if (!(got.n == want.n && memcmp(got.buf, want.buf, want.n) == 0)) printf("# want %s\n# got  %s\n", want.buf, got.buf);
    /* every generated token is in the session, in order */
    int32_t ids[256];
    size_t n_ids = mllm_job_ids(j, ids, 256);
    check(n_ids == (size_t)info.generated_tokens && mllm_session_pos(s) == (int)(n_prompt + n_ids) &&
              mllm_job_ids(j, NULL, 0) == n_ids && (n_ids == 0 || (ids[0] >= 0 && ids[n_ids - 1] >= 0)),
          "  its ids: one per generated token, as many as the session gained");
    st = mllm_job_poll(j, &piece, &len, err, sizeof err);
    check(st == MLLM_DONE && len == 0, "  an ended job keeps its final status, with no more text");
    mllm_job_free(j);
    check(mllm_session_eval(s, prompt, 2, err, sizeof err) == MLLM_OK, "  the session is free again after mllm_job_free");
    mllm_session_free(s);
    free(want.buf);
    free(got.buf);
}

static void test_busy(void)
{
    char err[MLLM_ERRLEN];
    mllm_session *s = new_session(64);
    mllm_job_params jp = mllm_job_default_params();
    mllm_job *j = NULL, *j2 = NULL;
    check(mllm_job_start(s, prompt, n_prompt, &jp, &j, err, sizeof err) == MLLM_OK, "a stepwise job starts");
    check(mllm_session_eval(s, prompt, 2, err, sizeof err) == MLLM_ERR_ARG && strstr(err, "the session is busy"),
          "eval on its session: busy");
    check(mllm_session_rewind(s, 0) == MLLM_ERR_ARG, "rewind: busy");
    mllm_session *f = NULL;
    check(mllm_session_fork(s, &f, err, sizeof err) == MLLM_ERR_ARG && f == NULL, "fork: busy");
    mllm_generator *g = NULL;
    mllm_generate_params gp = mllm_generate_default_params();
    check(mllm_generator_new(s, prompt, 2, &gp, &g, err, sizeof err) == MLLM_ERR_ARG && g == NULL, "a generator: busy");
    check(mllm_job_start(s, prompt, 2, &jp, &j2, err, sizeof err) == MLLM_ERR_ARG && j2 == NULL, "a second job: busy");
    const char *piece;
    size_t len;
    check(mllm_job_poll(j, &piece, &len, err, sizeof err) == MLLM_OK && len == 0,
          "polling a stepwise job hands out nothing and does no work");
    mllm_job_cancel(j);
    mllm_status st = mllm_job_step(j, 5, &piece, &len, err, sizeof err);
    mllm_generate_info info;
    mllm_job_info(j, &info);
    check(st == MLLM_CANCELLED && info.stop == MLLM_STOP_CANCELLED && mllm_session_pos(s) == 0,
          "a stepwise job cancelled between steps ends at its next step, nothing evaluated");
    check(!mllm_session_cancel_pending(s), "and leaves no cancel request on the session");
    mllm_job_free(j);

    jp.async = true;
    check(mllm_job_start(s, prompt, n_prompt, &jp, &j, err, sizeof err) == MLLM_OK, "an async job starts");
    check(mllm_job_step(j, 5, &piece, &len, err, sizeof err) == MLLM_ERR_ARG && strstr(err, "poll it"),
          "stepping an async job is refused");
    mllm_job_wait(j, &piece, &len, err, sizeof err);
    mllm_job_free(j);
    mllm_session_free(s);
}

typedef struct {
    mllm_job *j;
} canceller;

static void *cancel_soon(void *p)
{
    canceller *c = p;
    sleep_ms(2);
    mllm_job_cancel(c->j);
    return NULL;
}

static void test_cancel_thread(void)
{
    char err[MLLM_ERRLEN] = "";
    mllm_session *s = new_session(1);  /* many prefill chunks: a long prefill */
    mllm_job_params jp = mllm_job_default_params();
    jp.async = true;
    jp.gen.max_tokens = 64;
    jp.gen.stop_at_eos = false;
    mllm_job *j = NULL;
    check(mllm_job_start(s, long_prompt, LONG, &jp, &j, err, sizeof err) == MLLM_OK, "a long async job starts");
    canceller c = { j };
    pthread_t th;
    pthread_create(&th, NULL, cancel_soon, &c);
    const char *piece;
    size_t len;
    mllm_status st = mllm_job_wait(j, &piece, &len, err, sizeof err);
    pthread_join(th, NULL);
    mllm_generate_info info;
    mllm_job_info(j, &info);
    char what[300];
    snprintf(what, sizeof what, "cancelled from another thread: MLLM_CANCELLED after %d prompt and %d generated tokens (%s)",
             info.prompt_tokens, info.generated_tokens, err);
    check(st == MLLM_CANCELLED && info.stop == MLLM_STOP_CANCELLED, what);
    mllm_job_free(j);
    check(mllm_session_pos(s) == info.prompt_tokens + info.generated_tokens && !mllm_session_cancel_pending(s),
          "the session holds what was evaluated, and no request is left");
    check(mllm_session_eval(s, long_prompt, 4, err, sizeof err) == MLLM_OK, "and goes on");
    mllm_session_free(s);
}

static void test_free_running(void)
{
    char err[MLLM_ERRLEN] = "";
    mllm_job_params jp = mllm_job_default_params();
    jp.async = true;
    jp.gen.max_tokens = 64;
    jp.gen.stop_at_eos = false;
    mllm_session *s = new_session(1);
    mllm_job *j = NULL;
    check(mllm_job_start(s, long_prompt, LONG, &jp, &j, err, sizeof err) == MLLM_OK, "another long async job starts");
    mllm_job_free(j);  /* while its worker runs: cancel and join */
    check(mllm_session_eval(s, long_prompt, 2, err, sizeof err) == MLLM_OK,
          "freeing it while it runs cancels, joins, and frees the session for other use");
    mllm_session_free(s);

    s = new_session(1);
    mllm_model *own = mllm_model_retain(model);
    check(mllm_job_start(s, long_prompt, LONG, &jp, &j, err, sizeof err) == MLLM_OK, "a third long async job starts");
    mllm_model_release(own);  /* the session holds the model */
    mllm_session_free(s);     /* while the job runs: cancelled and joined first */
    const char *piece;
    size_t len;
    mllm_status st = mllm_job_poll(j, &piece, &len, err, sizeof err);
    mllm_generate_info info;
    mllm_job_info(j, &info);
    check(st == MLLM_CANCELLED && info.stop == MLLM_STOP_CANCELLED && mllm_job_ended(j),
          "freeing its session while it runs ends the job, cancelled");
    st = mllm_job_wait(j, &piece, &len, err, sizeof err);
    check(st == MLLM_CANCELLED, "wait on it returns at once");
    mllm_job_free(j);
}

static bool stop_after_two(void *ud, const char *piece, size_t len, int32_t id)
{
    (void)piece;
    (void)len;
    (void)id;
    return ++*(int *)ud < 2;
}

static void test_on_piece(void)
{
    char err[MLLM_ERRLEN] = "";
    mllm_session *s = new_session(64);
    mllm_job_params jp = mllm_job_default_params();
    int count = 0;
    jp.gen.stop_at_eos = false;
    jp.on_piece = stop_after_two;
    jp.piece_ud = &count;
    mllm_job *j = NULL;
    mllm_job_start(s, prompt, n_prompt, &jp, &j, err, sizeof err);
    const char *piece;
    size_t len;
    mllm_status st = mllm_job_wait(j, &piece, &len, err, sizeof err);
    mllm_generate_info info;
    mllm_job_info(j, &info);
    check(st == MLLM_DONE && count == 2 && info.generated_tokens == 2 && info.stop == MLLM_STOP_NONE,
          "on_piece returning false ends the job after that piece (stop reason none)");
    mllm_job_free(j);
    mllm_session_free(s);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char err[MLLM_ERRLEN];
    if (!load_shipped(2)) return 1;
    const char *words = "<|user|> Set an alarm for 7 am tomorrow and remind me to call mom. <|assistant|>";
    if (mllm_tokenizer_encode(mllm_model_tokenizer(model), words, strlen(words), true, &prompt, &n_prompt, err,
                              sizeof err) != MLLM_OK) {
        printf("not ok 1 - encode: %s\n1..1\n", err);
        return 1;
    }
    for (uint64_t seed = 0; seed < 3; seed++) {
        same_as_generate(seed, 0, 0.5, 0);  /* chunks from the measured speed */
        same_as_generate(seed, 0, 2.0, 64); /* chunks of n_batch: bit for bit */
        same_as_generate(seed, 1, 0, 0);
        same_as_generate(seed, 2, 0, 0);
    }
    test_busy();
    test_on_piece();
    test_cancel_thread();
    test_free_running();
    free(prompt);
    mllm_model_release(model);
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed ? 1 : 0;
}
