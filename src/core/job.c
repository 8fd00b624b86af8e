/* job.c — a generation run by time budget (mllm_job_step, on the caller's
 * thread) or on a worker thread of its own (polled). The job owns a generator
 * on its session; the session refuses other use until mllm_job_free.
 *
 * What the two threads of an async job share is under j->lock: the text made
 * and not yet handed out, the ids generated, the info, the end (ended, final,
 * final_err) and the cancel request. The worker alone touches the generator and the session; the
 * host alone touches j->out (what the last call handed out). */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "base/grow.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mllm_job {
    mllm_session *s;           /* NULL once the session was freed under the job */
    mllm_generator *g;         /* NULL once the session was freed */
    bool async;
    bool (*on_piece)(void *ud, const char *piece, size_t len, int32_t id);
    void *piece_ud;
    size_t prefill_chunk;      /* 0: sized from the budget */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t changed;    /* text came, or the job ended */
    /* under lock */
    char *text;                /* made, not yet handed out */
    size_t n_text, cap_text;
    int32_t *ids;              /* every token generated (each is in the session) */
    size_t n_ids, cap_ids;
    bool ended;
    mllm_status final;
    char final_err[MLLM_ERRLEN];
    bool cancel_requested;
    mllm_generate_info info;
    /* the host's */
    char *out;
    size_t cap_out;
    double prefill_spt;        /* step: measured seconds per prefill token (0: not yet) */
    double decode_s;           /* step: measured seconds of one decode step (0: not yet) */
    double draft_s;            /* step: of one that evaluated a copy draft (0: not yet) */
};

mllm_job_params mllm_job_default_params(void)
{
    mllm_job_params p;
    memset(&p, 0, sizeof p);
    p.gen = mllm_generate_default_params();
    return p;
}

/* Ends the job with st (err: its message); the first end wins. A cancel request
 * the job asked for and nothing took is dropped, so it cannot stop the
 * session's next operation. */
static void end_job(mllm_job *j, mllm_status st, const char *err)
{
    pthread_mutex_lock(&j->lock);
    if (!j->ended) {
        j->ended = true;
        j->final = st;
        snprintf(j->final_err, sizeof j->final_err, "%s", err ? err : "");
        if (j->g) j->info = *mllm_generator_info(j->g);
        if (st == MLLM_CANCELLED) j->info.stop = MLLM_STOP_CANCELLED;
        if (j->cancel_requested && j->s) mllm_session_clear_cancel(j->s);
        pthread_cond_broadcast(&j->changed);
    }
    pthread_mutex_unlock(&j->lock);
}

/* Adds a piece to the text not yet handed out, and its token's id (id < 0:
 * none, the held-back text at the end); false when out of memory. */
static bool add_text(mllm_job *j, const char *piece, size_t len, int32_t id)
{
    pthread_mutex_lock(&j->lock);
    bool ok = mllm_grow((void **)&j->text, &j->cap_text, j->n_text + len + 1, 1) &&
              (id < 0 || mllm_grow((void **)&j->ids, &j->cap_ids, j->n_ids + 1, sizeof *j->ids));
    if (ok && len) {
        memcpy(j->text + j->n_text, piece, len);
        j->n_text += len;
    }
    if (ok && id >= 0) j->ids[j->n_ids++] = id;
    if (j->g) j->info = *mllm_generator_info(j->g);
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
    return ok;
}

/* Up to max more prompt tokens of the prefill. MLLM_OK: go on; else the job has ended. */
static mllm_status unit(mllm_job *j, size_t max)
{
    char err[MLLM_ERRLEN] = "";
    mllm_status st = mllm_generator_prefill(j->g, max, NULL, err, sizeof err);
    if (st) {
        end_job(j, st, err);
        return st;
    }
    add_text(j, "", 0, -1);  /* publishes the info */
    return MLLM_OK;
}

/* One token: its piece goes to the text (and on_piece). */
static mllm_status decode(mllm_job *j)
{
    char err[MLLM_ERRLEN] = "";
    const char *piece;
    size_t len;
    int32_t id;
    mllm_status st = mllm_generator_next(j->g, &piece, &len, &id, err, sizeof err);
    if (st == MLLM_OK) {
        if (!add_text(j, piece, len, id)) {
            st = MLLM_ERR_NOMEM;
            snprintf(err, sizeof err, "out of memory");
        } else if (j->on_piece && !j->on_piece(j->piece_ud, piece, len, id)) {
            st = MLLM_DONE;  /* stopped by the host: the stop reason stays "none" */
        } else {
            return MLLM_OK;
        }
    }
    if (st == MLLM_CANCELLED) {
        /* the held-back text is part of the answer: hand it out, then end */
        char e2[MLLM_ERRLEN];
        while (mllm_generator_next(j->g, &piece, &len, &id, e2, sizeof e2) == MLLM_OK) add_text(j, piece, len, id);
    }
    end_job(j, st, err);
    return st;
}

