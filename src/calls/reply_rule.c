/* reply_rule.c — the reply rule (mllm_constraint_set_reply_rule): outside a call, the text is
 * held to the replies the model was trained on, data its directory ships (reply_rule.json):
 *   - every word is a word of those replies (their words once the values copied from requests
 *     are taken out) or a word of the source (the user's words, as written; a sentence's first
 *     letter in either case: "Searching the web for how far ..." after "How far ...");
 *   - every run of bytes between words is one of their gaps (" ", ", ", ": "), after the last
 *     word one of their end gaps ("." "!" "?");
 *   - a word comes at most once unless repeatable, and each word, value or end only after two
 *     items it came after in a training reply (follows: after "sent to" only a value);
 *   - once a call has copied values, a copy in the reply is one of them, whole;
 *   - a call opens only where a reply begins (the trained format: the call, then its reply).
 * A small model that has to write a name it never saw ("Message sent to Priya.") otherwise
 * drifts into other scripts ("Message sent toмовắắ"), makes up a name ("Sriya") or says another
 * word ("Message sent to Message").
 *
 * Words are runs of letters, digits, UTF-8 bytes and apostrophes ("Here's"), a word of the
 * source as the copy rule has it (copy_rule.c: "Nina's", "Dr." before a name). The text may end
 * where a reply begins, or after a whole word or end gap that ended a training reply.
 */
#include "constrain_internal.h"
#include "base/status.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

#define TRACKED MLLM_CST_REPLY_TRACKED_WORDS
#define VALUE_ITEM TRACKED       /* the item (and bit) of a copied value */
#define END_ITEM (TRACKED + 1)   /* the bit of the reply's end */
#define START_ITEM (TRACKED + 1) /* the item before a reply's first word */
#define N_ITEMS (TRACKED + 2)
#define ANY_ITEM (-2)            /* a word past the TRACKED first: no order holds around it */
#define ANY_KEY (N_ITEMS * N_ITEMS) /* the context of such a word */

/* A context of follows: the two items before the next (START_ITEM, START_ITEM at the start). */
static int32_t ctx_key(int32_t a, int32_t b) { return a * N_ITEMS + b; }

typedef struct follows_row {
    int32_t key;                     /* ctx_key of the two items before */
    uint64_t next[RNEXT_WORDS];      /* the words, VALUE_ITEM and END_ITEM that followed them */
} follows_row;

