/* generate.c — drives a session token by token: sample, evaluate, turn ids
 * into UTF-8 safe text, watch for EOS, stop strings and max_tokens. */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "base/grow.h"
#include "text/utf8.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

struct mllm_generator {
    mllm_session *s;
    mllm_sampler *sampler;
    int max_tokens;
    bool stop_at_eos;
    char *stops[MLLM_MAX_STOPS];
    size_t n_stops;
    int32_t *history;          /* prompt + generated ids, for the repetition penalty */
    size_t n_history, cap_history;
    char *pending;             /* decoded bytes not yet handed out */
    size_t n_pending, cap_pending;
    char *piece;               /* what the last next() returned */
    size_t cap_piece;
    char *text;                /* everything generated so far: handed out, then pending */
    size_t n_text, cap_text;   /* n_text counts what was handed out */
    mllm_logits_hook hook;
    void *hook_ud;
    float *hook_logits;        /* (vocab_size) the logits the hook may change */
    size_t n_prompt, n_prefilled; /* prompt ids (the first of history) and how many are in the session */
    bool seen_text;            /* the first text's leading space is dropped where the tokenizer's decode drops it */
    int draft_max;             /* most tokens a copy draft proposes (0: off) */
    bool draft_held;           /* a stepwise job's frame has no room for a drafted batch now */
    int32_t draft[MLLM_MAX_DRAFT]; /* the last draft: evaluated past the session's position */
    int n_draft, draft_next;   /* its length, and the next drafted token to compare */
    int draft_pos;             /* the session's position while the draft's rows are its future */
    bool finished;
    mllm_generate_info info;
};

const char *mllm_stop_reason_name(mllm_stop_reason r)
{
    switch (r) {
    case MLLM_STOP_EOS: return "eos";
    case MLLM_STOP_STRING: return "stop";
    case MLLM_STOP_LENGTH: return "length";
    case MLLM_STOP_CONTEXT: return "context";
    case MLLM_STOP_CANCELLED: return "cancelled";
    default: return "none";
    }
}

mllm_generate_params mllm_generate_default_params(void)
{
    mllm_generate_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 256;
    p.stop_at_eos = true;
    p.sampler = mllm_sampler_default_params();
    p.draft_tokens = MLLM_DEFAULT_DRAFT;
    return p;
}

void mllm_generator_free(mllm_generator *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n_stops; i++) mllm_free(g->stops[i]);
    mllm_sampler_free(g->sampler);
    mllm_free(g->history);
    mllm_free(g->pending);
    mllm_free(g->piece);
    mllm_free(g->text);
    mllm_free(g->hook_logits);
    mllm_free(g);
}

static bool push_id(mllm_generator *g, int32_t id)
{
    if (!mllm_grow((void **)&g->history, &g->cap_history, g->n_history + 1, sizeof *g->history)) return false;
    g->history[g->n_history++] = id;
    return true;
}

mllm_status mllm_generator_prepare(mllm_session *s, const int32_t *prompt, size_t n_prompt,
                                   const mllm_generate_params *p, mllm_generator **out, char *err, size_t errlen)
{
    *out = NULL;
    const mllm_config *c = &s->model->cfg;
    if (p->max_tokens < 0) return mllm_fail(err, errlen, MLLM_ERR_ARG, "max_tokens must be >= 0");
    if (p->draft_tokens < 0 || p->draft_tokens > MLLM_MAX_DRAFT)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "draft_tokens must be in [0, %d], got %d", MLLM_MAX_DRAFT,
                         p->draft_tokens);
    if (p->n_stops > MLLM_MAX_STOPS)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "at most %d stop strings", MLLM_MAX_STOPS);
    if (n_prompt == 0 && !s->has_logits)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "empty prompt");
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= c->vocab_size)
            return mllm_fail(err, errlen, MLLM_ERR_ARG,
                             "token id %ld at index %zu is outside the vocabulary [0, %d)", (long)prompt[i], i + 1,
                             c->vocab_size);
    if (n_prompt > (size_t)(s->n_ctx - s->pos))
        return mllm_fail(err, errlen, MLLM_ERR_CONTEXT,
                         "prompt of %zu tokens does not fit the context (n_ctx %d, %d already used)",
                         n_prompt, s->n_ctx, s->pos);
    mllm_generator *g = mllm_calloc(1, sizeof *g);
    if (!g) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    g->s = s;
    g->max_tokens = p->max_tokens;
    g->stop_at_eos = p->stop_at_eos;
    g->hook = p->logits_hook;
    g->hook_ud = p->hook_ud;
    g->draft_max = p->draft_tokens;
    if (g->hook && !(g->hook_logits = mllm_malloc((size_t)c->vocab_size * sizeof(float)))) {
        mllm_generator_free(g);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    mllm_status st = mllm_sampler_new(&p->sampler, c->vocab_size, &g->sampler, err, errlen);
    if (st) { mllm_generator_free(g); return st; }
    for (size_t i = 0; i < p->n_stops; i++) {
        if (!p->stops[i] || !p->stops[i][0]) {
            mllm_generator_free(g);
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "stop string %zu is empty", i + 1);
        }
        if (!(g->stops[g->n_stops++] = mllm_strdup(p->stops[i]))) {
            mllm_generator_free(g);
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < n_prompt; i++)
        if (!push_id(g, prompt[i])) {
            mllm_generator_free(g);
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        }
    g->n_prompt = n_prompt;
    *out = g;
    return MLLM_OK;
}

