/* fuzz_calls.c — libFuzzer harness for the function-call parser
 * (src/calls/), issue 8: mllm_calls_parse on the whole text, then the same
 * bytes through a stream fed in random pieces (empty ones too), which must
 * give the same calls (name, offsets, raw text, arguments), the same text
 * outside them, or the same error (status, kind, position, message).
 *
 * Input: byte 0 picks the options (bit 0: bare mode; bits 1-2: the tag pair),
 * byte 1 seeds the piece sizes, the rest is the text.
 *
 *   build-fuzz/fuzz_calls build-fuzz/corpus/calls fuzz/corpus/calls
 */
#include "mobilellm_calls.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int value_eq(const mllm_value *a, const mllm_value *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case MLLM_VALUE_NULL: return 1;
    case MLLM_VALUE_BOOL: return a->u.boolean == b->u.boolean;
    case MLLM_VALUE_INT: return a->u.integer == b->u.integer;
    case MLLM_VALUE_DOUBLE: return memcmp(&a->u.number, &b->u.number, sizeof(double)) == 0;
    case MLLM_VALUE_STRING:
        return a->u.string.len == b->u.string.len && a->u.string.ptr[a->u.string.len] == '\0' &&
               memcmp(a->u.string.ptr, b->u.string.ptr, a->u.string.len) == 0;
    case MLLM_VALUE_ARRAY:
        if (a->u.array.n != b->u.array.n) return 0;
        for (size_t i = 0; i < a->u.array.n; i++)
            if (!value_eq(&a->u.array.items[i], &b->u.array.items[i])) return 0;
        return 1;
    case MLLM_VALUE_OBJECT:
        if (a->u.object.n != b->u.object.n) return 0;
        for (size_t i = 0; i < a->u.object.n; i++) {
            const mllm_value_member *x = &a->u.object.members[i], *y = &b->u.object.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
                !value_eq(&x->value, &y->value))
                return 0;
            if (mllm_value_get(a, x->key) == NULL && memchr(x->key, 0, x->key_len) == NULL) return 0;
        }
        return 1;
    }
    return 0;
}

