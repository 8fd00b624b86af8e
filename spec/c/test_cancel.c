/* test_cancel.c — mllm_session_cancel (issue 38): a request made before an
 * operation, from the same thread between generated tokens, from another
 * thread and from a signal handler during a long prefill. Each cancelled
 * operation must return MLLM_CANCELLED, take the request, and leave the session
 * consistent: its position on a chunk boundary and its logits exactly those of
 * a session that evaluated the same tokens without a cancel. Outcomes only,
 * never times: a cancel that comes after the work ended is allowed and checked
 * (the request then waits for the next operation). Prints TAP-style lines. */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include "check.h"
#include "shipped_fixture.h"

/* Whether s's logits are exactly those of a fresh session with the same
 * n_batch that evaluates its first pos prompt tokens. */
static int logits_match_reference(mllm_session *s, int n_batch)
{
    int pos = mllm_session_pos(s);
    if (pos == 0) return mllm_session_logits(s) == NULL;
    mllm_session *r = new_session(n_batch);
    char err[MLLM_ERRLEN];
    int ok = mllm_session_eval(r, long_prompt, (size_t)pos, err, sizeof err) == MLLM_OK &&
             memcmp(mllm_session_logits(r), mllm_session_logits(s), (size_t)n_vocab * sizeof(float)) == 0;
    mllm_session_free(r);
    return ok;
}

static void test_pending(void)
{
    char err[MLLM_ERRLEN];
    mllm_session *s = new_session(8);
    check(!mllm_session_cancel_pending(s), "a new session has no cancel request");
    mllm_session_cancel(s);
    check(mllm_session_cancel_pending(s), "cancel leaves a request when nothing runs");
    mllm_status st = mllm_session_eval(s, long_prompt, 20, err, sizeof err);
    check(st == MLLM_CANCELLED && mllm_session_pos(s) == 0 && strstr(err, "cancelled: 0 of 20 tokens"),
          "a pending request cancels the next eval before any token");
    check(!mllm_session_cancel_pending(s), "the cancelled eval took the request");
    st = mllm_session_eval(s, long_prompt, 20, err, sizeof err);
    check(st == MLLM_OK && mllm_session_pos(s) == 20 && logits_match_reference(s, 8),
          "the session evaluates again, with the logits of an uncancelled one");

    double lp[4];
    mllm_session_cancel(s);
    st = mllm_session_score(s, long_prompt + 20, 4, lp, err, sizeof err);
    check(st == MLLM_CANCELLED && mllm_session_pos(s) == 20 && strstr(err, "0 of 4 tokens scored"),
          "score is cancelled too, the session unchanged");

    mllm_session_cancel(s);
    mllm_session_clear_cancel(s);
    st = mllm_session_eval(s, long_prompt + 20, 4, err, sizeof err);
    check(st == MLLM_OK && mllm_session_pos(s) == 24 && !mllm_session_cancel_pending(s),
          "clear_cancel drops a request nothing took");

    mllm_generator *g = NULL;
    mllm_generate_params gp = mllm_generate_default_params();
    mllm_session_rewind(s, 0);
    mllm_session_cancel(s);
    st = mllm_generator_new(s, long_prompt, 20, &gp, &g, err, sizeof err);
    check(st == MLLM_CANCELLED && g == NULL && mllm_session_pos(s) == 0, "a generator's prefill is cancelled");
    mllm_session_free(s);
}

/* Cancels during generation, from the loop itself (as a frame loop or an
 * on_token callback would), then checks the generator ended cleanly. */
