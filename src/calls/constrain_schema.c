/* constrain_schema.c — reading the tools' schemas into the grammar's tables (mllm_constraint_new):
 * word tries of the tool names, of each tool's parameter names and of enum values, and the
 * parameters' types; the checks that name the tool and parameter at fault.
 */
#define _POSIX_C_SOURCE 200809L
#include "constrain_internal.h"
#include "base/status.h"
#include "base/grow.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

const mllm_vocab_trie *mllm_constraint_vocab(const mllm_constraint *c) { return c->v; }
size_t mllm_constraint_n_tools(const mllm_constraint *c) { return c->n_tools; }
const mllm_constraint_stats *mllm_constraint_get_stats(const mllm_constraint *c) { return &c->stats; }
void mllm_constraint_reset_stats(mllm_constraint *c) { memset(&c->stats, 0, sizeof c->stats); }

/* ------------------------------------------------------------ building */

static int32_t word_new(mllm_constraint *c, unsigned char b)
{
    if (!mllm_grow((void **)&c->words, &c->cap_words, c->n_words + 1, sizeof *c->words)) return -1;
    c->words[c->n_words] = (word_node){ -1, -1, -1, 0, b };
    return (int32_t)c->n_words++;
}

/* Adds word id to the trie at root. 0, -1 out of memory, -2 duplicate. */
static int word_insert(mllm_constraint *c, int32_t root, const char *w, int32_t id)
{
    int32_t node = root;
    uint64_t bit = id < 64 ? (uint64_t)1 << id : 0;
    c->words[node].mask |= bit;
    for (const unsigned char *p = (const unsigned char *)w; *p; p++) {
        int32_t ch = word_child(c, node, *p);
        if (ch < 0) {
            if ((ch = word_new(c, *p)) < 0) return -1;
            /* keep the children in insertion order: append */
            int32_t *link = &c->words[node].child;
            while (*link >= 0) link = &c->words[*link].sibling;
            *link = ch;
        }
        node = ch;
        c->words[node].mask |= bit;
    }
    if (c->words[node].word >= 0) return -2;
    c->words[node].word = id;
    return 0;
}

static bool is_ident_start(unsigned char b) { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_'; }
static bool is_ident_char(unsigned char b) { return is_ident_start(b) || is_digit(b); }

/* [A-Za-z_][A-Za-z0-9_]* , or with dots: ident(.ident)* */
static bool valid_name(const char *s, bool dots)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!p || !is_ident_start(*p)) return false;
    for (p++; *p; p++) {
        if (is_ident_char(*p)) continue;
        if (dots && *p == '.' && is_ident_start(p[1])) { p++; continue; }
        return false;
    }
    return true;
}

static int add_type(mllm_constraint *c, const mllm_param_schema *ps, int depth, const char *tool,
                    const char *param, char *err, size_t errlen, uint16_t *out)
{
    if (depth > MLLM_CST_MAX_DEPTH)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': arrays nested deeper than MLLM_CST_MAX_DEPTH (%d)",
                         tool, param, MLLM_CST_MAX_DEPTH);
    if (ps->type == MLLM_PARAM_ANY) { *out = T_ANY; return MLLM_OK; }
    if ((int)ps->type < 0 || ps->type > MLLM_PARAM_OBJECT)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': unknown type %d", tool, param, (int)ps->type);
    if (ps->type == MLLM_PARAM_OBJECT) { *out = T_ANY_OBJECT; return MLLM_OK; }
    if (c->n_types >= 65535)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "more than 65535 parameter types");
    cst_type t = { (uint8_t)ps->type, false, false, 0, 0, -1, T_ANY };
    if (ps->type == MLLM_PARAM_INTEGER) {
        t.has_min = ps->has_min;
        t.has_max = ps->has_max;
        t.min = ps->min;
        t.max = ps->max;
        int64_t lo = t.has_min ? t.min : -INT_LIMIT, hi = t.has_max ? t.max : INT_LIMIT;
        if (lo > hi)
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': min %lld > max %lld", tool, param,
                             (long long)lo, (long long)hi);
        if (lo > INT_LIMIT || hi < -INT_LIMIT)
            return mllm_fail(err, errlen, MLLM_ERR_ARG,
                             "tool '%s', parameter '%s': bounds outside the %d-digit integers (MLLM_CST_MAX_INT_DIGITS)",
                        tool, param, MLLM_CST_MAX_INT_DIGITS);
    } else if (ps->type == MLLM_PARAM_ENUM) {
        if (ps->n_values == 0 || !ps->values)
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': an enum needs values", tool, param);
        if (ps->n_values > MLLM_CST_MAX_VALUES)
            return mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': %zu enum values (MLLM_CST_MAX_VALUES is %d)",
                             tool, param, ps->n_values, MLLM_CST_MAX_VALUES);
        if ((t.enum_root = word_new(c, 0)) < 0) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < ps->n_values; i++) {
            const char *v = ps->values[i];
            if (!v || !cst_is_plain((const unsigned char *)v, strlen(v)))
                return mllm_fail(err, errlen, MLLM_ERR_ARG,
                                 "tool '%s', parameter '%s': enum value %zu must be non-empty UTF-8 without quotes, backslashes or control characters",
                            tool, param, i + 1);
            int r = word_insert(c, t.enum_root, v, (int32_t)i);
            if (r == -1) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
            if (r == -2)
                return mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s', parameter '%s': duplicate enum value '%s'", tool, param, v);
        }
    } else if (ps->type == MLLM_PARAM_ARRAY) {
        if (ps->items) {
            mllm_status st = add_type(c, ps->items, depth + 1, tool, param, err, errlen, &t.items);
            if (st) return st;
        } else {
            t.items = T_ANY;
        }
    }
    if (!mllm_grow((void **)&c->types, &c->cap_types, c->n_types + 1, sizeof *c->types))
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    c->types[c->n_types] = t;
    *out = (uint16_t)c->n_types++;
    return MLLM_OK;
}

