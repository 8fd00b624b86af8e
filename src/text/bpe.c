/* bpe.c — the BPE model of tokenizer.json: the string -> id table, the merge
 * table, and the merge loop. The loop keeps the candidate pairs of a word in a
 * binary heap ordered by (rank, position), as the `tokenizers` library does,
 * so a word of n symbols costs O(n log n), never O(n^2). */
#include "base/grow.h"
#include "base/status.h"
#include "hf_tokenizer.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

uint32_t mllm_hf_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

bool mllm_hf_strmap_init(hf_strmap *m, const hf_str *keys, size_t n_hint)
{
    size_t cap = 16;
    while (cap < n_hint * 2) cap *= 2;
    m->slot = mllm_calloc(cap, sizeof *m->slot);
    m->cap = cap;
    m->keys = keys;
    return m->slot != NULL;
}

void mllm_hf_strmap_free(hf_strmap *m)
{
    mllm_free(m->slot);
    m->slot = NULL;
}

int32_t mllm_hf_strmap_get(const hf_strmap *m, const char *s, size_t len)
{
    size_t mask = m->cap - 1;
    for (size_t i = mllm_hf_hash(s, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = m->slot[i];
        if (!v) return -1;
        const hf_str *k = &m->keys[v - 1];
        if (k->len == len && memcmp(k->s, s, len) == 0) return (int32_t)(v - 1);
    }
}

/* The table is sized once for every key (mllm_hf_strmap_init), so it never fills. */
bool mllm_hf_strmap_put(hf_strmap *m, int32_t id, int32_t *prev)
{
    const hf_str *key = &m->keys[id];
    size_t mask = m->cap - 1;
    *prev = -1;
    for (size_t i = mllm_hf_hash(key->s, key->len) & mask;; i = (i + 1) & mask) {
        uint32_t v = m->slot[i];
        if (!v) {
            m->slot[i] = (uint32_t)id + 1;
            return true;
        }
        const hf_str *k = &m->keys[v - 1];
        if (k->len == key->len && memcmp(k->s, key->s, key->len) == 0) {
            *prev = (int32_t)(v - 1);
            return true;
        }
    }
}

static uint64_t pair_key(int32_t a, int32_t b) { return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1; }

static size_t pair_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k;
}

bool mllm_hf_mergemap_init(hf_mergemap *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    m->slot = mllm_calloc(cap, sizeof *m->slot);
    m->cap = cap;
    return m->slot != NULL;
}

void mllm_hf_mergemap_free(hf_mergemap *m)
{
    mllm_free(m->slot);
    m->slot = NULL;
}

bool mllm_hf_mergemap_put(hf_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t merged)
{
    uint64_t k = pair_key(a, b);
    size_t mask = m->cap - 1;
    for (size_t i = pair_hash(k) & mask;; i = (i + 1) & mask) {
        if (m->slot[i].key == k || !m->slot[i].key) {
            bool fresh = !m->slot[i].key;
            m->slot[i] = (hf_merge){k, rank, merged};
            return fresh;
        }
    }
}

const hf_merge *mllm_hf_mergemap_get(const hf_mergemap *m, int32_t a, int32_t b)
{
    uint64_t k = pair_key(a, b);
    size_t mask = m->cap - 1;
    for (size_t i = pair_hash(k) & mask;; i = (i + 1) & mask) {
        if (m->slot[i].key == k) return &m->slot[i];
        if (!m->slot[i].key) return NULL;
    }
}

/* ------------------------------------------------------------ the merge loop */

typedef struct {
    int32_t rank, pos, merged;
} cand;

