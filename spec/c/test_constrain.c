/*
 * test_constrain.c - constrained decoding (src/calls/constrain.h) without Lua. Prints TAP-style lines;
 * exits non-zero when a check fails. Also prints the cost of a mask on the LLaMA-2 vocabulary
 * (32000 pieces), the number to compare with a decode step.
 *
 * The strongest check is a random walk: from the empty text, pick any allowed token, again and
 * again; every text reached must be a valid prefix, no state may be a dead end, and every call
 * closed must parse (mllm_calls_parse) and validate against the schema.
 */
#define _POSIX_C_SOURCE 200809L
#include "calls/constrain.h"
#include "mobilellm_calls.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the tools: a few of models/mobilellm-tiny-api/apis.json, plus every type ---- */

static const char *const APPS[] = { "sms", "whatsapp", "email" };
static const char *const SETTINGS[] = { "wifi", "bluetooth", "flashlight", "do_not_disturb", "airplane_mode" };
static const mllm_param_schema INT_ITEMS = { MLLM_PARAM_INTEGER, NULL, 0, true, true, -5, 5, NULL };

static const mllm_tool_param ALARM[] = {
    { "time", true, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } },
    { "day", false, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } },
    { "label", false, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } },
};
static const mllm_tool_param MESSAGE[] = {
    { "recipient", true, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } },
    { "text", true, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } },
    { "app", false, { MLLM_PARAM_ENUM, APPS, 3, false, false, 0, 0, NULL } },
};
static const mllm_tool_param VOLUME[] = {
    { "level", true, { MLLM_PARAM_INTEGER, NULL, 0, true, true, 0, 100, NULL } },
};
static const mllm_tool_param TOGGLE[] = {
    { "setting", true, { MLLM_PARAM_ENUM, SETTINGS, 5, false, false, 0, 0, NULL } },
    { "on", true, { MLLM_PARAM_BOOLEAN, NULL, 0, false, false, 0, 0, NULL } },
};
static const mllm_tool_param MISC[] = {
    { "x", false, { MLLM_PARAM_NUMBER, NULL, 0, false, false, 0, 0, NULL } },
    { "n", false, { MLLM_PARAM_INTEGER, NULL, 0, true, false, -20, 0, NULL } },
    { "list", false, { MLLM_PARAM_ARRAY, NULL, 0, false, false, 0, 0, &INT_ITEMS } },
    { "any", false, { MLLM_PARAM_ANY, NULL, 0, false, false, 0, 0, NULL } },
    { "obj", false, { MLLM_PARAM_OBJECT, NULL, 0, false, false, 0, 0, NULL } },
};

static const mllm_tool_schema TOOLS[] = {
    { "set_alarm", ALARM, 3 },
    { "send_message", MESSAGE, 3 },
    { "set_volume", VOLUME, 1 },
    { "toggle_setting", TOGGLE, 2 },
    { "misc", MISC, 5 },
    { "ping", NULL, 0 },
};
#define N_TOOLS (sizeof TOOLS / sizeof TOOLS[0])

static const mllm_tool_schema *tool_named(const char *name)
{
    for (size_t i = 0; i < N_TOOLS; i++)
        if (strcmp(TOOLS[i].name, name) == 0) return &TOOLS[i];
    return NULL;
}

static int value_fits(const mllm_value *v, const mllm_param_schema *s)
{
    switch (s->type) {
    case MLLM_PARAM_ANY: return 1;
    case MLLM_PARAM_STRING: return v->type == MLLM_VALUE_STRING;
    case MLLM_PARAM_INTEGER: return v->type == MLLM_VALUE_INT; /* bounds: validation's, not the grammar's */
    case MLLM_PARAM_NUMBER: return v->type == MLLM_VALUE_INT || v->type == MLLM_VALUE_DOUBLE;
    case MLLM_PARAM_BOOLEAN: return v->type == MLLM_VALUE_BOOL;
    case MLLM_PARAM_ENUM:
        if (v->type != MLLM_VALUE_STRING) return 0;
        for (size_t i = 0; i < s->n_values; i++)
            if (strcmp(v->u.string.ptr, s->values[i]) == 0) return 1;
        return 0;
    case MLLM_PARAM_ARRAY:
        if (v->type != MLLM_VALUE_ARRAY) return 0;
        for (size_t i = 0; s->items && i < v->u.array.n; i++)
            if (!value_fits(&v->u.array.items[i], s->items)) return 0;
        return 1;
    case MLLM_PARAM_OBJECT: return v->type == MLLM_VALUE_OBJECT;
    }
    return 0;
}

