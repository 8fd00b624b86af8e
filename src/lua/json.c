/* json.c — JSON for the Lua side (tool schemas, evaluation files, tool
 * results) through cJSON. JSON null is the light userdata NULL (mllm.null);
 * decoded objects remember their key order (mllm.json_keys), because tool
 * parameter order matters to the prompt. */
#include "binding.h"
#include "mobilellm_limits.h"
#include "base/alloc.h"
#include "base/json.h"

#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*** @module mobilellm.core */

#define JSON_MAX_DEPTH MLLM_MAX_JSON_DEPTH
#define ORDER_KEY "mobilellm.json_order" /* registry: weak table object -> key array */

static void push_order_table(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, ORDER_KEY);
}

static void push_json(lua_State *L, const cJSON *v, int depth)
{
    if (depth > JSON_MAX_DEPTH) luaL_error(L, "JSON nested deeper than %d", JSON_MAX_DEPTH);
    luaL_checkstack(L, 4, "JSON too deep");
    if (cJSON_IsNull(v)) lua_pushlightuserdata(L, NULL);
    else if (cJSON_IsFalse(v)) lua_pushboolean(L, 0);
    else if (cJSON_IsTrue(v)) lua_pushboolean(L, 1);
    else if (cJSON_IsString(v)) lua_pushstring(L, v->valuestring);
    else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) lua_pushinteger(L, (lua_Integer)d);
        else lua_pushnumber(L, d);
    } else if (cJSON_IsArray(v)) {
        lua_createtable(L, cJSON_GetArraySize(v), 0);
        lua_Integer i = 1;
        for (const cJSON *e = v->child; e; e = e->next) {
            push_json(L, e, depth + 1);
            lua_rawseti(L, -2, i++);
        }
    } else {
        lua_newtable(L);
        lua_newtable(L);  /* key order */
        lua_Integer i = 1;
        for (const cJSON *e = v->child; e; e = e->next) {
            lua_pushstring(L, e->string);
            lua_rawseti(L, -2, i++);
            push_json(L, e, depth + 1);
            lua_setfield(L, -3, e->string);
        }
        push_order_table(L);
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -3);
        lua_rawset(L, -3);
        lua_pop(L, 2);
    }
}

#define TREE_MT "mobilellm.JsonTree"

/* A parsed cJSON tree owned by a userdata, so a Lua error while converting
 * it (out of memory, too deep) cannot leak it. */
static int tree_gc(lua_State *L)
{
    cJSON **box = luaL_checkudata(L, 1, TREE_MT);
    cJSON_Delete(*box);
    *box = NULL;
    return 0;
}

/***
 * Decodes JSON text (through cJSON). `null` is `null` (the light userdata
 * NULL); a whole number below 2^53 is an integer; objects remember the order
 * of their keys (`json_keys`), and an empty object stays one when encoded.
 * @function json_decode
 * @tparam string text
 * @return the value
 * @error a message with the byte where the text stops being JSON (text after the value is an error too)
 * @raise when the value is nested deeper than 256
 */
static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    cJSON **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, TREE_MT);
    const char *end = NULL;
    bool nomem;
    *box = mllm_json_parse(s, len, &end, &nomem);
    if (!*box) {
        luaL_pushfail(L);
        if (nomem) {
            lua_pushliteral(L, "out of memory decoding JSON");
            return 2;
        }
        lua_pushfstring(L, "invalid JSON near byte %d", (int)(end && end >= s ? end - s + 1 : 1));
        return 2;
    }
    while (end < s + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
    if (end < s + len) {  /* cJSON stops after the value; text after it is not JSON */
        luaL_pushfail(L);
        lua_pushfstring(L, "invalid JSON near byte %d: text after the value", (int)(end - s + 1));
        return 2;
    }
    push_json(L, *box, 0);
    cJSON_Delete(*box);
    *box = NULL;
    return 1;
}

/***
 * The keys of an object made by `json_decode`, in the order its text had them
 * (tool parameters keep their order in the prompt).
 * @function json_keys
 * @tparam table object
 * @treturn ?{string,...} a new array of the keys, or nil for a table that
 *   `json_decode` did not make from an object
 */
static int l_json_keys(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    push_order_table(L);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) return 1;
    lua_Integer n = luaL_len(L, -1);  /* a copy: callers may not edit the record */
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

/* Output buffer owned by a userdata (freed by __gc even after an error);
 * luaL_Buffer cannot be used because encoding pushes values of its own. */
typedef struct { char *p; size_t n, cap; } sbuf;

static int sbuf_gc(lua_State *L)
{
    sbuf *b = lua_touserdata(L, 1);
    mllm_free(b->p);
    b->p = NULL;
    return 0;
}

static void sbuf_addlstring(lua_State *L, sbuf *b, const char *s, size_t len)
{
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len) cap *= 2;
        char *np = mllm_realloc(b->p, cap);
        if (!np) luaL_error(L, "json_encode: out of memory");
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