struct cst_reply_words {
    word_node *nodes;       /* node 0: the words' root, node 1: the gaps' root; word >= 0 where one ends */
    size_t n_nodes, cap_nodes;
    uint64_t once[TRACKED / 64];     /* the words a reply says at most once */
    follows_row *rows;      /* sorted by key; none: any order */
    size_t n_rows;
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

/* Whether source byte p begins a sentence of the source: its first byte, or the first after a
 * line break or a '.', '!' or '?' and spaces. Only there may a copy change a letter's case ("How
 * far is ..." becomes "Searching the web for how far is ..."); "Priya" stays "Priya". */
static bool sentence_start(const mllm_constraint *c, size_t p)
{
    while (p > 0 && c->source[p - 1] == ' ') p--;
    if (p == 0) return true;
    unsigned char b = c->source[p - 1];
    return b == '\n' || b == '.' || b == '!' || b == '?';
}

/* Whether source byte p and text byte b are the same letter, in either case at a sentence start. */
static bool same_letter(const mllm_constraint *c, size_t p, unsigned char b)
{
    return c->source[p] == b || (lower(c->source[p]) == lower(b) && sentence_start(c, p));
}

/* A copy of the source starts with b: at a word start, and once the text has
 * copied values, at the start of one of them (a reply repeats a call's values whole: "Message
 * sent to Priya", never "to My" of "on my way"); a number may start at any word. cmask: the
 * positions after b. */
static bool copy_start(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    bool any = false, digit = b >= '0' && b <= '9';
    memset(s->cmask, 0, sizeof s->cmask);
    for (size_t p = 0; p < c->source_len; p++)
        if (cst_in_word(c, p) && (p == 0 || !cst_in_word(c, p - 1)) && same_letter(c, p, b) &&
            (!s->rvalues || digit || bit(s->vstart, p))) {
            set_bit(s->cmask, p + 1);
            any = true;
        }
    return any;
}

/* The copy goes on with b, as the source has it; in_word: b is inside a word (else between
 * words). */
static bool copy_next(const mllm_constraint *c, cst_state *s, unsigned char b, bool in_word)
{
    if (b < 0x20) {  /* a line break joins the user's messages: no copy runs across one */
        memset(s->cmask, 0, sizeof s->cmask);
        return false;
    }
    uint64_t next[CMASK_WORDS] = { 0 };
    bool any = false;
    for (size_t w = 0; w < CMASK_WORDS; w++)
        for (uint64_t m = s->cmask[w]; m; m &= m - 1) {
            size_t p = w * 64 + (size_t)__builtin_ctzll(m);
            if (p < c->source_len && cst_in_word(c, p) == in_word && same_letter(c, p, b)) {
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
    return w >= 0 && w < TRACKED && bit(r->once, (size_t)w) && bit(s->rused, (size_t)w);
}

/* Whether the word ending at node may come next: not said already, and allowed after the word
 * before it (words past the TRACKED first always are). */
static bool may_say(const cst_reply_words *r, const cst_state *s, int32_t node)
{
    int32_t w = r->nodes[node].word;
    return w >= 0 && !said_before(r, s, node) && (w >= TRACKED || bit(s->rnext, (size_t)w));
}

/* Whether some word the text may still say here ends at node or below it. */
static bool alive(const cst_reply_words *r, const cst_state *s, int32_t node)
{
    if (may_say(r, s, node)) return true;
    for (int32_t ch = r->nodes[node].child; ch >= 0; ch = r->nodes[ch].sibling)
        if (alive(r, s, ch)) return true;
    return false;
}

/* Gaps' kinds (their trie node's mask): between two words, or after the last word; and the
 * kinds of the gaps a node leads to. */
enum { GAP_INNER = 1, GAP_END = 2, LEADS_INNER = 4, LEADS_END = 8 };

/* The gap node reached by b from node (0: the gaps' root), if a gap the text may still write
 * lies that way: one between words, or one that ends the reply where the reply may end. */
static int32_t gap_step(const cst_reply_words *r, const cst_state *s, int32_t node, unsigned char b)
{
    int32_t g = child(r, node > 0 ? node : GAP_ROOT, b);
    if (g < 0) return -1;
    uint64_t m = r->nodes[g].mask;
    return (m & LEADS_INNER) || ((m & LEADS_END) && bit(s->rnext, END_ITEM)) ? g : -1;
}

/* Whether a word may begin here: at the start, or after a whole gap that comes between words. */
static bool gap_whole(const cst_reply_words *r, const cst_state *s)
{
    return s->rnode == 0 || (s->rnode > 0 && r->nodes[s->rnode].word >= 0 && (r->nodes[s->rnode].mask & GAP_INNER));
}

/* What may follow the two items a, b (a word past the TRACKED first, ANY_ITEM, in either:
 * anything); into next (ORed). False when the context is one no training reply had. */
static bool follows_of(const cst_reply_words *r, int32_t a, int32_t b, uint64_t *next)
{
    if (!r->rows || a == ANY_ITEM || b == ANY_ITEM) {
        for (size_t k = 0; k < RNEXT_WORDS; k++) next[k] = ~0ull;
        return true;
    }
    int32_t key = ctx_key(a, b);
    size_t lo = 0, hi = r->n_rows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->rows[mid].key < key) lo = mid + 1; else hi = mid;
    }
    if (lo == r->n_rows || r->rows[lo].key != key) return false;
    for (size_t k = 0; k < RNEXT_WORDS; k++) next[k] |= r->rows[lo].next[k];
    return true;
}

/* The item a word of the replies is (ANY_ITEM past the TRACKED first). */
static int32_t word_item(const cst_reply_words *r, int32_t node)
{
    int32_t w = r->nodes[node].word;
    return w < TRACKED ? w : ANY_ITEM;
}

/* At the end of a word that is one of the replies' (as_word) or a copied value (as_value): the
 * contexts after it (ctx, up to 4 pairs, -1 unused) and what may follow (next). */
static void after_word(const cst_reply_words *r, const cst_state *s, bool as_word, bool as_value,
                       int32_t *ctx, uint64_t *next)
{
    int32_t items[2], n_items = 0, n_ctx = 0;
    if (as_word) items[n_items++] = word_item(r, s->rnode);
    if (as_value) items[n_items++] = VALUE_ITEM;
    memset(next, 0, RNEXT_WORDS * sizeof *next);
    for (int k = 0; k < 4; k++) ctx[k] = -1;
    for (int k = 0; k < 4; k++) {
        if (s->rctx[k] < 0) continue;
        int32_t prev = s->rctx[k] == ANY_KEY ? ANY_ITEM : s->rctx[k] % N_ITEMS;  /* the item before this word */
        for (int i = 0; i < n_items; i++) {
            int32_t key = prev == ANY_ITEM || items[i] == ANY_ITEM ? ANY_KEY : ctx_key(prev, items[i]);
            if (!follows_of(r, prev, items[i], next)) continue;
            bool dup = false;
            for (int j = 0; j < n_ctx; j++) dup |= ctx[j] == key;
            if (dup) continue;
            if (n_ctx == 4) {  /* too many readings: no order holds for the next word */
                for (size_t w = 0; w < RNEXT_WORDS; w++) next[w] = ~0ull;
                ctx[0] = ANY_KEY;
                for (int j = 1; j < 4; j++) ctx[j] = -1;
                return;
            }
            ctx[n_ctx++] = key;
        }
    }
}

bool cst_reply_can_end(const mllm_constraint *c, const cst_state *s)
{
    const cst_reply_words *r = c->reply;
    if (s->rin) {
        bool as_word = s->rnode > 0 && may_say(r, s, s->rnode), as_value = s->rcopy && copy_can_stop(c, s);
        if (!as_word && !as_value) return false;
        int32_t ctx[4];
        uint64_t next[RNEXT_WORDS];
        after_word(r, s, as_word, as_value, ctx, next);
        return bit(next, END_ITEM);
    }
    /* at the start (nothing written since it, or since a tool's result was fed back) it may end */
    return s->rnode == 0 ||
           (s->rnode > 0 && r->nodes[s->rnode].word >= 0 && (r->nodes[s->rnode].mask & GAP_END) &&
            bit(s->rnext, END_ITEM));
}

void cst_reply_start(const mllm_constraint *c, cst_state *s)
{
    s->rin = 0;
    s->rnode = 0;
    s->rcopy = 0;
    if (!c->reply) return;
    for (int k = 0; k < 4; k++) s->rctx[k] = -1;
    s->rctx[0] = ctx_key(START_ITEM, START_ITEM);
    memset(s->rnext, 0, sizeof s->rnext);
    follows_of(c->reply, START_ITEM, START_ITEM, s->rnext);
}

/* At the end of a word: what may follow it, as a word of the replies or as a copied value. */
static void word_ended(const cst_reply_words *r, cst_state *s, bool as_word, bool as_value)
{
    int32_t ctx[4];
    uint64_t next[RNEXT_WORDS];
    after_word(r, s, as_word, as_value, ctx, next);
    memcpy(s->rctx, ctx, sizeof ctx);
    memcpy(s->rnext, next, sizeof next);
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
        bool as_word = s->rnode > 0 && may_say(r, s, s->rnode), as_value = s->rcopy && copy_can_stop(c, s);
        bool stop = as_word || as_value;
        int32_t w = s->rnode > 0 ? r->nodes[s->rnode].word : -1;
        if (stop) word_ended(r, s, as_word, as_value);
        if (w >= 0 && w < TRACKED) set_bit(s->rused, (size_t)w);
        bool copy = s->rcopy && copy_next(c, &t, b, false);
        s->rin = 0;
        s->rcopy = copy;
        memcpy(s->cmask, t.cmask, sizeof s->cmask);
        if (b == (unsigned char)c->open[0]) return false;  /* a call comes before the reply, not inside it */
        int32_t g = stop ? gap_step(r, s, 0, b) : -1;
        if (g < 0 && !copy) return false;
        s->rnode = g;
        return true;
    }
    if (!word) {  /* between words */
        if (b == (unsigned char)c->open[0])  /* where a reply begins, while a call may still open */
            return s->rnode == 0 && c->n_tools > 0 && (!c->max_calls || s->calls < c->max_calls);
        bool copy = s->rcopy && copy_next(c, &t, b, false);
        int32_t g = s->rnode >= 0 ? gap_step(r, s, s->rnode, b) : -1;
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
    bool copy = fresh && bit(s->rnext, VALUE_ITEM) && copy_start(c, &u, b);
    if (ch < 0 && !on && !copy) return false;
    for (size_t w = 0; w < CMASK_WORDS; w++) s->cmask[w] = (on ? t.cmask[w] : 0) | (copy ? u.cmask[w] : 0);
    s->rin = 1;
    s->rnode = ch > 0 ? ch : 0;
    s->rcopy = on || copy;
    return true;
}

bool cst_reply_active(const mllm_constraint *c)
{
    return c->reply != NULL;  /* without a source (a message too long for one) nothing can be copied */
}

void cst_reply_free(cst_reply_words *r)
{
    if (!r) return;
    mllm_free(r->rows);
    mllm_free(r->nodes);
    mllm_free(r);
}

static int32_t node_new(cst_reply_words *r, unsigned char b)
{
    if (r->n_nodes == r->cap_nodes) {
        size_t cap = r->cap_nodes ? r->cap_nodes * 2 : 256;
        word_node *n = mllm_realloc(r->nodes, cap * sizeof *n);
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

/* A follows item: a tracked word's index, UNTRACKED for a word past the TRACKED first,
 * VALUE_ITEM for "<value>", START_ITEM for "<start>" (as_context), END_ITEM for "<end>" (not
 * as_context); -1 for anything else. */
#define UNTRACKED (-3)
static int32_t item_index(const cst_reply_words *r, const char *text, bool as_context)
{
    if (!text) return -1;
    if (strcmp(text, "<value>") == 0) return VALUE_ITEM;
    if (as_context && strcmp(text, "<start>") == 0) return START_ITEM;
    if (!as_context && strcmp(text, "<end>") == 0) return END_ITEM;
    int32_t node = WORD_ROOT;
    for (const unsigned char *p = (const unsigned char *)text; *p && node >= 0; p++) node = child(r, node, *p);
    int32_t w = node > 0 ? r->nodes[node].word : -1;
    return w >= TRACKED ? UNTRACKED : w;
}

mllm_status mllm_constraint_set_reply_rule(mllm_constraint *c, const mllm_reply_rule *rule, char *err, size_t errlen)
{
    if (!rule || rule->n_words == 0) {
        cst_reply_free(c->reply);
        c->reply = NULL;
        c->cached = false;
        return MLLM_OK;
    }
    size_t n = rule->n_words, n_gaps = rule->n_gaps;
    if (n > MLLM_CST_MAX_REPLY_WORDS || n_gaps > MLLM_CST_MAX_REPLY_WORDS || rule->n_follows > MLLM_CST_MAX_REPLY_WORDS)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "%zu reply words, %zu gaps, %zu follows "
                         "(MLLM_CST_MAX_REPLY_WORDS is %d each)", n, n_gaps, rule->n_follows, MLLM_CST_MAX_REPLY_WORDS);
    if (rule->n_end_gaps > MLLM_CST_MAX_REPLY_WORDS)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "%zu end gaps (MLLM_CST_MAX_REPLY_WORDS is %d)", rule->n_end_gaps,
                         MLLM_CST_MAX_REPLY_WORDS);
    if (!rule->words || (n_gaps && !rule->gaps) || (rule->n_end_gaps && !rule->end_gaps) ||
        (rule->n_repeatable && !rule->repeatable) ||
        (rule->n_follows && !rule->follows))
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "a reply rule list is missing");
    for (size_t i = 0; i < n; i++) {
        const char *why = bad_item(rule->words[i], false);
        if (why) return mllm_fail(err, errlen, MLLM_ERR_ARG, "reply word %zu %s (MLLM_CST_MAX_REPLY_WORD_BYTES is %d)",
                                  i + 1, why, MLLM_CST_MAX_REPLY_WORD_BYTES);
    }
    for (size_t i = 0; i < n_gaps + rule->n_end_gaps; i++) {
        bool inner = i < n_gaps;
        const char *why = bad_item(inner ? rule->gaps[i] : rule->end_gaps[i - n_gaps], true);
        if (why) return mllm_fail(err, errlen, MLLM_ERR_ARG, "reply %s %zu %s (MLLM_CST_MAX_REPLY_WORD_BYTES is %d)",
                                  inner ? "gap" : "end gap", (inner ? i : i - n_gaps) + 1, why,
                                  MLLM_CST_MAX_REPLY_WORD_BYTES);
    }
    cst_reply_words *r = mllm_calloc(1, sizeof *r);
    if (!r || node_new(r, 0) != WORD_ROOT || node_new(r, 0) != GAP_ROOT) goto nomem;
    for (size_t i = 0; i < n; i++)
        if (!insert(r, WORD_ROOT, rule->words[i], (int32_t)i)) goto nomem;
    for (size_t i = 0; i < n_gaps + rule->n_end_gaps; i++) {
        bool inner = i < n_gaps;
        const char *gap = inner ? rule->gaps[i] : rule->end_gaps[i - n_gaps];
        if (!insert(r, GAP_ROOT, gap, (int32_t)i)) goto nomem;
        int32_t node = GAP_ROOT;
        for (const unsigned char *p = (const unsigned char *)gap; *p; p++) {
            node = child(r, node, *p);
            r->nodes[node].mask |= inner ? LEADS_INNER : LEADS_END;
        }
        r->nodes[node].mask |= inner ? GAP_INNER : GAP_END;
    }
    memset(r->once, 0xff, sizeof r->once);
    for (size_t i = 0; i < rule->n_repeatable; i++) {
        int32_t w = item_index(r, rule->repeatable[i], false);
        if (w < 0 || w == VALUE_ITEM) {
            cst_reply_free(r);
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "repeatable word %zu is not one of the reply words", i + 1);
        }
        if (w < TRACKED) r->once[w / 64] &= ~(1ull << (w % 64));
    }
    /* follows: each context's row (none: any order) */
    if (rule->n_follows) {
        r->rows = mllm_calloc(rule->n_follows, sizeof *r->rows);
        if (!r->rows) goto nomem;
    }
    for (size_t i = 0; i < rule->n_follows; i++) {
        const char *key = rule->follows[2 * i], *then = rule->follows[2 * i + 1];
        int32_t a = -1, b = -1, next = item_index(r, then, false);
        char first[MLLM_CST_MAX_REPLY_WORD_BYTES + 1];
        const char *space = key ? strchr(key, ' ') : NULL;
        if (key && strcmp(key, "<start>") == 0) {
            a = b = START_ITEM;
        } else if (space && (size_t)(space - key) <= MLLM_CST_MAX_REPLY_WORD_BYTES) {
            memcpy(first, key, (size_t)(space - key));
            first[space - key] = '\0';
            a = item_index(r, first, true);
            b = item_index(r, space + 1, false);
            if (b == END_ITEM) b = -1;
        }
        if (a == -1 || b == -1 || next == -1) {
            cst_reply_free(r);
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "follows %zu ('%s' then '%s'): the first must be '<start>' or "
                             "two items ('<start>', a reply word or '<value>', then a reply word or '<value>'), the "
                             "second a reply word, '<value>' or '<end>'", i + 1, key ? key : "", then ? then : "");
        }
        if (a == UNTRACKED || b == UNTRACKED || next == UNTRACKED) continue;  /* no order holds around it */
        int32_t k = ctx_key(a, b);
        size_t row = 0;
        while (row < r->n_rows && r->rows[row].key != k) row++;
        if (row == r->n_rows) r->rows[r->n_rows++].key = k;
        r->rows[row].next[next / 64] |= 1ull << (next % 64);
    }
    /* sorted for the binary search of follows_of */
    for (size_t i = 1; i < r->n_rows; i++)
        for (size_t j = i; j > 0 && r->rows[j - 1].key > r->rows[j].key; j--) {
            follows_row t = r->rows[j];
            r->rows[j] = r->rows[j - 1];
            r->rows[j - 1] = t;
        }
    cst_reply_free(c->reply);
    c->reply = r;
    c->cached = false;  /* the cached state was computed without this rule */
    return MLLM_OK;
nomem:
    cst_reply_free(r);
    return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory for the reply words");
}