/* Every call in text parses, names a tool, gives known arguments of the right types and all
 * the required ones. Returns the number of calls, or -1 (and prints why). */
static int validate_text(const char *text, size_t len)
{
    mllm_calls_result *res = NULL;
    mllm_calls_error err;
    if (mllm_calls_parse(text, len, NULL, &res, &err) != MLLM_OK) {
        printf("# parse error at %zu: %s\n#   %.*s\n", err.position, err.message, (int)len, text);
        return -1;
    }
    int n = (int)res->n_calls;
    for (size_t i = 0; i < res->n_calls && n >= 0; i++) {
        const mllm_call *c = &res->calls[i];
        const mllm_tool_schema *t = tool_named(c->name);
        if (!t || c->positional.u.array.n) { n = -1; break; }
        for (size_t j = 0; j < t->n_params && n >= 0; j++) {
            const mllm_value *v = mllm_value_get(&c->args, t->params[j].name);
            if ((!v && t->params[j].required) || (v && !value_fits(v, &t->params[j].schema))) n = -1;
        }
        for (size_t k = 0; k < c->args.u.object.n && n >= 0; k++) {
            size_t j = 0;
            while (j < t->n_params && strcmp(t->params[j].name, c->args.u.object.members[k].key)) j++;
            if (j == t->n_params) n = -1;
        }
        if (n < 0) printf("# call does not validate: %.*s\n", (int)len, text);
    }
    mllm_calls_result_free(res);
    return n;
}

/* ---- a small vocabulary: every printable byte, some multi-byte pieces, byte tokens ---- */

static mllm_vocab_trie *small_vocab(int *eos)
{
    static const char *const extra[] = {
        "<tool_call>", "</tool_call>", "<tool", "_call", ">", "</", "set", "_alarm", "_volume", "(",
        "time", "=\"", "\")", "\", ", ")</tool_call>", " hello", "true", "false", "null", "12",
        "-", "1.5e3", "[", "]", "{\"", "\": ", "sms", "whatsapp\"", "\xC3\xA9", "\xE2\x82\xAC",
        "\\\"", "\\n", "ping()", "misc(", "toggle_setting(setting=\"wifi\", on=true)",
    };
    size_t n_extra = sizeof extra / sizeof extra[0];
    int n = 3 + 95 + 128 + (int)n_extra;  /* control, printable, bytes 0x80-0xFF, pieces */
    char *bytes = malloc(4096);
    size_t *off = malloc(((size_t)n + 1) * sizeof *off), len = 0;
    int id = 0;
    for (int i = 0; i < 3; i++) off[id++] = len;  /* <unk> <s> </s>: empty */
    for (int b = 0x20; b < 0x7f; b++) { off[id++] = len; bytes[len++] = (char)b; }
    for (int b = 0x80; b < 0x100; b++) { off[id++] = len; bytes[len++] = (char)b; }
    for (size_t i = 0; i < n_extra; i++) {
        off[id++] = len;
        memcpy(bytes + len, extra[i], strlen(extra[i]));
        len += strlen(extra[i]);
    }
    off[n] = len;
    mllm_vocab_trie *v = NULL;
    char err[256];
    mllm_status st = mllm_vocab_trie_new(bytes, off, n, &v, err, sizeof err);
    if (st) printf("# %s\n", err);
    free(bytes);
    free(off);
    *eos = 2;
    return v;
}

static const char *piece_of(const mllm_vocab_trie *v, int id, size_t *n);

/* The pieces, kept aside for the walk (the trie does not expose them). */
static char **g_pieces;
static size_t *g_lens;

static const char *piece_of(const mllm_vocab_trie *v, int id, size_t *n)
{
    (void)v;
    *n = g_lens[id];
    return g_pieces[id];
}

