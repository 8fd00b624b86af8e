/*
 * test_calls.c - the call parser's C API without Lua. Prints TAP-style "ok N - ..." /
 * "not ok N - ..." lines; exits non-zero when any check fails.
 *
 *   make ctest, or alone:
 *   cc -std=c11 -Iinclude -Isrc spec/c/test_calls.c \
 *      src/calls/{calls,values,pyargs,json_args,scanner}.c -lm -o build/test_calls
 */
#include "mobilellm_calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

static int str_is(const mllm_value *v, const char *s)
{
    return v && v->type == MLLM_VALUE_STRING && v->u.string.len == strlen(s)
           && memcmp(v->u.string.ptr, s, v->u.string.len) == 0;
}

static void test_python_call(void)
{
    const char *text = "Sure. <tool_call>set_alarm(time=\"7:30 am\", n=3, x=-1.5e3, on=true, "
                       "none=None, list=[1, \"\\u00e9\"], obj={\"a\": {\"b\": null}}, \"pos\")"
                       "</tool_call> Alarm set.";
    mllm_calls_result *res = NULL;
    mllm_calls_error err;
    const mllm_call *c;
    const mllm_value *v;
    mllm_status r = mllm_calls_parse(text, strlen(text), NULL, &res, &err);

    check(r == MLLM_OK && res && res->n_calls == 1, "python call parses");
    if (r != MLLM_OK || !res || res->n_calls != 1) {
        mllm_calls_result_free(res);
        return;
    }
    c = &res->calls[0];
    check(strcmp(c->name, "set_alarm") == 0, "name");
    check(c->args.type == MLLM_VALUE_OBJECT && c->args.u.object.n == 7, "7 keyword arguments");
    check(strcmp(c->args.u.object.members[0].key, "time") == 0
          && strcmp(c->args.u.object.members[6].key, "obj") == 0, "keys in source order");
    check(str_is(mllm_value_get(&c->args, "time"), "7:30 am"), "string argument");
    v = mllm_value_get(&c->args, "n");
    check(v && v->type == MLLM_VALUE_INT && v->u.integer == 3, "integer argument");
    v = mllm_value_get(&c->args, "x");
    check(v && v->type == MLLM_VALUE_DOUBLE && v->u.number == -1500.0, "float argument");
    v = mllm_value_get(&c->args, "on");
    check(v && v->type == MLLM_VALUE_BOOL && v->u.boolean == 1, "boolean argument");
    v = mllm_value_get(&c->args, "none");
    check(v && v->type == MLLM_VALUE_NULL, "None is null");
    v = mllm_value_get(&c->args, "list");
    check(v && v->type == MLLM_VALUE_ARRAY && v->u.array.n == 2
          && str_is(&v->u.array.items[1], "\xC3\xA9"), "list with a \\u escape");
    v = mllm_value_get(mllm_value_get(mllm_value_get(&c->args, "obj"), "a"), "b");
    check(v && v->type == MLLM_VALUE_NULL, "nested object");
    check(c->positional.type == MLLM_VALUE_ARRAY && c->positional.u.array.n == 1
          && str_is(&c->positional.u.array.items[0], "pos"), "positional argument");
    check(c->first == 6 && text[c->first] == '<' && text[c->last] == '>'
          && c->last == strlen(text) - strlen(" Alarm set.") - 1, "first and last offsets");
    check(res->text_len == strlen("Sure.  Alarm set.")
          && strcmp(res->text, "Sure.  Alarm set.") == 0, "text outside the call");
    mllm_calls_result_free(res);
}

static void test_json_call(void)
{
    const char *text = "<tool_call>{\"name\": \"get_weather\", "
                       "\"arguments\": \"{\\\"city\\\": \\\"Lisbon\\\"}\"}</tool_call>";
    mllm_calls_result *res = NULL;
    mllm_status r = mllm_calls_parse(text, strlen(text), NULL, &res, NULL);
    check(r == MLLM_OK && res->n_calls == 1
          && strcmp(res->calls[0].name, "get_weather") == 0
          && str_is(mllm_value_get(&res->calls[0].args, "city"), "Lisbon")
          && res->calls[0].positional.u.array.n == 0 && res->text_len == 0,
          "JSON call with arguments as a string");
    mllm_calls_result_free(res);
}

