/* schema.c — reads the tool list of mllm.constraint (constrain.c) from Lua
 * tables into the C schema structs of calls/constrain.h.
 *
 * Memory: the structs are built in Lua-owned userdata anchored in a table the
 * caller holds, and the strings they point to stay in the caller's tables (or
 * in that anchor), so an error half-way strands nothing. */
#include "calls/constrain.h"

#include "binding.h"

#include <stdlib.h>
#include <string.h>

typedef struct reader {
    lua_State *L;
    int anchor;          /* a table that keeps the scratch userdata alive */
    lua_Integer n_anchor;
} reader;

static void *scratch(reader *r, size_t size)
{
    void *p = lua_newuserdatauv(r->L, size ? size : 1, 0);
    memset(p, 0, size ? size : 1);
    lua_rawseti(r->L, r->anchor, ++r->n_anchor);
    return p;
}

static const char *const TYPE_NAMES[] = { "any", "string", "integer", "number", "boolean",
                                          "enum", "array", "object", NULL };

/* The integer field `a` (or its alias `b`) of the table at t; returns whether it is there. */
static bool int_field(lua_State *L, int t, const char *a, const char *b, int64_t *out, const char *tool,
                      const char *param)
{
    if (lua_getfield(L, t, a) == LUA_TNIL && b) {
        lua_pop(L, 1);
        lua_getfield(L, t, b);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    int isint;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "mllm.constraint: tool '%s', parameter '%s': '%s' must be an integer, got %s", tool, param, a,
                   luaL_typename(L, -1));
    lua_pop(L, 1);
    *out = (int64_t)v;
    return true;
}