static void test_grammar(void)
{
    mllm_constraint *c = NULL;
    char err[256];
    mllm_status st = mllm_constraint_new(TOOLS, N_TOOLS, NULL, NULL, &c, err, sizeof err);
    check(st == MLLM_OK && c, "a constraint builds from tool schemas");
    if (!c) return;
    static const struct { const char *text; int where; } cases[] = {
        { "", MLLM_CST_FREE },
        { "Sure, setting it. <tool_ca", MLLM_CST_FREE },
        { "<<tool_call>", MLLM_CST_IN_CALL },
        { "<tool_call>set_a", MLLM_CST_IN_CALL },
        { "<tool_call>set_alarm(time=\"7:30 am\", day=\"tomorrow\")</tool_call> Done.", MLLM_CST_FREE },
        { "<tool_call>set_volume(level=100)</tool_call>", MLLM_CST_FREE },
        { "<tool_call>send_message(recipient=\"Ana\",text=\"on my way \\\"now\\\"\", app=\"whatsapp\")", MLLM_CST_IN_CALL },
        { "<tool_call>toggle_setting(on=false, setting=\"do_not_disturb\")</tool_call>", MLLM_CST_FREE },
        { "<tool_call>misc(x=-1.5e3, n=-20, list=[1, -5, 0], any={\"a\": [true, null, \"x\"]}, obj={})</tool_call>", MLLM_CST_FREE },
        { "<tool_call>ping()</tool_call>", MLLM_CST_FREE },
        { "<tool_call>set_alarm(time=\"caf\xC3\xA9 \xE2\x82\xAC\")", MLLM_CST_IN_CALL },
        /* invalid */
        { "<tool_call>set_clock(", MLLM_CST_INVALID },                 /* unknown tool */
        { "<tool_call>set_alarm(day=\"x\")", MLLM_CST_INVALID },       /* time is required */
        { "<tool_call>set_alarm(time=\"x\", time=\"y\"", MLLM_CST_INVALID }, /* duplicate */
        { "<tool_call>set_alarm(hour=", MLLM_CST_INVALID },            /* unknown argument */
        { "<tool_call>set_alarm(time=7", MLLM_CST_INVALID },           /* not a string */
        { "<tool_call>set_volume(level=150)</tool_call>", MLLM_CST_FREE }, /* over max: validation's */
        { "<tool_call>set_volume(level=-5)</tool_call>", MLLM_CST_FREE }, /* under min: validation's */
        { "<tool_call>set_volume(level=1234567890123456789", MLLM_CST_INVALID }, /* 19 digits */
        { "<tool_call>set_volume(level=07", MLLM_CST_INVALID },        /* leading zero */
        { "<tool_call>send_message(recipient=\"a\", text=\"b\", app=\"fax", MLLM_CST_INVALID }, /* enum */
        { "<tool_call>toggle_setting(setting=\"wifi\", on=yes", MLLM_CST_INVALID }, /* boolean */
        { "<tool_call>set_alarm(time=\"a\nb", MLLM_CST_INVALID },      /* control byte */
        { "<tool_call>set_alarm(time=\"\xC3(", MLLM_CST_INVALID },     /* bad UTF-8 */
        { "<tool_call>set_alarm(time=\"a\\q", MLLM_CST_INVALID },      /* unknown escape */
        { "<tool_call>set_alarm(time=\"a\",)", MLLM_CST_INVALID },     /* trailing comma */
        { "<tool_call> set_alarm", MLLM_CST_INVALID },                 /* no spaces there */
        { "<tool_call>set_volume(level=5)</tool_c4", MLLM_CST_INVALID },
        { "<tool_call>misc(list=[x", MLLM_CST_INVALID },               /* an item that is no integer */
        { "<tool_call>misc(x=1e123", MLLM_CST_INVALID },               /* exponent too long */
        { "<tool_call>ping(", MLLM_CST_IN_CALL },
        { "<tool_call>ping(,", MLLM_CST_INVALID },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t bad = 0;
        char msg[300], what[400];
        int w = (int)mllm_constraint_check(c, cases[i].text, strlen(cases[i].text), &bad, msg, sizeof msg);
        snprintf(what, sizeof what, "check %zu: %s", i + 1, w == MLLM_CST_INVALID ? msg : "valid prefix");
        check(w == cases[i].where, what);
        if (w == MLLM_CST_FREE) check(validate_text(cases[i].text, strlen(cases[i].text)) >= 0, "  ... and it parses and validates");
    }
    size_t bad = 0;
    char msg[300];
    const char *t = "<tool_call>set_alarm(day=\"x\")";
    mllm_constraint_check(c, t, strlen(t), &bad, msg, sizeof msg);
    check(bad == strlen(t) - 1 && strstr(msg, "'time'") != NULL, "a missing required argument is named in the message");
    const char *two = "<tool_call>ping()</tool_call> ok <tool_call>ping()</tool_call>";
    check(mllm_constraint_check(c, two, strlen(two), NULL, NULL, 0) == MLLM_CST_FREE, "any number of calls by default");
    mllm_constraint_free(c);

    /* max_calls: the opening tag cannot complete once the limit is reached */
    mllm_constraint_params one = mllm_constraint_default_params();
    one.max_calls = 1;
    c = NULL;
    st = mllm_constraint_new(TOOLS, N_TOOLS, NULL, &one, &c, err, sizeof err);
    check(st == MLLM_OK && c, "a constraint builds with max_calls = 1");
    if (c) {
        size_t second = strlen("<tool_call>ping()</tool_call> ok <tool_call>") - 1;
        check(mllm_constraint_check(c, two, second, NULL, NULL, 0) == MLLM_CST_FREE, "  text up to a second tag's last byte is free");
        check(mllm_constraint_check(c, two, strlen(two), &bad, msg, sizeof msg) == MLLM_CST_INVALID && bad == second
              && strstr(msg, "at most 1") != NULL, "  the byte that would open a second call is refused, and said so");
        mllm_constraint_free(c);
    }

    /* schema errors */
    static const mllm_tool_param dup[] = { { "a", false, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } },
                                           { "a", false, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } } };
    static const mllm_tool_param empty_enum[] = { { "e", false, { MLLM_PARAM_ENUM, NULL, 0, false, false, 0, 0, NULL } } };
    static const mllm_tool_param bad_range[] = { { "n", false, { MLLM_PARAM_INTEGER, NULL, 0, true, true, 5, 3, NULL } } };
    const mllm_tool_schema bad_tools[][1] = { { { "a", dup, 2 } }, { { "e", empty_enum, 1 } }, { { "r", bad_range, 1 } }, { { "1x", NULL, 0 } } };
    const char *needles[] = { "duplicate parameter 'a'", "needs values", "min 5 > max 3", "not an identifier" };
    for (size_t i = 0; i < 4; i++) {
        st = mllm_constraint_new(bad_tools[i], 1, NULL, NULL, &c, err, sizeof err);
        check(st == MLLM_ERR_ARG && !c && strstr(err, needles[i]), err);
    }
}

