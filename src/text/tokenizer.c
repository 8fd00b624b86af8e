/* tokenizer.c — the public tokenizer API: checks input, then asks the
 * sentencepiece shim (tokenizer_sp.cpp) for a tokenizer.model, or the
 * tokenizer.json code (hf_tokenizer.h) for a tokenizer.json. */
#include "base/bigbuf.h"
#include "base/fileio.h"
#include "base/status.h"
#include "hf_tokenizer.h"
#include "tokenizer.h"
#include "utf8.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

struct mllm_tokenizer {
    mllm_sp *sp;   /* a tokenizer.model, or */
    mllm_hf *hf;   /* a tokenizer.json */
    int n_vocab;   /* its pieces (ids with a token) */
    int n_padded;  /* 0, or a model's vocab_size past n_vocab (mllm_tokenizer_pad) */
    size_t bytes;  /* the memory it holds, estimated (mllm_tokenizer_bytes) */
};

/* A tokenizer.json is a JSON object; a tokenizer.model is a protobuf, which
 * never starts with '{' (0x7B would be field 15, wire type 3: a group). */
static bool is_json(const char *bytes, size_t len)
{
    size_t i = 0;
    if (len >= 3 && !memcmp(bytes, "\xEF\xBB\xBF", 3)) i = 3; /* a BOM */
    while (i < len && (bytes[i] == ' ' || bytes[i] == '\t' || bytes[i] == '\n' || bytes[i] == '\r')) i++;
    return i < len && bytes[i] == '{';
}

/* The file is read here, capped and refused unless it is a regular file (a
 * FIFO or /dev/zero must neither block nor fill memory); the parsers only
 * see the bytes. Which parser: by content, not by name. */
mllm_status mllm_tokenizer_load(const char *path, mllm_tokenizer **out, char *err, size_t errlen)
{
    *out = NULL;
    char *bytes;
    size_t len;
    mllm_status st = mllm_read_file(path, MLLM_MAX_TOKENIZER_BYTES, "MLLM_MAX_TOKENIZER_BYTES", &bytes, &len, err,
                                    errlen);
    if (st) return st;
    mllm_tokenizer *t = mllm_calloc(1, sizeof *t);
    if (!t) {
        mllm_free(bytes);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    if (is_json(bytes, len)) {
        st = mllm_hf_load(path, bytes, len, &t->hf, err, errlen);
        mllm_free(bytes);
        if (st) {
            mllm_free(t);
            return st == MLLM_ERR_NOMEM ? st : MLLM_ERR_TOKENIZER;
        }
        t->n_vocab = mllm_hf_vocab_size(t->hf);
        t->bytes = len;  /* a lower bound: not measured */
        *out = t;
        return MLLM_OK;
    }
    st = mllm_sp_load(path, bytes, len, &t->sp, err, errlen);
    mllm_free(bytes);
    if (st) {
        mllm_free(t);
        return st;
    }
    t->n_vocab = mllm_sp_vocab_size(t->sp);
    /* measured: the shipped 488 KiB tokenizer.model takes 6 MB once parsed (its pieces in
     * sentencepiece's maps and trie), 12 times its file */
    t->bytes = len * 12;
    *out = t;
    return MLLM_OK;
}

size_t mllm_tokenizer_bytes(const mllm_tokenizer *t)
{
    return t->bytes;
}

void mllm_tokenizer_free(mllm_tokenizer *t)
{
    if (!t) return;
    mllm_sp_free(t->sp);
    mllm_hf_free(t->hf);
    mllm_free(t);
    mllm_heap_trim();
}

/* The ids the tokenizer takes: the pieces, then a model's padding ids. */
static int id_limit(const mllm_tokenizer *t)
{
    return t->n_padded > t->n_vocab ? t->n_padded : t->n_vocab;
}

void mllm_tokenizer_pad(mllm_tokenizer *t, int vocab_size) { t->n_padded = vocab_size; }
bool mllm_tokenizer_drops_first_space(const mllm_tokenizer *t) { return !t->hf || mllm_hf_drops_first_space(t->hf); }

int mllm_tokenizer_vocab_size(const mllm_tokenizer *t) { return id_limit(t); }
int mllm_tokenizer_n_pieces(const mllm_tokenizer *t) { return t->n_vocab; }
int mllm_tokenizer_bos(const mllm_tokenizer *t) { return t->hf ? mllm_hf_bos(t->hf) : mllm_sp_bos(t->sp); }
int mllm_tokenizer_eos(const mllm_tokenizer *t) { return t->hf ? mllm_hf_eos(t->hf) : mllm_sp_eos(t->sp); }

/* The tokenizer's own decode, ids in range. */
static mllm_status decode_pieces(const mllm_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len,
                                 char *err, size_t errlen)
{
    if (t->hf) return mllm_hf_decode(t->hf, ids, n, text, len, err, errlen);
    return mllm_sp_decode(t->sp, ids, n, text, len, err, errlen);
}

mllm_status mllm_tokenizer_encode(const mllm_tokenizer *t, const char *text, size_t len, bool add_bos,
                                  int32_t **ids, size_t *n_ids, char *err, size_t errlen)
{
    *ids = NULL;
    *n_ids = 0;
    size_t bad = mllm_utf8_check(text, len);
    if (bad != len)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "text is not valid UTF-8 (byte %zu)", bad + 1);
    int32_t *raw;
    size_t n;
    if (t->hf) /* add_bos: the file's TemplateProcessing, which is BOS for Llama-3 */
        return mllm_hf_encode(t->hf, text, len, add_bos, ids, n_ids, err, errlen);
    mllm_status st = mllm_sp_encode(t->sp, text, len, &raw, &n, err, errlen);
    if (st) return st;
    if (add_bos) {
        int32_t *with = mllm_realloc(raw, (n + 1) * sizeof *with);
        if (!with) {
            mllm_free(raw);
            return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        }
        memmove(with + 1, with, n * sizeof *with);
        with[0] = mllm_sp_bos(t->sp);
        raw = with;
        n++;
    }
    *ids = raw;
    *n_ids = n;
    return MLLM_OK;
}

mllm_status mllm_tokenizer_decode(const mllm_tokenizer *t, const int32_t *ids, size_t n_ids, char **text,
                                  size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    int limit = id_limit(t);
    size_t n_pieces = 0;  /* ids that are pieces, not padding */
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= limit)
            return mllm_fail(err, errlen, MLLM_ERR_ARG,
                             "token id %ld at index %zu is outside the vocabulary [0, %d)", (long)ids[i], i + 1,
                             limit);
        n_pieces += ids[i] < t->n_vocab;
    }
    if (n_pieces == n_ids) return decode_pieces(t, ids, n_ids, text, len, err, errlen);
    /* padding ids have no text: decode the others, as if they were not there */
    int32_t *pieces = mllm_malloc((n_pieces ? n_pieces : 1) * sizeof *pieces);
    if (!pieces) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < t->n_vocab) pieces[k++] = ids[i];
    mllm_status st = decode_pieces(t, pieces, n_pieces, text, len, err, errlen);
    mllm_free(pieces);
    return st;
}

const char *mllm_tokenizer_format(const mllm_tokenizer *t) { return t->hf ? "tokenizer.json" : "tokenizer.model"; }

int mllm_tokenizer_piece(const mllm_tokenizer *t, int32_t id, char *buf, size_t cap)
{
    if (id >= t->n_vocab && id < id_limit(t)) return 0;  /* padding: no text */
    return t->hf ? mllm_hf_piece_bytes(t->hf, id, buf, cap) : mllm_sp_piece_bytes(t->sp, id, buf, cap);
}