static void test_errors(void)
{
    const char *text = "<tool_call>set_alarm(time=\"7:30 am\" n=3)</tool_call>";
    mllm_calls_result *res = (mllm_calls_result *)&res;    /* must be reset to NULL */
    mllm_calls_error err;
    mllm_calls_opts opts = mllm_calls_default_opts();
    char deep[256];
    mllm_status r = mllm_calls_parse(text, strlen(text), NULL, &res, &err);

    check(r == MLLM_ERR_FORMAT && res == NULL && err.kind == MLLM_CALLS_KIND_SYNTAX,
          "malformed call: MLLM_ERR_FORMAT, kind syntax, no result");
    check(strcmp(err.message, "expected ',' or ')' after argument 'time'") == 0
          && err.position == 36, "error message and position");

    strcpy(deep, "<tool_call>f(x=");
    memset(deep + strlen(deep), '[', 70);
    deep[15 + 70] = '\0';
    r = mllm_calls_parse(deep, strlen(deep), NULL, &res, &err);
    check(r == MLLM_ERR_FORMAT && res == NULL && err.kind == MLLM_CALLS_KIND_LIMIT
          && err.position == 15 + 63
          && strstr(err.message, "MLLM_CALLS_MAX_DEPTH (64)") != NULL, "depth limit");

    opts.open = "";
    r = mllm_calls_parse("x", 1, &opts, &res, &err);
    check(r == MLLM_ERR_ARG && err.kind == MLLM_CALLS_KIND_ARG
          && strstr(err.message, "'open'") != NULL, "empty open tag");
    check(mllm_calls_parse(NULL, 3, NULL, &res, NULL) == MLLM_ERR_ARG, "NULL text");
    check(mllm_calls_parse("x", 1, NULL, NULL, NULL) == MLLM_ERR_ARG, "NULL out");
    r = mllm_calls_parse(NULL, 0, NULL, &res, NULL);
    check(r == MLLM_OK && res->n_calls == 0 && res->text_len == 0
          && res->text[0] == '\0', "empty input");
    mllm_calls_result_free(res);
    mllm_calls_result_free(NULL);
}

/* Feeds text in pieces of `step` bytes; the calls (by raw text and offsets) and the text must
   be those of the whole parse. */
static int stream_matches(const char *text, size_t step, const mllm_calls_opts *opts)
{
    size_t len = strlen(text), i, n_calls = 0, text_len = 0;
    mllm_calls_result *res = NULL;
    mllm_calls_stream *s = NULL;
    mllm_calls_event ev;
    char *got = (char *)malloc(len + 1);
    int ok = got != NULL && mllm_calls_parse(text, len, opts, &res, NULL) == MLLM_OK
             && mllm_calls_stream_new(opts, &s, NULL) == MLLM_OK;

    for (i = 0; ok;) {                    /* i: bytes fed; an empty piece means finish */
        size_t n = len - i < step ? len - i : step;
        ok = (n ? mllm_calls_stream_feed(s, text + i, n)
                : mllm_calls_stream_finish(s)) == MLLM_OK;
        while (ok && mllm_calls_stream_next(s, &ev)) {
            if (ev.type == MLLM_CALLS_EVENT_TEXT) {
                memcpy(got + text_len, ev.text, ev.text_len);
                text_len += ev.text_len;
            } else if (ev.type == MLLM_CALLS_EVENT_CALL) {
                const mllm_call *want = &res->calls[n_calls++];
                ok = n_calls <= res->n_calls && ev.call->first == want->first
                     && ev.call->last == want->last && strcmp(ev.call->name, want->name) == 0
                     && ev.text_len == want->last - want->first + 1
                     && memcmp(ev.text, text + want->first, ev.text_len) == 0;
            } else
                ok = 0;
        }
        if (n == 0)
            break;
        i += n;
    }
    ok = ok && n_calls == res->n_calls && text_len == res->text_len
         && memcmp(got, res->text, text_len) == 0;
    free(got);
    mllm_calls_result_free(res);
    mllm_calls_stream_free(s);
    return ok;
}