/* Whether the prompt is all in the session. */
static bool prefilled(const mllm_job *j)
{
    return mllm_generator_prompt_left(j->g) == 0;
}

/* Takes a cancel asked with mllm_job_cancel before the work began (or between steps). */
static bool cancel_asked(mllm_job *j)
{
    pthread_mutex_lock(&j->lock);
    bool asked = j->cancel_requested && !j->ended;
    pthread_mutex_unlock(&j->lock);
    if (asked) {
        mllm_session_take_cancel(j->s);
        end_job(j, MLLM_CANCELLED, "job cancelled");
    }
    return asked;
}

static void *worker(void *p)
{
    mllm_job *j = p;
    if (cancel_asked(j)) return NULL;
    /* the whole prefill in one call: the session's n_batch chunks, as mllm_generator_new */
    if (unit(j, (size_t)-1) != MLLM_OK) return NULL;
    while (decode(j) == MLLM_OK) {}
    return NULL;
}

mllm_status mllm_job_start(mllm_session *s, const int32_t *prompt, size_t n_prompt, const mllm_job_params *p,
                           mllm_job **out, char *err, size_t errlen)
{
    *out = NULL;
    if (s->job)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "the session is busy: a job is running on it (free the job first)");
    mllm_job_params dp = mllm_job_default_params();
    if (!p) p = &dp;
    mllm_job *j = mllm_calloc(1, sizeof *j);
    if (!j) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    mllm_status st = mllm_generator_prepare(s, prompt, n_prompt, &p->gen, &j->g, err, errlen);
    if (st) {
        mllm_free(j);
        return st;
    }
    j->s = s;
    j->async = p->async;
    j->on_piece = p->on_piece;
    j->piece_ud = p->piece_ud;
    j->prefill_chunk = p->prefill_chunk;
    j->info = *mllm_generator_info(j->g);
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->changed, NULL);
    s->job = j;
    if (j->async) {
        if (pthread_create(&j->thread, NULL, worker, j) != 0) {
            mllm_job_free(j);
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "could not start the job's thread");
        }
        j->thread_started = true;
    }
    *out = j;
    return MLLM_OK;
}

/* Hands out the text made since the last call (into j->out) and the job's
 * status: MLLM_OK while it runs, its final status once ended. Under lock. */
static mllm_status hand_out(mllm_job *j, const char **text, size_t *len, char *err, size_t errlen)
{
    mllm_status st = MLLM_OK;
    if (!mllm_grow((void **)&j->out, &j->cap_out, j->n_text + 1, 1)) {
        st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        *text = "";
        *len = 0;
        return st;
    }
    if (j->n_text) memcpy(j->out, j->text, j->n_text);
    j->out[j->n_text] = '\0';
    *text = j->out;
    *len = j->n_text;
    j->n_text = 0;
    if (j->ended) {
        st = j->final;
        if (st != MLLM_OK && st != MLLM_DONE) mllm_fail(err, errlen, st, "%s", j->final_err);
    }
    return st;
}

static mllm_status take(mllm_job *j, const char **text, size_t *len, char *err, size_t errlen)
{
    pthread_mutex_lock(&j->lock);
    mllm_status st = hand_out(j, text, len, err, errlen);
    pthread_mutex_unlock(&j->lock);
    return st;
}

/* A cost estimate from the last one and a new measure: up at once, down slowly, so
 * that one fast step after a slow one (a busy machine) does not invite an overrun. */
static double estimate(double old, double measured)
{
    return old <= 0 || measured > old ? measured : 0.75 * old + 0.25 * measured;
}