/* The copy rule's titles are data (mllm_constraint_set_titles): with a list, the period of a listed
 * title before a name stays inside its word, in any case; with none, it ends the word. */
static int copies(mllm_constraint *c, const char *value)
{
    char text[200];
    snprintf(text, sizeof text, "<tool_call>send_message(recipient=\"%s\", ", value);
    return mllm_constraint_check(c, text, strlen(text), NULL, NULL, 0) == MLLM_CST_IN_CALL;
}

static void test_titles(void)
{
    mllm_constraint *c = NULL;
    char err[256];
    if (mllm_constraint_new(TOOLS, N_TOOLS, NULL, NULL, &c, err, sizeof err) != MLLM_OK) {
        check(0, err);
        return;
    }
    const char *src = "ask Sgt. Pepper and Dr. Megan";
    check(mllm_constraint_set_source(c, src, strlen(src), err, sizeof err) == MLLM_OK, "a source is taken");
    static const char *const sgt[] = { "SGT", "Capt" };
    check(mllm_constraint_set_titles(c, sgt, 2, err, sizeof err) == MLLM_OK, "a list of titles is taken");
    check(copies(c, "Sgt. Pepper") && !copies(c, "Sgt"),
          "a listed title's period is inside its word, in any case: no value stops at the title");
    check(copies(c, "Dr") && copies(c, "Megan") && copies(c, "Dr. Megan"), "a title not listed ends its word at its period");
    check(mllm_constraint_set_titles(c, NULL, 0, err, sizeof err) == MLLM_OK, "no titles is taken");
    check(copies(c, "Sgt") && copies(c, "Pepper") && copies(c, "Dr"), "with no titles every period ends its word");

    static const char *const dr[] = { "dr" };
    mllm_constraint_set_titles(c, dr, 1, err, sizeof err);
    static const char *const digit[] = { "mr", "no1" }, *const empty[] = { "" }, *const longer[] = { "abcdefghijklmnop" };
    static const char *const *const bad[] = { digit, empty, longer };
    const size_t n_bad[] = { 2, 1, 1 };
    const char *needles[] = { "title 2 ('no1'): only ASCII letters", "title 1: must have 1 to MLLM_CST_MAX_TITLE_BYTES (15) bytes",
                              "MLLM_CST_MAX_TITLE_BYTES (15)" };
    for (size_t i = 0; i < 3; i++) {
        err[0] = '\0';
        check(mllm_constraint_set_titles(c, bad[i], n_bad[i], err, sizeof err) == MLLM_ERR_ARG && strstr(err, needles[i]), err);
    }
    const char *many[MLLM_CST_MAX_TITLES + 1];
    for (size_t i = 0; i <= MLLM_CST_MAX_TITLES; i++) many[i] = "mr";
    check(mllm_constraint_set_titles(c, many, MLLM_CST_MAX_TITLES + 1, err, sizeof err) == MLLM_ERR_ARG
              && strstr(err, "65 titles (MLLM_CST_MAX_TITLES is 64)"), err);
    check(copies(c, "Dr. Megan") && !copies(c, "Dr") && copies(c, "Sgt"), "a refused list changes nothing");
    mllm_constraint_free(c);
}