mllm_constraint_params mllm_constraint_default_params(void)
{
    mllm_constraint_params p;
    memset(&p, 0, sizeof p);
    p.mode = MLLM_CONSTRAIN_AUTO;
    return p;
}

void mllm_constraint_free(mllm_constraint *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_tools; i++) mllm_free(c->tools[i].name);
    for (size_t i = 0; i < c->n_params; i++) mllm_free(c->param_names[i]);
    mllm_free(c->tools);
    mllm_free(c->param_types);
    mllm_free(c->param_names);
    mllm_free(c->types);
    mllm_free(c->words);
    mllm_free(c->out_check);
    mllm_free(c->allowed);
    cst_reply_free(c->reply);
    mllm_free(c->prefix);
    mllm_free(c->joined);
    mllm_free(c->cache);
    mllm_free(c);
}

static mllm_status set_tag(char *dst, size_t *len, const char *src, const char *def, const char *what,
                           char *err, size_t errlen)
{
    if (!src) src = def;
    size_t n = strlen(src);
    if (n == 0 || n > MLLM_CALLS_MAX_TAG)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "the %s tag must have 1 to MLLM_CALLS_MAX_TAG (%d) bytes", what,
                         MLLM_CALLS_MAX_TAG);
    memcpy(dst, src, n + 1);
    *len = n;
    return MLLM_OK;
}

