/* hf_load.c — reads a tokenizer.json: the BPE model (vocab, merges in the
 * "a b" and ["a", "b"] forms, unk_token, byte_fallback, fuse_unk,
 * ignore_merges), added_tokens, the TemplateProcessing post-processor, and
 * (hf_components.c) the normalizer, pre_tokenizer and decoder. Every id from 0
 * to the largest must name one token: duplicates and holes are errors. */
#include "base/status.h"
#include "hf_tokenizer.h"
#include "mobilellm_limits.h"
#include "utf8.h"
#include "base/alloc.h"
#include "base/json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) (st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, __VA_ARGS__))

static int32_t get_id(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= MLLM_MAX_VOCAB ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return -1;
    return (int32_t)v->valuedouble;
}

static bool get_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The largest id of the vocabulary and the added tokens, checking each. */
static mllm_status count_ids(const mllm_hf *t, const cJSON *vocab, const cJSON *added, int *n_ids, char *err,
                             size_t errlen)
{
    mllm_status st = MLLM_OK;
    int32_t top = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab)
    {
        int32_t id = get_id(e);
        if (id < 0)
            return FAIL("%s: vocab entry \"%.60s\" has no id in [0, MLLM_MAX_VOCAB = %d)", t->name, e->string,
                        MLLM_MAX_VOCAB);
        if (id > top) top = id;
    }
    cJSON_ArrayForEach(e, added)
    {
        int32_t id = get_id(cJSON_GetObjectItemCaseSensitive(e, "id"));
        if (id < 0 || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "content")))
            return FAIL("%s: an added token without a content string and an id in [0, MLLM_MAX_VOCAB = %d)", t->name,
                        MLLM_MAX_VOCAB);
        if (id > top) top = id;
    }
    if (top < 0) return FAIL("%s: the vocabulary is empty", t->name);
    *n_ids = top + 1;
    return st;
}

/* Gives id its token s; a second, different token for one id is an error. */
static mllm_status name_id(mllm_hf *t, int32_t id, const char *s, char *err, size_t errlen)
{
    mllm_status st = MLLM_OK;
    size_t n = strlen(s);
    if (n > MLLM_MAX_TOKEN_BYTES)
        return FAIL("%s: token %d is %zu bytes, over MLLM_MAX_TOKEN_BYTES (%d)", t->name, (int)id, n,
                    MLLM_MAX_TOKEN_BYTES);
    if (mllm_utf8_check(s, n) != n) return FAIL("%s: token %d is not valid UTF-8", t->name, (int)id);
    hf_str *tok = &t->token[id];
    if (tok->s) {
        if (tok->len == n && !memcmp(tok->s, s, n)) return MLLM_OK; /* an added token the vocab has too */
        return FAIL("%s: id %d is given to two tokens (\"%.40s\" and \"%.40s\")", t->name, (int)id, tok->s, s);
    }
    if (!(tok->s = mllm_malloc(n + 1))) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    memcpy(tok->s, s, n + 1);
    tok->len = n;
    return MLLM_OK;
}

static mllm_status load_vocab(mllm_hf *t, const cJSON *vocab, const cJSON *added, char *err, size_t errlen)
{
    mllm_status st = count_ids(t, vocab, added, &t->n_ids, err, errlen);
    if (st) return st;
    int n_added = cJSON_GetArraySize(added);
    if (n_added > MLLM_MAX_ADDED_TOKENS)
        return FAIL("%s: %d added tokens, over MLLM_MAX_ADDED_TOKENS (%d)", t->name, n_added, MLLM_MAX_ADDED_TOKENS);
    t->token = mllm_calloc((size_t)t->n_ids, sizeof *t->token);
    t->special = mllm_calloc((size_t)t->n_ids, 1);
    t->added = mllm_calloc((size_t)n_added + 1, sizeof *t->added);
    if (!t->token || !t->special || !t->added || !mllm_hf_strmap_init(&t->vocab, t->token, (size_t)t->n_ids))
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) if ((st = name_id(t, get_id(e), e->string, err, errlen))) return st;
    cJSON_ArrayForEach(e, added)
    {
        int32_t id = get_id(cJSON_GetObjectItemCaseSensitive(e, "id"));
        if ((st = name_id(t, id, cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring, err, errlen)))
            return st;
        if (!t->token[id].len) return FAIL("%s: added token %d is empty", t->name, (int)id);
        hf_added *a = &t->added[t->n_added++];
        *a = (hf_added){id, t->token[id], get_bool(e, "special"), get_bool(e, "lstrip"), get_bool(e, "rstrip"),
                        get_bool(e, "single_word")};
        t->special[id] = a->special;
    }
    for (int32_t id = 0; id < t->n_ids; id++) {
        int32_t prev;
        if (!t->token[id].s)
            return FAIL("%s: id %d has no token (the ids of vocab and added_tokens must run from 0 without holes)",
                        t->name, (int)id);
        mllm_hf_strmap_put(&t->vocab, id, &prev);
        if (prev >= 0)
            return FAIL("%s: token \"%.60s\" has two ids (%d and %d)", t->name, t->token[id].s, (int)prev, (int)id);
    }
    return MLLM_OK;
}