/* Random walks over a vocabulary: pick any allowed token, until a call closes or the budget
 * ends. Returns the number of walks that failed. */
static int walks(const mllm_vocab_trie *v, mllm_constraint *c, int n_walks, int max_tokens,
                 unsigned seed, int *calls_out, int *steps_out)
{
    int n = mllm_vocab_trie_size(v), failed = 0, calls = 0, steps = 0;
    uint8_t *allowed = malloc((size_t)n);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    char *text = malloc(1 << 16);
    srand(seed);
    for (int w = 0; w < n_walks; w++) {
        size_t len = 0;
        int ok = 1;
        for (int k = 0; k < max_tokens; k++) {
            int count;
            if (mllm_constraint_allowed(c, text, len, allowed, &count, NULL, 0) != MLLM_OK || count <= 0) {
                ok = 0;
                printf("# dead end (%d) after: %.*s\n", count, (int)len, text);
                break;
            }
            int m = 0;
            for (int i = 0; i < n; i++) if (allowed[i]) ids[m++] = i;
            if (m != count) { ok = 0; break; }
            size_t pn;
            const char *p = piece_of(v, ids[rand() % m], &pn);
            if (len == 0 && pn && p[0] == ' ') { p++; pn--; }  /* as the generator does */
            if (len + pn >= (1 << 16) - 1) break;
            memcpy(text + len, p, pn);
            len += pn;
            steps++;
            mllm_constraint_where where = mllm_constraint_check(c, text, len, NULL, NULL, 0);
            if (where == MLLM_CST_INVALID) { ok = 0; printf("# invalid: %.*s\n", (int)len, text); break; }
            if (where == MLLM_CST_FREE) break;  /* the call closed */
        }
        if (ok && mllm_constraint_check(c, text, len, NULL, NULL, 0) == MLLM_CST_FREE) {
            int r = validate_text(text, len);
            if (r < 0) ok = 0; else calls += r;
        }
        if (!ok) failed++;
    }
    free(allowed);
    free(ids);
    free(text);
    *calls_out = calls;
    *steps_out = steps;
    return failed;
}

