/*
 * scanner.c - finds the calls in a model's text, whole or streamed (include/mobilellm_calls.h).
 *
 * One engine serves both the whole-text parse and the stream, reading its input once, left to
 * right, in one of three states:
 *
 *   TEXT    look for the opening tag (bare mode: also `name(` and `{"name":`); text before it
 *           is emitted, only a possible start (at most MLLM_CALLS_LOOKAHEAD bytes) is held back.
 *   TAGGED  a lexer that knows strings looks for the closing tag outside strings.
 *   BARE    a lexer that knows strings and brackets looks for the bracket closing the call.
 *
 * When a call's region is complete (or the input ends) it is parsed once (calls_parse_call).
 */
#include "calls_internal.h"
#include "text/utf8.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* ---- the engine ---------------------------------------------------------------------------- */

/* What a step returns besides a failure's mllm_status: STEP_WAIT (== MLLM_OK, so a status of
   MLLM_OK from a helper means "wait") when it needs more input, STEP_GO to run the next step. */
enum { STEP_WAIT = MLLM_OK, STEP_GO = -1 };

/* Length of s, stopping at max + 1 (so too-long strings are cheap to reject). */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n])
        n++;
    return n;
}

/* v (maybe moved) with room for `need` elements of `size` bytes, or NULL with v untouched. */
static void *grow(void *v, size_t *cap, size_t need, size_t size)
{
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > (size_t)-1 / 2)
            return NULL;
        c *= 2;
    }
    if (c == *cap)
        return v;
    if (c > (size_t)-1 / size || !(v = mllm_realloc(v, c * size)))
        return NULL;
    *cap = c;
    return v;
}

static mllm_status push_event(mllm_calls_stream *s, mllm_calls_event_type type, const char *text,
                      size_t text_len, const mllm_call *call)
{
    mllm_calls_event *ev = (mllm_calls_event *)grow(s->events, &s->cap_events,
                                                    s->n_events + 1, sizeof *ev);
    if (!ev)
        return MLLM_ERR_NOMEM;
    s->events = ev;
    ev = &s->events[s->n_events++];
    ev->type = type;
    ev->text = text;
    ev->text_len = text_len;
    ev->call = call;
    ev->error = type == MLLM_CALLS_EVENT_ERROR ? &s->error : NULL;
    return MLLM_OK;
}

static mllm_status out_text(mllm_calls_stream *s, const char *t, size_t n)
{
    char *copy;
    if (s->collect) {
        if (n >= (size_t)-1 - s->text_len
            || !(copy = (char *)grow(s->text, &s->text_cap, s->text_len + n + 1, 1)))
            return MLLM_ERR_NOMEM;
        s->text = copy;
        memcpy(s->text + s->text_len, t, n);
        s->text_len += n;
        s->text[s->text_len] = '\0';
        return MLLM_OK;
    }
    if (!(copy = calls_arena_strdup(&s->arena, t, n)))
        return MLLM_ERR_NOMEM;
    return push_event(s, MLLM_CALLS_EVENT_TEXT, copy, n, NULL);
}

static mllm_status out_call(mllm_calls_stream *s, const mllm_call *call)
{
    mllm_call *c;
    char *raw;
    size_t n = call->last - call->first + 1;

    if (s->collect) {
        if (!(c = (mllm_call *)grow(s->calls, &s->cap_calls, s->n_calls + 1, sizeof *c)))
            return MLLM_ERR_NOMEM;
        s->calls = c;
        s->calls[s->n_calls++] = *call;
        return MLLM_OK;
    }
    c = (mllm_call *)calls_arena_alloc(&s->arena, sizeof *c);
    raw = calls_arena_strdup(&s->arena, s->d + (call->first - s->base), n);
    if (!c || !raw)
        return MLLM_ERR_NOMEM;
    *c = *call;
    s->n_calls++;
    return push_event(s, MLLM_CALLS_EVENT_CALL, raw, n, c);
}

/* Index up to which d[from..e) can be emitted without cutting a UTF-8 sequence at its end. */
static size_t utf8_safe_end(const char *d, size_t from, size_t e)
{
    return from + mllm_utf8_complete_prefix(d + from, e - from);
}

/* Emits d[head..e) as text (when hold_utf8: minus an incomplete UTF-8 sequence at its end). */
static mllm_status emit_text(mllm_calls_stream *s, size_t e, int hold_utf8)
{
    mllm_status r;
    if (hold_utf8)
        e = utf8_safe_end(s->d, s->head, e);
    if (e <= s->head)
        return MLLM_OK;
    if ((r = out_text(s, s->d + s->head, e - s->head)) != 0)
        return r;
    s->prev_word = is_word(byte_at(s->d, e - 1));
    s->head = e;
    return MLLM_OK;
}