#define sb_char(b, c) do { char c_ = (c); sbuf_addlstring(L, (b), &c_, 1); } while (0)
#define sb_str(b, s) sbuf_addlstring(L, (b), (s), strlen(s))

static void encode_value(lua_State *L, sbuf *b, int idx, int depth);

static void encode_string(lua_State *L, sbuf *b, const char *s, size_t len)
{
    sb_char(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        default:
            if (c < 0x20) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_str(b, esc);
            } else {
                sb_char(b, (char)c);
            }
        }
    }
    sb_char(b, '"');
}

static int is_array(lua_State *L, int idx, lua_Integer *n)
{
    lua_Integer count = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) { lua_pop(L, 1); return 0; }
        lua_Integer k = lua_tointeger(L, -1);
        if (k > max) max = k;
        count++;
    }
    *n = max;
    return count == max;
}

static void encode_value(lua_State *L, sbuf *b, int idx, int depth)
{
    if (depth > JSON_MAX_DEPTH) luaL_error(L, "json_encode: nested deeper than %d (a cycle?)", JSON_MAX_DEPTH);
    luaL_checkstack(L, 6, "json_encode: too deep");
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL: sb_str(b, "null"); break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != NULL) luaL_error(L, "json_encode: cannot encode a light userdata");
        sb_str(b, "null");
        break;
    case LUA_TBOOLEAN: sb_str(b, lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TNUMBER: {
        char num[64];
        if (lua_isinteger(L, idx)) {
            snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) luaL_error(L, "json_encode: cannot encode %f", d);
            snprintf(num, sizeof num, "%.17g", d);
        }
        sb_str(b, num);
        break;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        encode_string(L, b, s, len);
        break;
    }
    case LUA_TTABLE: {
        lua_Integer n;
        if (is_array(L, idx, &n) && (n > 0 || lua_rawlen(L, idx) == 0)) {
            int empty_object = 0;
            if (n == 0) {  /* {} : an object if json_decode made it from one */
                push_order_table(L);
                lua_pushvalue(L, idx);
                lua_rawget(L, -2);
                empty_object = !lua_isnil(L, -1);
                lua_pop(L, 2);
            }
            if (empty_object) { sb_str(b, "{}"); break; }
            sb_char(b, '[');
            for (lua_Integer i = 1; i <= n; i++) {
                if (i > 1) sb_char(b, ',');
                lua_rawgeti(L, idx, i);
                encode_value(L, b, -1, depth + 1);
                lua_pop(L, 1);
            }
            sb_char(b, ']');
            break;
        }
        /* an object: keys sorted, so the output is stable */
        lua_newtable(L);
        int keys = lua_gettop(L);
        lua_Integer nk = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "json_encode: object keys must be strings");
            lua_pushvalue(L, -1);
            lua_rawseti(L, keys, ++nk);
        }
        lua_getglobal(L, "table");
        lua_getfield(L, -1, "sort");
        lua_pushvalue(L, keys);
        lua_call(L, 1, 0);
        lua_pop(L, 1);
        sb_char(b, '{');
        for (lua_Integer i = 1; i <= nk; i++) {
            if (i > 1) sb_char(b, ',');
            lua_rawgeti(L, keys, i);
            size_t len;
            const char *k = lua_tolstring(L, -1, &len);
            encode_string(L, b, k, len);
            sb_char(b, ':');
            lua_rawget(L, idx);
            encode_value(L, b, -1, depth + 1);
            lua_pop(L, 1);
        }
        sb_char(b, '}');
        lua_pop(L, 1);
        break;
    }
    default:
        luaL_error(L, "json_encode: cannot encode a %s", luaL_typename(L, idx));
    }
}

/***
 * Encodes a value as JSON text: a table whose keys are 1..n is an array, any
 * other an object with string keys, written sorted so the output is stable;
 * `nil` and `null` are `null`.
 * @function json_encode
 * @param value
 * @treturn string
 * @raise on what JSON cannot hold: a function, a userdata, NaN or infinity,
 *   a key that is not a string, nesting deeper than 256 (a cycle)
 */
static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    sbuf *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, "mobilellm.JsonBuffer");
    encode_value(L, b, 1, 0);
    lua_pushlstring(L, b->p ? b->p : "", b->n);
    mllm_free(b->p);
    b->p = NULL;
    return 1;
}

int mllm_lua_open_json(lua_State *L)
{
    luaL_newmetatable(L, "mobilellm.JsonBuffer");
    lua_pushcfunction(L, sbuf_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, TREE_MT);
    lua_pushcfunction(L, tree_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, ORDER_KEY);
    lua_pushcfunction(L, l_json_decode);
    lua_setfield(L, -2, "json_decode");
    lua_pushcfunction(L, l_json_encode);
    lua_setfield(L, -2, "json_encode");
    lua_pushcfunction(L, l_json_keys);
    lua_setfield(L, -2, "json_keys");
    return 0;
}
