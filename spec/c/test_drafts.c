/* test_drafts.c — copy drafts (draft.c, generate.c): the lookup finds the tokens that
 * followed the last 3 (else 2) tokens; a batch evaluated with every row kept gives, row by
 * row, the logits of evaluating its tokens one at a time (bit for bit with float weights,
 * also on layer-shared, chunked-attention and NoPE models); a generator that drafts gives
 * the ids, text, stop reason, final position, logits and probe weights of one that does
 * not, greedy and sampled, with a logits hook and with the attention probe, up to
 * max_tokens and the context's end, and in stepwise and async jobs; a bad draft_tokens is
 * refused by name. Prints
 * TAP-style lines. */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#define FIXTURES "spec/fixtures/models"
#define SHIPPED "models/mobilellm-tiny-api"

static void lookup_cases(void)
{
    int32_t out[8];
    const int32_t a[] = { 5, 6, 7, 8, 5, 6 };
    int n = mllm_draft_lookup(a, 6, out, 3);
    check(n == 3 && out[0] == 7 && out[1] == 8 && out[2] == 5, "lookup: the tokens after the last two's earlier occurrence");
    const int32_t b[] = { 1, 2, 3, 9, 7, 2, 3, 4, 1, 2, 3 };
    n = mllm_draft_lookup(b, 11, out, 2);
    check(n == 2 && out[0] == 9 && out[1] == 7, "lookup: three tokens matched before two");
    const int32_t c[] = { 2, 3, 4, 0, 2, 3, 5, 2, 3 };
    n = mllm_draft_lookup(c, 9, out, 1);
    check(n == 1 && out[0] == 5, "lookup: the latest earlier occurrence");
    const int32_t d[] = { 4, 5, 6, 4 };
    check(mllm_draft_lookup(d, 4, out, 4) == 0, "lookup: one matching token is no draft");
    check(mllm_draft_lookup(a, 6, out, 0) == 0, "lookup: max 0 drafts nothing");
    check(mllm_draft_lookup(a, 1, out, 4) == 0, "lookup: a one-token history drafts nothing");
}

static mllm_model *load(const char *dir, const char *dtype)
{
    char err[MLLM_ERRLEN];
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = 1;
    mp.dtype = dtype;
    mllm_model *m = NULL;
    if (mllm_model_load(dir, &mp, &m, err, sizeof err) != MLLM_OK) printf("# %s: %s\n", dir, err);
    return m;
}

static mllm_session *session(mllm_model *m, int n_ctx)
{
    char err[MLLM_ERRLEN];
    mllm_session_params sp = mllm_session_default_params();
    sp.n_ctx = n_ctx;
    mllm_session *s = NULL;
    if (mllm_session_new(m, &sp, &s, err, sizeof err) != MLLM_OK) printf("# %s\n", err);
    return s;
}

/* Rows of one batch against one token at a time; exact: bit for bit, else within 1e-4. */
static void rows_match(const char *dir, const char *dtype, bool exact)
{
    char what[256], err[MLLM_ERRLEN];
    mllm_model *m = load(dir, dtype);
    if (!m) {
        snprintf(what, sizeof what, "%s (%s): loads", dir, dtype ? dtype : "as stored");
        check(0, what);
        return;
    }
    int V = mllm_model_config(m)->vocab_size;
    int32_t prompt[12], batch[6];
    for (int i = 0; i < 12; i++) prompt[i] = (int32_t)(3 + (i * 7919) % (V - 3));
    for (int i = 0; i < 6; i++) batch[i] = (int32_t)(3 + (i * 104729 + 11) % (V - 3));
    mllm_session *a = session(m, 64), *b = session(m, 64);
    bool ok = a && b && mllm_session_eval(a, prompt, 12, err, sizeof err) == MLLM_OK &&
              mllm_session_eval(b, prompt, 12, err, sizeof err) == MLLM_OK &&
              mllm_session_reserve_rows(a, 6, err, sizeof err) == MLLM_OK && mllm_forward_rows(a, batch, 6);
    int bad_row = -1;
    float worst = 0.0f;
    for (int t = 0; ok && t < 6; t++) {
        ok = mllm_forward(b, batch + t, 1);
        const float *row = a->row_logits + (size_t)t * V;
        for (int i = 0; ok && i < V; i++) {
            float d = fabsf(row[i] - b->logits[i]);
            if (d > worst) worst = d;
        }
        if (exact ? memcmp(row, b->logits, (size_t)V * sizeof(float)) != 0 : worst > 1e-4f) {
            if (bad_row < 0) bad_row = t;
        }
    }
    ok = ok && a->pos == 18 && memcmp(a->logits, b->logits, (size_t)V * sizeof(float)) == 0;
    snprintf(what, sizeof what, "%s (%s): a 6-token batch's rows are its tokens' logits one at a time%s (row %d differs, "
             "worst %g)", dir, dtype ? dtype : "as stored", exact ? ", bit for bit" : "", bad_row, (double)worst);
    check(ok && bad_row < 0, what);
    mllm_session_free(a);
    mllm_session_free(b);
    mllm_model_release(m);
}

