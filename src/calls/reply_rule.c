/* reply_rule.c — the reply rule: outside a call, while a copy source is set, every word of the
 * text is a word of the model's replies (mllm_constraint_set_reply_words: data a model directory
 * ships, the words of its training replies once the values copied from requests are taken out)
 * or a word of the source (the user's words, its first letter in either case: "Searching the web
 * for how far ..." after "How far ..."), and every run of bytes between words is one of the replies' gaps
 * (" ", ", ", ". ", ": " ...). A small model that has to write a name it never saw ("Message sent to Priya.")
 * otherwise drifts into other scripts ("Message sent toмовắắ") or makes up a name ("Sriya").
 *
 * Words are runs of letters, digits, UTF-8 bytes and apostrophes ("Here's"), a word of the source
 * as the copy rule has it (copy_rule.c: "Nina's", "Dr." before a name). The opening tag stays
 * open between words while a call may still open: once its first byte comes, only the tag may
 * follow. Text may end after a whole word or a whole gap.
 */
#include "constrain_internal.h"
#include "base/status.h"

#include <stdlib.h>
#include <string.h>

struct cst_reply_words {
    word_node *nodes;       /* node 0: the words' root, node 1: the gaps' root; word >= 0 where one ends */
    size_t n_nodes, cap_nodes;
    uint64_t once[MLLM_CST_REPLY_ONCE_WORDS / 64]; /* the words a reply says at most once */
};

enum { WORD_ROOT = 0, GAP_ROOT = 1 };

static bool reply_word_byte(unsigned char b)
{
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80 || b == '\'';
}

static unsigned char lower(unsigned char b) { return b >= 'A' && b <= 'Z' ? (unsigned char)(b | 0x20) : b; }

static int32_t child(const cst_reply_words *r, int32_t node, unsigned char b)
{
    for (int32_t ch = r->nodes[node].child; ch >= 0; ch = r->nodes[ch].sibling)
        if (r->nodes[ch].byte == b) return ch;
    return -1;
}

static bool bit(const uint64_t *m, size_t p) { return m[p / 64] >> (p % 64) & 1; }
static void set_bit(uint64_t *m, size_t p) { m[p / 64] |= 1ull << (p % 64); }

/* A copy of the source starts with b (either case): at a word start, and once the text has
 * copied values, at the start of one of them (a reply repeats a call's values whole: "Message
 * sent to Priya", never "to My" of "on my way"); a number may start at any word. cmask: the
 * positions after b. */
static bool copy_start(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    bool any = false, digit = b >= '0' && b <= '9';
    memset(s->cmask, 0, sizeof s->cmask);
    for (size_t p = 0; p < c->source_len; p++)
        if (cst_in_word(c, p) && (p == 0 || !cst_in_word(c, p - 1)) && lower(c->source[p]) == lower(b) &&
            (!s->rvalues || digit || bit(s->vstart, p))) {
            set_bit(s->cmask, p + 1);
            any = true;
        }
    return any;
}

/* The copy goes on with b, as the source has it; in_word: b is inside a word (else between
 * words). Only a word's first letter may change its case ("how far" for "How far"). */
static bool copy_next(const mllm_constraint *c, cst_state *s, unsigned char b, bool in_word)
{
    uint64_t next[CMASK_WORDS] = { 0 };
    bool any = false;
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m);
            bool first = in_word && (p == 0 || !cst_in_word(c, p - 1));
            unsigned char want = c->source[p < c->source_len ? p : 0];
            if (p < c->source_len && cst_in_word(c, p) == in_word && (first ? lower(want) == lower(b) : want == b)) {
                set_bit(next, p + 1);
                any = true;
            }
        }
    memcpy(s->cmask, next, sizeof next);
    return any;
}

/* Whether the copy may stop here: at the end of a source word, and once the text has copied
 * values, at the end of one of them (or anywhere in a number: "7" of "7 am"). */
static bool copy_can_stop(const mllm_constraint *c, const cst_state *s)
{
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m);
            if (cst_in_word(c, p)) continue;
            if (!s->rvalues || bit(s->vend, p) || (p > 0 && c->source[p - 1] >= '0' && c->source[p - 1] <= '9'))
                return true;
        }
    return false;
}

void cst_reply_note_value(const mllm_constraint *c, cst_state *s)
{
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m);
            if (p < s->len || p > c->source_len) continue;
            set_bit(s->vstart, p - s->len);
            set_bit(s->vend, p);
            s->rvalues = 1;
        }
}

/* The state outside a call under the rule, two ways of reading the text at once: as words of
 * the replies and gaps (rnode: in a word its node in the words' trie, 0 none; between words its
 * node in the gaps' trie, 0 at the text's start, -1 none), and as a copy of the source under way
 * (rcopy, its positions in cmask), which may run across gaps ("Los Angeles"). */

