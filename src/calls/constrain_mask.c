/* constrain_mask.c — the tokens that may follow a text: a depth-first walk of the vocabulary
 * trie that steps the grammar (constrain.c) byte by byte and prunes a subtree at its first bad
 * byte, the cheap paths outside a call (the reply rule's mask there) and inside a string, and
 * the logits hook.
 */
#define _POSIX_C_SOURCE 200809L
#include "constrain_internal.h"
#include "base/grow.h"
#include "base/status.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ masks */

typedef struct walk {
    const mllm_constraint *c;
    const trie_node *nodes;
    const int32_t *order;
    uint8_t *allowed;
    int count;
} walk;

static void mark(walk *w, const trie_node *n)
{
    for (int32_t i = 0; i < n->n_tok; i++) w->allowed[w->order[n->tok + i]] = 1;
    w->count += n->n_tok;
}

static void dfs(walk *w, int32_t node, const cst_state *st)
{
    for (int32_t ch = w->nodes[node].child; ch >= 0; ch = w->nodes[ch].sibling) {
        cst_state s = *st;
        if (!cst_step(w->c, &s, w->nodes[ch].byte)) continue;
        if (w->nodes[ch].n_tok) mark(w, &w->nodes[ch]);
        if (w->nodes[ch].child >= 0) dfs(w, ch, &s);
    }
}

/* Can the token's piece follow state st? drop_space: the generator drops the leading space of
 * the first piece it hands out, so at the very start " <" is really "<". */
static bool token_fits(const mllm_constraint *c, const cst_state *st, int32_t id, bool drop_space)
{
    const mllm_vocab_trie *v = c->v;
    const unsigned char *p = v->bytes + v->off[id];
    size_t n = v->off[id + 1] - v->off[id];
    if (drop_space && n && p[0] == ' ') { p++; n--; }
    if (n == 0) return st->phase == P_OUT;
    cst_state s = *st;
    for (size_t i = 0; i < n; i++)
        if (!cst_step(c, &s, p[i])) return false;
    return true;
}

/* Inside a call: fills c->allowed, returns the count. */
static int mask_in_call(mllm_constraint *c, const cst_state *s, bool drop_space)
{
    const mllm_vocab_trie *v = c->v;
    memset(c->allowed, 0, (size_t)v->n_vocab);
    walk w = { c, v->nodes, v->order, c->allowed, 0 };
    if (s->phase == P_STR && s->need == 0 && !s->space_ok && !drop_space && !s->copy) {
        /* in a string: plain pieces fit while they fit the length; step the others */
        size_t room = c->max_string - s->len;
        for (int i = 0; i < v->n_vocab; i++)
            if (v->plain[i] && v->off[i + 1] - v->off[i] <= room) {
                c->allowed[i] = 1;
                w.count++;
            }
        for (size_t k = 0; k < v->n_special; k++)
            if (token_fits(c, s, v->special[k], false)) {
                c->allowed[v->special[k]] = 1;
                w.count++;
            }
        return w.count;
    }
    if (drop_space) {
        for (int32_t ch = v->nodes[0].child; ch >= 0; ch = v->nodes[ch].sibling) {
            if (v->nodes[ch].byte == ' ') { /* the space vanishes: its subtree continues from s */
                dfs(&w, ch, s);
                continue;
            }
            cst_state t = *s;
            if (!cst_step(c, &t, v->nodes[ch].byte)) continue;
            if (v->nodes[ch].n_tok) mark(&w, &v->nodes[ch]);
            if (v->nodes[ch].child >= 0) dfs(&w, ch, &t);
        }
        return w.count;
    }
    dfs(&w, 0, s);
    return w.count;
}

/* Outside a call under the reply rule: the walk, and the control tokens (empty pieces: EOS ends
 * the reply) where the text may end. */
static int mask_reply(mllm_constraint *c, const cst_state *s, bool drop_space)
{
    int count = mask_in_call(c, s, drop_space);
    const trie_node *root = &c->v->nodes[0];
    if (root->n_tok && cst_reply_can_end(c, s)) {
        walk w = { c, c->v->nodes, c->v->order, c->allowed, 0 };
        mark(&w, root);
        count += w.count;
    }
    return count;
}

