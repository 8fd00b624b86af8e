/* constrain.c — constrained decoding of tool calls (see constrain.h): the step machine.
 *
 * The grammar is a byte-level state machine: cst_state is everything it remembers (a phase,
 * the tool, the arguments given, a node of a word trie, counters, a stack of open
 * arrays/objects), small enough to copy at every trie node. cst_step() advances it by one byte or
 * says the byte does not fit. The design rule that makes masks safe: every state cst_step() can
 * reach has a way out (a string can always close, an integer has at most
 * MLLM_CST_MAX_INT_DIGITS digits, ',' only when an argument is left, ')' only when every
 * required one is given), so the sampler never meets a state where no token fits.
 *
 * Masks: the vocabulary's pieces sit in a byte trie (mllm_vocab_trie, built once); a mask is a
 * depth-first walk from the current state that stops at the first byte that does not fit, so a
 * subtree of thousands of tokens that all start with a wrong byte costs one step. Inside a
 * string, where almost everything fits, plain tokens are accepted by a precomputed flag and
 * only the few others (quotes, backslashes, byte tokens) are stepped. Outside a call only
 * tokens holding the opening tag's last byte can change anything, and only those are stepped.
 */
#include "constrain_internal.h"
#include "base/grow.h"

#include <stdio.h>
#include <string.h>