mllm_status mllm_generator_prefill(mllm_generator *g, size_t max, size_t *left, char *err, size_t errlen)
{
    size_t n = g->n_prompt - g->n_prefilled;
    if (n > max) n = max;
    mllm_status st = MLLM_OK;
    if (n) {
        int before = g->s->pos;
        double t0 = mllm_now();
        st = mllm_session_eval_chunk(g->s, g->history + g->n_prefilled, n, err, errlen);
        g->info.prefill_seconds += mllm_now() - t0;
        /* what a cancelled evaluation left in the session counts as evaluated */
        size_t done = (size_t)(g->s->pos - before);
        g->n_prefilled += done;
        g->info.prompt_tokens += (int)done;
        if (st == MLLM_CANCELLED) {
            g->finished = true;
            g->info.stop = MLLM_STOP_CANCELLED;
        }
    }
    if (left) *left = g->n_prompt - g->n_prefilled;
    return st;
}

size_t mllm_generator_prompt_left(const mllm_generator *g)
{
    return g->n_prompt - g->n_prefilled;
}

mllm_status mllm_generator_new(mllm_session *s, const int32_t *prompt, size_t n_prompt,
                               const mllm_generate_params *p, mllm_generator **out, char *err,
                               size_t errlen)
{
    mllm_status st = s->job ? mllm_fail(err, errlen, MLLM_ERR_ARG,
                                        "the session is busy: a job is running on it (free the job first)")
                            : mllm_generator_prepare(s, prompt, n_prompt, p, out, err, errlen);
    if (st) return st;
    if ((st = mllm_generator_prefill(*out, n_prompt, NULL, err, errlen))) {
        mllm_generator_free(*out);
        *out = NULL;
    }
    return st;
}

/* Byte tokens may not form UTF-8: every byte that can no longer be part of a
 * valid character becomes U+FFFD, as sentencepiece decodes it, so every piece
 * handed out is valid UTF-8. An incomplete sequence at the end is kept. */
static bool repair_utf8(mllm_generator *g)
{
    size_t i = 0, bad = 0;
    while (i < g->n_pending) {
        int n = mllm_utf8_seq_len(g->pending + i, g->n_pending - i);
        if (n < 0) break;
        if (n == 0) bad++;
        i += n ? (size_t)n : 1;
    }
    if (!bad) return true;
    size_t cap = g->n_pending + 2 * bad;
    char *out = mllm_malloc(cap);
    if (!out) return false;
    size_t o = 0;
    i = 0;
    while (i < g->n_pending) {
        int n = mllm_utf8_seq_len(g->pending + i, g->n_pending - i);
        if (n < 0) n = (int)(g->n_pending - i);  /* the incomplete tail, kept as it is */
        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, g->pending + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        }
    }
    mllm_free(g->pending);
    g->pending = out;
    g->n_pending = o;
    g->cap_pending = cap;
    return true;
}

/* Length of the longest suffix of text that is a proper prefix of a stop string. */
static size_t stop_prefix_tail(const mllm_generator *g, const char *text, size_t len)
{
    size_t best = 0;
    for (size_t i = 0; i < g->n_stops; i++) {
        size_t sl = strlen(g->stops[i]);
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--)
            if (memcmp(text + len - k, g->stops[i], k) == 0) { best = k; break; }
    }
    return best;
}

/* Earliest occurrence of any stop string in text, or len. */
static size_t find_stop(const mllm_generator *g, const char *text, size_t len)
{
    size_t at = len;
    for (size_t i = 0; i < g->n_stops; i++) {
        size_t sl = strlen(g->stops[i]);
        for (size_t k = 0; k + sl <= len && k < at; k++)
            if (memcmp(text + k, g->stops[i], sl) == 0) { at = k; break; }
    }
    return at;
}

