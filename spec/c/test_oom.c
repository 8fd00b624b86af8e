/* test_oom.c — allocation failure through the C API (issue 41), SQLite-style:
 * linked against the core built with -DMLLM_FAULT_INJECTION (base/alloc.h; the
 * Makefile builds it for this test alone), it runs each scenario with its 1st,
 * 2nd, 3rd... allocation failing until a run goes through without an injected
 * failure. Every failed run must return MLLM_ERR_NOMEM with a message naming
 * the memory (never crash, never another status), and what it made before the
 * failure must still work with injection off: a session that failed to
 * generate gives the recorded greedy ids afterwards. `make test-oom` walks the
 * Lua API the same way under ASan with the leak checker on. */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"
#include "mobilellm_calls.h"
#include "base/alloc.h"
#include "base/status.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

#define MODEL "spec/fixtures/models/f32-basic"
#define SP_TOKENIZER "spec/fixtures/models/bf16-vocab32k/tokenizer.model"
#define N_GEN 4

/* the greedy ids after it repeat, so that the generation drafts and keeps a draft (1 of 1) */
static const int32_t prompt[] = { 1, 120, 9, 2, 7, 1 };
static int drafts_kept;  /* by the last generation */
static char state_path[64];

/* What a scenario's run without failures gave: every later run must give the same. */
static bool have_ref;
static int32_t ref_ids[16];
static size_t ref_n;

/* Set by end_injection: the failures injected in the run. */
static long injected;

/* Stops injecting (the checks after a failure must not fail themselves). */
static void end_injection(void)
{
    injected = mllm_fault_failed();
    mllm_fault_arm(0, false);
}

/* Result of a run: its status (MLLM_OK, or the first failure, message in err),
 * and whether the objects it had made still worked after a failure. */
typedef struct { mllm_status st; bool usable; } outcome;
typedef outcome (*scenario)(char *err, size_t errlen);

/* Records ids as the reference, or compares them with it. */
static bool same_as_ref(const int32_t *ids, size_t n)
{
    if (!have_ref) {
        memcpy(ref_ids, ids, n * sizeof *ids);
        ref_n = n;
        have_ref = true;
        return true;
    }
    return n == ref_n && memcmp(ids, ref_ids, n * sizeof *ids) == 0;
}

/* N_GEN greedy ids after the prompt, the session rewound first. */
static mllm_status generate(mllm_session *s, int32_t *got, char *err, size_t errlen)
{
    mllm_status st = mllm_session_rewind(s, 0);
    mllm_generate_params gp = mllm_generate_default_params();
    gp.max_tokens = N_GEN;
    gp.stop_at_eos = false;
    gp.draft_tokens = 4;  /* a draft's rows are allocations too; without them it decodes plainly */
    mllm_generator *g = NULL;
    if (!st) st = mllm_generator_new(s, prompt, sizeof prompt / sizeof *prompt, &gp, &g, err, errlen);
    int n = 0;
    const char *piece;
    size_t len;
    int32_t id;
    while (!st && (st = mllm_generator_next(g, &piece, &len, &id, err, errlen)) == MLLM_OK)
        if (id >= 0 && n < N_GEN) got[n++] = id;
    drafts_kept = g ? mllm_generator_info(g)->accepted_tokens : 0;
    mllm_generator_free(g);
    if (st == MLLM_DONE) st = n == N_GEN ? MLLM_OK : mllm_fail(err, errlen, MLLM_ERR_ARG, "%d ids, not %d", n, N_GEN);
    return st;
}

/* Load, session, generate, save the session, fork it, restore it into a new one. */
static outcome model_run(char *err, size_t errlen)
{
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = 1;
    mllm_session_params sp = mllm_session_default_params();
    sp.n_ctx = 32;
    mllm_model *m = NULL;
    mllm_session *s = NULL, *f = NULL, *r = NULL;
    int32_t got[N_GEN];
    mllm_status st = mllm_model_load(MODEL, &mp, &m, err, errlen);
    if (!st) st = mllm_session_new(m, &sp, &s, err, errlen);
    if (!st) st = generate(s, got, err, errlen);
    if (!st && !same_as_ref(got, N_GEN)) st = mllm_fail(err, errlen, MLLM_ERR_ARG, "wrong ids after an absorbed failure");
    if (!st) st = mllm_session_save(s, state_path, err, errlen);
    if (!st) st = mllm_session_fork(s, &f, err, errlen);
    if (!st) st = mllm_session_new(m, &sp, &r, err, errlen);
    if (!st) st = mllm_session_restore(r, state_path, err, errlen);
    if (!st && (mllm_session_pos(f) != mllm_session_pos(s) || mllm_session_pos(r) != mllm_session_pos(s)))
        st = mllm_fail(err, errlen, MLLM_ERR_ARG, "a fork or a restored session at the wrong position");
    end_injection();
    outcome o = { st, true };
    /* a session made before the failure still generates the same ids */
    mllm_session *sessions[3] = { s, f, r };
    for (int i = 0; st && i < 3; i++) {
        char err2[MLLM_ERRLEN];
        if (sessions[i]) o.usable = o.usable && !generate(sessions[i], got, err2, sizeof err2) && same_as_ref(got, N_GEN);
    }
    mllm_session_free(r);
    mllm_session_free(f);
    mllm_session_free(s);
    mllm_model_release(m);
    remove(state_path);
    return o;
}