static void test_stream(void)
{
    static const char *const texts[] = {
        "Sure! <tool_call>set_alarm(time=\"7:30 am\", label='a</tool_call>b')</tool_call> Done.",
        "a <tool_call>f()</tool_call><tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>",
        "caf\xC3\xA9 <tool_ <tool_call>f(x=\"\xE2\x82\xAC\")</tool_call> <tool_call",
    };
    mllm_calls_opts bare = mllm_calls_default_opts();
    mllm_calls_stream *s = NULL;
    mllm_calls_event ev;
    size_t i, step;
    int ok = 1, r;

    for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
        for (step = 1; step <= 13; step += 3)
            ok = ok && stream_matches(texts[i], step, NULL);
    check(ok, "stream in pieces of 1, 4, 7, 10, 13 bytes = whole parse");
    bare.bare = 1;
    ok = 1;
    for (step = 1; step <= 13; step += 3)
        ok = ok && stream_matches("x f(a=1) and weather.get(city='Lisbon') {\"name\": \"h\", "
                                  "\"arguments\": {}} y", step, &bare);
    check(ok, "bare stream = whole parse");

    r = mllm_calls_stream_new(NULL, &s, NULL);
    check(r == MLLM_OK, "stream_new");
    r = mllm_calls_stream_feed(s, "hello <tool", 11);
    check(r == MLLM_OK && mllm_calls_stream_next(s, &ev) && ev.type == MLLM_CALLS_EVENT_TEXT
          && ev.text_len == 6 && memcmp(ev.text, "hello ", 6) == 0
          && !mllm_calls_stream_next(s, &ev), "text before a possible tag is reported at once");
    r = mllm_calls_stream_feed(s, "_call>f(x=1", 11);
    check(r == MLLM_OK && !mllm_calls_stream_next(s, &ev), "an open call is held");
    r = mllm_calls_stream_finish(s);
    check(r == MLLM_ERR_FORMAT && mllm_calls_stream_next(s, &ev)
          && ev.type == MLLM_CALLS_EVENT_ERROR && ev.error->kind == MLLM_CALLS_KIND_SYNTAX
          && ev.error->position == 22
          && strcmp(ev.error->message, "expected ',' or ')' after argument 'x'") == 0,
          "unterminated call at finish is an error event");
    check(mllm_calls_stream_feed(s, "x", 1) == MLLM_ERR_FORMAT
          && !mllm_calls_stream_next(s, &ev), "a failed stream stays failed");
    mllm_calls_stream_free(s);

    mllm_calls_stream_new(NULL, &s, NULL);
    mllm_calls_stream_finish(s);
    check(mllm_calls_stream_feed(s, "x", 1) == MLLM_ERR_ARG
          && mllm_calls_stream_finish(s) == MLLM_OK, "feed after finish: misuse, MLLM_ERR_ARG");
    mllm_calls_stream_free(s);
    mllm_calls_stream_free(NULL);
}

static void test_big(void)
{
    size_t n = 1 << 20, i;
    char *text = (char *)malloc(n + 64);
    mllm_calls_result *res = NULL;
    mllm_calls_error err;
    mllm_status r;

    if (!text) {
        check(0, "malloc");
        return;
    }
    strcpy(text, "<tool_call>f(x=\"");
    memset(text + 16, 'a', n);
    strcpy(text + 16 + n, "\")</tool_call>");
    r = mllm_calls_parse(text, strlen(text), NULL, &res, &err);
    check(r == MLLM_OK && res->n_calls == 1
          && mllm_value_get(&res->calls[0].args, "x")->u.string.len == n, "1 MB string argument");
    mllm_calls_result_free(res);

    memset(text, '[', n);
    r = mllm_calls_parse(text, n, NULL, &res, &err);
    check(r == MLLM_OK && res->text_len == n && res->n_calls == 0, "1 MB of '[' as text");
    mllm_calls_result_free(res);

    for (i = 0; i < n; i++)
        text[i] = "ab c(<{"[i % 7];
    {
        mllm_calls_opts bare = mllm_calls_default_opts();
        bare.bare = 1;
        r = mllm_calls_parse(text, n, &bare, &res, &err);
        check(r == MLLM_ERR_FORMAT, "1 MB of near-calls in bare mode fails cleanly");
    }
    free(text);
}

