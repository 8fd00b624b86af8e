/* opts.c — the one reader of Lua option tables (opts.h). */
#include "opts.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

/* Names longer than this are never suggested (every option name is far shorter). */
#define SUGGEST_NAME_MAX 32

static unsigned char fold(char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

/* The edit distance from a (n bytes) to b: insertions, deletions, substitutions and swaps of
 * two neighbours count one each, and letters compare without case (optimal string alignment;
 * the twin of options.lua's). Both must be at most SUGGEST_NAME_MAX bytes. */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m)
{
    unsigned char d[SUGGEST_NAME_MAX + 1][SUGGEST_NAME_MAX + 1];
    for (size_t i = 0; i <= n; i++) d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            unsigned v = d[i - 1][j - 1] + (fold(a[i - 1]) != fold(b[j - 1]));
            if (d[i - 1][j] + 1u < v) v = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < v) v = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) && fold(a[i - 2]) == fold(b[j - 1]) &&
                d[i - 2][j - 2] + 1u < v)
                v = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)v;
        }
    return d[n][m];
}

/* The name a misspelled key most likely meant, or NULL: the nearest by edit_distance (the first
 * in names on a tie), when that is at most 2 and at most a third of the key's length. */
static const char *nearest_name(const char *key, size_t n, const char *const *names)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (const char *const *name = names; *name; name++) {
        size_t m = strlen(*name);
        if (n > SUGGEST_NAME_MAX || m > SUGGEST_NAME_MAX) continue;
        if (n > m + 2 || m > n + 2) continue;  /* farther than 2 */
        size_t d = edit_distance(key, n, *name, m);
        if (d < best_d && 3 * d <= n) {
            best = *name;
            best_d = d;
        }
    }
    return best;
}

/* Raises for the key at the top of the stack, which names does not hold. */
static void unknown_option(lua_State *L, const char *const *names, const char *what)
{
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *key = lua_tolstring(L, -1, &n);
        const char *meant = nearest_name(key, n, names);
        if (meant) luaL_error(L, "unknown option '%s' to %s (did you mean '%s'?)", key, what, meant);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const char *const *name = names; *name; name++) {
        if (name != names) luaL_addstring(&b, ", ");
        luaL_addstring(&b, *name);
    }
    luaL_pushresult(&b);
    if (lua_type(L, -2) == LUA_TSTRING)
        luaL_error(L, "unknown option '%s' to %s (known: %s)", lua_tostring(L, -2), what, lua_tostring(L, -1));
    luaL_error(L, "unknown option key of type %s to %s (known: %s)", luaL_typename(L, -2), what,
               lua_tostring(L, -1));
}

int mllm_lua_opts(lua_State *L, int t, const char *const *names, const char *what)
{
    t = lua_absindex(L, t);
    bool given = !lua_isnoneornil(L, t);
    if (given && lua_type(L, t) != LUA_TTABLE) luaL_typeerror(L, t, "table of options");
    if (given) {  /* raw keys only: a proxy's keys are read through __index below */
        lua_pushnil(L);
        while (lua_next(L, t)) {
            lua_pop(L, 1);
            bool known = false;
            if (lua_type(L, -1) == LUA_TSTRING) {
                const char *k = lua_tostring(L, -1);
                for (const char *const *n = names; *n && !known; n++) known = strcmp(*n, k) == 0;
            }
            if (!known) unknown_option(L, names, what);
        }
    }
    lua_newtable(L);
    int o = lua_gettop(L);
    if (given)
        for (const char *const *n = names; *n; n++) {
            lua_getfield(L, t, *n);  /* the one read of this option */
            lua_setfield(L, o, *n);
        }
    return o;
}

static int rawfield(lua_State *L, int o, const char *key)
{
    lua_pushstring(L, key);
    return lua_rawget(L, o);
}

lua_Integer mllm_lua_opt_int(lua_State *L, int o, const char *key, lua_Integer def, lua_Integer lo,
                             lua_Integer hi)
{
    lua_Integer v = def;
    if (rawfield(L, o, key) != LUA_TNIL) {
        int isint;
        v = lua_tointegerx(L, -1, &isint);
        if (!isint || lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "option '%s' must be an integer, got %s", key, luaL_typename(L, -1));
        if (v < lo || v > hi)
            luaL_error(L, "option '%s' must be in [%I, %I], got %I", key, (LUAI_UACINT)lo, (LUAI_UACINT)hi,
                       (LUAI_UACINT)v);
    }
    lua_pop(L, 1);
    return v;
}

double mllm_lua_opt_num(lua_State *L, int o, const char *key, double def, double lo, double hi)
{
    double v = def;
    if (rawfield(L, o, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "option '%s' must be a number, got %s", key, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
        if (!(v >= lo && v <= hi)) {
            char msg[160];  /* lua_pushfstring has no %g */
            snprintf(msg, sizeof msg, "option '%s' must be in [%g, %g], got %g", key, lo, hi, v);
            luaL_error(L, "%s", msg);
        }
    }
    lua_pop(L, 1);
    return v;
}

bool mllm_lua_opt_bool(lua_State *L, int o, const char *key, bool def)
{
    bool v = def;
    if (rawfield(L, o, key) != LUA_TNIL) {
        if (!lua_isboolean(L, -1))
            luaL_error(L, "option '%s' must be a boolean, got %s", key, luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

const char *mllm_lua_opt_str(lua_State *L, int o, const char *key, size_t *len)
{
    const char *v = NULL;
    size_t n = 0;
    if (rawfield(L, o, key) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "option '%s' must be a string, got %s", key, luaL_typename(L, -1));
        v = lua_tolstring(L, -1, &n);
        if (strlen(v) != n) luaL_error(L, "option '%s' holds a NUL byte (at byte %d)", key, (int)strlen(v) + 1);
    }
    lua_pop(L, 1);  /* v stays valid: the snapshot o holds the string */
    if (len) *len = n;
    return v;
}

int mllm_lua_opt_push(lua_State *L, int o, const char *key)
{
    return rawfield(L, o, key);
}

bool mllm_lua_opt_func(lua_State *L, int o, const char *key)
{
    int t = rawfield(L, o, key);
    if (t != LUA_TNIL && t != LUA_TFUNCTION)
        luaL_error(L, "option '%s' must be a function, got %s", key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return t == LUA_TFUNCTION;
}

const char *mllm_lua_check_path(lua_State *L, int arg)
{
    size_t len;
    const char *p = luaL_checklstring(L, arg, &len);
    if (strlen(p) != len)
        luaL_argerror(L, arg, lua_pushfstring(L, "path holds a NUL byte (at byte %d)", (int)strlen(p) + 1));
    return p;
}
