/*
 * calls.c — the Lua 5.4 binding of the call parser (include/mobilellm_calls.h).
 *
 * mllm_lua_open_calls(L) adds to the module table on top of the stack:
 *   parse_calls(text [, opts])  -> calls, text_outside [, message, position]
 *                                | nil, message, position
 *   call_parser([opts])         -> a mobilellm.CallParser (streaming)
 *   null                        -> the sentinel for JSON null / Python None
 *
 * Memory: the C parser returns malloc'd results; the Lua tables are built only after it has
 * finished, while the result sits in a to-be-closed box, so an error raised while building
 * (out of memory) still frees it. A CallParser owns its C stream; the stream's queued events
 * live in the stream, so nothing is stranded when building an event table fails.
 */
#include "mobilellm_calls.h"

#include "binding.h"
#include "opts.h"

#include <lauxlib.h>
#include <lua.h>

#include <string.h>

/*** @module mobilellm.core */

#define PARSER_MT "mobilellm.CallParser"
#define RESULT_MT "mobilellm.CallsResult"     /* the box owning a C result, internal */

/* ---- C values -> Lua ----------------------------------------------------------------------- */

/* null is lightuserdata NULL, the same value as cjson.null, so the two libraries agree. */
static void push_null(lua_State *L) { lua_pushlightuserdata(L, NULL); }

