/* hf_components.c — the normalizer, pre_tokenizer and decoder of a
 * tokenizer.json, read into steps (hf_tokenizer.h). What this engine does not
 * run (an NFC normalizer, a Whitespace pre-tokenizer...) is refused by name,
 * never half-run. */
#include "base/status.h"
#include "hf_tokenizer.h"
#include "mobilellm_limits.h"
#include "utf8.h"
#include "base/alloc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    char *err;
    size_t errlen;
} ctx;

static const char *kind_text[] = {"normalizer", "pre_tokenizer", "decoder"};
enum { NORM = HF_NORMALIZER, PRE = HF_PRE_TOKENIZER, DEC = HF_DECODER };

static mllm_status bad(ctx *c, const char *what)
{
    return mllm_fail(c->err, c->errlen, MLLM_ERR_FORMAT, "%s: %s", c->name, what);
}

/* A copy of a string the text is rewritten with (what names it in messages): it
 * must be UTF-8, since the regexes run on the result without checking it again. */
static mllm_status copy_str(ctx *c, hf_str *out, const char *s, const char *what)
{
    size_t n = strlen(s);
    if (mllm_utf8_check(s, n) != n) {
        char msg[120];
        snprintf(msg, sizeof msg, "the %s string is not valid UTF-8", what);
        return bad(c, msg);
    }
    if (!(out->s = mllm_malloc(n + 1))) return mllm_fail(c->err, c->errlen, MLLM_ERR_NOMEM, "out of memory");
    memcpy(out->s, s, n + 1);
    out->len = n;
    return MLLM_OK;
}

static bool get_bool(const cJSON *o, const char *key, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An integer in [0, MLLM_MAX_VOCAB), or -1. */
static int32_t get_id(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= MLLM_MAX_VOCAB ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return -1;
    return (int32_t)v->valuedouble;
}

/* {"String": s} or {"Regex": r}: *literal tells which. */
static const char *get_pattern(const cJSON *o, bool *literal)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *s = get_str(p, "String");
    *literal = s != NULL;
    return s ? s : get_str(p, "Regex");
}

static int prepend_scheme(const cJSON *o)
{
    const char *s = get_str(o, "prepend_scheme");
    if (!s) return get_bool(o, "add_prefix_space", true) ? HF_PREPEND_ALWAYS : HF_PREPEND_NEVER;
    return !strcmp(s, "first") ? HF_PREPEND_FIRST : !strcmp(s, "never") ? HF_PREPEND_NEVER : HF_PREPEND_ALWAYS;
}

