/* fuzz_reply_rule.c — libFuzzer harness for the reply rule and the copy of values
 * (src/calls/reply_rule.c, copy_rule.c): a rule, a source and a text from the input; the rule
 * is set (or refused), the text checked, and the tokens the mask allows after it are each
 * stepped: every allowed token must keep the text a valid prefix (the mask never lets the
 * text out of the rule), and a text the mask kept valid stays so.
 *
 * Input: lines separated by '\n', in groups separated by an empty line: words, gaps, end gaps,
 * repeatable words, follows (each line "context\tnext"), then the source (one line), then the
 * text (the rest).
 *
 *   build/fuzz/fuzz_reply_rule build/fuzz/corpus/reply_rule fuzz/corpus/reply_rule
 */
#include "calls/constrain.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 256

static const char *const APPS[] = { "sms", "whatsapp" };
static const mllm_tool_param SEND[] = {
    { "recipient", true, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } },
    { "app", false, { MLLM_PARAM_ENUM, APPS, 2, false, false, 0, 0, NULL } },
    { "level", false, { MLLM_PARAM_INTEGER, NULL, 0, true, true, 0, 100, NULL } },
};
static const mllm_tool_schema TOOLS[] = { { "send", SEND, 3 } };

/* A small vocabulary: single bytes of printable ASCII and the tag's and the rule's pieces. */
static const char *const PIECES[] = { "", "<tool_call>", "</tool_call>", " Message", " sent", " to", " Pri", "ya",
                                      ". ", ".", " ", "send(", "recipient=\"", "\")", "\", app=\"", "sms", "level=",
                                      "150", ")", "'s", " on", "!" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    /* groups of lines */
    const char *lists[7][MAX_LINES];
    size_t counts[7] = { 0 };
    int group = 0;
    char *p = buf, *text = NULL, *source = NULL;
    while (group < 5 && p < buf + size) {
        char *nl = memchr(p, '\n', (size_t)(buf + size - p));
        if (nl) *nl = '\0';
        if (*p == '\0') group++;
        else if (counts[group] < MAX_LINES) lists[group][counts[group]++] = p;
        p = nl ? nl + 1 : buf + size;
    }
    if (p < buf + size) {
        char *nl = memchr(p, '\n', (size_t)(buf + size - p));
        if (nl) *nl = '\0';
        source = p;
        text = nl ? nl + 1 : buf + size;
    }
    /* follows lines: "context\tnext" */
    const char *follows[2 * MAX_LINES];
    size_t n_follows = 0;
    for (size_t i = 0; i < counts[4]; i++) {
        char *tab = strchr((char *)lists[4][i], '\t');
        if (!tab) continue;
        *tab = '\0';
        follows[2 * n_follows] = lists[4][i];
        follows[2 * n_follows + 1] = tab + 1;
        n_follows++;
    }

    size_t n = sizeof PIECES / sizeof PIECES[0];
    size_t off[sizeof PIECES / sizeof PIECES[0] + 1] = { 0 };
    char bytes[256] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(bytes, PIECES[i]);
        off[i + 1] = off[i] + strlen(PIECES[i]);
    }
    mllm_vocab_trie *v = NULL;
    mllm_constraint *c = NULL;
    char err[256];
    if (mllm_vocab_trie_new(bytes, off, (int)n, &v, err, sizeof err) != MLLM_OK) abort();
    mllm_constraint_params params = mllm_constraint_default_params();
    params.max_calls = 1;
    if (mllm_constraint_new(TOOLS, 1, v, &params, &c, err, sizeof err) != MLLM_OK) abort();
    mllm_reply_rule rule = { lists[0], counts[0], lists[1], counts[1], lists[2], counts[2],
                             lists[3], counts[3], follows, n_follows };
    mllm_constraint_set_reply_rule(c, &rule, err, sizeof err);  /* may be refused: then no rule */
    if (source) mllm_constraint_set_source(c, source, strlen(source), err, sizeof err);
    size_t len = text ? (size_t)(buf + size - text) : 0;
    uint8_t allowed[sizeof PIECES / sizeof PIECES[0]];
    int count = 0;
    if (text && mllm_constraint_allowed(c, text, len, allowed, &count, err, sizeof err) == MLLM_OK) {
        char *next = malloc(len + 64);
        if (!next) abort();
        for (size_t id = 0; id < n; id++) {
            if (!allowed[id]) continue;
            memcpy(next, text, len);
            const char *piece = PIECES[id];
            if (len == 0 && piece[0] == ' ') piece++;  /* the generator drops the first leading space */
            memcpy(next + len, piece, strlen(piece));
            if (mllm_constraint_check(c, next, len + strlen(piece), NULL, NULL, 0) == MLLM_CST_INVALID) abort();
        }
        free(next);
    }
    mllm_constraint_free(c);
    mllm_vocab_trie_free(v);
    free(buf);
    return 0;
}