/* Hands out the first n pending bytes as the piece. */
static mllm_status emit(mllm_generator *g, size_t n, const char **piece, size_t *len, char *err,
                        size_t errlen)
{
    if (!mllm_grow((void **)&g->piece, &g->cap_piece, n + 1, 1) ||
        !mllm_grow((void **)&g->text, &g->cap_text, g->n_text + n, 1))
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    if (n > 0) {  /* pending (and text) stay NULL while nothing has come: no memcpy from NULL */
        memcpy(g->text + g->n_text, g->pending, n);
        memcpy(g->piece, g->pending, n);
        memmove(g->pending, g->pending + n, g->n_pending - n);
    }
    g->n_text += n;
    g->piece[n] = '\0';
    g->n_pending -= n;
    *piece = g->piece;
    *len = n;
    return MLLM_OK;
}

static mllm_status finish(mllm_generator *g, mllm_stop_reason why, const char **piece, size_t *len,
                          int32_t *id, char *err, size_t errlen)
{
    g->finished = true;
    g->info.stop = why;
    *id = -1;
    if (g->n_pending == 0) return MLLM_DONE;
    return emit(g, g->n_pending, piece, len, err, errlen);  /* the held-back tail */
}

/* Ends the generation on a cancel request: later calls hand out the held-back text, then MLLM_DONE. */
static mllm_status cancelled(mllm_generator *g, char *err, size_t errlen)
{
    g->finished = true;
    g->info.stop = MLLM_STOP_CANCELLED;
    return mllm_fail(err, errlen, MLLM_CANCELLED, "generation cancelled after %d tokens (the session is at position %d)",
                     g->info.generated_tokens, g->s->pos);
}

/* Puts the sampled token tok into the session. The token drafted for this
 * position is already there when tok is it: the session moves to its row.
 * Otherwise tok is evaluated, with the copy draft that follows it when there is
 * one (draft.c). False: cancelled, nothing changed. */
static bool advance(mllm_generator *g, int32_t tok)
{
    mllm_session *s = g->s;
    if (g->draft_next < g->n_draft && s->pos == g->draft_pos && g->draft[g->draft_next] == tok) {
        mllm_session_take_row(s, ++g->draft_next);
        g->draft_pos = s->pos;
        g->info.accepted_tokens++;
        return true;
    }
    g->n_draft = g->draft_next = 0;
    /* room: the context, the batch, and the tokens still to generate */
    int max = g->draft_held ? 0 : g->draft_max, room = s->n_ctx - s->pos - 1, left = g->max_tokens - g->info.generated_tokens;
    if (max > room) max = room;
    if (max > s->n_batch - 1) max = s->n_batch - 1;
    if (max > left) max = left;
    if (g->stop_at_eos && mllm_config_is_eos(&s->model->cfg, tok)) max = 0;  /* the last token */
    int32_t ids[MLLM_MAX_DRAFT + 1];
    int k = mllm_draft_lookup(g->history, g->n_history, ids + 1, max);
    char ignored[MLLM_ERRLEN];
    /* no room for the rows: plain decoding gives the same text */
    if (k == 0 || mllm_session_reserve_rows(s, k + 1, ignored, sizeof ignored) != MLLM_OK)
        return mllm_forward(s, &tok, 1);
    ids[0] = tok;
    if (!mllm_forward_rows(s, ids, k + 1)) return false;
    mllm_session_take_row(s, 0);
    memcpy(g->draft, ids + 1, (size_t)k * sizeof *ids);
    g->n_draft = k;
    g->draft_pos = s->pos;
    g->info.drafted_tokens += k;
    return true;
}