/* A logits hook that bans every token whose id ends in 7 and records the text it saw. */
typedef struct { int calls; size_t last_len; } hook_state;
static void ban_sevens(void *ud, float *logits, int n_vocab, const char *text, size_t len)
{
    hook_state *h = ud;
    h->calls++;
    h->last_len = len;
    for (int i = 7; i < n_vocab; i += 10) logits[i] = -INFINITY;
}

typedef struct {
    int32_t ids[512];
    int n;
    char text[8192];
    size_t n_text;
    mllm_generate_info info;
    int pos;
    float last_logit[4];
    float probe[512];
    int probe_pos;
    hook_state hook;
} run_result;

/* One generation on a fresh session of m; probe: set the attention probe first. */
static mllm_status run(mllm_model *m, int n_ctx, const int32_t *prompt, size_t n_prompt, mllm_generate_params gp,
                       bool probe, bool hook, run_result *r)
{
    char err[MLLM_ERRLEN];
    memset(r, 0, sizeof *r);
    mllm_session *s = session(m, n_ctx);
    if (!s) return MLLM_ERR_NOMEM;
    if (probe) {
        int layers[2] = { 1, 3 }, heads[2] = { 0, 2 };
        if (mllm_session_set_probe(s, layers, heads, 2, err, sizeof err)) return MLLM_ERR_ARG;
    }
    if (hook) {
        gp.logits_hook = ban_sevens;
        gp.hook_ud = &r->hook;
    }
    mllm_generator *g;
    mllm_status st = mllm_generator_new(s, prompt, n_prompt, &gp, &g, err, sizeof err);
    if (st) {
        printf("# %s\n", err);
        mllm_session_free(s);
        return st;
    }
    const char *piece;
    size_t len;
    int32_t id;
    while ((st = mllm_generator_next(g, &piece, &len, &id, err, sizeof err)) == MLLM_OK) {
        if (id >= 0 && r->n < 512) r->ids[r->n++] = id;
        if (r->n_text + len < sizeof r->text) {
            memcpy(r->text + r->n_text, piece, len);
            r->n_text += len;
        }
    }
    r->info = *mllm_generator_info(g);
    r->pos = mllm_session_pos(s);
    const float *l = mllm_session_logits(s);
    if (l) memcpy(r->last_logit, l, sizeof r->last_logit);
    int np = 0;
    const float *pw = mllm_session_probe(s, &np);
    if (pw && np <= 512) {
        memcpy(r->probe, pw, (size_t)np * sizeof *pw);
        r->probe_pos = np;
    }
    mllm_generator_free(g);
    mllm_session_free(s);
    return st == MLLM_DONE ? MLLM_OK : st;
}

static bool same_run(const run_result *a, const run_result *b)
{
    return a->n == b->n && memcmp(a->ids, b->ids, (size_t)a->n * sizeof *a->ids) == 0 && a->n_text == b->n_text &&
           memcmp(a->text, b->text, a->n_text) == 0 && a->info.stop == b->info.stop && a->pos == b->pos &&
           a->info.generated_tokens == b->info.generated_tokens &&
           memcmp(a->last_logit, b->last_logit, sizeof a->last_logit) == 0 && a->probe_pos == b->probe_pos &&
           memcmp(a->probe, b->probe, (size_t)a->probe_pos * sizeof *a->probe) == 0 && a->hook.calls == b->hook.calls &&
           a->hook.last_len == b->hook.last_len;
}