/* The copy rule's setters and the mask say what is wrong with an mllm_status and a message. */
static void test_status(void)
{
    mllm_constraint *c = NULL;
    char err[256], longer[MLLM_CST_MAX_SOURCE + 2];
    if (mllm_constraint_new(TOOLS, N_TOOLS, NULL, NULL, &c, err, sizeof err) != MLLM_OK) {
        check(0, err);
        return;
    }
    const char *src = "call Ana";
    mllm_constraint_set_source(c, src, strlen(src), err, sizeof err);
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    check(mllm_constraint_set_source(c, longer, MLLM_CST_MAX_SOURCE + 1, err, sizeof err) == MLLM_ERR_ARG
          && strcmp(err, "source text of 257 bytes is longer than MLLM_CST_MAX_SOURCE (256)") == 0,
          "a source over MLLM_CST_MAX_SOURCE: MLLM_ERR_ARG naming the limit");
    check(copies(c, "Bob"), "... and the constraint keeps no source");
    mllm_constraint_set_source(c, src, strlen(src), err, sizeof err);
    check(!copies(c, "Bob") && copies(c, "Ana"), "a source in the limit is taken again");

    int32_t pos[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    check(mllm_constraint_set_source_tokens(c, pos, 8, 1.0f, err, sizeof err) == MLLM_OK, "a pointer is taken");
    check(mllm_constraint_set_source_tokens(c, pos, 7, 1.0f, err, sizeof err) == MLLM_ERR_ARG
          && strcmp(err, "7 positions for a source of 8 bytes") == 0, "positions must match the source");
    check(mllm_constraint_set_source_tokens(c, pos, 8, -1.0f, err, sizeof err) == MLLM_ERR_ARG
          && strcmp(err, "weight must be finite and not negative, got -1") == 0, "a negative weight is refused");
    pos[3] = -2;
    check(mllm_constraint_set_source_tokens(c, pos, 8, 1.0f, err, sizeof err) == MLLM_ERR_ARG
          && strcmp(err, "position 4 is -2, below -1") == 0, "a position below -1 is refused");

    uint8_t allowed[4];
    int count = -1;
    check(mllm_constraint_allowed(c, "", 0, allowed, &count, err, sizeof err) == MLLM_ERR_ARG && count == 0
          && strcmp(err, "the constraint has no vocabulary") == 0, "no mask without a vocabulary: MLLM_ERR_ARG");
    mllm_constraint_free(c);
}

static void test_small_vocab(void)
{
    int eos;
    mllm_vocab_trie *v = small_vocab(&eos);
    check(v != NULL, "a vocabulary trie builds");
    if (!v) return;
    /* keep the pieces for the walk */
    int n = mllm_vocab_trie_size(v);
    g_pieces = calloc((size_t)n, sizeof *g_pieces);
    g_lens = calloc((size_t)n, sizeof *g_lens);
    {
        static const char *const extra[] = {
            "<tool_call>", "</tool_call>", "<tool", "_call", ">", "</", "set", "_alarm", "_volume", "(",
            "time", "=\"", "\")", "\", ", ")</tool_call>", " hello", "true", "false", "null", "12",
            "-", "1.5e3", "[", "]", "{\"", "\": ", "sms", "whatsapp\"", "\xC3\xA9", "\xE2\x82\xAC",
            "\\\"", "\\n", "ping()", "misc(", "toggle_setting(setting=\"wifi\", on=true)",
        };
        int id = 3;
        for (int b = 0x20; b < 0x7f; b++, id++) { g_pieces[id] = malloc(1); g_pieces[id][0] = (char)b; g_lens[id] = 1; }
        for (int b = 0x80; b < 0x100; b++, id++) { g_pieces[id] = malloc(1); g_pieces[id][0] = (char)b; g_lens[id] = 1; }
        for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++, id++) { g_pieces[id] = (char *)extra[i]; g_lens[id] = strlen(extra[i]); }
        for (int i = 0; i < 3; i++) { g_pieces[i] = (char *)""; g_lens[i] = 0; }
    }
    mllm_constraint_params p = mllm_constraint_default_params();
    p.mode = MLLM_CONSTRAIN_REQUIRED;
    p.max_string = 12;
    mllm_constraint *c = NULL;
    char err[256];
    check(mllm_constraint_new(TOOLS, N_TOOLS, v, &p, &c, err, sizeof err) == MLLM_OK, "a required-call constraint builds");
    uint8_t *allowed = malloc((size_t)n);
    int count;
    mllm_constraint_allowed(c, "", 0, allowed, &count, NULL, 0);
    check(count > 0 && allowed[3 + ('<' - 0x20)] && !allowed[eos] && !allowed[3 + ('a' - 0x20)],
          "a required call starts with the tag, not with text or EOS");
    const char *t = "<tool_call>set_alarm(time=\"abcdefghijkl";
    mllm_constraint_allowed(c, t, strlen(t), allowed, &count, NULL, 0);
    check(count >= 1 && allowed[3 + ('"' - 0x20)] && !allowed[3 + ('a' - 0x20)], "a string at max_string can only close");
    t = "<tool_call>set_alarm(time=\"a\"";
    mllm_constraint_allowed(c, t, strlen(t), allowed, &count, NULL, 0);
    check(allowed[3 + (',' - 0x20)] && allowed[3 + (')' - 0x20)] && !allowed[eos], "after a value: ',' or ')', never EOS");
    t = "<tool_call>set_alarm(day=\"a\"";
    mllm_constraint_allowed(c, t, strlen(t), allowed, &count, NULL, 0);
    check(allowed[3 + (',' - 0x20)] && !allowed[3 + (')' - 0x20)], "')' waits for the required argument");
    int calls = 0, steps = 0;
    int failed = walks(v, c, 3000, 400, 1234, &calls, &steps);
    char what[200];
    snprintf(what, sizeof what, "3000 random walks on a small vocabulary: every call parses and validates (%d calls, %d tokens)", calls, steps);
    check(failed == 0 && calls == 3000, what);
    mllm_constraint_free(c);

    p.mode = MLLM_CONSTRAIN_AUTO;
    check(mllm_constraint_new(TOOLS, N_TOOLS, v, &p, &c, err, sizeof err) == MLLM_OK, "an auto constraint builds");
    mllm_constraint_allowed(c, "Hi", 2, allowed, &count, NULL, 0);
    check(count == n, "outside a call every token is allowed");
    mllm_constraint_allowed(c, "Hi <tool_call", 13, allowed, &count, NULL, 0);
    check(count == n, "... also right before the tag closes");
    memset(allowed, 7, (size_t)n);
    count = -1;
    check(mllm_constraint_allowed(c, "<tool_call>nope(", 16, allowed, &count, err, sizeof err) == MLLM_ERR_FORMAT
          && count == 0 && allowed[0] == 7
          && strncmp(err, "unexpected 'n' at byte 12: expected ", 36) == 0,
          "a text that breaks the rule: MLLM_ERR_FORMAT, the message of check, the mask untouched");
    failed = walks(v, c, 2000, 200, 99, &calls, &steps);
    check(failed == 0, "2000 random walks in auto mode: every closed call parses and validates");
    mllm_constraint_free(c);
    free(allowed);
    for (int i = 3; i < 3 + 95 + 128; i++) free(g_pieces[i]);
    free(g_pieces);
    free(g_lens);
    mllm_vocab_trie_free(v);
}

