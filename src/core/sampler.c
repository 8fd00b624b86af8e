/* sampler.c — logits → token id: repetition penalty, temperature, top-k,
 * top-p, min-p (in that order, as Hugging Face applies them), seeded RNG. */
#include "internal.h"
#include "base/alloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens whose scaled logit is this far below the maximum have probability
 * below e^-50 relative to it: they cannot change a sampled result, so they
 * are not sorted. */
#define CANDIDATE_WINDOW 50.0f

typedef struct { float logit; int32_t id; } candidate;

struct mllm_sampler {
    mllm_sampler_params p;
    int n_vocab;
    uint64_t rng;
    float *buf;          /* (n_vocab) working logits */
    unsigned char *seen; /* (n_vocab) penalty marks */
    candidate *cand;     /* (n_vocab) */
};

mllm_sampler_params mllm_sampler_default_params(void)
{
    mllm_sampler_params p = { 0.0f, 0, 1.0f, 0.0f, 1.0f, 64, 0x853c49e6748fea9bULL };
    return p;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *state)
{
    return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

mllm_status mllm_sampler_new(const mllm_sampler_params *p, int n_vocab, mllm_sampler **out, char *err,
                             size_t errlen)
{
    *out = NULL;
    if (!isfinite(p->temperature) || p->temperature < 0)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "temperature must be a finite number >= 0");
    if (p->top_k < 0) return mllm_fail(err, errlen, MLLM_ERR_ARG, "top_k must be >= 0");
    if (!(p->top_p > 0 && p->top_p <= 1))
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "top_p must be in (0, 1]");
    if (!(p->min_p >= 0 && p->min_p < 1))
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "min_p must be in [0, 1)");
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "repeat_penalty must be a finite number > 0");
    if (p->repeat_last_n < -1) return mllm_fail(err, errlen, MLLM_ERR_ARG, "repeat_last_n must be >= -1");
    if (n_vocab <= 0) return mllm_fail(err, errlen, MLLM_ERR_ARG, "vocabulary is empty");
    mllm_sampler *s = mllm_calloc(1, sizeof *s);
    if (!s) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed;
    s->buf = mllm_malloc((size_t)n_vocab * sizeof *s->buf);
    s->seen = mllm_calloc((size_t)n_vocab, 1);
    s->cand = mllm_malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s->buf || !s->seen || !s->cand) {
        mllm_sampler_free(s);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return MLLM_OK;
}

void mllm_sampler_free(mllm_sampler *s)
{
    if (!s) return;
    mllm_free(s->buf);
    mllm_free(s->seen);
    mllm_free(s->cand);
    mllm_free(s);
}

static int cmp_cand_desc(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;  /* ties: lower id first, deterministic */
}

/* Moves the k best candidates (by cmp_cand_desc) to the front, in no
 * particular order: quickselect, linear on average. */
static void select_top(candidate *c, int n, int k)
{
    int lo = 0, hi = n - 1;
    uint64_t seed = 0x2545F4914F6CDD1DULL;
    while (lo < hi) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        candidate pivot = c[lo + (int)((seed >> 33) % (uint64_t)(hi - lo + 1))];
        int i = lo, j = hi;
        while (i <= j) {
            while (cmp_cand_desc(&c[i], &pivot) < 0) i++;
            while (cmp_cand_desc(&c[j], &pivot) > 0) j--;
            if (i <= j) {
                candidate t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else return;
    }
}

/* Top-p: the shortest run of the n candidates, best first, whose share of
 * all (the sum of exp(logit - max) over them) reaches top_p, sorted at the
 * front; returns its length. Only that run is sorted: a head of 64, 128,
 * 256... candidates is selected (linear) and sorted until it holds the
 * nucleus, so a flat distribution over a 128k vocabulary with a small nucleus
 * never sorts all of it. */
static int nucleus(candidate *c, int n, double all, float max, float top_p)
{
    double cum = 0.0;
    int sorted = 0;
    for (int head = 64;; head = head > n / 2 ? n : 2 * head) {
        int k = head < n ? head : n;
        if (k < n) select_top(c + sorted, n - sorted, k - sorted);
        qsort(c + sorted, (size_t)(k - sorted), sizeof *c, cmp_cand_desc);
        for (int i = sorted; i < k; i++) {
            cum += expf(c[i].logit - max) / all;
            if (cum >= top_p) return i + 1;
        }
        if (k == n) return n;
        sorted = k;
    }
}

/* The first index of the largest of x[0..n), or -1 when one is NaN (which compares false
 * with everything: an argmax over it would answer id 0). One pass with the best value in a
 * register and the NaN test folded in, no early exit: a decode step's whole vocabulary. */
static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    float top = x[0];
    bool nan = isnan(top);
    for (int i = 1; i < n; i++) {
        float v = x[i];
        nan |= v != v;
        if (v > top) {
            top = v;
            best = i;
        }
    }
    return nan ? -1 : best;
}