static int start_call(mllm_calls_stream *s, size_t region, size_t content, int state)
{
    int r = emit_text(s, region, 0);
    if (r)
        return r;
    s->region = region;
    s->content = s->scan = content;
    s->quote = s->escape = 0;
    s->depth = 0;
    s->state = state;
    return STEP_GO;
}

/* Bare mode: does '{' at p start a JSON call, i.e. '{' ws "name" ws ':' within the lookahead?
   1 yes, 0 no, -1 cannot tell yet (the input ends before). */
static int json_start(const char *p, size_t avail, int final)
{
    size_t k = 1, lim = avail < MLLM_CALLS_LOOKAHEAD ? avail : MLLM_CALLS_LOOKAHEAD;
    const char *w = "name";
    char q;

    while (k < lim && is_space(byte_at(p, k)))
        k++;
    if (k < lim && !is_quote(byte_at(p, k)))
        return 0;
    q = k < lim ? p[k++] : 0;
    while (k < lim && *w && p[k] == *w)
        k++, w++;
    if (k < lim && *w)
        return 0;
    if (k < lim && p[k++] != q)
        return 0;
    while (k < lim && is_space(byte_at(p, k)))
        k++;
    if (k < lim)
        return p[k] == ':';
    return final || lim == MLLM_CALLS_LOOKAHEAD ? 0 : -1;
}

static int step_text(mllm_calls_stream *s, int final)
{
    const char *d = s->d;
    size_t i = s->head, n = s->len;
    int r;

    while (i < n) {
        unsigned char c = byte_at(d, i);
        if (c == (unsigned char)s->open[0]) {
            size_t avail = n - i;
            if (avail >= s->open_len) {
                if (memcmp(d + i, s->open, s->open_len) == 0)
                    return start_call(s, i, i + s->open_len, ST_TAGGED);
            } else if (!final && memcmp(d + i, s->open, avail) == 0)
                return emit_text(s, i, 0);                /* hold back a possible tag */
        }
        if (s->bare && is_name_start(c) && !(i > s->head ? is_word(byte_at(d, i - 1))
                                                         : s->prev_word)) {
            size_t j = i, lim = n - i > MLLM_CALLS_MAX_NAME ? i + MLLM_CALLS_MAX_NAME + 1 : n;
            while (j < lim && is_word(byte_at(d, j)))
                j++;
            if (j - i > MLLM_CALLS_MAX_NAME) {            /* too long for a name: plain text */
                while (j < n && is_word(byte_at(d, j)))
                    j++;
            } else if (j == n) {
                if (!final)
                    return emit_text(s, i, 0);            /* hold back a possible name */
            } else if (d[j] == '(' && scan_name(d, i, j) == j)
                return start_call(s, i, i, ST_BARE);
            i = j;
            continue;
        }
        if (s->bare && c == '{') {
            int m = json_start(d + i, n - i, final);
            if (m > 0)
                return start_call(s, i, i, ST_BARE);
            if (m < 0)
                return emit_text(s, i, 0);                /* hold back a possible object */
        }
        i++;
    }
    r = emit_text(s, n, !final);
    return r ? r : STEP_WAIT;
}

/* The region is complete: the call is d[region..end), its content d[content..content_end).
   closed: the region's end was seen (closing tag or bracket), not the end of the input. */
static int finish_call(mllm_calls_stream *s, size_t content_end, size_t end, int closed)
{
    char buf[48];
    int tagged = s->state == ST_TAGGED, r;
    mllm_call call;
    parser p;

    if (s->n_calls == MLLM_CALLS_MAX_CALLS) {
        /* past the limit a call is only counted: not parsed, and its text is not reported */
        if (s->n_skipped++ == 0)
            s->first_skipped = s->base + s->region;
        s->prev_word = is_word(byte_at(s->d, end - 1));
        s->head = end;
        s->state = ST_TEXT;
        return STEP_GO;
    }
    memset(&call, 0, sizeof call);
    memset(&p, 0, sizeof p);
    p.d = s->d;
    p.pos = s->content;
    p.end = content_end;
    p.base = s->base;
    p.arena = &s->arena;
    p.items = &s->items;
    p.err = &s->error;
    s->items.n = 0;
    if (tagged)
        skip_space(&p);
    if ((r = calls_parse_call(&p, &call)) != 0)
        return r;
    if (tagged)
        skip_space(&p);
    if (!closed || p.pos != content_end) {
        if (tagged)
            return calls_fail(&p, MLLM_CALLS_KIND_SYNTAX, p.pos, "expected '%s' after call",
                              calls_snip(buf, s->close, s->close_len));
        return calls_fail(&p, MLLM_CALLS_KIND_SYNTAX, p.pos, "expected the end of the call");
    }
    call.first = s->base + s->region;
    call.last = s->base + end - 1;
    if ((r = out_call(s, &call)) != 0)
        return r;
    s->prev_word = is_word(byte_at(s->d, end - 1));
    s->head = end;
    s->state = ST_TEXT;
    return STEP_GO;
}