mllm_status mllm_job_step(mllm_job *j, double budget_ms, const char **text, size_t *len, char *err,
                          size_t errlen)
{
    *text = "";
    *len = 0;
    if (j->async)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "the job runs on a thread of its own: poll it, do not step it");
    if (!j->ended && j->g && !cancel_asked(j)) {
        double t0 = mllm_now(), budget = budget_ms > 0 ? budget_ms / 1000.0 : 0.0;
        int units = 0;
        for (;;) {
            double now = mllm_now(), left_s = t0 + budget - now;
            mllm_status st;
            if (!prefilled(j)) {
                size_t chunk = j->prefill_chunk;
                if (!chunk) {
                    if (j->prefill_spt <= 0) chunk = 1;  /* not measured yet: one token, about a decode step */
                    else chunk = left_s > 0 ? (size_t)(0.8 * left_s / j->prefill_spt) : 0;  /* a margin */
                    if (chunk == 0) {
                        if (units) break;
                        chunk = 1;
                    }
                } else if (units && left_s <= 0) {
                    break;
                }
                int before = mllm_generator_info(j->g)->prompt_tokens;
                double t = mllm_now();
                st = unit(j, chunk);
                int done = mllm_generator_info(j->g)->prompt_tokens - before;
                if (done > 0) j->prefill_spt = estimate(j->prefill_spt, (mllm_now() - t) / done);
            } else {
                /* a decode step only when the measured one fits what is left, with a margin
                   (a step's time varies by a tenth, and the budget is a frame's ceiling) */
                if (units && (j->decode_s <= 0 || j->decode_s > 0.9 * left_s)) break;
                /* a copy draft's batch costs several steps: only where the frame has room
                   for the measured one (unmeasured: at the frame's first unit) */
                mllm_generator_hold_drafts(j->g, j->draft_s > 0 ? j->draft_s > 0.9 * left_s : units > 0);
                int drafted = mllm_generator_info(j->g)->drafted_tokens;
                double t = mllm_now();
                st = decode(j);
                double took = mllm_now() - t;
                if (mllm_generator_info(j->g)->drafted_tokens > drafted) j->draft_s = estimate(j->draft_s, took);
                else j->decode_s = estimate(j->decode_s, took);
            }
            units++;
            if (st != MLLM_OK) break;
            if (mllm_now() >= t0 + budget) break;
        }
    }
    return take(j, text, len, err, errlen);
}

mllm_status mllm_job_poll(mllm_job *j, const char **text, size_t *len, char *err, size_t errlen)
{
    /* never waits, not even for the mutex: a worker that holds it (copying a piece, or
       descheduled while it does) means nothing new this time */
    if (pthread_mutex_trylock(&j->lock) != 0) {
        *text = "";
        *len = 0;
        return MLLM_OK;
    }
    mllm_status st = hand_out(j, text, len, err, errlen);
    pthread_mutex_unlock(&j->lock);
    return st;
}

mllm_status mllm_job_wait(mllm_job *j, const char **text, size_t *len, char *err, size_t errlen)
{
    if (!j->async) {
        /* a stepped job runs to its end here, on the caller's thread, with no frame to keep */
        if (j->g) mllm_generator_hold_drafts(j->g, false);
        if (!j->ended && j->g && !cancel_asked(j) && unit(j, (size_t)-1) == MLLM_OK)
            while (decode(j) == MLLM_OK) {}
        return take(j, text, len, err, errlen);
    }
    pthread_mutex_lock(&j->lock);
    while (!j->ended) pthread_cond_wait(&j->changed, &j->lock);
    mllm_status st = hand_out(j, text, len, err, errlen);
    pthread_mutex_unlock(&j->lock);
    return st;
}

void mllm_job_cancel(mllm_job *j)
{
    pthread_mutex_lock(&j->lock);
    if (!j->ended) {
        j->cancel_requested = true;
        if (j->s) mllm_session_cancel(j->s);
    }
    pthread_mutex_unlock(&j->lock);
}

bool mllm_job_async(const mllm_job *j)
{
    return j->async;
}

bool mllm_job_ended(mllm_job *j)
{
    pthread_mutex_lock(&j->lock);
    bool e = j->ended;
    pthread_mutex_unlock(&j->lock);
    return e;
}

size_t mllm_job_ids(mllm_job *j, int32_t *out, size_t cap)
{
    pthread_mutex_lock(&j->lock);
    size_t n = j->n_ids;
    if (out && cap) memcpy(out, j->ids, (cap < n ? cap : n) * sizeof *out);
    pthread_mutex_unlock(&j->lock);
    return n;
}

void mllm_job_info(mllm_job *j, mllm_generate_info *info)
{
    pthread_mutex_lock(&j->lock);
    *info = j->info;
    pthread_mutex_unlock(&j->lock);
}

/* Stops the work and lets go of the session: cancel, join, free the generator. */
static void detach(mllm_job *j)
{
    mllm_job_cancel(j);
    if (j->thread_started) {
        pthread_join(j->thread, NULL);
        j->thread_started = false;
    }
    if (j->g) end_job(j, MLLM_CANCELLED, "job cancelled: its session was freed");
    mllm_generator_free(j->g);
    j->g = NULL;
    if (j->s) {
        j->s->job = NULL;
        j->s = NULL;
    }
}

void mllm_job_detach_session(mllm_session *s)
{
    if (s->job) detach(s->job);
}

void mllm_job_free(mllm_job *j)
{
    if (!j) return;
    detach(j);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->changed);
    mllm_free(j->text);
    mllm_free(j->ids);
    mllm_free(j->out);
    mllm_free(j);
}