static int call_eq(const mllm_call *a, const mllm_call *b)
{
    return strcmp(a->name, b->name) == 0 && a->first == b->first && a->last == b->last &&
           value_eq(&a->args, &b->args) && value_eq(&a->positional, &b->positional);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const tags[4][2] = {
        { NULL, NULL }, { "[[", "]]" }, { "<f>", "</f>" }, { "|", "|" },
    };
    if (size < 2) return 0;
    mllm_calls_opts opts = mllm_calls_default_opts();
    opts.bare = data[0] & 1;
    opts.open = tags[(data[0] >> 1) & 3][0];
    opts.close = tags[(data[0] >> 1) & 3][1];
    uint32_t rng = data[1] * 2654435761u + 1;
    size_t len = size - 2;
    char *text = malloc(len ? len : 1);  /* exactly len bytes: ASan sees any overread */
    if (!text) return 0;
    memcpy(text, data + 2, len);

    mllm_calls_result *res = NULL;
    mllm_calls_error werr;
    memset(&werr, 0, sizeof werr);
    mllm_status wr = mllm_calls_parse(text, len, &opts, &res, &werr);
    /* too many calls, the one failure with a result (the first MLLM_CALLS_MAX_CALLS) */
    int partial = wr != MLLM_OK && res != NULL;
    if (partial && (wr != MLLM_ERR_FORMAT || werr.kind != MLLM_CALLS_KIND_LIMIT ||
                    res->n_calls != MLLM_CALLS_MAX_CALLS || res->n_skipped == 0 || !werr.message[0]))
        abort();
    if (wr == MLLM_OK || partial) {
        if (!res || res->text[res->text_len] != '\0' || res->text_len > len) abort();
        if (wr == MLLM_OK && res->n_skipped) abort();
        for (size_t i = 0; i < res->n_calls; i++) {
            const mllm_call *c = &res->calls[i];
            size_t nl = strlen(c->name);
            if (nl < 1 || nl > MLLM_CALLS_MAX_NAME || c->first > c->last || c->last >= len) abort();
            if (i && c->first <= res->calls[i - 1].last) abort();
            if (c->args.type != MLLM_VALUE_OBJECT || c->positional.type != MLLM_VALUE_ARRAY) abort();
        }
    } else {
        /* a failure's status and kind agree */
        if (wr == MLLM_ERR_FORMAT ? werr.kind != MLLM_CALLS_KIND_SYNTAX && werr.kind != MLLM_CALLS_KIND_LIMIT
                                  : wr != MLLM_ERR_NOMEM || werr.kind != MLLM_CALLS_KIND_NOMEM)
            abort();
        if (res || wr == MLLM_ERR_ARG || !werr.message[0] ||
            memchr(werr.message, 0, sizeof werr.message) == NULL)
            abort();
    }

    mllm_calls_stream *s = NULL;
    if (mllm_calls_stream_new(&opts, &s, NULL) != MLLM_OK) abort();
    char *got = malloc(len + 1);
    if (!got) abort();
    size_t got_len = 0, n_calls = 0, fed = 0;
    mllm_status sr = MLLM_OK;
    int saw_error = 0, failed_in_feed = 0;
    mllm_calls_error serr;
    memset(&serr, 0, sizeof serr);
    for (int done = 0; !done;) {
        size_t n;
        if (fed < len) {
            rng = rng * 1103515245u + 12345u;
            n = (rng >> 16) % 17;  /* 0..16 bytes; 0 = an empty feed */
            if (n > len - fed) n = len - fed;
            sr = mllm_calls_stream_feed(s, text + fed, n);
            fed += n;
        } else {
            sr = mllm_calls_stream_finish(s);
            done = 1;
        }
        mllm_calls_event ev;
        while (mllm_calls_stream_next(s, &ev)) {
            if (saw_error) abort();  /* nothing after an error */
            if (ev.type == MLLM_CALLS_EVENT_TEXT) {
                if (got_len + ev.text_len > len) abort();
                memcpy(got + got_len, ev.text, ev.text_len);
                got_len += ev.text_len;
            } else if (ev.type == MLLM_CALLS_EVENT_CALL) {
                if (!ev.call || ev.call->last >= fed || ev.text_len != ev.call->last - ev.call->first + 1 ||
                    memcmp(ev.text, text + ev.call->first, ev.text_len) != 0)
                    abort();
                if (res && (n_calls >= res->n_calls || !call_eq(ev.call, &res->calls[n_calls])))
                    abort();
                n_calls++;
            } else if (ev.type == MLLM_CALLS_EVENT_ERROR) {
                saw_error = 1;
                serr = *ev.error;
            } else {
                abort();
            }
        }
        if (sr != MLLM_OK) {
            failed_in_feed = !done;
            break;
        }
    }
    if (res && (n_calls != res->n_calls || got_len != res->text_len || memcmp(got, res->text, got_len) != 0))
        abort();
    if (wr == MLLM_OK) {
        if (sr != MLLM_OK) abort();
    } else {
        if (sr != wr) abort();
        if (wr != MLLM_ERR_NOMEM &&
            (!saw_error || serr.kind != werr.kind || serr.position != werr.position ||
             strcmp(serr.message, werr.message) != 0))
            abort();
        /* a stream that failed while being fed stays failed */
        mllm_calls_event ev;
        if (failed_in_feed && (mllm_calls_stream_feed(s, "x", 1) != wr || mllm_calls_stream_finish(s) != wr ||
                               mllm_calls_stream_next(s, &ev)))
            abort();
    }
    free(got);
    mllm_calls_stream_free(s);
    mllm_calls_result_free(res);
    free(text);
    return 0;
}
