/* tokenizer.c — the model's tokenizer API: checks input, then asks the shim. */
#include "internal.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

static mllm_status need_tokenizer(const mllm_model *m, char *err, size_t errlen)
{
    if (!m->tok)
        return mllm_fail(err, errlen, MLLM_ERR_TOKENIZER,
                         "this model has no tokenizer (no tokenizer.model was found when it was loaded)");
    return MLLM_OK;
}

mllm_status mllm_tokenize(const mllm_model *m, const char *text, size_t len, bool add_bos,
                          int32_t **ids, size_t *n_ids, char *err, size_t errlen)
{
    *ids = NULL;
    *n_ids = 0;
    mllm_status st = need_tokenizer(m, err, errlen);
    if (st) return st;
    size_t bad = mllm_utf8_check(text, len);
    if (bad != len)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "text is not valid UTF-8 (byte %zu)", bad + 1);
    int32_t *raw;
    size_t n;
    if (mllm_sp_encode(m->tok, text, len, &raw, &n, err, errlen) != 0) return MLLM_ERR_TOKENIZER;
    if (!add_bos) {
        *ids = raw;
        *n_ids = n;
        return MLLM_OK;
    }
    int32_t *with = malloc((n + 1) * sizeof *with);
    if (!with) {
        free(raw);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    }
    with[0] = m->cfg.bos_id;
    memcpy(with + 1, raw, n * sizeof *raw);
    free(raw);
    *ids = with;
    *n_ids = n + 1;
    return MLLM_OK;
}

mllm_status mllm_detokenize(const mllm_model *m, const int32_t *ids, size_t n_ids, char **text,
                            size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    mllm_status st = need_tokenizer(m, err, errlen);
    if (st) return st;
    int nv = mllm_sp_vocab_size(m->tok);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= nv)
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "token id %ld at index %zu is outside the vocabulary [0, %d)",
                             (long)ids[i], i + 1, nv);
    if (mllm_sp_decode(m->tok, ids, n_ids, text, len, err, errlen) != 0) return MLLM_ERR_TOKENIZER;
    return MLLM_OK;
}

int mllm_token_bytes(const mllm_model *m, int32_t id, char *buf, size_t cap)
{
    if (!m->tok) return -1;
    return mllm_sp_piece_bytes(m->tok, id, buf, cap);
}