static int step_tagged(mllm_calls_stream *s, int final)
{
    const char *d = s->d;
    size_t i, n = s->len;

    for (i = s->scan; i < n; i++) {
        char c = d[i];
        if (s->quote) {
            if (s->escape)
                s->escape = 0;
            else if (c == '\\')
                s->escape = 1;
            else if (c == s->quote)
                s->quote = 0;
            continue;
        }
        if (c == s->close[0]) {
            size_t avail = n - i;
            if (avail >= s->close_len) {
                if (memcmp(d + i, s->close, s->close_len) == 0)
                    return finish_call(s, i, i + s->close_len, 1);
            } else if (!final && memcmp(d + i, s->close, avail) == 0) {
                s->scan = i;
                return STEP_WAIT;
            }
        }
        if (is_quote((unsigned char)c))
            s->quote = c;
    }
    s->scan = n;
    return final ? finish_call(s, n, n, 0) : STEP_WAIT;
}

static int step_bare(mllm_calls_stream *s, int final)
{
    const char *d = s->d;
    size_t i, n = s->len;

    for (i = s->scan; i < n; i++) {
        char c = d[i], opener;
        if (s->quote) {
            if (s->escape)
                s->escape = 0;
            else if (c == '\\')
                s->escape = 1;
            else if (c == s->quote)
                s->quote = 0;
            continue;
        }
        switch (c) {
        case '"': case '\'':
            s->quote = c;
            break;
        case '(': case '[': case '{':
            s->stack[s->depth++] = c;
            if (s->depth > MLLM_CALLS_MAX_DEPTH)      /* the parser will say so */
                return finish_call(s, i + 1, i + 1, 1);
            break;
        case ')': case ']': case '}':
            opener = c == ')' ? '(' : c == ']' ? '[' : '{';
            if (s->depth == 0 || s->stack[s->depth - 1] != opener || --s->depth == 0)
                return finish_call(s, i + 1, i + 1, 1);
            break;
        default:
            break;
        }
    }
    s->scan = n;
    return final ? finish_call(s, n, n, 0) : STEP_WAIT;
}

mllm_status calls_process(mllm_calls_stream *s, int final)
{
    for (;;) {
        int r;
        switch (s->state) {
        case ST_TEXT: r = step_text(s, final); break;
        case ST_TAGGED: r = step_tagged(s, final); break;
        case ST_BARE: r = step_bare(s, final); break;
        case ST_FAILED: return s->code;
        default: return MLLM_OK;
        }
        if (r == STEP_WAIT)
            return MLLM_OK;
        if (r != STEP_GO) {
            s->state = ST_FAILED;
            s->code = (mllm_status)r;
            if (r == MLLM_ERR_NOMEM)
                calls_set_error(&s->error, MLLM_CALLS_KIND_NOMEM, s->base + s->head, "not enough memory");
            else if (!s->collect && push_event(s, MLLM_CALLS_EVENT_ERROR, NULL, 0, NULL))
                s->code = MLLM_ERR_NOMEM;
            return s->code;
        }
    }
}

/* The end of the input was processed without error: when calls were skipped, the stream
   fails with the error that counts them (the calls before the limit stand). */
mllm_status calls_report_skipped(mllm_calls_stream *s)
{
    if (!s->n_skipped)
        return MLLM_OK;
    s->state = ST_FAILED;
    s->code = calls_set_error(&s->error, MLLM_CALLS_KIND_LIMIT, s->first_skipped,
                              "%zu more call%s after the limit of %d (MLLM_CALLS_MAX_CALLS) %s not parsed",
                        s->n_skipped, s->n_skipped == 1 ? "" : "s", MLLM_CALLS_MAX_CALLS,
                        s->n_skipped == 1 ? "was" : "were");
    if (!s->collect && push_event(s, MLLM_CALLS_EVENT_ERROR, NULL, 0, NULL))
        s->code = MLLM_ERR_NOMEM;
    return s->code;
}

