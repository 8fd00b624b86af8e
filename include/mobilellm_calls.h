/*
 * mobilellm_calls.h - find and parse the function calls a model writes.
 *
 * Two call syntaxes are understood:
 *
 *   Python-like   set_alarm(time="7:30 am", n=3, x=-1.5e3, on=true, list=[1, 2], obj={"a": 1})
 *   JSON          {"name": "set_alarm", "arguments": {"time": "7:30 am"}}
 *                 ("parameters" is accepted for "arguments"; the arguments may also be a JSON
 *                 string holding an object; other keys are parsed and ignored)
 *
 * A call sits between an opening and a closing tag (default "<tool_call>" and "</tool_call>");
 * the text between the tags must be exactly one call, with optional whitespace around it. In
 * bare mode, calls are also found in the free text outside tags: a name directly followed by
 * '(' (the name not glued to a preceding letter, digit, '_' or '.'), or a '{' followed by the
 * key "name" and ':' within MLLM_CALLS_LOOKAHEAD bytes. In bare mode every such start must be a
 * well-formed call, or parsing fails.
 *
 * Values: strings in "..." or '...' with the escapes \n \t \r \b \f \0 \/ \\ \" \' \uXXXX
 * (surrogate pairs joined) and \UXXXXXXXX, all decoded to UTF-8; integers (int64, overflow is an
 * error); floats; true/false/True/False; null/None; lists [...]; objects {"key": value} with
 * string keys. Trailing commas are accepted. Duplicate keys or argument names are errors.
 *
 * Two ways to use it: mllm_calls_parse() on a whole text, or a stream (mllm_calls_stream_*) fed
 * piece by piece, which reports text and calls as soon as they are known. Both run the same
 * engine, so a stream gives the same calls, text and errors as a whole parse of the same bytes.
 *
 * Offsets are 0-based byte offsets into the text (for a stream: into everything fed so far).
 * Nothing here uses Lua; the Lua binding (src/lua/calls.c) is a thin layer over this API.
 *
 * Every fallible function returns an mllm_status (mobilellm.h), as the rest of the engine:
 * MLLM_OK, MLLM_ERR_FORMAT for a malformed call or a limit exceeded (the text is bad input),
 * MLLM_ERR_NOMEM, MLLM_ERR_ARG for misuse. The message and the finer kind of the failure
 * (syntax or limit) are in the mllm_calls_error.
 */
#ifndef MOBILELLM_CALLS_H
#define MOBILELLM_CALLS_H

#include "mobilellm.h" /* mllm_status, mllm_status_name, MLLM_API */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits ------------------------------------------------------------------------------ */

/* Deepest nesting of brackets in one call; the call's own '(' or '{' counts as one level. */
#define MLLM_CALLS_MAX_DEPTH 64
/* Most calls in one parse or one stream: later calls are counted, not parsed (see
   mllm_calls_parse). */
#define MLLM_CALLS_MAX_CALLS 1024
/* Longest call name, in bytes (the limit OpenAI puts on function names). */
#define MLLM_CALLS_MAX_NAME 64
/* Longest opening or closing tag, in bytes. */
#define MLLM_CALLS_MAX_TAG 64
/* Bare mode: '{' ... "name" ... ':' must fit in this many bytes to start a JSON call. */
#define MLLM_CALLS_LOOKAHEAD 64
/* Longest number literal, in bytes. */
#define MLLM_CALLS_MAX_NUMBER 128
/* Size of the message buffer in mllm_calls_error. */
#define MLLM_CALLS_ERROR_SIZE 256

/* ---- errors ------------------------------------------------------------------------------ */

/* What went wrong, finer than the mllm_status returned: MLLM_ERR_FORMAT is either a malformed
   call or a limit exceeded, and a caller may need to tell them apart. */
typedef enum mllm_calls_error_kind {
    MLLM_CALLS_KIND_NONE = 0,     /* no error */
    MLLM_CALLS_KIND_SYNTAX,       /* MLLM_ERR_FORMAT: a malformed call; the message says what
                                     was expected where */
    MLLM_CALLS_KIND_LIMIT,        /* MLLM_ERR_FORMAT: a limit above was exceeded; the message
                                     names it and its value */
    MLLM_CALLS_KIND_NOMEM,        /* MLLM_ERR_NOMEM: out of memory */
    MLLM_CALLS_KIND_ARG           /* MLLM_ERR_ARG: a NULL pointer, or an option out of range
                                     (the message names the option) */
} mllm_calls_error_kind;