mllm_status mllm_constraint_allowed(mllm_constraint *c, const char *text, size_t len, uint8_t *allowed,
                                   int *n_allowed, char *err, size_t errlen)
{
    *n_allowed = 0;
    if (!c->v)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "the constraint has no vocabulary");
    cst_state s;
    if (cst_sync(c, text, len, &s) != NONE) {
        /* the text breaks the rule: check says where and what was expected there */
        mllm_constraint_check(c, text, len, NULL, err, errlen);
        return MLLM_ERR_FORMAT;
    }
    int n = c->v->n_vocab;
    if (s.phase == P_OUT && !cst_reply_active(c)) {
        int count = n;
        memset(allowed, 1, (size_t)n);
        for (size_t k = 0; k < c->n_out_check; k++)
            if (!token_fits(c, &s, c->out_check[k], len == 0)) {
                allowed[c->out_check[k]] = 0;
                count--;
            }
        *n_allowed = count;
        return MLLM_OK;
    }
    *n_allowed = s.phase == P_OUT ? mask_reply(c, &s, len == 0) : mask_in_call(c, &s, len == 0);
    memcpy(allowed, c->allowed, (size_t)n);
    return MLLM_OK;
}

mllm_status mllm_constraint_set_prefix(mllm_constraint *c, const char *text, size_t len, char *err, size_t errlen)
{
    if (len && !mllm_grow((void **)&c->prefix, &c->prefix_cap, len, 1))
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for a prefix of %zu bytes", len);
    if (len) memcpy(c->prefix, text, len);
    c->prefix_len = len;
    return MLLM_OK;
}

void mllm_constraint_hook(void *ud, float *logits, int n_vocab, const char *text, size_t len)
{
    mllm_constraint *c = ud;
    if (!c || !c->v || n_vocab != c->v->n_vocab) return;
    double t0 = now_seconds();
    bool start = len == 0;  /* the generation's first token: its leading space is dropped */
    if (c->prefix_len) {    /* the text written before this generation comes first */
        if (!mllm_grow((void **)&c->joined, &c->joined_cap, c->prefix_len + len + 1, 1)) {
            c->stats.invalid++;  /* no memory: nothing masked this step */
            return;
        }
        memcpy(c->joined, c->prefix, c->prefix_len);
        memcpy(c->joined + c->prefix_len, text, len);
        text = c->joined;
        len += c->prefix_len;
    }
    cst_state s;
    if (cst_sync(c, text, len, &s) != NONE) {
        c->stats.invalid++;
    } else if (s.phase == P_OUT && !cst_reply_active(c)) {
        for (size_t k = 0; k < c->n_out_check; k++)
            if (!token_fits(c, &s, c->out_check[k], start)) logits[c->out_check[k]] = -INFINITY;
        c->stats.free++;
    } else if ((s.phase == P_OUT ? mask_reply(c, &s, start) : mask_in_call(c, &s, start)) == 0) {
        c->stats.dead_ends++;
        if (s.phase == P_OUT) {  /* the reply cannot go on under its rule: it ends (control tokens only) */
            memset(c->allowed, 0, (size_t)n_vocab);
            walk w = { c, c->v->nodes, c->v->order, c->allowed, 0 };
            mark(&w, &c->v->nodes[0]);
            for (int i = 0; i < n_vocab && w.count > 0; i++)
                if (!c->allowed[i]) logits[i] = -INFINITY;
        }
    } else {
        for (int i = 0; i < n_vocab; i++)
            if (!c->allowed[i]) logits[i] = -INFINITY;
        if (c->pointer_weight > 0.0f && c->bound && s.phase == P_STR && s.copy && s.len == 0 && s.need == 0)
            cst_point(c, &s, logits, n_vocab);
        c->stats.masks++;
    }
    c->stats.seconds += now_seconds() - t0;
}