mllm_status calls_stream_init(mllm_calls_stream *s, const mllm_calls_opts *opts,
                              mllm_calls_error *err)
{
    mllm_calls_opts o = mllm_calls_default_opts();
    if (opts) {
        if (opts->open)
            o.open = opts->open;
        if (opts->close)
            o.close = opts->close;
        o.bare = opts->bare;
    }
    memset(s, 0, sizeof *s);
    s->open_len = bounded_len(o.open, MLLM_CALLS_MAX_TAG);
    s->close_len = bounded_len(o.close, MLLM_CALLS_MAX_TAG);
    if (s->open_len == 0 || s->open_len > MLLM_CALLS_MAX_TAG)
        return calls_set_error(err, MLLM_CALLS_KIND_ARG, 0,
                               "option 'open' must be 1 to %d bytes (MLLM_CALLS_MAX_TAG)",
                         MLLM_CALLS_MAX_TAG);
    if (s->close_len == 0 || s->close_len > MLLM_CALLS_MAX_TAG)
        return calls_set_error(err, MLLM_CALLS_KIND_ARG, 0,
                               "option 'close' must be 1 to %d bytes (MLLM_CALLS_MAX_TAG)",
                         MLLM_CALLS_MAX_TAG);
    memcpy(s->open, o.open, s->open_len + 1);
    memcpy(s->close, o.close, s->close_len + 1);
    s->bare = o.bare != 0;
    s->d = "";
    s->state = ST_TEXT;
    return MLLM_OK;
}

void calls_stream_release(mllm_calls_stream *s)
{
    calls_arena_free(&s->arena);
    mllm_free(s->items.v);
    mllm_free(s->buf);
    mllm_free(s->events);
    mllm_free(s->calls);
    mllm_free(s->text);
}

mllm_status mllm_calls_stream_new(const mllm_calls_opts *opts, mllm_calls_stream **out,
                                  mllm_calls_error *err)
{
    mllm_calls_stream *s;
    mllm_status r;
    if (!out)
        return calls_set_error(err, MLLM_CALLS_KIND_ARG, 0, "out is NULL");
    *out = NULL;
    if (!(s = (mllm_calls_stream *)mllm_malloc(sizeof *s)))
        return calls_set_error(err, MLLM_CALLS_KIND_NOMEM, 0, "not enough memory");
    if ((r = calls_stream_init(s, opts, err)) != 0) {
        mllm_free(s);
        return r;
    }
    *out = s;
    return MLLM_OK;
}

/* Starts a new batch of events when the previous one has been drained. */
static void start_batch(mllm_calls_stream *s)
{
    if (s->next_event == s->n_events) {
        s->n_events = s->next_event = 0;
        calls_arena_free(&s->arena);
    }
}

static mllm_status append(mllm_calls_stream *s, const char *piece, size_t len)
{
    size_t live = s->len - s->head;
    char *buf;
    /* drop consumed bytes when they outweigh the live ones, or before growing: amortized O(1) */
    if (s->head > 0 && (live <= s->head || s->cap - s->len < len)) {
        memmove(s->buf, s->buf + s->head, live);
        if (s->state == ST_TAGGED || s->state == ST_BARE) {
            s->region -= s->head;
            s->content -= s->head;
            s->scan -= s->head;
        }
        s->base += s->head;
        s->len = live;
        s->head = 0;
    }
    if (len > (size_t)-1 - s->len
        || !(buf = (char *)grow(s->buf, &s->cap, s->len + len, 1)))
        return MLLM_ERR_NOMEM;
    s->buf = buf;
    memcpy(s->buf + s->len, piece, len);
    s->len += len;
    s->d = s->buf;
    return MLLM_OK;
}

mllm_status mllm_calls_stream_feed(mllm_calls_stream *s, const char *piece, size_t len)
{
    if (!s || (!piece && len))
        return MLLM_ERR_ARG;
    if (s->state == ST_FAILED)
        return s->code;
    if (s->state == ST_FINISHED)
        return MLLM_ERR_ARG;              /* misuse: fed after finish */
    start_batch(s);
    if (len && append(s, piece, len)) {
        s->state = ST_FAILED;
        s->code = calls_set_error(&s->error, MLLM_CALLS_KIND_NOMEM, s->base + s->len,
                                  "not enough memory");
        return s->code;
    }
    return calls_process(s, 0);
}

mllm_status mllm_calls_stream_finish(mllm_calls_stream *s)
{
    mllm_status r;
    if (!s)
        return MLLM_ERR_ARG;
    if (s->state == ST_FAILED)
        return s->code;
    if (s->state == ST_FINISHED)
        return MLLM_OK;
    start_batch(s);
    r = calls_process(s, 1);
    if (!r)
        r = calls_report_skipped(s);
    if (!r)
        s->state = ST_FINISHED;
    return r;
}

int mllm_calls_stream_next(mllm_calls_stream *s, mllm_calls_event *ev)
{
    if (!s || !ev || s->next_event == s->n_events)
        return 0;
    *ev = s->events[s->next_event++];
    return 1;
}

void mllm_calls_stream_free(mllm_calls_stream *s)
{
    if (!s)
        return;
    calls_stream_release(s);
    mllm_free(s);
}