typedef struct mllm_calls_error {
    mllm_calls_error_kind kind;           /* set with the message */
    size_t position;                      /* 0-based byte offset where the problem is */
    char message[MLLM_CALLS_ERROR_SIZE];  /* e.g. "expected ',' or ')' after argument 'time'";
                                             the position is not part of the message */
} mllm_calls_error;

/* ---- values ------------------------------------------------------------------------------ */

typedef enum mllm_value_type {
    MLLM_VALUE_NULL,
    MLLM_VALUE_BOOL,
    MLLM_VALUE_INT,
    MLLM_VALUE_DOUBLE,
    MLLM_VALUE_STRING,
    MLLM_VALUE_ARRAY,
    MLLM_VALUE_OBJECT
} mllm_value_type;

typedef struct mllm_value mllm_value;
typedef struct mllm_value_member mllm_value_member;

struct mllm_value {
    mllm_value_type type;
    union {
        int boolean;                                           /* BOOL: 0 or 1 */
        int64_t integer;                                       /* INT */
        double number;                                         /* DOUBLE */
        struct { const char *ptr; size_t len; } string;        /* STRING: UTF-8 as decoded,
                                                                  NUL-terminated, may hold NULs */
        struct { const mllm_value *items; size_t n; } array;   /* ARRAY: items[0..n) */
        struct { const mllm_value_member *members; size_t n; } object;
                                                               /* OBJECT: in source order,
                                                                  keys unique */
    } u;
};

struct mllm_value_member {
    const char *key;     /* NUL-terminated, may hold NULs */
    size_t key_len;
    mllm_value value;
};

/* The member `key` of an OBJECT value, or NULL when absent or when `object` is not an object.
   Linear in the number of members. */
MLLM_API const mllm_value *mllm_value_get(const mllm_value *object, const char *key);

/* ---- calls ------------------------------------------------------------------------------- */

typedef struct mllm_call {
    const char *name;         /* NUL-terminated, 1..MLLM_CALLS_MAX_NAME bytes */
    mllm_value args;          /* OBJECT: keyword arguments in source order (JSON: "arguments") */
    mllm_value positional;    /* ARRAY: positional arguments in order (always empty for JSON) */
    size_t first;             /* offset of the call's first byte (the opening tag, if any) */
    size_t last;              /* offset of the call's last byte (inclusive; the closing tag's
                                 last byte, if any) */
} mllm_call;

typedef struct mllm_calls_opts {
    const char *open;         /* opening tag, NUL-terminated, 1..MLLM_CALLS_MAX_TAG bytes;
                                 NULL means "<tool_call>" */
    const char *close;        /* closing tag, likewise; NULL means "</tool_call>" */
    int bare;                 /* nonzero: also find calls in the text outside tags */
} mllm_calls_opts;

/* { "<tool_call>", "</tool_call>", 0 }. Passing NULL for opts anywhere means the same. */
MLLM_API mllm_calls_opts mllm_calls_default_opts(void);

/* ---- whole-text parse -------------------------------------------------------------------- */

typedef struct mllm_calls_result {
    const mllm_call *calls;   /* calls[0..n_calls), in text order */
    size_t n_calls;
    const char *text;         /* the text outside the calls, concatenated, tags removed;
                                 NUL-terminated (never NULL) */
    size_t text_len;
    size_t n_skipped;         /* calls after the first MLLM_CALLS_MAX_CALLS: found (their
                                 tags or brackets) but not parsed, not in calls[], and not
                                 in text; nonzero only in the partial result that
                                 mllm_calls_parse returns with MLLM_ERR_FORMAT */
} mllm_calls_result;

/*
 * Parse text[0..len) and return every call in it and the text outside the calls.
 * On success returns MLLM_OK and sets *out to a result that the caller frees with
 * mllm_calls_result_free(); everything reachable from it lives as long as it does.
 * On failure fills *err (when err is not NULL; err->kind as below) and returns
 *   MLLM_ERR_FORMAT  kind SYNTAX: a malformed call (the first one in the text);
 *                    kind LIMIT: nesting deeper than MLLM_CALLS_MAX_DEPTH, a name or number
 *                    too long; or more than MLLM_CALLS_MAX_CALLS calls (see below)
 *   MLLM_ERR_NOMEM   out of memory
 *   MLLM_ERR_ARG     out is NULL, text is NULL with len > 0, or bad opts
 * and sets *out to NULL - except for too many calls, the one failure with a partial result:
 * it returns MLLM_ERR_FORMAT with *out set (so `*out != NULL` after a failure means exactly
 * this case), err->kind MLLM_CALLS_KIND_LIMIT, and the error "N more calls after the limit of
 * 1024 (MLLM_CALLS_MAX_CALLS) were not parsed" at the first of them; *out holds the first
 * MLLM_CALLS_MAX_CALLS calls, all the text outside calls, and n_skipped (> 0). Freeing *out
 * after any return is right.
 * Runs in time linear in len (times at most MLLM_CALLS_MAX_TAG for tag matching).
 */