/* ---- the LLaMA-2 vocabulary: real pieces, and the cost of a mask ---- */

static void test_llama_vocab(const char *path)
{
    mllm_tokenizer *tok = NULL;
    char err[MLLM_ERRLEN];
    if (mllm_tokenizer_load(path, &tok, err, sizeof err) != MLLM_OK) {
        printf("# skipped: %s\n", err);
        return;
    }
    int n = mllm_tokenizer_vocab_size(tok);
    double t0 = now();
    mllm_vocab_trie *v = NULL;
    check(mllm_vocab_trie_from_tokenizer(tok, n, &v, err, sizeof err) == MLLM_OK, "the trie of the 32000 LLaMA-2 pieces builds");
    double t_build = now() - t0;
    if (!v) { mllm_tokenizer_free(tok); return; }
    printf("# vocabulary trie: %d pieces, %zu nodes, built in %.1f ms\n", n, mllm_vocab_trie_nodes(v), t_build * 1e3);
    g_pieces = calloc((size_t)n, sizeof *g_pieces);
    g_lens = calloc((size_t)n, sizeof *g_lens);
    for (int i = 0; i < n; i++) {
        char buf[256];
        int k = mllm_tokenizer_piece(tok, i, buf, sizeof buf);
        if (k < 0) k = 0;
        g_pieces[i] = malloc((size_t)k + 1);
        memcpy(g_pieces[i], buf, (size_t)k);
        g_lens[i] = (size_t)k;
    }
    mllm_constraint *c = NULL;
    mllm_constraint_params p = mllm_constraint_default_params();
    t0 = now();
    check(mllm_constraint_new(TOOLS, N_TOOLS, v, &p, &c, err, sizeof err) == MLLM_OK, "a constraint on the 32000 vocabulary builds");
    printf("# constraint built in %.2f ms\n", (now() - t0) * 1e3);

    /* cost of the hook at typical points of a call (best of a few runs of many calls) */
    static const char *const points[] = {
        "Sure, I will set it.",
        "<tool_call>",
        "<tool_call>set_alarm(",
        "<tool_call>set_alarm(time=\"7:30 am",
        "<tool_call>set_alarm(time=\"7:30 am\", ",
        "<tool_call>set_volume(level=4",
        "<tool_call>send_message(recipient=\"Ana\", text=\"hi\", app=\"wha",
        "<tool_call>set_alarm(time=\"7:30 am\")</tool",
    };
    float *logits = malloc((size_t)n * sizeof *logits);
    double worst = 0;
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        size_t len = strlen(points[i]);
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            int iters = 40;
            double s = now();
            for (int k = 0; k < iters; k++) {
                for (int j = 0; j < n; j++) logits[j] = 0.0f;
                /* a new text each time, as in generation: the cache covers all but the end */
                mllm_constraint_hook(c, logits, n, points[i], len - (k & 1));
                mllm_constraint_hook(c, logits, n, points[i], len);
            }
            double per = (now() - s) / (2 * iters);
            if (per < best) best = per;
        }
        for (int j = 0; j < n; j++) logits[j] = 0.0f;
        mllm_constraint_hook(c, logits, n, points[i], len);
        int allowed = 0;
        for (int j = 0; j < n; j++) allowed += logits[j] != -INFINITY;
        printf("# mask after %-62s %7.1f us, %5d of %d tokens allowed\n", points[i], best * 1e6, allowed, n);
        if (best > worst) worst = best;
    }
    /* a figure, not a check: speed is make bench's (tools/bench.lua --mask), and a
       sanitizer build or a busy host would fail a timed check for no bug */
    printf("# the worst mask costs %.0f us (make bench measures it)\n", worst * 1e6);
    char what[200];
    free(logits);

    /* every walk on the real vocabulary ends in a valid call */
    mllm_constraint_free(c);
    p.mode = MLLM_CONSTRAIN_REQUIRED;
    p.max_string = 24;
    mllm_constraint_new(TOOLS, N_TOOLS, v, &p, &c, err, sizeof err);
    int calls = 0, steps = 0;
    t0 = now();
    int failed = walks(v, c, 300, 400, 7, &calls, &steps);
    double t_walk = now() - t0;
    snprintf(what, sizeof what, "300 random walks over the LLaMA-2 vocabulary: every call parses and validates (%d tokens, %.0f us per mask)",
             steps, t_walk / (steps ? steps : 1) * 1e6);
    check(failed == 0 && calls == 300, what);
    const mllm_constraint_stats *stats = mllm_constraint_get_stats(c);
    check(stats->dead_ends == 0 && stats->invalid == 0, "no dead ends, no invalid states");
    mllm_constraint_free(c);
    for (int i = 0; i < n; i++) free(g_pieces[i]);
    free(g_pieces);
    free(g_lens);
    mllm_vocab_trie_free(v);
    mllm_tokenizer_free(tok);
}

int main(int argc, char **argv)
{
    test_grammar();
    test_titles();
    test_status();
    test_small_vocab();
    test_llama_vocab(argc > 1 ? argv[1] : "models/llama2-tokenizer/tokenizer.model");
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed != 0;
}