static void read_schema(reader *r, int spec, const char *tool, const char *param, mllm_param_schema *out,
                        int depth)
{
    lua_State *L = r->L;
    spec = lua_absindex(L, spec);
    if (depth > MLLM_CST_MAX_DEPTH)
        luaL_error(L, "mllm.constraint: tool '%s', parameter '%s': items nested deeper than %d", tool, param,
                   MLLM_CST_MAX_DEPTH);
    if (!lua_istable(L, spec))
        luaL_error(L, "mllm.constraint: tool '%s', parameter '%s': the schema must be a table, got %s", tool, param,
                   luaL_typename(L, spec));
    int type = MLLM_PARAM_ANY;
    if (lua_getfield(L, spec, "type") != LUA_TNIL) {
        const char *tn = lua_tostring(L, -1);
        int k = 0;
        while (tn && TYPE_NAMES[k] && strcmp(TYPE_NAMES[k], tn) != 0) k++;
        if (!tn || lua_type(L, -1) != LUA_TSTRING || !TYPE_NAMES[k])
            luaL_error(L, "mllm.constraint: tool '%s', parameter '%s': unknown type '%s' (string, integer, number, "
                          "boolean, enum, array, object or any)", tool, param, tn ? tn : luaL_typename(L, -1));
        type = k;
    }
    lua_pop(L, 1);
    /* enum values: `values` (apis.json) or `enum` (JSON Schema, with type string) */
    if (lua_getfield(L, spec, "values") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_getfield(L, spec, "enum");
    }
    if (lua_istable(L, -1) && (type == MLLM_PARAM_ENUM || type == MLLM_PARAM_STRING || type == MLLM_PARAM_ANY)) {
        int vt = lua_gettop(L);
        lua_Integer n = luaL_len(L, vt);
        if (n < 0 || n > MLLM_CST_MAX_VALUES)
            luaL_error(L, "mllm.constraint: tool '%s', parameter '%s': %I enum values (limit %d)", tool, param,
                       (LUAI_UACINT)n, MLLM_CST_MAX_VALUES);
        const char **vals = scratch(r, (size_t)(n ? n : 1) * sizeof *vals);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_geti(L, vt, i) != LUA_TSTRING)
                luaL_error(L, "mllm.constraint: tool '%s', parameter '%s': enum value %I must be a string, got %s", tool,
                           param, (LUAI_UACINT)i, luaL_typename(L, -1));
            vals[i - 1] = lua_tostring(L, -1); /* the values table keeps it */
            lua_pop(L, 1);
        }
        out->values = vals;
        out->n_values = (size_t)n;
        type = MLLM_PARAM_ENUM;
    } else if (type == MLLM_PARAM_ENUM) {
        luaL_error(L, "mllm.constraint: tool '%s', parameter '%s': an enum needs 'values' (an array of strings)", tool,
                   param);
    }
    lua_pop(L, 1);
    out->type = (mllm_param_type)type;
    if (type == MLLM_PARAM_INTEGER) {
        out->has_min = int_field(L, spec, "min", "minimum", &out->min, tool, param);
        out->has_max = int_field(L, spec, "max", "maximum", &out->max, tool, param);
    }
    if (type == MLLM_PARAM_ARRAY && lua_getfield(L, spec, "items") != LUA_TNIL) {
        mllm_param_schema *items = scratch(r, sizeof *items);
        read_schema(r, -1, tool, param, items, depth + 1);
        out->items = items;
        lua_pop(L, 1);
    } else if (type == MLLM_PARAM_ARRAY) {
        lua_pop(L, 1);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads one tool (table at t) into out; json_keys (or 0) orders a map of parameters. */
static void read_tool(reader *r, int t, int json_keys, lua_Integer idx, mllm_tool_schema *out)
{
    lua_State *L = r->L;
    t = lua_absindex(L, t);
    if (!lua_istable(L, t))
        luaL_error(L, "mllm.constraint: tool %I must be a table, got %s", (LUAI_UACINT)idx, luaL_typename(L, t));
    if (lua_getfield(L, t, "name") != LUA_TSTRING)
        luaL_error(L, "mllm.constraint: tool %I has no name", (LUAI_UACINT)idx);
    out->name = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, t, "parameters") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_getfield(L, t, "params");
    }
    int ps = lua_gettop(L);
    if (lua_isnil(L, ps)) {
        lua_pop(L, 1);
        return; /* no parameters */
    }
    if (!lua_istable(L, ps))
        luaL_error(L, "mllm.constraint: tool '%s': parameters must be a table, got %s", out->name, luaL_typename(L, ps));
    lua_Integer n = (lua_Integer)lua_rawlen(L, ps);
    const char **names;
    if (n > 0) {
        /* an array of { name = ..., type = ... } */
        if (n > MLLM_CST_MAX_PARAMS)
            luaL_error(L, "mllm.constraint: tool '%s': %I parameters (limit %d)", out->name, (LUAI_UACINT)n,
                       MLLM_CST_MAX_PARAMS);
        names = scratch(r, (size_t)n * sizeof *names);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, ps, i);
            if (!lua_istable(L, -1) || lua_getfield(L, -1, "name") != LUA_TSTRING)
                luaL_error(L, "mllm.constraint: tool '%s': parameter %I needs a name", out->name, (LUAI_UACINT)i);
            names[i - 1] = lua_tostring(L, -1);
            lua_pop(L, 2);
        }
    } else {
        /* a map name -> schema, in the JSON's order when it was decoded, else sorted */
        n = 0;
        lua_pushnil(L);
        while (lua_next(L, ps)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "mllm.constraint: tool '%s': parameter names must be strings", out->name);
            n++;
        }
        if (n > MLLM_CST_MAX_PARAMS)
            luaL_error(L, "mllm.constraint: tool '%s': %I parameters (limit %d)", out->name, (LUAI_UACINT)n,
                       MLLM_CST_MAX_PARAMS);
        names = scratch(r, (size_t)(n ? n : 1) * sizeof *names);
        bool ordered = false;
        if (json_keys) {
            lua_pushvalue(L, json_keys);
            lua_pushvalue(L, ps);
            lua_call(L, 1, 1);
            if (lua_istable(L, -1) && (lua_Integer)lua_rawlen(L, -1) == n) {
                lua_pushvalue(L, -1);
                lua_rawseti(L, r->anchor, ++r->n_anchor); /* keep the key strings */
                for (lua_Integer i = 1; i <= n; i++) {
                    lua_geti(L, -1, i);
                    names[i - 1] = lua_tostring(L, -1);
                    lua_pop(L, 1);
                }
                ordered = true;
            }
            lua_pop(L, 1);
        }
        if (!ordered) {
            lua_Integer i = 0;
            lua_pushnil(L);
            while (lua_next(L, ps)) {
                lua_pop(L, 1);
                names[i++] = lua_tostring(L, -1); /* the parameters table keeps the key */
            }
            qsort(names, (size_t)n, sizeof *names, cmp_str);
        }
    }
    mllm_tool_param *params = scratch(r, (size_t)(n ? n : 1) * sizeof *params);
    for (lua_Integer i = 0; i < n; i++) {
        params[i].name = names[i];
        if (lua_rawlen(L, ps) > 0) lua_geti(L, ps, i + 1);
        else lua_getfield(L, ps, names[i]);
        if (!lua_istable(L, -1))
            luaL_error(L, "mllm.constraint: tool '%s', parameter '%s': the schema must be a table, got %s", out->name,
                       names[i], luaL_typename(L, -1));
        lua_getfield(L, -1, "required");
        params[i].required = lua_toboolean(L, -1);
        lua_pop(L, 1);
        read_schema(r, -1, out->name, names[i], &params[i].schema, 1);
        lua_pop(L, 1);
    }
    out->params = params;
    out->n_params = (size_t)n;
    lua_pop(L, 1);
}

/* The tools at index t: an array of tools, an apis.json document ({ apis = [...] }) or a
 * registry ({ tools = [...] }). */
static mllm_tool_schema *read_tools(reader *r, int t, int json_keys, size_t *n_out)
{
    lua_State *L = r->L;
    luaL_checktype(L, t, LUA_TTABLE);
    int list = t;
    if (lua_rawlen(L, t) == 0) {
        if (lua_getfield(L, t, "apis") == LUA_TTABLE || (lua_pop(L, 1), lua_getfield(L, t, "tools") == LUA_TTABLE)) {
            list = lua_gettop(L);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    if (n > MLLM_CST_MAX_TOOLS)
        luaL_error(L, "mllm.constraint: %I tools (limit %d)", (LUAI_UACINT)n, MLLM_CST_MAX_TOOLS);
    mllm_tool_schema *tools = scratch(r, (size_t)(n ? n : 1) * sizeof *tools);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, list, i);
        read_tool(r, -1, json_keys, i, &tools[i - 1]);
        lua_pop(L, 1);
    }
    if (list != t) lua_pop(L, 1);
    *n_out = (size_t)n;
    return tools;
}

mllm_tool_schema *mllm_lua_read_tools(lua_State *L, int t, int anchor, int json_keys, size_t *n_out)
{
    reader r = { L, lua_absindex(L, anchor), (lua_Integer)lua_rawlen(L, anchor) };
    return read_tools(&r, t, json_keys, n_out);
}