MLLM_API mllm_status mllm_calls_parse(const char *text, size_t len, const mllm_calls_opts *opts,
                                      mllm_calls_result **out, mllm_calls_error *err);

/* Frees a result and everything in it; NULL is accepted. */
MLLM_API void mllm_calls_result_free(mllm_calls_result *result);

/* ---- streaming parse --------------------------------------------------------------------- */

typedef struct mllm_calls_stream mllm_calls_stream;

typedef enum mllm_calls_event_type {
    MLLM_CALLS_EVENT_TEXT = 1,   /* text outside calls: text[0..text_len) */
    MLLM_CALLS_EVENT_CALL,       /* a call: *call; text[0..text_len) is the call as written,
                                    tags included; call->first/last count from the first byte
                                    ever fed */
    MLLM_CALLS_EVENT_ERROR       /* a malformed call or a limit exceeded: *error (its kind
                                    SYNTAX or LIMIT); the stream has failed */
} mllm_calls_event_type;

typedef struct mllm_calls_event {
    mllm_calls_event_type type;
    const char *text;            /* TEXT and CALL; not NUL-terminated */
    size_t text_len;
    const mllm_call *call;       /* CALL, else NULL */
    const mllm_calls_error *error; /* ERROR, else NULL */
} mllm_calls_event;

/*
 * Create a stream. Returns MLLM_OK and sets *out, or sets *out to NULL (when out is not NULL),
 * fills *err (when not NULL) and returns MLLM_ERR_ARG (out is NULL, or bad opts: the message
 * names the option) or MLLM_ERR_NOMEM.
 */
MLLM_API mllm_status mllm_calls_stream_new(const mllm_calls_opts *opts, mllm_calls_stream **out,
                                           mllm_calls_error *err);

/*
 * Feed the next piece of text (any split: inside a tag, a string, a UTF-8 sequence). Queues
 * the events it can decide: text as soon as it cannot be the start of a tag (or, in bare mode,
 * of a call) - only a possible start and an incomplete trailing UTF-8 sequence are held back -
 * and each call as soon as its closing tag (bare mode: its closing bracket) arrives.
 * Calls after the first MLLM_CALLS_MAX_CALLS are counted, not parsed: no CALL event, and
 * their text is not reported (as in mllm_calls_parse); finish reports them.
 * Returns
 *   MLLM_OK          (events may have been queued)
 *   MLLM_ERR_FORMAT  a malformed call or a limit exceeded: an ERROR event is queued (its error's
 *                    kind tells which) and the stream has failed: later feed/finish calls
 *                    queue nothing and return the same status
 *   MLLM_ERR_NOMEM   likewise (no event is queued)
 *   MLLM_ERR_ARG     s is NULL, piece is NULL with len > 0, or the stream was already
 *                    finished (misuse; the stream is unchanged)
 * Each piece costs time linear in its length plus at most MLLM_CALLS_LOOKAHEAD bytes
 * rescanned; a call is parsed once, when complete.
 */
MLLM_API mllm_status mllm_calls_stream_feed(mllm_calls_stream *s, const char *piece, size_t len);

/*
 * End of input: flushes the held-back text. A call whose closing tag never came queues an
 * ERROR event. When calls were skipped past MLLM_CALLS_MAX_CALLS, queues the ERROR event
 * that mllm_calls_parse() reports for them (kind MLLM_CALLS_KIND_LIMIT) and returns
 * MLLM_ERR_FORMAT (the stream has failed; the calls before the limit were reported as
 * events). Returns as mllm_calls_stream_feed(), except that finishing again is harmless
 * (the same status: MLLM_OK after a clean finish).
 */
MLLM_API mllm_status mllm_calls_stream_finish(mllm_calls_stream *s);

/*
 * Take the next queued event, in order. Returns 1 and fills *ev, or 0 when the queue is empty.
 * The event's pointers stay valid until the next feed, finish or free of the stream. Events
 * not taken before the next feed or finish stay queued.
 */
MLLM_API int mllm_calls_stream_next(mllm_calls_stream *s, mllm_calls_event *ev);

/* Frees the stream, its queue and every event's data; NULL is accepted. */
MLLM_API void mllm_calls_stream_free(mllm_calls_stream *s);

#ifdef __cplusplus
}
#endif

#endif /* MOBILELLM_CALLS_H */