/* A sentencepiece tokenizer: load, encode, decode. */
static outcome tokenizer_run(char *err, size_t errlen)
{
    static const char text[] = "Once upon a time, in a land far away";
    mllm_tokenizer *t = NULL;
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    char *back = NULL;
    mllm_status st = mllm_tokenizer_load(SP_TOKENIZER, &t, err, errlen);
    if (!st) st = mllm_tokenizer_encode(t, text, strlen(text), true, &ids, &n, err, errlen);
    if (!st && (n > 16 || !same_as_ref(ids, n))) st = mllm_fail(err, errlen, MLLM_ERR_ARG, "wrong ids");
    if (!st) st = mllm_tokenizer_decode(t, ids, n, &back, &len, err, errlen);
    if (!st && !strstr(back, "in a land far away")) st = mllm_fail(err, errlen, MLLM_ERR_ARG, "wrong text");
    end_injection();
    outcome o = { st, true };
    free(ids);
    free(back);
    if (st && t) {  /* the tokenizer still encodes */
        char err2[MLLM_ERRLEN];
        o.usable = !mllm_tokenizer_encode(t, text, strlen(text), true, &ids, &n, err2, sizeof err2) &&
                   same_as_ref(ids, n);
        free(ids);
    }
    mllm_tokenizer_free(t);
    return o;
}

/* The call parser on text with two calls, nested values and text around them. */
static outcome calls_run(char *err, size_t errlen)
{
    static const char text[] = "Sure. <tool_call>set_alarm(time=\"7:00 am\", days=[\"mon\", \"tue\"], "
                               "opts={\"snooze\": 5, \"label\": null})</tool_call> and "
                               "<tool_call>{\"name\": \"send\", \"arguments\": {\"to\": \"Ann\"}}</tool_call> Done.";
    mllm_calls_result *res = NULL;
    mllm_calls_error e;
    memset(&e, 0, sizeof e);
    mllm_status st = mllm_calls_parse(text, strlen(text), NULL, &res, &e);
    end_injection();
    if (st) snprintf(err, errlen, "%s", e.message);
    else if (res->n_calls != 2 || strcmp(res->calls[0].name, "set_alarm") || strcmp(res->calls[1].name, "send"))
        st = mllm_fail(err, errlen, MLLM_ERR_ARG, "wrong calls");
    mllm_calls_result_free(res);
    return (outcome){ st, true };
}

/* Runs scen with its nth allocation failing (with persist, every one after it
 * too: the cleanup of a failure must need no memory), n = 1, 2, ... until a run
 * has no injected failure; at least min_points failure points (so that a seam
 * that stopped counting fails here). */
static void walk(const char *label, scenario scen, long min_points, bool persist)
{
    char name[160];
    snprintf(name, sizeof name, "%s%s", label, persist ? " (persist)" : "");
    char err[MLLM_ERRLEN], what[MLLM_ERRLEN + 160];
    have_ref = false;
    mllm_fault_arm(0, false);
    outcome base = scen(err, sizeof err);
    snprintf(what, sizeof what, "%s: runs without injection (%s)", name, base.st ? err : "ok");
    check(base.st == MLLM_OK, what);
    if (base.st) return;
    if (scen == model_run) check(drafts_kept > 0, "the generation keeps a copy draft (its rows are walked too)");
    long n = 0, bad = 0, absorbed = 0;
    for (;;) {
        n++;
        err[0] = '\0';
        mllm_fault_arm(n, persist);
        outcome o = scen(err, sizeof err);
        if (injected == 0) {
            snprintf(what, sizeof what, "%s: the run with allocation %ld failing has none left to fail and succeeds (%s)",
                     name, n, o.st ? err : "ok");
            check(o.st == MLLM_OK, what);
            break;
        }
        if (o.st == MLLM_OK) {
            absorbed++;  /* worked around (a thread pool with fewer threads): the result was checked */
            continue;
        }
        bool good = o.st == MLLM_ERR_NOMEM && strstr(err, "memory") && o.usable;
        if (!good && bad++ < 5) {
            snprintf(what, sizeof what, "%s, allocation %ld: status %s, \"%s\"%s", name, n, mllm_status_name(o.st), err,
                     o.usable ? "" : ", and the objects made before do not work afterwards");
            check(0, what);
        }
    }
    snprintf(what, sizeof what, "%s: %ld failure points (%ld worked around), each an out-of-memory error, %ld bad",
             name, n - 1, absorbed, bad);
    check(bad == 0 && n - 1 >= min_points, what);
}

int main(void)
{
    snprintf(state_path, sizeof state_path, "/tmp/mllm-oom-%ld.state", (long)getpid());
    for (int persist = 0; persist < 2; persist++) {
        walk("load, session, generate, save, fork, restore", model_run, 100, persist);
        walk("sentencepiece tokenizer", tokenizer_run, 3, persist);
        walk("parse_calls", calls_run, 5, persist);
    }
    printf("1..%d\n", n_checks);
    return n_failed ? 1 : 0;
}