static void test_generator(void)
{
    char err[MLLM_ERRLEN];
    mllm_session *s = new_session(8);
    mllm_generator *g = NULL;
    mllm_generate_params gp = mllm_generate_default_params();
    gp.max_tokens = 20;
    gp.stop_at_eos = false;
    mllm_status st = mllm_generator_new(s, long_prompt, 10, &gp, &g, err, sizeof err);
    check(st == MLLM_OK, "a generator starts");
    const char *piece;
    size_t len;
    int32_t id;
    int n = 0;
    while ((st = mllm_generator_next(g, &piece, &len, &id, err, sizeof err)) == MLLM_OK)
        if (++n == 3) mllm_session_cancel(s);
    check(st == MLLM_CANCELLED && strstr(err, "generation cancelled after 3 tokens"),
          "next returns MLLM_CANCELLED at the token after the request");
    const mllm_generate_info *info = mllm_generator_info(g);
    check(info->stop == MLLM_STOP_CANCELLED && info->generated_tokens == 3 &&
              strcmp(mllm_stop_reason_name(info->stop), "cancelled") == 0,
          "the info says cancelled, three tokens");
    check(mllm_session_pos(s) == 13, "the session holds the prompt and the three tokens");
    while ((st = mllm_generator_next(g, &piece, &len, &id, err, sizeof err)) == MLLM_OK) {}
    check(st == MLLM_DONE, "the ended generator gives its held-back text, then MLLM_DONE");
    mllm_generator_free(g);
    st = mllm_session_eval(s, long_prompt, 4, err, sizeof err);
    check(st == MLLM_OK && mllm_session_pos(s) == 17, "the session goes on after a cancelled generation");
    mllm_session_free(s);
}

typedef struct {
    mllm_session *s;
    atomic_int started;
} canceller;

static void *cancel_soon(void *p)
{
    canceller *c = p;
    while (!atomic_load(&c->started)) {}
    struct timespec ts = { 0, 2000000 };  /* 2 ms into a prefill of hundreds of forward passes */
    nanosleep(&ts, NULL);
    mllm_session_cancel(c->s);
    return NULL;
}

/* The outcome of a long prefill that a cancel hit (or, on a machine so slow
 * that the thread ran late, missed): what = who cancelled. */
static void check_long(mllm_session *s, mllm_status st, const char *err, int n_batch, const char *what)
{
    char msg[256];
    int pos = mllm_session_pos(s);
    if (st == MLLM_CANCELLED) {
        snprintf(msg, sizeof msg, "%s: cancelled at position %d of %d, on a chunk boundary (%s)", what, pos, LONG, err);
        check(pos < LONG && pos % n_batch == 0, msg);
        snprintf(msg, sizeof msg, "%s: the logits are those of the %d tokens evaluated", what, pos);
        check(logits_match_reference(s, n_batch), msg);
        check(!mllm_session_cancel_pending(s), "the request was taken");
    } else {
        snprintf(msg, sizeof msg, "%s: the prefill ended first; the request waits (%s)", what, mllm_status_name(st));
        check(st == MLLM_OK && mllm_session_cancel_pending(s), msg);
        mllm_session_clear_cancel(s);
    }
    char err2[MLLM_ERRLEN];
    mllm_session_rewind(s, pos > 4 ? pos - 4 : 0);
    snprintf(msg, sizeof msg, "%s: the session rewinds and continues", what);
    check(mllm_session_eval(s, long_prompt + mllm_session_pos(s), 8, err2, sizeof err2) == MLLM_OK, msg);
}

static void test_thread(void)
{
    char err[MLLM_ERRLEN] = "";
    mllm_session *s = new_session(1);  /* one token per chunk: hundreds of boundaries */
    canceller c = { s, 0 };
    pthread_t th;
    check(pthread_create(&th, NULL, cancel_soon, &c) == 0, "a cancelling thread starts");
    atomic_store(&c.started, 1);
    mllm_status st = mllm_session_eval(s, long_prompt, LONG, err, sizeof err);
    pthread_join(th, NULL);
    check_long(s, st, err, 1, "from another thread");
    mllm_session_free(s);
}

static mllm_session *signalled;

static void on_alarm(int sig)
{
    (void)sig;
    mllm_session_cancel(signalled);  /* async-signal-safe: one lock-free store */
}

static void test_signal(void)
{
    char err[MLLM_ERRLEN] = "";
    mllm_session *s = new_session(2);
    signalled = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    check(sigaction(SIGALRM, &sa, NULL) == 0, "a SIGALRM handler is installed");
    struct itimerval it = { { 0, 0 }, { 0, 2000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    mllm_status st = mllm_session_eval(s, long_prompt, LONG, err, sizeof err);
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    check_long(s, st, err, 2, "from a signal handler");
    signal(SIGALRM, SIG_DFL);
    mllm_session_free(s);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!load_shipped(2)) return 1;  /* the pool's workers run while the calling thread checks the flag */
    test_pending();
    test_generator();
    test_thread();
    test_signal();
    mllm_model_release(model);
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed ? 1 : 0;
}