/* Past MLLM_CALLS_MAX_CALLS: the first calls and all the text come back with the error, from
   the whole parse and from the stream alike. */
static void test_too_many_calls(void)
{
    static const char one[] = "x<tool_call>f(n=1)</tool_call>";
    size_t n_one = sizeof one - 1, total = MLLM_CALLS_MAX_CALLS + 3, i, n_events = 0, got = 0;
    size_t len = n_one * total + 3;
    char *text = (char *)malloc(len + 1);
    mllm_calls_result *res = NULL;
    mllm_calls_stream *s = NULL;
    mllm_calls_error err;
    mllm_calls_event ev;
    char want[160];
    mllm_status r;
    int ok;

    if (!text) {
        check(0, "malloc");
        return;
    }
    for (i = 0; i < total; i++)
        memcpy(text + i * n_one, one, n_one);
    memcpy(text + total * n_one, "end", 4);
    snprintf(want, sizeof want, "3 more calls after the limit of %d (MLLM_CALLS_MAX_CALLS) were "
             "not parsed", MLLM_CALLS_MAX_CALLS);

    r = mllm_calls_parse(text, len, NULL, &res, &err);
    check(r == MLLM_ERR_FORMAT && err.kind == MLLM_CALLS_KIND_LIMIT && res
          && res->n_calls == MLLM_CALLS_MAX_CALLS && res->n_skipped == 3,
          "too many calls: MLLM_ERR_FORMAT, kind limit, and the first MLLM_CALLS_MAX_CALLS come back");
    check(res && res->text_len == total + 3 && memcmp(res->text + total, "end", 4) == 0
          && mllm_value_get(&res->calls[MLLM_CALLS_MAX_CALLS - 1].args, "n") != NULL,
          "too many calls: all the text outside calls");
    check(strcmp(err.message, want) == 0 && err.position == MLLM_CALLS_MAX_CALLS * n_one + 1,
          "too many calls: the error counts them and names the limit");
    mllm_calls_result_free(res);

    r = mllm_calls_stream_new(NULL, &s, NULL);
    for (i = 0; r == MLLM_OK && i < len; i += 5)
        r = mllm_calls_stream_feed(s, text + i, len - i < 5 ? len - i : 5);
    ok = r == MLLM_OK;
    r = mllm_calls_stream_finish(s);
    while (mllm_calls_stream_next(s, &ev)) {
        if (ev.type == MLLM_CALLS_EVENT_CALL)
            n_events++;
        else if (ev.type == MLLM_CALLS_EVENT_TEXT)
            got += ev.text_len;
        else
            ok = ok && strcmp(ev.error->message, want) == 0 && ev.error->kind == MLLM_CALLS_KIND_LIMIT
                 && ev.error->position == MLLM_CALLS_MAX_CALLS * n_one + 1;
    }
    check(ok && r == MLLM_ERR_FORMAT && n_events == MLLM_CALLS_MAX_CALLS
          && got == total + 3, "too many calls: the stream agrees, its finish reports them");
    check(mllm_calls_stream_finish(s) == MLLM_ERR_FORMAT, "and stays failed");
    mllm_calls_stream_free(s);
    free(text);
}

int main(void)
{
    test_python_call();
    test_json_call();
    test_errors();
    test_stream();
    test_big();
    test_too_many_calls();
    printf("1..%d\n", n_checks);
    if (n_failed)
        printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed != 0;
}