/* One merge, "a b" or ["a", "b"], into its two ids and the merged one. */
static mllm_status load_merge(mllm_hf *t, const cJSON *m, int32_t rank, char *err, size_t errlen)
{
    mllm_status st = MLLM_OK;
    const char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (cJSON_IsString(m)) {
        a = m->valuestring;
        const char *sp = strchr(a, ' ');
        if (sp && !strchr(sp + 1, ' ')) {
            na = (size_t)(sp - a);
            b = sp + 1;
            nb = strlen(b);
        }
    } else if (cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
               cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
        a = cJSON_GetArrayItem(m, 0)->valuestring;
        b = cJSON_GetArrayItem(m, 1)->valuestring;
        na = strlen(a);
        nb = strlen(b);
    }
    if (!b) return FAIL("%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", t->name, (int)rank + 1);
    int32_t ia = mllm_hf_strmap_get(&t->vocab, a, na), ib = mllm_hf_strmap_get(&t->vocab, b, nb);
    if (ia < 0 || ib < 0)
        return FAIL("%s: merge %d names \"%.60s\", which is not in the vocabulary", t->name, (int)rank + 1,
                    ia < 0 ? a : b);
    if (na + nb > MLLM_MAX_TOKEN_BYTES) return FAIL("%s: merge %d is too long", t->name, (int)rank + 1);
    char joined[MLLM_MAX_TOKEN_BYTES];
    memcpy(joined, a, na);
    memcpy(joined + na, b, nb);
    int32_t merged = mllm_hf_strmap_get(&t->vocab, joined, na + nb);
    if (merged < 0)
        return FAIL("%s: merge %d makes \"%.*s\", which is not in the vocabulary", t->name, (int)rank + 1,
                    (int)(na + nb > 60 ? 60 : na + nb), joined);
    mllm_hf_mergemap_put(&t->merges, ia, ib, rank, merged);
    return MLLM_OK;
}

static mllm_status load_model(mllm_hf *t, const cJSON *root, char *err, size_t errlen)
{
    mllm_status st = MLLM_OK;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return FAIL("%s: no \"model\" object (is this a tokenizer.json?)", t->name);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "BPE"))
        return FAIL("%s: model type \"%.40s\" is not supported (only BPE)", t->name, type->valuestring);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        return FAIL("%s: the model has no \"vocab\" object and \"merges\" list (only BPE is supported)", t->name);
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        return FAIL("%s: \"added_tokens\" is not a list", t->name);
    if (cJSON_GetArraySize(vocab) > MLLM_MAX_VOCAB)
        return FAIL("%s: vocabulary over MLLM_MAX_VOCAB (%d)", t->name, MLLM_MAX_VOCAB);
    if ((st = load_vocab(t, vocab, cJSON_IsArray(added) ? added : NULL, err, errlen))) return st;

    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
        return FAIL("%s: BPE dropout is not supported (encoding would be random)", t->name);
    static const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (cJSON_IsString(v) && *v->valuestring) return FAIL("%s: BPE %s is not supported", t->name, affixes[i]);
    }
    t->byte_fallback = get_bool(model, "byte_fallback");
    t->fuse_unk = get_bool(model, "fuse_unk");
    t->ignore_merges = get_bool(model, "ignore_merges");
    t->unk_id = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk) &&
        (t->unk_id = mllm_hf_strmap_get(&t->vocab, unk->valuestring, strlen(unk->valuestring))) < 0)
        return FAIL("%s: unk_token \"%.60s\" is not in the vocabulary", t->name, unk->valuestring);

    int n_merges = cJSON_GetArraySize(merges);
    if (n_merges > MLLM_MAX_MERGES)
        return FAIL("%s: %d merges, over MLLM_MAX_MERGES (%d)", t->name, n_merges, MLLM_MAX_MERGES);
    if (!mllm_hf_mergemap_init(&t->merges, (size_t)n_merges))
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    int32_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) if ((st = load_merge(t, m, rank++, err, errlen))) return st;
    return MLLM_OK;
}