/* Plain decoding against drafting for one setting; the drafts must be used (drafted > 0). */
static void same_text(mllm_model *m, const char *what, int n_ctx, const int32_t *prompt, size_t n, mllm_generate_params gp,
                      bool probe, bool hook)
{
    static run_result plain, drafted;
    char line[512];
    gp.draft_tokens = 0;
    mllm_status s0 = run(m, n_ctx, prompt, n, gp, probe, hook, &plain);
    gp.draft_tokens = 8;
    mllm_status s1 = run(m, n_ctx, prompt, n, gp, probe, hook, &drafted);
    snprintf(line, sizeof line,
             "%s: drafting gives plain decoding's ids, text, stop, position, logits%s (%d tokens, stop %s; %d drafted, "
             "%d accepted)", what, probe ? " and probe" : "", drafted.n, mllm_stop_reason_name(drafted.info.stop),
             drafted.info.drafted_tokens, drafted.info.accepted_tokens);
    check(s0 == MLLM_OK && s1 == MLLM_OK && same_run(&plain, &drafted) && plain.info.drafted_tokens == 0 &&
              drafted.info.drafted_tokens > 0 && drafted.info.accepted_tokens > 0 &&
              drafted.info.accepted_tokens <= drafted.info.drafted_tokens,
          line);
}

/* A job's ids: stepwise with budget_ms per step (0: mllm_job_wait), or async. */
static int job_ids(mllm_model *m, const int32_t *prompt, size_t n, int draft, bool async, double budget_ms,
                   int32_t *ids, mllm_generate_info *info)
{
    char err[MLLM_ERRLEN];
    mllm_session *s = session(m, 512);
    mllm_job_params jp = mllm_job_default_params();
    jp.gen.max_tokens = 80;
    jp.gen.stop_at_eos = false;
    jp.gen.draft_tokens = draft;
    jp.async = async;
    mllm_job *j = NULL;
    if (!s || mllm_job_start(s, prompt, n, &jp, &j, err, sizeof err) != MLLM_OK) {
        printf("# %s\n", err);
        mllm_session_free(s);
        return -1;
    }
    const char *text;
    size_t len;
    mllm_status st = MLLM_OK;
    if (!async && budget_ms > 0)
        while ((st = mllm_job_step(j, budget_ms, &text, &len, err, sizeof err)) == MLLM_OK) {}
    else
        st = mllm_job_wait(j, &text, &len, err, sizeof err);
    int got = st == MLLM_DONE ? (int)mllm_job_ids(j, ids, 512) : -1;
    mllm_job_info(j, info);
    mllm_job_free(j);
    mllm_session_free(s);
    return got;
}

static void jobs(mllm_model *m, const int32_t *prompt, size_t n)
{
    static int32_t plain[512], got[512];
    char what[256];
    mllm_generate_info pi, gi;
    int np = job_ids(m, prompt, n, 0, false, 0, plain, &pi);
    struct { bool async; double budget_ms; const char *name; } modes[] = {
        { false, 0.3, "a stepwise job of 0.3 ms steps (below one drafted batch)" },
        { false, 10000, "a stepwise job of 10 s steps (room for every batch, even under a sanitizer)" },
        { false, 0, "a stepwise job run to its end by mllm_job_wait" },
        { true, 0, "an async job" },
    };
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        int ng = job_ids(m, prompt, n, 8, modes[i].async, modes[i].budget_ms, got, &gi);
        /* 0.3 ms steps: the one batch that measured a draft's cost, then none fits a step */
        bool drafts = modes[i].budget_ms == 0.3 ? gi.drafted_tokens <= 8 : gi.accepted_tokens > 0;
        snprintf(what, sizeof what, "%s with drafts: plain decoding's %d ids (%d drafted, %d kept)", modes[i].name,
                 np, gi.drafted_tokens, gi.accepted_tokens);
        check(np == 80 && ng == np && memcmp(plain, got, (size_t)np * sizeof *got) == 0 && drafts, what);
    }
}