mllm_status mllm_constraint_new(const mllm_tool_schema *tools, size_t n_tools,
                                const mllm_vocab_trie *vocab, const mllm_constraint_params *p,
                                mllm_constraint **out, char *err, size_t errlen)
{
    *out = NULL;
    mllm_constraint_params dp = mllm_constraint_default_params();
    if (!p) p = &dp;
    if (n_tools > MLLM_CST_MAX_TOOLS)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "%zu tools (MLLM_CST_MAX_TOOLS is %d)", n_tools, MLLM_CST_MAX_TOOLS);
    if (n_tools && !tools) return mllm_fail(err, errlen, MLLM_ERR_ARG, "no tools given");
    if (p->mode != MLLM_CONSTRAIN_AUTO && p->mode != MLLM_CONSTRAIN_REQUIRED)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "unknown constraint mode %d", (int)p->mode);
    if (p->mode == MLLM_CONSTRAIN_REQUIRED && n_tools == 0)
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "a required call needs at least one tool");
    mllm_constraint *c = mllm_calloc(1, sizeof *c);
    if (!c) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    mllm_status st;
    if ((st = set_tag(c->open, &c->open_len, p->open, "<tool_call>", "opening", err, errlen)) ||
        (st = set_tag(c->close, &c->close_len, p->close, "</tool_call>", "closing", err, errlen)))
        goto fail;
    c->open_fail[0] = c->open_fail[1] = 0;
    for (size_t k = 1, b = 0; k < c->open_len; k++) {
        while (b > 0 && c->open[k] != c->open[b]) b = (size_t)c->open_fail[b];
        if (c->open[k] == c->open[b]) b++;
        c->open_fail[k + 1] = (int32_t)b;
    }
    c->v = vocab;
    c->mode = p->mode;
    c->max_string = p->max_string ? p->max_string : MLLM_CST_DEFAULT_MAX_STRING;
    c->max_calls = p->max_calls;
    if (c->max_string < 4) c->max_string = 4; /* room for any one character */
    c->cache_bad = NONE;

    /* the three built-in types: any value, array of any, object of any */
    if (!mllm_grow((void **)&c->types, &c->cap_types, 3, sizeof *c->types)) goto nomem;
    c->types[T_ANY] = (cst_type){ MLLM_PARAM_ANY, false, false, 0, 0, -1, T_ANY };
    c->types[T_ANY_ARRAY] = (cst_type){ MLLM_PARAM_ARRAY, false, false, 0, 0, -1, T_ANY };
    c->types[T_ANY_OBJECT] = (cst_type){ MLLM_PARAM_OBJECT, false, false, 0, 0, -1, T_ANY };
    c->n_types = 3;

    if ((c->name_root = word_new(c, 0)) < 0) goto nomem;
    if (!(c->tools = mllm_calloc(n_tools ? n_tools : 1, sizeof *c->tools))) goto nomem;
    for (size_t i = 0; i < n_tools; i++) {
        const mllm_tool_schema *ts = &tools[i];
        cst_tool *t = &c->tools[i];
        if (!valid_name(ts->name, true) || strlen(ts->name) > MLLM_CALLS_MAX_NAME) {
            st = mllm_fail(err, errlen, MLLM_ERR_ARG,
                           "tool %zu: the name '%s' is not an identifier (ident or ident.ident, at most %d bytes)", i + 1,
                      ts->name ? ts->name : "(null)", MLLM_CALLS_MAX_NAME);
            goto fail;
        }
        if (!(t->name = mllm_strdup(ts->name))) goto nomem;
        c->n_tools = i + 1;
        int r = word_insert(c, c->name_root, ts->name, (int32_t)i);
        if (r == -1) goto nomem;
        if (r == -2) {
            st = mllm_fail(err, errlen, MLLM_ERR_ARG, "duplicate tool name '%s'", ts->name);
            goto fail;
        }
        if (ts->n_params > MLLM_CST_MAX_PARAMS) {
            st = mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s': %zu parameters (MLLM_CST_MAX_PARAMS is %d)", ts->name,
                           ts->n_params, MLLM_CST_MAX_PARAMS);
            goto fail;
        }
        if ((t->arg_root = word_new(c, 0)) < 0) goto nomem;
        t->first = c->n_params;
        t->n = ts->n_params;
        if (!mllm_grow((void **)&c->param_types, &c->cap_params, c->n_params + ts->n_params + 1, sizeof *c->param_types))
            goto nomem;
        char **names = mllm_realloc(c->param_names, c->cap_params * sizeof *names);
        if (!names) goto nomem;
        c->param_names = names;
        for (size_t j = 0; j < ts->n_params; j++) {
            const mllm_tool_param *pp = &ts->params[j];
            if (!valid_name(pp->name, false)) {
                st = mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s': parameter %zu: the name '%s' is not an identifier",
                               ts->name, j + 1, pp->name ? pp->name : "(null)");
                goto fail;
            }
            if (!(c->param_names[c->n_params] = mllm_strdup(pp->name))) goto nomem;
            c->n_params++;
            r = word_insert(c, t->arg_root, pp->name, (int32_t)j);
            if (r == -1) goto nomem;
            if (r == -2) {
                st = mllm_fail(err, errlen, MLLM_ERR_ARG, "tool '%s': duplicate parameter '%s'", ts->name, pp->name);
                goto fail;
            }
            if ((st = add_type(c, &pp->schema, 1, ts->name, pp->name, err, errlen, &c->param_types[t->first + j])))
                goto fail;
            t->all |= (uint64_t)1 << j;
            if (pp->required) t->required |= (uint64_t)1 << j;
        }
    }

    if (vocab) {
        int n = vocab->n_vocab;
        unsigned char last = (unsigned char)c->open[c->open_len - 1];
        if (!(c->allowed = mllm_malloc((size_t)n)) || !(c->out_check = mllm_malloc((size_t)n * sizeof *c->out_check)))
            goto nomem;
        for (int i = 0; i < n; i++)
            if (memchr(vocab->bytes + vocab->off[i], last, vocab->off[i + 1] - vocab->off[i]))
                c->out_check[c->n_out_check++] = i;
    }
    *out = c;
    return MLLM_OK;
nomem:
    st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory building the constraint");
fail:
    mllm_constraint_free(c);
    return st;
}