/* TemplateProcessing's "single": the special tokens around $A (the text). */
static mllm_status load_template(mllm_hf *t, const cJSON *pp, int depth, char *err, size_t errlen)
{
    mllm_status st = MLLM_OK;
    if (!pp || cJSON_IsNull(pp)) return MLLM_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pp, "type");
    if (!cJSON_IsString(type)) return FAIL("%s: a post_processor without a \"type\"", t->name);
    if (!strcmp(type->valuestring, "ByteLevel")) return MLLM_OK; /* offsets only */
    if (!strcmp(type->valuestring, "Sequence") && depth < 8) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pp, "processors"))
            if ((st = load_template(t, e, depth + 1, err, errlen))) return st;
        return MLLM_OK;
    }
    if (strcmp(type->valuestring, "TemplateProcessing"))
        return FAIL("%s: post_processor type \"%.40s\" is not supported", t->name, type->valuestring);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single"), *e;
    bool after = false;
    cJSON_ArrayForEach(e, single)
    {
        if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) {
            after = true;
            continue;
        }
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "SpecialToken"), "id");
        const char *name = cJSON_IsString(sp) ? sp->valuestring : NULL;
        int32_t id = name ? mllm_hf_strmap_get(&t->vocab, name, strlen(name)) : -1;
        if (id < 0) return FAIL("%s: the post_processor names a special token that is not in the vocabulary", t->name);
        int32_t **list = after ? &t->suffix : &t->prefix;
        size_t *n = after ? &t->n_suffix : &t->n_prefix;
        if (*n >= 16) return FAIL("%s: the post_processor adds more than 16 tokens", t->name);
        int32_t *grown = mllm_realloc(*list, (*n + 1) * sizeof *grown);
        if (!grown) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        grown[(*n)++] = id;
        *list = grown;
    }
    return MLLM_OK;
}

/* The first of names that is a token, or -1. */
static int32_t find_token(const mllm_hf *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = mllm_hf_strmap_get(&t->vocab, *names, strlen(*names));
        if (id >= 0) return id;
    }
    return -1;
}

mllm_status mllm_hf_load(const char *name, const char *json, size_t len, mllm_hf **out, char *err, size_t errlen)
{
    *out = NULL;
    mllm_hf *t = mllm_calloc(1, sizeof *t);
    if (!t) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    snprintf(t->name, sizeof t->name, "%s", name);
    mllm_status st = MLLM_OK;
    bool nomem;
    cJSON *root = mllm_json_parse(json, len, NULL, &nomem);
    if (nomem) {
        st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory reading the JSON", t->name);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        FAIL("%s: not a JSON object (a tokenizer.json is one)", t->name);
        goto done;
    }
    if ((st = load_model(t, root, err, errlen))) goto done;
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer"),
                *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"),
                *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if ((st = mllm_hf_parse_steps(t->name, HF_NORMALIZER, norm, &t->norm, &t->n_norm, err, errlen)) ||
        (st = mllm_hf_parse_steps(t->name, HF_PRE_TOKENIZER, pre, &t->pre, &t->n_pre, err, errlen)) ||
        (st = mllm_hf_parse_steps(t->name, HF_DECODER, dec, &t->dec, &t->n_dec, err, errlen)) ||
        (st = load_template(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0, err, errlen)))
        goto done;
    if (!mllm_hf_index_added(t)) {
        st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    t->has_decoder = t->n_dec > 0;
    for (size_t i = 0; i < t->n_pre; i++) t->byte_level |= t->pre[i].kind == HF_PRE_BYTELEVEL;
    for (unsigned b = 0; b < 256; b++) {
        char s[8];
        int n = t->byte_level ? mllm_hf_byte_char(b, s) : snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = mllm_hf_strmap_get(&t->vocab, s, (size_t)n);
    }
    static const char *const bos_names[] = {"<|begin_of_text|>", "<s>", "<|startoftext|>", NULL};
    static const char *const eos_names[] = {"<|end_of_text|>", "</s>", "<|endoftext|>", "<|im_end|>", NULL};
    t->bos = t->n_prefix ? t->prefix[0] : find_token(t, bos_names);
    t->eos = t->n_suffix ? t->suffix[t->n_suffix - 1] : find_token(t, eos_names);
done:
    cJSON_Delete(root);
    if (st) mllm_hf_free(t);
    else *out = t;
    return st;
}

void mllm_hf_free(mllm_hf *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_ids && t->token; i++) mllm_free(t->token[i].s);
    mllm_free(t->token);
    mllm_free(t->special);
    mllm_free(t->added);
    mllm_free(t->added_order);
    mllm_hf_strmap_free(&t->vocab);
    mllm_hf_mergemap_free(&t->merges);
    for (size_t i = 0; i < t->n_norm; i++) mllm_hf_step_free(&t->norm[i]);
    for (size_t i = 0; i < t->n_pre; i++) mllm_hf_step_free(&t->pre[i]);
    for (size_t i = 0; i < t->n_dec; i++) mllm_hf_step_free(&t->dec[i]);
    mllm_free(t->norm);
    mllm_free(t->pre);
    mllm_free(t->dec);
    mllm_free(t->prefix);
    mllm_free(t->suffix);
    mllm_free(t);
}

int mllm_hf_vocab_size(const mllm_hf *t) { return t->n_ids; }
int mllm_hf_bos(const mllm_hf *t) { return t->bos; }
int mllm_hf_eos(const mllm_hf *t) { return t->eos; }