static bool cand_less(const cand *x, const cand *y)
{
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static void heap_push(cand *h, size_t *n, cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!cand_less(&c, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n)
{
    cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

typedef struct {
    int32_t *id, *prev, *next;
    cand *heap;
    size_t n, n_heap;
} word;

static void push_pair(const mllm_hf *t, word *w, int32_t pos)
{
    if (pos < 0 || w->next[pos] < 0) return;
    int32_t nx = w->next[pos];
    const hf_merge *m = mllm_hf_mergemap_get(&t->merges, w->id[pos], w->id[nx]);
    if (m) heap_push(w->heap, &w->n_heap, (cand){m->rank, pos, m->merged});
}

static bool push_id(int32_t **ids, size_t *n, size_t *cap, int32_t id)
{
    if (!mllm_grow((void **)ids, cap, *n + 1, sizeof **ids)) return false;
    (*ids)[(*n)++] = id;
    return true;
}

/* The word as the vocabulary spells it: byte-level words in the byte alphabet. */
static int32_t whole_word_id(const mllm_hf *t, const char *w, size_t len)
{
    if (!t->byte_level) return mllm_hf_strmap_get(&t->vocab, w, len);
    char small[512];
    char *s = len * 2 <= sizeof small ? small : mllm_malloc(len * 2);
    if (!s) return -1;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) k += (size_t)mllm_hf_byte_char((unsigned char)w[i], s + k);
    int32_t id = mllm_hf_strmap_get(&t->vocab, s, k);
    if (s != small) mllm_free(s);
    return id;
}

/* The first symbols: bytes for byte-level, else characters, with byte_fallback
 * (<0xXX>) or the unknown token for a character not in the vocabulary. */
static size_t initial_symbols(const mllm_hf *t, const char *w, size_t len, int32_t *id)
{
    size_t n = 0;
    bool last_unk = false;
    for (size_t i = 0; i < len;) {
        size_t cl = 1;
        int32_t v;
        if (t->byte_level) {
            v = t->byte_id[(unsigned char)w[i]];
        } else {
            unsigned char c = (unsigned char)w[i];
            cl = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            if (cl > len - i) cl = len - i;
            v = mllm_hf_strmap_get(&t->vocab, w + i, cl);
            if (v < 0 && t->byte_fallback) {
                bool all = true;
                for (size_t k = 0; k < cl; k++) all = all && t->byte_id[(unsigned char)w[i + k]] >= 0;
                if (all) {
                    for (size_t k = 0; k < cl; k++) id[n++] = t->byte_id[(unsigned char)w[i + k]];
                    last_unk = false;
                    i += cl;
                    continue;
                }
            }
        }
        i += cl;
        if (v < 0) {
            if (t->unk_id < 0) continue; /* no unknown token: the character is dropped, as upstream */
            if (t->fuse_unk && last_unk) continue;
            v = t->unk_id;
            last_unk = true;
        } else {
            last_unk = false;
        }
        id[n++] = v;
    }
    return n;
}

mllm_status mllm_hf_bpe_word(const mllm_hf *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                             char *err, size_t errlen)
{
    if (!len) return MLLM_OK;
    if (t->ignore_merges) {
        int32_t whole = whole_word_id(t, w, len);
        if (whole >= 0)
            return push_id(ids, n, cap, whole) ? MLLM_OK : mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    /* one block: id, prev, next (len each), heap (3 len: the first pairs, then two per merge) */
    enum { SMALL = 64 };
    int32_t small_i[3 * SMALL];
    cand small_h[3 * SMALL];
    int32_t *ia = small_i;
    cand *ha = small_h;
    if (len > SMALL) {
        ia = mllm_malloc(3 * len * sizeof *ia);
        ha = mllm_malloc(3 * len * sizeof *ha);
        if (!ia || !ha) {
            mllm_free(ia);
            mllm_free(ha);
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        }
    }
    word wd = {ia, ia + len, ia + 2 * len, ha, 0, 0};
    wd.n = initial_symbols(t, w, len, wd.id);
    for (size_t i = 0; i < wd.n; i++) {
        wd.prev[i] = (int32_t)i - 1;
        wd.next[i] = i + 1 < wd.n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < wd.n; i++) push_pair(t, &wd, (int32_t)i);
    while (wd.n_heap) {
        cand c = heap_pop(wd.heap, &wd.n_heap);
        int32_t right = wd.next[c.pos];
        if (wd.id[c.pos] < 0 || right < 0) continue; /* merged away, or the word's end */
        const hf_merge *m = mllm_hf_mergemap_get(&t->merges, wd.id[c.pos], wd.id[right]);
        if (!m || m->merged != c.merged) continue; /* the pair changed since it was queued */
        wd.id[c.pos] = c.merged;
        wd.id[right] = -1;
        wd.next[c.pos] = wd.next[right];
        if (wd.next[right] >= 0) wd.prev[wd.next[right]] = c.pos;
        push_pair(t, &wd, wd.prev[c.pos]);
        push_pair(t, &wd, c.pos);
    }
    mllm_status st = MLLM_OK;
    for (int32_t i = wd.n ? 0 : -1; i >= 0; i = wd.next[i])
        if (!push_id(ids, n, cap, wd.id[i])) {
            st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
            break;
        }
    if (ia != small_i) {
        mllm_free(ia);
        mllm_free(ha);
    }
    return st;
}