static void generations(void)
{
    char err[MLLM_ERRLEN];
    mllm_model *m = load(SHIPPED, NULL);
    if (!m) {
        check(0, "the shipped model loads");
        return;
    }
    const mllm_tokenizer *tok = mllm_model_tokenizer(m);
    const char *text = "<s>[INST] set an alarm for 7:30 am and then set an alarm for 8 am, "
                       "remind me to call Bob at 7:30 am [/INST] <tool_call>set_alarm(time=\"7:30 am\")</tool_call> "
                       "Alarm set for 7:30 am. [INST] and set an alarm for";
    int32_t *ids = NULL;
    size_t n = 0;
    if (mllm_tokenizer_encode(tok, text, strlen(text), true, &ids, &n, err, sizeof err) != MLLM_OK) {
        check(0, err);
        mllm_model_release(m);
        return;
    }
    mllm_generate_params gp = mllm_generate_default_params();
    gp.max_tokens = 120;
    gp.stop_at_eos = false;
    same_text(m, "greedy", 512, ids, n, gp, false, false);
    same_text(m, "greedy, with the attention probe", 512, ids, n, gp, true, false);
    same_text(m, "greedy, with a logits hook", 512, ids, n, gp, false, true);
    mllm_generate_params sampled = gp;
    sampled.sampler.temperature = 0.7f;
    sampled.sampler.top_k = 40;
    sampled.sampler.seed = 12345;
    same_text(m, "sampled (temperature 0.7, top_k 40)", 512, ids, n, sampled, false, false);
    sampled.sampler.repeat_penalty = 1.3f;
    same_text(m, "sampled, repeat penalty 1.3, probe and hook", 512, ids, n, sampled, true, true);
    mllm_generate_params short_gp = gp;
    short_gp.max_tokens = 13;
    same_text(m, "max_tokens 13", 512, ids, n, short_gp, false, false);
    /* the context ends a few tokens after the prompt: no draft may pass it */
    same_text(m, "the context's end", (int)n + 20, ids, n, gp, false, false);
    mllm_generate_params stop_gp = gp;
    stop_gp.stops[0] = "am.";
    stop_gp.n_stops = 1;
    stop_gp.stop_at_eos = true;
    same_text(m, "a stop string", 512, ids, n, stop_gp, false, false);

    jobs(m, ids, n);

    mllm_session *s = session(m, 512);
    mllm_generator *g = NULL;
    gp.draft_tokens = -1;
    mllm_status st = s ? mllm_generator_new(s, ids, n, &gp, &g, err, sizeof err) : MLLM_ERR_NOMEM;
    check(st == MLLM_ERR_ARG && strstr(err, "draft_tokens must be in [0, 16], got -1") && !g,
          "draft_tokens -1 is refused by name");
    gp.draft_tokens = MLLM_MAX_DRAFT + 1;
    st = s ? mllm_generator_new(s, ids, n, &gp, &g, err, sizeof err) : MLLM_ERR_NOMEM;
    check(st == MLLM_ERR_ARG && strstr(err, "got 17") && !g && mllm_session_pos(s) == 0,
          "draft_tokens 17 is refused, and nothing is evaluated");
    check(mllm_generate_default_params().draft_tokens == MLLM_DEFAULT_DRAFT, "the default is MLLM_DEFAULT_DRAFT");
    mllm_session_free(s);
    free(ids);
    mllm_model_release(m);
}

int main(void)
{
    lookup_cases();
    rows_match(FIXTURES "/f32-basic", NULL, true);
    rows_match(FIXTURES "/f16-gqa3", NULL, true);
    rows_match(FIXTURES "/bf16-vocab32k", NULL, true);
    rows_match(FIXTURES "/f32-ls", NULL, true);
    rows_match(FIXTURES "/l4-nope-chunked", NULL, true);
    rows_match(SHIPPED, NULL, true);
    rows_match(FIXTURES "/f32-basic", "q8", false);
    rows_match(FIXTURES "/f32-basic", "q4", false);
    generations();
    printf("1..%d\n", n_checks);
    return n_failed ? 1 : 0;
}