/* Whether the reply word ending at node is one the text said already and may not say again. */
static bool said_before(const cst_reply_words *r, const cst_state *s, int32_t node)
{
    int32_t w = r->nodes[node].word;
    return w >= 0 && w < MLLM_CST_REPLY_ONCE_WORDS && bit(r->once, (size_t)w) && bit(s->rused, (size_t)w);
}

/* Whether some word the text may still say ends at node or below it. */
static bool alive(const cst_reply_words *r, const cst_state *s, int32_t node)
{
    if (r->nodes[node].word >= 0 && !said_before(r, s, node)) return true;
    for (int32_t ch = r->nodes[node].child; ch >= 0; ch = r->nodes[ch].sibling)
        if (alive(r, s, ch)) return true;
    return false;
}

static bool gap_whole(const cst_reply_words *r, const cst_state *s)
{
    return s->rnode == 0 || (s->rnode > 0 && r->nodes[s->rnode].word >= 0);
}

bool cst_reply_can_end(const mllm_constraint *c, const cst_state *s)
{
    const cst_reply_words *r = c->reply;
    if (s->rin)
        return (s->rnode > 0 && r->nodes[s->rnode].word >= 0 && !said_before(r, s, s->rnode)) ||
               (s->rcopy && copy_can_stop(c, s));
    return gap_whole(r, s);
}

bool cst_reply_step(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    const cst_reply_words *r = c->reply;
    if (s->node > 0) return b == (unsigned char)c->open[s->node];  /* inside the opening tag: only the tag */
    bool word = reply_word_byte(b) && !(b == '\'' && !s->rin);
    cst_state t = *s;
    if (s->rin && word) {  /* the word goes on, as a word of the replies or as the copy */
        int32_t ch = s->rnode > 0 ? child(r, s->rnode, b) : -1;
        bool copy = s->rcopy && copy_next(c, &t, b, true);
        if (ch > 0 && !alive(r, s, ch)) ch = -1;  /* only words said already from here */
        if (ch < 0 && !copy) return false;
        s->rnode = ch > 0 ? ch : 0;
        s->rcopy = copy;
        memcpy(s->cmask, t.cmask, sizeof s->cmask);
        return true;
    }
    if (s->rin) {  /* the word ends: it may stop here, or a copy may go on across the gap */
        bool stop = cst_reply_can_end(c, s);
        int32_t w = s->rnode > 0 ? r->nodes[s->rnode].word : -1;
        if (w >= 0 && w < MLLM_CST_REPLY_ONCE_WORDS) set_bit(s->rused, (size_t)w);
        bool copy = s->rcopy && copy_next(c, &t, b, false);
        s->rin = 0;
        s->rcopy = copy;
        memcpy(s->cmask, t.cmask, sizeof s->cmask);
        if (b == (unsigned char)c->open[0]) {  /* the way into a call, while one may still open */
            s->rcopy = 0;
            s->rnode = 0;
            return stop && c->n_tools > 0 && (!c->max_calls || s->calls < c->max_calls);
        }
        int32_t g = stop ? child(r, GAP_ROOT, b) : -1;
        if (g < 0 && !copy) return false;
        s->rnode = g;
        return true;
    }
    if (!word) {  /* between words */
        if (b == (unsigned char)c->open[0])
            return gap_whole(r, s) && c->n_tools > 0 && (!c->max_calls || s->calls < c->max_calls);
        bool copy = s->rcopy && copy_next(c, &t, b, false);
        int32_t g = s->rnode >= 0 ? child(r, s->rnode > 0 ? s->rnode : GAP_ROOT, b) : -1;
        if (g < 0 && !copy) return false;
        s->rnode = g;
        s->rcopy = copy;
        memcpy(s->cmask, t.cmask, sizeof s->cmask);
        return true;
    }
    /* a word begins: a copy's next word, or after a whole gap a word of the replies or a new copy */
    bool on = s->rcopy && copy_next(c, &t, b, true);
    bool fresh = gap_whole(r, s);
    int32_t ch = fresh ? child(r, WORD_ROOT, b) : -1;
    if (ch > 0 && !alive(r, s, ch)) ch = -1;
    cst_state u = *s;
    bool copy = fresh && copy_start(c, &u, b);
    if (ch < 0 && !on && !copy) return false;
    for (size_t w = 0; w < CMASK_WORDS; w++) s->cmask[w] = (on ? t.cmask[w] : 0) | (copy ? u.cmask[w] : 0);
    s->rin = 1;
    s->rnode = ch > 0 ? ch : 0;
    s->rcopy = on || copy;
    return true;
}

bool cst_reply_active(const mllm_constraint *c)
{
    return c->reply && c->source_len > 0;
}

void cst_reply_free(cst_reply_words *r)
{
    if (!r) return;
    free(r->nodes);
    free(r);
}

static int32_t node_new(cst_reply_words *r, unsigned char b)
{
    if (r->n_nodes == r->cap_nodes) {
        size_t cap = r->cap_nodes ? r->cap_nodes * 2 : 256;
        word_node *n = realloc(r->nodes, cap * sizeof *n);
        if (!n) return -1;
        r->nodes = n;
        r->cap_nodes = cap;
    }
    r->nodes[r->n_nodes] = (word_node){ -1, -1, -1, 0, b };
    return (int32_t)r->n_nodes++;
}