/* The GPT-2 pattern ByteLevel splits with when use_regex is on. */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static mllm_status parse_one(ctx *c, int kind, const cJSON *o, hf_step *s)
{
    char msg[200];
    const char *type = get_str(o, "type");
    if (!type) {
        snprintf(msg, sizeof msg, "a %s without a \"type\"", kind_text[kind]);
        return bad(c, msg);
    }
    bool literal;
    const char *pat;
    if (kind == NORM && !strcmp(type, "Prepend")) {
        const char *p = get_str(o, "prepend");
        s->kind = HF_NORM_PREPEND;
        if (!p) return bad(c, "the Prepend normalizer has no \"prepend\" string");
        return copy_str(c, &s->a, p, "Prepend");
    }
    if ((kind == NORM || kind == DEC) && !strcmp(type, "Replace")) {
        s->kind = kind == NORM ? HF_NORM_REPLACE : HF_DEC_REPLACE;
        pat = get_pattern(o, &literal);
        const char *content = get_str(o, "content");
        if (!pat || !content) return bad(c, "a Replace without a pattern and a content string");
        if (!literal) return bad(c, "a Replace with a Regex pattern is not supported (only String)");
        mllm_status st = copy_str(c, &s->a, pat, "Replace pattern");
        return st ? st : copy_str(c, &s->b, content, "Replace content");
    }
    if (kind == PRE && !strcmp(type, "Split")) {
        s->kind = HF_PRE_SPLIT;
        pat = get_pattern(o, &literal);
        const char *behavior = get_str(o, "behavior");
        if (!pat) return bad(c, "a Split pre-tokenizer without a String or Regex pattern");
        if (get_bool(o, "invert", false)) return bad(c, "a Split pre-tokenizer with invert: true is not supported");
        if (!behavior || (strcmp(behavior, "Isolated") && strcmp(behavior, "Removed"))) {
            snprintf(msg, sizeof msg, "Split behavior \"%.40s\" is not supported (Isolated, Removed)",
                     behavior ? behavior : "(none)");
            return bad(c, msg);
        }
        s->removed = !strcmp(behavior, "Removed");
        return mllm_hf_regex_compile(s, c->name, pat, strlen(pat), literal, c->err, c->errlen);
    }
    if ((kind == PRE || kind == DEC) && !strcmp(type, "ByteLevel")) {
        s->kind = kind == PRE ? HF_PRE_BYTELEVEL : HF_DEC_BYTELEVEL;
        s->flag = get_bool(o, "add_prefix_space", false);
        if (kind == PRE && get_bool(o, "use_regex", true))
            return mllm_hf_regex_compile(s, c->name, GPT2_PATTERN, strlen(GPT2_PATTERN), false, c->err, c->errlen);
        return MLLM_OK;
    }
    if ((kind == PRE || kind == DEC) && !strcmp(type, "Metaspace")) {
        s->kind = kind == PRE ? HF_PRE_METASPACE : HF_DEC_METASPACE;
        const char *r = get_str(o, "replacement");
        if (!r || !*r) return bad(c, "a Metaspace without a replacement character");
        s->prepend = prepend_scheme(o);
        s->flag = get_bool(o, "split", true);
        return copy_str(c, &s->a, r, "Metaspace replacement");
    }
    if (kind == PRE && !strcmp(type, "Digits")) {
        s->kind = HF_PRE_DIGITS;
        s->flag = get_bool(o, "individual_digits", false);
        return MLLM_OK;
    }
    if (kind == DEC && (!strcmp(type, "ByteFallback") || !strcmp(type, "Fuse"))) {
        s->kind = type[0] == 'B' ? HF_DEC_BYTEFALLBACK : HF_DEC_FUSE;
        return MLLM_OK;
    }
    if (kind == DEC && !strcmp(type, "Strip")) {
        s->kind = HF_DEC_STRIP;
        const char *content = get_str(o, "content");
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(o, "start"),
                    *stop = cJSON_GetObjectItemCaseSensitive(o, "stop");
        if (!content || get_id(start) < 0 || get_id(stop) < 0)
            return bad(c, "a Strip decoder without content, start and stop");
        s->start = get_id(start);
        s->stop = get_id(stop);
        return copy_str(c, &s->a, content, "Strip content");
    }
    snprintf(msg, sizeof msg, "%s type \"%.60s\" is not supported", kind_text[kind], type);
    return bad(c, msg);
}

/* A component, or a Sequence of them (nested to any depth, up to MLLM_MAX_TOKENIZER_STEPS in all). */
static mllm_status parse_steps(ctx *c, int kind, const cJSON *o, hf_step **steps, size_t *n, int depth)
{
    if (!o || cJSON_IsNull(o)) return MLLM_OK;
    char msg[200];
    if (!cJSON_IsObject(o)) {
        snprintf(msg, sizeof msg, "the %s is not an object", kind_text[kind]);
        return bad(c, msg);
    }
    const char *type = get_str(o, "type");
    if (type && !strcmp(type, "Sequence")) {
        static const char *list_key[] = {"normalizers", "pretokenizers", "decoders"};
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, list_key[kind]);
        if (!cJSON_IsArray(list)) {
            snprintf(msg, sizeof msg, "a %s Sequence without its \"%s\" list", kind_text[kind], list_key[kind]);
            return bad(c, msg);
        }
        if (depth >= 8) return bad(c, "Sequences nested more than 8 deep");
        const cJSON *e;
        cJSON_ArrayForEach(e, list)
        {
            mllm_status st = parse_steps(c, kind, e, steps, n, depth + 1);
            if (st) return st;
        }
        return MLLM_OK;
    }
    if (*n >= MLLM_MAX_TOKENIZER_STEPS) {
        snprintf(msg, sizeof msg, "more than MLLM_MAX_TOKENIZER_STEPS (%d) %s steps", MLLM_MAX_TOKENIZER_STEPS,
                 kind_text[kind]);
        return bad(c, msg);
    }
    hf_step *grown = mllm_realloc(*steps, (*n + 1) * sizeof *grown);
    if (!grown) return mllm_fail(c->err, c->errlen, MLLM_ERR_NOMEM, "out of memory");
    *steps = grown;
    memset(&grown[*n], 0, sizeof *grown);
    (*n)++; /* counted before parsing, so that mllm_hf_free frees what a failure left */
    return parse_one(c, kind, o, &grown[*n - 1]);
}

mllm_status mllm_hf_parse_steps(const char *name, int kind, const struct cJSON *json, hf_step **steps, size_t *n,
                                char *err, size_t errlen)
{
    ctx c = {name, err, errlen};
    return parse_steps(&c, kind, json, steps, n, 0);
}
