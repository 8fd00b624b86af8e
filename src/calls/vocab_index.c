/* vocab_index.c — the vocabulary's byte trie (mllm_vocab_trie, see constrain.h): every token's
 * piece sorted into one trie, built once per tokenizer and shared by the constraints over it;
 * a mask is a walk of it (constrain_mask.c).
 */
#include "constrain_internal.h"
#include "base/status.h"
#include "base/grow.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Non-empty, whole UTF-8 characters, no '"', '\\' or control byte: string content as it is. */
bool cst_is_plain(const unsigned char *p, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n;) {
        unsigned char b = p[i], lo, hi;
        if (b == '"' || b == '\\' || b < 0x20) return false;
        if (b < 0x80) { i++; continue; }
        int k = utf8_lead(b, &lo, &hi);
        if (k == 0 || i + (size_t)k > n) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (int j = 2; j < k; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xBF) return false;
        i += (size_t)k;
    }
    return true;
}

/* ------------------------------------------------------------ vocab trie */

int mllm_vocab_trie_size(const mllm_vocab_trie *v) { return v->n_vocab; }
size_t mllm_vocab_trie_nodes(const mllm_vocab_trie *v) { return v->n_nodes; }

void mllm_vocab_trie_free(mllm_vocab_trie *v)
{
    if (!v) return;
    mllm_free(v->bytes);
    mllm_free(v->off);
    mllm_free(v->order);
    mllm_free(v->nodes);
    mllm_free(v->plain);
    mllm_free(v->special);
    mllm_free(v);
}

typedef struct sort_item {
    const unsigned char *p;
    size_t len;
    int32_t id;
} sort_item;

static int cmp_items(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = n ? memcmp(x->p, y->p, n) : 0;
    if (r) return r;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

mllm_status mllm_vocab_trie_new(const char *bytes, const size_t *offsets, int n_vocab,
                                mllm_vocab_trie **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n_vocab < 1 || n_vocab > MLLM_MAX_VOCAB)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "vocabulary size %d outside [1, MLLM_MAX_VOCAB = %d]",
                         n_vocab, MLLM_MAX_VOCAB);
    if (!offsets || (!bytes && offsets[n_vocab] > offsets[0]))
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "no pieces given");
    size_t max_len = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (offsets[i + 1] < offsets[i])
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "piece offsets decrease at token %d", i);
        if (offsets[i + 1] - offsets[i] > max_len) max_len = offsets[i + 1] - offsets[i];
    }
    size_t total = offsets[n_vocab] - offsets[0];
    mllm_vocab_trie *v = mllm_calloc(1, sizeof *v);
    sort_item *items = NULL;
    int32_t *last = NULL, *path = NULL;
    if (!v) goto nomem;
    v->n_vocab = n_vocab;
    v->bytes = mllm_malloc(total ? total : 1);
    v->off = mllm_malloc(((size_t)n_vocab + 1) * sizeof *v->off);
    v->order = mllm_malloc((size_t)n_vocab * sizeof *v->order);
    v->nodes = mllm_malloc((total + 1) * sizeof *v->nodes);
    v->plain = mllm_calloc((size_t)n_vocab, 1);
    v->special = mllm_malloc((size_t)n_vocab * sizeof *v->special);
    items = mllm_malloc((size_t)n_vocab * sizeof *items);
    last = mllm_malloc((total + 1) * sizeof *last);
    path = mllm_malloc((max_len + 1) * sizeof *path);
    if (!v->bytes || !v->off || !v->order || !v->nodes || !v->plain || !v->special || !items ||
        !last || !path)
        goto nomem;
    if (total) memcpy(v->bytes, bytes + offsets[0], total);
    for (int i = 0; i <= n_vocab; i++) v->off[i] = offsets[i] - offsets[0];
    for (int i = 0; i < n_vocab; i++) {
        const unsigned char *p = v->bytes + v->off[i];
        size_t n = v->off[i + 1] - v->off[i];
        items[i] = (sort_item){ p, n, i };
        v->plain[i] = cst_is_plain(p, n);
        if (n && !v->plain[i]) v->special[v->n_special++] = i;
    }
    qsort(items, (size_t)n_vocab, sizeof *items, cmp_items);

    /* Sorted pieces make the trie in one pass: a piece shares its longest common prefix with
     * the previous one, and every byte after it is a new node, appended as its parent's last
     * child (so children stay in byte order). Equal pieces end at the same node. */
    v->nodes[0] = (trie_node){ -1, -1, 0, 0, 0 };
    last[0] = -1;
    v->n_nodes = 1;
    path[0] = 0;
    const sort_item *prev = NULL;
    for (int i = 0; i < n_vocab; i++) {
        const sort_item *it = &items[i];
        size_t lcp = 0;
        if (prev) {
            size_t n = prev->len < it->len ? prev->len : it->len;
            while (lcp < n && prev->p[lcp] == it->p[lcp]) lcp++;
        }
        for (size_t d = lcp; d < it->len; d++) {
            int32_t n = (int32_t)v->n_nodes++, parent = path[d];
            v->nodes[n] = (trie_node){ -1, -1, 0, 0, it->p[d] };
            last[n] = -1;
            if (last[parent] < 0) v->nodes[parent].child = n;
            else v->nodes[last[parent]].sibling = n;
            last[parent] = n;
            path[d + 1] = n;
        }
        trie_node *end = &v->nodes[path[it->len]];
        if (end->n_tok == 0) end->tok = i;
        end->n_tok++;
        v->order[i] = it->id;
        prev = it;
    }
    mllm_free(items);
    mllm_free(last);
    mllm_free(path);
    *out = v;
    return MLLM_OK;
nomem:
    mllm_free(items);
    mllm_free(last);
    mllm_free(path);
    mllm_vocab_trie_free(v);
    return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory building the vocabulary trie");
}

mllm_status mllm_vocab_trie_from_tokenizer(const mllm_tokenizer *t, int n_vocab,
                                           mllm_vocab_trie **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!t) return mllm_fail(err, errlen, MLLM_ERR_ARG, "no tokenizer");
    if (n_vocab <= 0) n_vocab = mllm_tokenizer_vocab_size(t);
    if (n_vocab > MLLM_MAX_VOCAB)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "vocabulary size %d over MLLM_MAX_VOCAB (%d)",
                         n_vocab, MLLM_MAX_VOCAB);
    int n_tok = mllm_tokenizer_vocab_size(t);
    size_t *off = mllm_malloc(((size_t)n_vocab + 1) * sizeof *off);
    char *bytes = NULL;
    size_t cap = 0, len = 0;
    if (!off) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_vocab; i++) {
        off[i] = len;
        if (i >= n_tok) continue;
        char buf[256];
        int n = mllm_tokenizer_piece(t, i, buf, sizeof buf);
        if (n <= 0) continue;
        if (!mllm_grow((void **)&bytes, &cap, len + (size_t)n, 1)) goto nomem;
        if ((size_t)n <= sizeof buf) memcpy(bytes + len, buf, (size_t)n);
        else mllm_tokenizer_piece(t, i, bytes + len, (size_t)n);
        len += (size_t)n;
    }
    off[n_vocab] = len;
    mllm_status st = mllm_vocab_trie_new(bytes, off, n_vocab, out, err, errlen);
    mllm_free(bytes);
    mllm_free(off);
    return st;
nomem:
    mllm_free(bytes);
    mllm_free(off);
    return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
}