mllm_status mllm_generator_next(mllm_generator *g, const char **piece, size_t *len, int32_t *id,
                                char *err, size_t errlen)
{
    *piece = "";
    *len = 0;
    *id = -1;
    if (g->finished) return finish(g, g->info.stop, piece, len, id, err, errlen);
    mllm_session *s = g->s;
    if (g->n_prefilled < g->n_prompt) {  /* a prepared generator: the rest of the prompt first */
        mllm_status st = mllm_generator_prefill(g, g->n_prompt, NULL, err, errlen);
        if (st) return st;
    }
    if (mllm_session_take_cancel(s)) return cancelled(g, err, errlen);
    const mllm_model *m = s->model;
    if (g->info.generated_tokens >= g->max_tokens)
        return finish(g, MLLM_STOP_LENGTH, piece, len, id, err, errlen);
    if (!s->has_logits)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "the session has no logits (was it rewound?)");

    /* Logits of corrupt weights: every token sampled from them would be
       noise (an argmax over NaN is id 0), so generation stops here. */
    int step = g->info.generated_tokens + 1;
    mllm_status bad = mllm_check_logits(s->logits, m->cfg.vocab_size, s->pos - 1, err, errlen,
                                        "token %d of the generation", step);
    if (bad) return bad;
    double t0 = mllm_now();
    const float *logits = s->logits;
    if (g->hook) {
        /* the hook sees everything generated so far: handed out + held back */
        if (!mllm_grow((void **)&g->text, &g->cap_text, g->n_text + g->n_pending + 1, 1))
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        if (g->n_pending) memcpy(g->text + g->n_text, g->pending, g->n_pending);
        g->text[g->n_text + g->n_pending] = '\0';
        memcpy(g->hook_logits, s->logits, (size_t)m->cfg.vocab_size * sizeof(float));
        g->hook(g->hook_ud, g->hook_logits, m->cfg.vocab_size, g->text, g->n_text + g->n_pending);
        logits = g->hook_logits;
    }
    int32_t tok = mllm_sampler_sample(g->sampler, logits, g->history, g->n_history);
    if (tok < 0)  /* the model's logits were finite: the hook put the NaN there */
        return mllm_fail(err, errlen, MLLM_ERR_NUMERIC,
                         "the logits hook left NaN in the logits at position %d (token %d of the generation)",
                         s->pos - 1, step);
    g->info.generated_tokens++;
    if (!push_id(g, tok)) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    /* Every sampled token goes into the session, so a conversation continues
     * from exactly what was generated (EOS included). */
    bool full = s->pos >= s->n_ctx;
    if (!full && !advance(g, tok)) {
        /* cancelled inside the token's forward: as if it had not been sampled */
        g->n_history--;
        g->info.generated_tokens--;
        g->info.decode_seconds += mllm_now() - t0;
        return cancelled(g, err, errlen);
    }
    g->info.decode_seconds += mllm_now() - t0;
    *id = tok;
    if (g->stop_at_eos && mllm_config_is_eos(&m->cfg, tok)) {
        mllm_status st = finish(g, MLLM_STOP_EOS, piece, len, id, err, errlen);
        *id = tok;
        return st == MLLM_DONE ? MLLM_OK : st;  /* report the EOS token itself once */
    }

    char bytes[256];  /* most pieces; a longer one (tokenizer.json: up to MLLM_MAX_TOKEN_BYTES) is read again */
    int nb = m->tok ? mllm_tokenizer_piece(m->tok, tok, bytes, sizeof bytes) : 0;
    if (nb < 0) nb = 0;  /* no tokenizer: ids only */
    if (!mllm_grow((void **)&g->pending, &g->cap_pending, g->n_pending + (size_t)nb, 1))
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    if (nb > 0) {  /* pending is NULL until text comes */
        char *dst = g->pending + g->n_pending;
        if (nb <= (int)sizeof bytes) memcpy(dst, bytes, (size_t)nb);
        else mllm_tokenizer_piece(m->tok, tok, dst, (size_t)nb);
        if (!g->seen_text) {
            g->seen_text = true;
            if (dst[0] == ' ' && mllm_tokenizer_drops_first_space(m->tok)) memmove(dst, dst + 1, (size_t)--nb);
        }
    }
    g->n_pending += (size_t)nb;
    if (!repair_utf8(g)) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");

    size_t at = find_stop(g, g->pending, g->n_pending);
    if (at < g->n_pending) {
        g->n_pending = at;
        mllm_status st = finish(g, MLLM_STOP_STRING, piece, len, id, err, errlen);
        *id = tok;
        return st == MLLM_DONE ? MLLM_OK : st;
    }
    if (full) {
        mllm_status st = finish(g, MLLM_STOP_CONTEXT, piece, len, id, err, errlen);
        *id = tok;
        return st == MLLM_DONE ? MLLM_OK : st;
    }
    size_t ready = mllm_utf8_complete_prefix(g->pending, g->n_pending);
    size_t hold = stop_prefix_tail(g, g->pending, ready);
    return emit(g, ready - hold, piece, len, err, errlen);
}

void mllm_generator_hold_drafts(mllm_generator *g, bool held)
{
    g->draft_held = held;
}

const mllm_generate_info *mllm_generator_info(const mllm_generator *g)
{
    return &g->info;
}