static void push_value(lua_State *L, const mllm_value *v)
{
    size_t i;
    luaL_checkstack(L, 4, "value nested too deeply");
    switch (v->type) {
    case MLLM_VALUE_NULL:
        push_null(L);
        break;
    case MLLM_VALUE_BOOL:
        lua_pushboolean(L, v->u.boolean);
        break;
    case MLLM_VALUE_INT:
#if LUA_MAXINTEGER < INT64_MAX
        if (v->u.integer > LUA_MAXINTEGER || v->u.integer < LUA_MININTEGER) {
            lua_pushnumber(L, (lua_Number)v->u.integer);
            break;
        }
#endif
        lua_pushinteger(L, (lua_Integer)v->u.integer);
        break;
    case MLLM_VALUE_DOUBLE:
        lua_pushnumber(L, (lua_Number)v->u.number);
        break;
    case MLLM_VALUE_STRING:
        lua_pushlstring(L, v->u.string.ptr, v->u.string.len);
        break;
    case MLLM_VALUE_ARRAY:
        lua_createtable(L, v->u.array.n < 0x7fffffff ? (int)v->u.array.n : 0, 0);
        for (i = 0; i < v->u.array.n; i++) {
            push_value(L, &v->u.array.items[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case MLLM_VALUE_OBJECT:
        lua_createtable(L, 0, v->u.object.n < 0x7fffffff ? (int)v->u.object.n : 0);
        for (i = 0; i < v->u.object.n; i++) {
            const mllm_value_member *m = &v->u.object.members[i];
            lua_pushlstring(L, m->key, m->key_len);
            push_value(L, &m->value);
            lua_rawset(L, -3);
        }
        break;
    }
}

/* { name =, args =, positional =, raw =, first =, last = } with 1-based inclusive positions. */
static void push_call(lua_State *L, const mllm_call *c, const char *raw, size_t raw_len)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, c->name);
    lua_setfield(L, -2, "name");
    push_value(L, &c->args);
    lua_setfield(L, -2, "args");
    push_value(L, &c->positional);
    lua_setfield(L, -2, "positional");
    lua_pushlstring(L, raw, raw_len);
    lua_setfield(L, -2, "raw");
    lua_pushinteger(L, (lua_Integer)c->first + 1);
    lua_setfield(L, -2, "first");
    lua_pushinteger(L, (lua_Integer)c->last + 1);
    lua_setfield(L, -2, "last");
}

/* "<message> at byte <n>" with n 1-based. */
static void push_message(lua_State *L, const mllm_calls_error *err)
{
    lua_pushfstring(L, "%s at byte %I", err->message, (lua_Integer)err->position + 1);
}

/* ---- options ------------------------------------------------------------------------------- */

/* The options table at arg (none or nil: the defaults): { open =, close =, bare = }, read by the
   binding's one option reader; the snapshot it pushes keeps the strings alive while C uses them. */
static void check_opts(lua_State *L, int arg, mllm_calls_opts *o, const char *what)
{
    static const char *const known[] = { "open", "close", "bare", NULL };
    *o = mllm_calls_default_opts();
    int snap = mllm_lua_opts(L, arg, known, what);
    const char *v;
    if ((v = mllm_lua_opt_str(L, snap, "open", NULL))) o->open = v;
    if ((v = mllm_lua_opt_str(L, snap, "close", NULL))) o->close = v;
    o->bare = mllm_lua_opt_bool(L, snap, "bare", o->bare);
}

/* ---- parse_calls --------------------------------------------------------------------------- */

typedef struct result_box {
    mllm_calls_result *res;               /* NULL once freed */
} result_box;

static int result_box_free(lua_State *L)
{
    result_box *box = (result_box *)luaL_checkudata(L, 1, RESULT_MT);
    mllm_calls_result_free(box->res);
    box->res = NULL;
    return 0;
}

/***
 * Find and parse every function call in a text.
 * @function parse_calls
 * @tparam string text the model's output
 * @tparam[opt] table opts `open` (default `"<tool_call>"`), `close` (default `"</tool_call>"`):
 *   the tags around a call, 1 to 64 bytes; `bare` (default false): also find calls written
 *   without tags, `name(...)` or `{"name": ...}` in the free text
 * @treturn table an array of calls, each `{ name = "set_alarm", args = { time = "7:30 am" },
 *   positional = { ... }, raw = "<tool_call>...</tool_call>", first = i, last = j }` where
 *   `text:sub(first, last) == raw`; JSON null and None are `mllm.null`
 * @treturn string the text outside the calls, concatenated, tags removed
 * @treturn[opt] string only past MLLM_CALLS_MAX_CALLS (1024) calls: the calls are the first
 *   1024, the text is all the text outside calls, and this says what was left out ("3 more
 *   calls after the limit of 1024 (MLLM_CALLS_MAX_CALLS) were not parsed at byte 14337")
 * @treturn[opt] integer then the 1-based position of the first call left out
 * @error nil, message, position on a malformed call: `message` says what was expected where
 *   ("expected ',' or ')' after argument 'time' at byte 31"), `position` is 1-based
 * @raise on a wrong argument or option
 */
static int l_parse_calls(lua_State *L)
{
    size_t len, i;
    const char *text = luaL_checklstring(L, 1, &len);
    mllm_calls_opts opts;
    mllm_calls_error err;
    mllm_calls_result *res;
    result_box *box;
    mllm_status r;

    check_opts(L, 2, &opts, "parse_calls");
    box = (result_box *)lua_newuserdatauv(L, sizeof *box, 0);
    box->res = NULL;
    luaL_setmetatable(L, RESULT_MT);
    lua_toclose(L, -1);
    r = mllm_calls_parse(text, len, &opts, &box->res, &err);
    if (r == MLLM_ERR_ARG)
        return luaL_argerror(L, 2, err.message);
    if (r == MLLM_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    if (r && !box->res) {                 /* a failure with no partial result */
        lua_pushnil(L);
        push_message(L, &err);
        lua_pushinteger(L, (lua_Integer)err.position + 1);
        return 3;
    }
    res = box->res;
    lua_createtable(L, res->n_calls < 0x7fffffff ? (int)res->n_calls : 0, 0);
    for (i = 0; i < res->n_calls; i++) {
        const mllm_call *c = &res->calls[i];
        push_call(L, c, text + c->first, c->last - c->first + 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushlstring(L, res->text, res->text_len);
    if (!r)
        return 2;                         /* the box is closed on return: frees res */
    push_message(L, &err);                /* too many calls: what was left out */
    lua_pushinteger(L, (lua_Integer)err.position + 1);
    return 4;
}

/***
 * The value of JSON `null` and Python `None` in call arguments: a light userdata (NULL), the
 * same value as `cjson.null`. It keeps a key present in `args` and keeps arrays without holes.
 * @field null
 */

/* ---- CallParser ---------------------------------------------------------------------------- */

typedef struct call_parser {
    mllm_calls_stream *s;                 /* NULL when closed */
    int finished;
} call_parser;

static call_parser *check_parser(lua_State *L)
{
    call_parser *p = (call_parser *)luaL_checkudata(L, 1, PARSER_MT);
    if (!p->s)
        luaL_error(L, "attempt to use a closed CallParser");
    return p;
}

/* Drains the stream's queue into a new array of event tables. */
static void push_events(lua_State *L, mllm_calls_stream *s)
{
    mllm_calls_event ev;
    lua_Integer n = 0;
    lua_newtable(L);
    while (mllm_calls_stream_next(s, &ev)) {
        lua_createtable(L, 0, 3);
        switch (ev.type) {
        case MLLM_CALLS_EVENT_TEXT:
            lua_pushliteral(L, "text");
            lua_setfield(L, -2, "type");
            lua_pushlstring(L, ev.text, ev.text_len);
            lua_setfield(L, -2, "text");
            break;
        case MLLM_CALLS_EVENT_CALL:
            lua_pushliteral(L, "call");
            lua_setfield(L, -2, "type");
            push_call(L, ev.call, ev.text, ev.text_len);
            lua_setfield(L, -2, "call");
            break;
        case MLLM_CALLS_EVENT_ERROR:
            lua_pushliteral(L, "error");
            lua_setfield(L, -2, "type");
            push_message(L, ev.error);
            lua_setfield(L, -2, "message");
            lua_pushinteger(L, (lua_Integer)ev.error->position + 1);
            lua_setfield(L, -2, "position");
            break;
        }
        lua_rawseti(L, -2, ++n);
    }
}

/***
 * A streaming call parser: feed it the model's output piece by piece.
 * Text is reported as soon as it cannot be the start of a tag (or, in bare mode, of a call);
 * each call as soon as its closing tag (bare mode: its closing bracket) arrives. Pieces may
 * split tags, strings and UTF-8 sequences anywhere; a text event never ends inside a UTF-8
 * sequence unless the input does. The calls and text are those of `parse_calls` on the whole
 * input; `first` and `last` count from the first byte fed.
 * @function call_parser
 * @tparam[opt] table opts as for `parse_calls`
 * @treturn CallParser with methods `feed`, `finish`, `close`; also a to-be-closed value
 * @raise on a wrong option
 */
static int l_call_parser(lua_State *L)
{
    mllm_calls_opts opts;
    mllm_calls_error err;
    call_parser *p;
    mllm_status r;

    check_opts(L, 1, &opts, "call_parser");
    p = (call_parser *)lua_newuserdatauv(L, sizeof *p, 0);
    p->s = NULL;                          /* closed until the stream exists */
    p->finished = 0;
    luaL_setmetatable(L, PARSER_MT);
    r = mllm_calls_stream_new(&opts, &p->s, &err);
    if (r == MLLM_ERR_ARG)
        return luaL_argerror(L, 1, err.message);
    if (r)
        return luaL_error(L, "not enough memory");
    return 1;
}

/*** @type CallParser */

/***
 * Feed the next piece of output.
 * @function CallParser:feed
 * @tparam string piece
 * @treturn table an array of events, in order: `{ type = "text", text = "..." }`,
 *   `{ type = "call", call = { ...as from parse_calls... } }`,
 *   `{ type = "error", message = "...", position = n }`. After an error event the parser is
 *   spent: later `feed` and `finish` return no events. Calls after the 1024th
 *   (MLLM_CALLS_MAX_CALLS) give no event and their text is not reported; `finish` then ends
 *   with the error event `parse_calls` reports for them.
 * @raise when closed or finished
 */
static int l_feed(lua_State *L)
{
    call_parser *p = check_parser(L);
    size_t len;
    const char *piece = luaL_checklstring(L, 2, &len);
    if (p->finished)
        return luaL_error(L, "attempt to feed a finished CallParser");
    if (mllm_calls_stream_feed(p->s, piece, len) == MLLM_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    push_events(L, p->s);
    return 1;
}

/***
 * End of the output: flushes the held-back text; a call whose closing tag never came is an
 * error event. Calling it again returns no events.
 * @function CallParser:finish
 * @treturn table an array of events, as from `feed`
 * @raise when closed
 */
static int l_finish(lua_State *L)
{
    call_parser *p = check_parser(L);
    p->finished = 1;
    if (mllm_calls_stream_finish(p->s) == MLLM_ERR_NOMEM)
        return luaL_error(L, "not enough memory");
    push_events(L, p->s);
    return 1;
}

/***
 * Free the parser now. Idempotent; also run by `__close` and `__gc`. Later use raises.
 * @function CallParser:close
 */
static int l_close(lua_State *L)
{
    call_parser *p = (call_parser *)luaL_checkudata(L, 1, PARSER_MT);
    mllm_calls_stream_free(p->s);
    p->s = NULL;
    return 0;
}

static int l_tostring(lua_State *L)
{
    call_parser *p = (call_parser *)luaL_checkudata(L, 1, PARSER_MT);
    if (p->s)
        lua_pushfstring(L, "%s (%p)", PARSER_MT, (void *)p);
    else
        lua_pushfstring(L, "%s (closed)", PARSER_MT);
    return 1;
}

/* ---- registration -------------------------------------------------------------------------- */

int mllm_lua_open_calls(lua_State *L)
{
    static const luaL_Reg parser_meta[] = {
        { "__gc", l_close }, { "__close", l_close }, { "__tostring", l_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg parser_methods[] = {
        { "feed", l_feed }, { "finish", l_finish }, { "close", l_close }, { NULL, NULL }
    };
    static const luaL_Reg box_meta[] = {
        { "__gc", result_box_free }, { "__close", result_box_free }, { NULL, NULL }
    };
    static const luaL_Reg functions[] = {
        { "parse_calls", l_parse_calls }, { "call_parser", l_call_parser }, { NULL, NULL }
    };
    int module = lua_absindex(L, -1);

    luaL_checktype(L, module, LUA_TTABLE);
    luaL_newmetatable(L, PARSER_MT);
    luaL_setfuncs(L, parser_meta, 0);
    luaL_newlib(L, parser_methods);
    lua_setfield(L, -2, "__index");
    luaL_newmetatable(L, RESULT_MT);
    luaL_setfuncs(L, box_meta, 0);
    lua_pop(L, 2);

    luaL_setfuncs(L, functions, 0);
    push_null(L);
    lua_setfield(L, module, "null");
    return 0;
}