int32_t mllm_sampler_sample(mllm_sampler *s, const float *logits, const int32_t *history, size_t n_history)
{
    const mllm_sampler_params *p = &s->p;
    int n = s->n_vocab;
    bool penalty = p->repeat_penalty != 1.0f && n_history > 0;
    if (p->temperature == 0.0f && !penalty) return argmax(logits, n);  /* greedy: nothing to change first */
    float *buf = s->buf;
    memcpy(buf, logits, (size_t)n * sizeof *buf);

    if (penalty) {
        size_t from = (p->repeat_last_n < 0 || (size_t)p->repeat_last_n >= n_history)
                          ? 0 : n_history - (size_t)p->repeat_last_n;
        for (size_t i = from; i < n_history; i++) {
            int32_t id = history[i];
            if (id < 0 || id >= n || s->seen[id]) continue;
            s->seen[id] = 1;
            buf[id] = buf[id] > 0 ? buf[id] / p->repeat_penalty : buf[id] * p->repeat_penalty;
        }
        for (size_t i = from; i < n_history; i++)
            if (history[i] >= 0 && history[i] < n) s->seen[history[i]] = 0;
    }

    int32_t best = argmax(buf, n);
    if (best < 0 || p->temperature == 0.0f) return best;

    float max = buf[best] / p->temperature;
    if (!isfinite(max)) return best;  /* everything forbidden (or overflow): no distribution to sample */
    int nc = 0;
    for (int i = 0; i < n; i++) {
        float l = buf[i] / p->temperature;
        if (l >= max - CANDIDATE_WINDOW) s->cand[nc++] = (candidate){ l, i };
    }
    /* Only the filters that need an order pay for one: top-k selects its k
     * in linear time before sorting them, top-p sorts only the nucleus it
     * keeps; min-p and plain temperature sampling need no order at all.
     * Order: top-k, top-p, min-p. */
    if (p->top_k > 0 && p->top_k < nc) {
        select_top(s->cand, nc, p->top_k);
        nc = p->top_k;
    }
    if (p->top_p < 1.0f) {
        double all = 0.0;
        for (int i = 0; i < nc; i++) all += expf(s->cand[i].logit - max);
        nc = nucleus(s->cand, nc, all, max, p->top_p);
    } else if (p->top_k > 0) {
        qsort(s->cand, (size_t)nc, sizeof *s->cand, cmp_cand_desc);
    }

    /* probabilities (reuse buf) */
    double sum = 0.0;
    for (int i = 0; i < nc; i++) buf[i] = expf(s->cand[i].logit - max);
    if (p->min_p > 0.0f) {
        /* p >= min_p * p_max, and buf[i] = exp(l - max) is already relative to p_max */
        int keep = 0;
        for (int i = 0; i < nc; i++)
            if (buf[i] >= p->min_p) {
                buf[keep] = buf[i];
                s->cand[keep++] = s->cand[i];
            }
        nc = keep;
    }
    sum = 0.0;
    for (int i = 0; i < nc; i++) sum += buf[i];
    double r = uniform01(&s->rng) * sum, acc = 0.0;
    for (int i = 0; i < nc; i++) {
        acc += buf[i];
        if (r < acc) return s->cand[i].id;
    }
    return s->cand[nc - 1].id;
}

mllm_status mllm_check_logits(const float *logits, int n_vocab, int pos, char *err, size_t errlen,
                              const char *what_fmt, ...)
{
    int bad = 0;
    while (bad < n_vocab && isfinite(logits[bad])) bad++;
    if (bad == n_vocab) return MLLM_OK;
    char what[128];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);
    return mllm_fail(err, errlen, MLLM_ERR_NUMERIC,
                     "the model produced %s logits at position %d (%s): its weights may be corrupt "
                     "(load with check = true to find them)", isnan(logits[bad]) ? "NaN" : "infinite", pos, what);
}