static bool insert(cst_reply_words *r, int32_t root, const char *text, int32_t id)
{
    int32_t node = root;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        int32_t ch = child(r, node, *p);
        if (ch < 0) {
            if ((ch = node_new(r, *p)) < 0) return false;
            r->nodes[ch].sibling = r->nodes[node].child;
            r->nodes[node].child = ch;
        }
        node = ch;
    }
    r->nodes[node].word = id;
    return true;
}

/* What is wrong with word i (as_gap: gap i), or NULL. */
static const char *bad_item(const char *text, bool as_gap)
{
    const unsigned char *w = (const unsigned char *)text;
    size_t len = 0;
    if (!w) return "is missing";
    for (; len <= MLLM_CST_MAX_REPLY_WORD_BYTES && w[len]; len++) {
        bool word = reply_word_byte(w[len]) && !(len == 0 && w[0] == '\'');
        if (as_gap && reply_word_byte(w[len]) && w[len] != '\'')
            return "holds a letter, a digit or a UTF-8 byte";
        if (!as_gap && !word) return "holds a byte that is not a letter, a digit, a UTF-8 byte or an inner apostrophe";
        if (as_gap && (w[len] < 0x20 || w[len] == (unsigned char)'<')) return "holds a control byte or '<'";
    }
    if (len == 0 || len > MLLM_CST_MAX_REPLY_WORD_BYTES) return "must have 1 to MLLM_CST_MAX_REPLY_WORD_BYTES bytes";
    return NULL;
}

mllm_status mllm_constraint_set_reply_words(mllm_constraint *c, const char *const *words, size_t n,
                                            const char *const *gaps, size_t n_gaps,
                                            const char *const *repeatable, size_t n_repeatable,
                                            char *err, size_t errlen)
{
    if (n == 0) {
        cst_reply_free(c->reply);
        c->reply = NULL;
        c->cached = false;
        return MLLM_OK;
    }
    if (n > MLLM_CST_MAX_REPLY_WORDS || n_gaps > MLLM_CST_MAX_REPLY_WORDS)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "%zu reply words and %zu gaps (MLLM_CST_MAX_REPLY_WORDS is %d)",
                         n, n_gaps, MLLM_CST_MAX_REPLY_WORDS);
    if (!words || (n_gaps && !gaps)) return mllm_fail(err, errlen, MLLM_ERR_ARG, "no reply words or gaps given");
    for (size_t i = 0; i < n; i++) {
        const char *why = bad_item(words[i], false);
        if (why) return mllm_fail(err, errlen, MLLM_ERR_ARG, "reply word %zu %s (MLLM_CST_MAX_REPLY_WORD_BYTES is %d)",
                                  i + 1, why, MLLM_CST_MAX_REPLY_WORD_BYTES);
    }
    for (size_t i = 0; i < n_gaps; i++) {
        const char *why = bad_item(gaps[i], true);
        if (why) return mllm_fail(err, errlen, MLLM_ERR_ARG, "reply gap %zu %s (MLLM_CST_MAX_REPLY_WORD_BYTES is %d)",
                                  i + 1, why, MLLM_CST_MAX_REPLY_WORD_BYTES);
    }
    if (n_repeatable && !repeatable) return mllm_fail(err, errlen, MLLM_ERR_ARG, "no repeatable words given");
    cst_reply_words *r = calloc(1, sizeof *r);
    if (!r || node_new(r, 0) != WORD_ROOT || node_new(r, 0) != GAP_ROOT) goto nomem;
    for (size_t i = 0; i < n; i++)
        if (!insert(r, WORD_ROOT, words[i], (int32_t)i)) goto nomem;
    for (size_t i = 0; i < n_gaps; i++)
        if (!insert(r, GAP_ROOT, gaps[i], (int32_t)i)) goto nomem;
    memset(r->once, 0xff, sizeof r->once);
    for (size_t i = 0; i < n_repeatable; i++) {
        int32_t node = WORD_ROOT;
        for (const unsigned char *p = (const unsigned char *)(repeatable[i] ? repeatable[i] : ""); *p && node >= 0; p++)
            node = child(r, node, *p);
        if (node <= 0 || r->nodes[node].word < 0) {
            cst_reply_free(r);
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "repeatable word %zu is not one of the reply words", i + 1);
        }
        int32_t w = r->nodes[node].word;
        if (w < MLLM_CST_REPLY_ONCE_WORDS) r->once[w / 64] &= ~(1ull << (w % 64));
    }
    cst_reply_free(c->reply);
    c->reply = r;
    c->cached = false;  /* the cached state was computed without this rule */
    return MLLM_OK;
nomem:
    cst_reply_free(r);
    return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for the reply words");
}