enum { N_SIGN, N_INT0, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

static const char *const LITERALS[] = { "true", "false", "null" };

/* ------------------------------------------------------------ the grammar */

static bool push_frame(cst_state *s, uint16_t type)
{
    if (s->depth >= MLLM_CST_MAX_DEPTH) return false;
    s->frames[s->depth++] = type;
    return true;
}

/* A value just ended: where the parse goes next. */
static void value_end(const mllm_constraint *c, cst_state *s, bool was_key)
{
    if (s->copy && c->reply) cst_reply_note_value(c, s);  /* a reply may repeat it, whole */
    s->copy = 0;  /* a later string (an object key, an array item) copies nothing */
    if (was_key) s->phase = P_OBJ_COLON;
    else if (s->depth == 0) s->phase = P_ARG_AFTER;
    else if (c->types[s->frames[s->depth - 1]].kind == MLLM_PARAM_ARRAY) s->phase = P_ARR_AFTER;
    else s->phase = P_OBJ_AFTER;
}

static void pop_frame(const mllm_constraint *c, cst_state *s)
{
    s->depth--;
    value_end(c, s, false);
}

/* Is there an integer whose decimal form starts with this prefix (sign, nd digits with
 * magnitude v), using at most MLLM_CST_MAX_INT_DIGITS digits? The type's bounds are not the
 * grammar's: cutting the digits at a bound would turn the user's 150 into 15 without a word;
 * the value reaches validation whole, which says "must be at most 100, got 150". */
static bool int_feasible(const cst_type *t, bool neg, int nd, int64_t v)
{
    (void)t;
    int64_t lo = -INT_LIMIT, hi = INT_LIMIT;
    if (nd == 0) return lo <= -1 && hi >= -INT_LIMIT; /* just '-' */
    if (v == 0) return !neg && lo <= 0 && hi >= 0;      /* "0" takes no more digits */
    int64_t p = 1;
    for (int k = 0; nd + k <= MLLM_CST_MAX_INT_DIGITS; k++, p *= 10) {
        int64_t a = v * p, b = a + (p - 1);              /* magnitudes with k more digits */
        int64_t x = neg ? -b : a, y = neg ? -a : b;
        if (x <= hi && y >= lo) return true;
        if (nd + k == MLLM_CST_MAX_INT_DIGITS) break;
    }
    return false;
}

static bool int_digit(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    int d = b - '0';
    if (s->len >= 1 && s->val == 0) return false;           /* no leading zero */
    if (s->len == 0 && d == 0 && s->sub) return false;      /* no "-0" */
    if (s->len >= MLLM_CST_MAX_INT_DIGITS) return false;
    int64_t nv = s->val * 10 + d;
    if (!int_feasible(&c->types[s->type], s->sub, (int)s->len + 1, nv)) return false;
    s->val = nv;
    s->len++;
    return true;
}

/* The first byte of a value of type t. */
static bool value_first(const mllm_constraint *c, cst_state *s, uint16_t t, unsigned char b)
{
    const cst_type *ty = &c->types[t];
    switch (ty->kind) {
    case MLLM_PARAM_ANY:
        if (b == '"') break;
        if (b == '-' || is_digit(b)) goto number;
        if (b == 't' || b == 'f' || b == 'n') {
            s->phase = P_LIT;
            s->sub = b == 't' ? 0 : b == 'f' ? 1 : 2;
            s->node = 1;
            return true;
        }
        if (b == '[') {
            if (!push_frame(s, T_ANY_ARRAY)) return false;
            s->phase = P_ARR_FIRST;
            return true;
        }
        if (b == '{') {
            if (!push_frame(s, T_ANY_OBJECT)) return false;
            s->phase = P_OBJ_FIRST;
            return true;
        }
        return false;
    case MLLM_PARAM_STRING:
        if (b != '"') return false;
        break;
    case MLLM_PARAM_ENUM:
        if (b != '"') return false;
        s->phase = P_ENUM;
        s->node = ty->enum_root;
        s->len = 0;
        /* with a source, the user's own words too: "telegram" reaches validation, which names
         * the values, rather than turning into "sms" */
        s->copy = c->source_len > 0 && s->depth == 0;
        if (s->copy) cst_copy_start(c, s);
        return true;
    case MLLM_PARAM_INTEGER:
        s->phase = P_INT;
        s->type = t;
        s->len = 0;
        s->val = 0;
        s->sub = b == '-';
        if (b == '-') return int_feasible(ty, true, 0, 0);
        return is_digit(b) && int_digit(c, s, b);
    case MLLM_PARAM_NUMBER:
        goto number;
    case MLLM_PARAM_BOOLEAN:
        if (b != 't' && b != 'f') return false;
        s->phase = P_LIT;
        s->sub = b == 't' ? 0 : 1;
        s->node = 1;
        return true;
    case MLLM_PARAM_ARRAY:
        if (b != '[' || !push_frame(s, t)) return false;
        s->phase = P_ARR_FIRST;
        return true;
    case MLLM_PARAM_OBJECT:
        if (b != '{' || !push_frame(s, t)) return false;
        s->phase = P_OBJ_FIRST;
        return true;
    default:
        return false;
    }
    /* a string */
    s->phase = P_STR;
    s->sub = 0;
    s->len = 0;
    s->need = 0;
    /* a parameter's own string (not inside an array or object) copies the source */
    s->copy = c->source_len > 0 && s->depth == 0;
    if (s->copy) cst_copy_start(c, s);
    return true;
number:
    s->phase = P_NUM;
    s->val = 0;
    if (b == '-') {
        s->sub = N_SIGN;
        s->len = 0;
    } else {
        if (!is_digit(b)) return false;
        s->sub = b == '0' ? N_INT0 : N_INT;
        s->len = 1;
    }
    return true;
}

static bool close_call(const mllm_constraint *c, cst_state *s)
{
    if (c->tools[s->tool].required & ~s->used) return false;
    s->phase = P_CLOSE;
    s->node = 0;
    return true;
}

static void enter_call(const mllm_constraint *c, cst_state *s)
{
    s->calls++;
    s->phase = P_NAME;
    s->node = c->name_root;
}

/* Advances s by byte b; false when b cannot come next (s is then unspecified). */
bool cst_step(const mllm_constraint *c, cst_state *s, unsigned char b)
{
    if (s->space_ok) {
        s->space_ok = 0;
        if (b == ' ') return true;
    }
    for (;;) {
        switch (s->phase) {
        case P_OUT: {
            if (cst_reply_active(c) && !cst_reply_step(c, s, b)) return false;
            int32_t k = s->node;
            while (k > 0 && (unsigned char)c->open[k] != b) k = c->open_fail[k];
            if ((unsigned char)c->open[k] == b) k++;
            if ((size_t)k < c->open_len) {
                s->node = k;
                return true;
            }
            if (c->n_tools == 0) return false; /* a call that could not be completed */
            if (c->max_calls && s->calls >= c->max_calls) return false;
            enter_call(c, s);
            return true;
        }
        case P_OPEN:
            if ((unsigned char)c->open[s->node] != b) return false;
            if ((size_t)++s->node == c->open_len) enter_call(c, s);
            return true;
        case P_NAME: {
            if (b == '(' && c->words[s->node].word >= 0) {
                s->tool = c->words[s->node].word;
                s->used = 0;
                s->phase = P_ARG_FIRST;
                return true;
            }
            int32_t ch = word_child(c, s->node, b);
            if (ch < 0) return false;
            s->node = ch;
            return true;
        }
        case P_ARG_FIRST:
        case P_ARG_NEXT: {
            if (b == ')' && s->phase == P_ARG_FIRST) return close_call(c, s);
            int32_t ch = word_child(c, c->tools[s->tool].arg_root, b);
            if (ch < 0 || !(c->words[ch].mask & ~s->used)) return false;
            s->node = ch;
            s->phase = P_ARG_NAME;
            return true;
        }
        case P_ARG_NAME: {
            const cst_tool *t = &c->tools[s->tool];
            int32_t w = c->words[s->node].word;
            if (b == '=') {
                if (w < 0 || (s->used >> w & 1)) return false;
                s->used |= (uint64_t)1 << w;
                s->phase = P_VALUE;
                s->type = c->param_types[t->first + (size_t)w];
                return true;
            }
            int32_t ch = word_child(c, s->node, b);
            if (ch < 0 || !(c->words[ch].mask & ~s->used)) return false;
            s->node = ch;
            return true;
        }
        case P_ARG_AFTER:
            if (b == ',') {
                if (!(c->tools[s->tool].all & ~s->used)) return false;
                s->phase = P_ARG_NEXT;
                s->space_ok = 1;
                return true;
            }
            return b == ')' && close_call(c, s);
        case P_CLOSE:
            if ((unsigned char)c->close[s->node] != b) return false;
            if ((size_t)++s->node == c->close_len) {
                s->phase = P_OUT;
                s->node = 0;
                cst_reply_start(c, s);
            }
            return true;
        case P_VALUE:
            return value_first(c, s, s->type, b);
        case P_STR: {
            if (s->need) {
                if (b < s->lo || b > s->hi) return false;
                if (s->copy && !cst_copy_step(c, s, b)) return false;
                s->need--;
                s->lo = 0x80;
                s->hi = 0xBF;
                return true;
            }
            if (b == '"') {
                if (s->copy && (s->len == 0 || !cst_copy_can_close(c, s))) return false;  /* not empty, whole words */
                value_end(c, s, s->sub);
                return true;
            }
            if (b == '\\') {
                if (s->len + 2 > c->max_string) return false;
                if (s->copy) {  /* only when some escaped character can be copied next */
                    bool any = false;
                    for (const char *e = "\"\\/\n\r\t"; *e && !any; e++) {
                        cst_state t = *s;
                        any = cst_copy_step(c, &t, (unsigned char)*e);
                    }
                    if (!any) return false;
                }
                s->len += 2;
                s->phase = P_STR_ESC;
                return true;
            }
            if (b < 0x20) return false;
            if (s->copy && !cst_copy_step(c, s, b)) return false;
            if (b < 0x80) {
                if (s->len + 1 > c->max_string) return false;
                s->len++;
                return true;
            }
            int n = utf8_lead(b, &s->lo, &s->hi);
            if (n == 0 || s->len + (size_t)n > c->max_string) return false;
            s->len += (uint32_t)n;
            s->need = (uint8_t)(n - 1);
            return true;
        }
        case P_STR_ESC:
            if (!strchr("\"\\/nrt", b) || b == 0) return false;
            /* a copied value matches the character the escape stands for */
            if (s->copy && !cst_copy_step(c, s, b == 'n' ? '\n' : b == 'r' ? '\r' : b == 't' ? '\t' : b)) return false;
            s->phase = P_STR;
            return true;
        case P_ENUM: {
            /* node: the value so far in the values' trie (-1: none); copy: a copy of the source */
            if (b == '"') {
                bool member = s->node >= 0 && c->words[s->node].word >= 0;
                if (!member && !(s->copy && s->len > 0 && cst_copy_can_close(c, s))) return false;
                s->copy = 0;  /* a reply names an enum's value in its own words ("WhatsApp"), not as a copy */
                value_end(c, s, false);
                return true;
            }
            int32_t ch = s->node >= 0 ? word_child(c, s->node, b) : -1;
            if (s->copy && (b == '\\' || b < 0x20 || s->len + 1 > c->max_string || !cst_copy_step(c, s, b)))
                s->copy = 0;
            if (ch < 0 && !s->copy) return false;
            s->node = ch;
            s->len++;
            return true;
        }
        case P_INT:
            if (is_digit(b)) return int_digit(c, s, b);
            if (s->len == 0) return false;
            value_end(c, s, false);
            continue; /* b belongs to what follows the integer */
        case P_NUM: {
            bool digit = is_digit(b);
            switch (s->sub) {
            case N_SIGN:
                if (!digit) return false;
                s->sub = b == '0' ? N_INT0 : N_INT;
                s->len = 1;
                return true;
            case N_INT0:
            case N_INT:
                if (digit) {
                    if (s->sub == N_INT0 || s->len >= MLLM_CST_MAX_INT_DIGITS) return false;
                    s->len++;
                    return true;
                }
                if (b == '.') { s->sub = N_DOT; s->val = 0; return true; }
                if (b == 'e' || b == 'E') { s->sub = N_E; s->val = 0; return true; }
                break;
            case N_DOT:
                if (!digit) return false;
                s->sub = N_FRAC;
                s->val = 1;
                return true;
            case N_FRAC:
                if (digit) {
                    if (s->val >= MLLM_CST_MAX_FRAC_DIGITS) return false;
                    s->val++;
                    return true;
                }
                if (b == 'e' || b == 'E') { s->sub = N_E; s->val = 0; return true; }
                break;
            case N_E:
                if (b == '+' || b == '-') { s->sub = N_ESIGN; return true; }
                /* fallthrough */
            case N_ESIGN:
                if (!digit) return false;
                s->sub = N_EXP;
                s->val = 1;
                return true;
            case N_EXP:
                if (digit) {
                    if (s->val >= MLLM_CST_MAX_EXP_DIGITS) return false;
                    s->val++;
                    return true;
                }
                break;
            }
            value_end(c, s, false); /* a terminal sub-state met a non-digit */
            continue;
        }
        case P_LIT: {
            const char *lit = LITERALS[s->sub];
            if ((unsigned char)lit[s->node] != b) return false;
            if (lit[++s->node] == '\0') value_end(c, s, false);
            return true;
        }
        case P_ARR_FIRST:
            if (b == ']') {
                pop_frame(c, s);
                return true;
            }
            return value_first(c, s, c->types[s->frames[s->depth - 1]].items, b);
        case P_ARR_AFTER:
            if (b == ']') {
                pop_frame(c, s);
                return true;
            }
            if (b != ',') return false;
            s->phase = P_VALUE;
            s->type = c->types[s->frames[s->depth - 1]].items;
            s->space_ok = 1;
            return true;
        case P_OBJ_FIRST:
            if (b == '}') {
                pop_frame(c, s);
                return true;
            }
            /* fallthrough */
        case P_OBJ_KEY:
            if (b != '"') return false;
            s->phase = P_STR;
            s->sub = 1;
            s->len = 0;
            s->need = 0;
            return true;
        case P_OBJ_COLON:
            if (b != ':') return false;
            s->phase = P_VALUE;
            s->type = T_ANY;
            s->space_ok = 1;
            return true;
        case P_OBJ_AFTER:
            if (b == '}') {
                pop_frame(c, s);
                return true;
            }
            if (b != ',') return false;
            s->phase = P_OBJ_KEY;
            s->space_ok = 1;
            return true;
        default:
            return false;
        }
    }
}

void cst_initial_state(const mllm_constraint *c, cst_state *s)
{
    memset(s, 0, sizeof *s);
    s->phase = c->mode == MLLM_CONSTRAIN_REQUIRED ? P_OPEN : P_OUT;
    s->tool = -1;
    cst_reply_start(c, s);
}

/* ------------------------------------------------------------ checking */

/* The state after text, from the cache when text extends the text seen last. Returns the
 * offset of the first byte that does not fit, or NONE. */
size_t cst_sync(mllm_constraint *c, const char *text, size_t len, cst_state *s)
{
    size_t from = 0, bad = NONE;
    if (c->cached && len >= c->cache_len && (c->cache_len == 0 || memcmp(text, c->cache, c->cache_len) == 0)) {
        *s = c->cache_state;
        from = c->cache_len;
        bad = c->cache_bad;
    } else {
        cst_initial_state(c, s);
        c->cache_len = 0;
        c->cached = true;
    }
    for (size_t i = from; i < len && bad == NONE; i++)
        if (!cst_step(c, s, (unsigned char)text[i])) bad = i;
    if (mllm_grow((void **)&c->cache, &c->cache_cap, len + 1, 1)) {
        memcpy(c->cache + c->cache_len, text + c->cache_len, len - c->cache_len);
        c->cache_len = len;
        c->cache_state = *s;
        c->cache_bad = bad;
    } else {
        c->cached = false; /* no memory for the cache: next time starts over */
    }
    return bad;
}

static const char *expected(const mllm_constraint *c, const cst_state *s, char *buf, size_t n)
{
    switch (s->phase) {
    case P_OUT:
        if (c->max_calls && s->calls >= c->max_calls) {
            snprintf(buf, n, "text without another call (at most %zu)", c->max_calls);
            return buf;
        }
        return "text";
    case P_OPEN: snprintf(buf, n, "the opening tag '%s'", c->open); return buf;
    case P_NAME: return "a tool name and '('";
    case P_ARG_FIRST:
    case P_ARG_NEXT:
    case P_ARG_AFTER: {
        const cst_tool *t = &c->tools[s->tool];
        uint64_t missing = t->required & ~s->used;
        if (missing) {
            size_t j = 0;
            while (!(missing >> j & 1)) j++;
            snprintf(buf, n, "%s (the required argument '%s' of %s is missing)",
                     s->phase == P_ARG_AFTER ? "','" : "an argument name", c->param_names[t->first + j], t->name);
            return buf;
        }
        if (s->phase == P_ARG_FIRST) return "an argument name or ')'";
        if (s->phase == P_ARG_NEXT) return "an argument name";
        return (t->all & ~s->used) ? "',' or ')'" : "')'";
    }
    case P_ARG_NAME: return "an argument name of the tool, then '='";
    case P_CLOSE: snprintf(buf, n, "the closing tag '%s'", c->close); return buf;
    case P_VALUE: {
        static const char *const names[] = { "any value", "a string", "an integer", "a number", "true or false",
                                             "one of the enum values", "an array", "an object" };
        const cst_type *t = &c->types[s->type];
        if (t->kind == MLLM_PARAM_ENUM) return "'\"' and one of the enum values";
        return names[t->kind];
    }
    case P_STR: return s->need ? "the rest of a UTF-8 character" : "string content (no control bytes) or '\"'";
    case P_STR_ESC: return "an escape: \\\" \\\\ \\/ \\n \\r \\t";
    case P_ENUM: return "one of the enum values and '\"'";
    case P_INT: return "a digit or the end of the integer";
    case P_NUM: return "a number";
    case P_LIT: return LITERALS[s->sub];
    case P_ARR_FIRST: return "a value or ']'";
    case P_ARR_AFTER: return "',' or ']'";
    case P_OBJ_FIRST: return "'\"' (a key) or '}'";
    case P_OBJ_KEY: return "'\"' (a key)";
    case P_OBJ_COLON: return "':'";
    case P_OBJ_AFTER: return "',' or '}'";
    default: return "?";
    }
}

mllm_constraint_where mllm_constraint_check(mllm_constraint *c, const char *text, size_t len,
                                            size_t *bad, char *msg, size_t msglen)
{
    cst_state s;
    size_t at = cst_sync(c, text, len, &s);
    if (at != NONE) {
        if (bad) *bad = at;
        if (msg && msglen) {
            /* replay to the bad byte to say what was expected there */
            cst_state r;
            cst_initial_state(c, &r);
            for (size_t i = 0; i < at; i++) cst_step(c, &r, (unsigned char)text[i]);
            char buf[200];
            unsigned char b = (unsigned char)text[at];
            char shown[8];
            if (b >= 0x20 && b < 0x7f) snprintf(shown, sizeof shown, "'%c'", b);
            else snprintf(shown, sizeof shown, "0x%02X", b);
            snprintf(msg, msglen, "unexpected %s at byte %zu: expected %s", shown, at + 1, expected(c, &r, buf, sizeof buf));
        }
        return MLLM_CST_INVALID;
    }
    return s.phase == P_OUT ? MLLM_CST_FREE : MLLM_CST_IN_CALL;
}
