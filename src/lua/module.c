/* module.c — the entry point of the Lua binding (module mobilellm.core):
 * registers the types of the class files (binding.h lists them), the module
 * functions that belong to no class (read_file, clock), and the ledger that
 * tells the collector about the C memory behind models and sessions. */

#include "binding.h"
#include "base/fileio.h"
#include "core/internal.h"
#include "kernels/dtype.h"
#include "opts.h"
#include "base/alloc.h"

#include <string.h>

/*** @module mobilellm.core */

/* ------------------------------------------------------------ the box */

static int box_gc(lua_State *L)
{
    void **p = luaL_checkudata(L, 1, BOX_MT);
    mllm_free(*p);
    *p = NULL;
    return 0;
}

/* ------------------------------------------------------------ the gc ledger */

/* The C memory behind models, sessions and tokenizers, told to the collector. Lua sees
 * only their small userdata, so a program that leaves them to the collector
 * would pile up megabytes per object before a cycle runs (and an incremental
 * step does not finish one). The ledger counts the bytes of live objects and
 * those made since the last full collection; once the new ones outweigh what
 * was live then (and LEDGER_MIN), a full collection runs: garbage held in C
 * stays within about the live amount, at the cost of one collection each time
 * C memory doubles, as Lua's own pause does for its heap. */
#define LEDGER_MIN (16u << 20)
static const char LEDGER_KEY = 'L';
typedef struct { size_t live, since, live_after_collect; } gc_ledger;

static gc_ledger *ledger(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &LEDGER_KEY);
    gc_ledger *g = lua_touserdata(L, -1);  /* made by luaopen; the registry keeps it */
    lua_pop(L, 1);
    return g;
}

size_t mllm_lua_gc_charge(lua_State *L, size_t bytes)
{
    gc_ledger *g = ledger(L);
    g->live += bytes;
    g->since += bytes;
    size_t limit = g->live_after_collect > LEDGER_MIN ? g->live_after_collect : LEDGER_MIN;
    if (g->since > limit) {
        g->since = 0;
        lua_gc(L, LUA_GCCOLLECT);  /* finalizers of dead models and sessions credit the ledger */
        g->live_after_collect = g->live;
    }
    return bytes;
}

void mllm_lua_gc_credit(lua_State *L, size_t *charged)
{
    gc_ledger *g = ledger(L);
    g->live -= *charged < g->live ? *charged : g->live;
    *charged = 0;
}

/* ------------------------------------------------------------ types */

void mllm_lua_new_type(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods,
                       bool custom_index)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    if (!custom_index) {
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "__index");
    }
    lua_setfield(L, -2, "methods");  /* where mllm_lua_add_methods finds them */
    lua_pushliteral(L, "locked");  /* getmetatable() from Lua does not expose internals */
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

void mllm_lua_add_methods(lua_State *L, const char *name, const luaL_Reg *methods)
{
    luaL_getmetatable(L, name);
    lua_getfield(L, -1, "methods");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}

/* ------------------------------------------------------------ module functions */

/***
 * Reads a whole regular file, as the engine reads its own: a FIFO, a device or
 * a directory is refused before anything is read (so the call never blocks),
 * and a larger file than `max_bytes` is refused, naming the limit. For the
 * files the Lua side reads from a model directory or a user's path: tool
 * lists, copy_pointer.json, prompts.
 * @function read_file
 * @tparam string path
 * @tparam[opt=16777216] integer max_bytes the largest size read (16 MiB)
 * @treturn string the contents
 * @error a message naming the file
 * @raise when the path holds a NUL byte or `max_bytes` is negative
 */
static int l_read_file(lua_State *L)
{
    const char *path = mllm_lua_check_path(L, 1);
    lua_Integer limit = luaL_optinteger(L, 2, MLLM_MAX_CONFIG_BYTES);
    luaL_argcheck(L, limit >= 0, 2, "max_bytes must be >= 0");
    void **box = newbox(L);
    size_t len;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_read_file(path, (size_t)limit, "max_bytes", (char **)box, &len, err, sizeof err);
    if (st) return fail(L, st, err);
    lua_pushlstring(L, *box, len);
    return 1;
}

/***
 * A monotonic clock, in seconds of wall time (for benchmarks: differences
 * between two calls matter, not the value).
 * @function clock
 * @treturn number seconds
 */
static int l_clock(lua_State *L)
{
    lua_pushnumber(L, mllm_now());
    return 1;
}

/***
 * Adds methods written in Lua to one of the module's types, as `mobilellm`
 * (lua/mobilellm/init.lua) adds `Model:apply_chat_template`: the binding stays
 * the one place that owns the type, and a method it defines in C is never
 * replaced (one added from Lua is: a module loaded again adds its own again).
 * @function add_lua_methods
 * @tparam string type the type's name (`"mobilellm.Model"`)
 * @tparam table methods name -> function
 * @raise for an unknown type, a value that is not a function, or a C method's name
 */
static int l_add_lua_methods(lua_State *L)
{
    const char *type = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (luaL_getmetatable(L, type) != LUA_TTABLE) return luaL_argerror(L, 1, "not a type of mobilellm");
    if (lua_getfield(L, -1, "methods") != LUA_TTABLE) return luaL_argerror(L, 1, "a type without methods");
    int methods = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isfunction(L, -1))
            return luaL_argerror(L, 2, "names (strings) -> functions expected");
        lua_pushvalue(L, -2);
        if (lua_rawget(L, methods) != LUA_TNIL && lua_iscfunction(L, -1))
            return luaL_error(L, "%s already has a method '%s'", type, lua_tostring(L, -3));
        lua_pop(L, 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, methods);
    }
    return 0;
}

/***
 * The version of the library, as `MLLM_VERSION` in include/mobilellm.h.
 * @field version
 */

/***
 * The most tokens one copy draft proposes (`draft_tokens`), `MLLM_MAX_DRAFT` in
 * include/mobilellm_limits.h.
 * @field max_draft
 */

static const luaL_Reg functions[] = {
    { "add_lua_methods", l_add_lua_methods },
    { "clock", l_clock },
    { "read_file", l_read_file },
    { NULL, NULL },
};

/* The one exported symbol of the module (-fvisibility=hidden, src/lua/module.map). */
#ifdef MLLM_FAULT_INJECTION
/* core._fault([n [, persist]]) — the fault-injection build only (base/alloc.h,
 * make test-oom): returns how many allocations were counted and how many
 * failed since the last call, then arms the counter so that the nth
 * allocation from now fails (n nil or 0: none), with persist every later one
 * too. Not part of the API: a normal build has no such field. */
static int l_fault(lua_State *L)
{
    lua_Integer n = luaL_optinteger(L, 1, 0);
    bool persist = lua_toboolean(L, 2);
    lua_pushinteger(L, mllm_fault_count());
    lua_pushinteger(L, mllm_fault_failed());
    mllm_fault_arm((long)n, persist);
    return 2;
}
#endif

__attribute__((visibility("default"))) int luaopen_mobilellm_core(lua_State *L);
int luaopen_mobilellm_core(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &LEDGER_KEY) == LUA_TNIL) {  /* once per Lua state */
        memset(lua_newuserdatauv(L, sizeof(gc_ledger), 0), 0, sizeof(gc_ledger));
        lua_rawsetp(L, LUA_REGISTRYINDEX, &LEDGER_KEY);
    }
    lua_pop(L, 1);
    luaL_newmetatable(L, BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    lua_pushliteral(L, MLLM_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, MLLM_MAX_DRAFT);
    lua_setfield(L, -2, "max_draft");
    /* the choices of the dtype and kv_type options, from the engine's one table of each */
    lua_createtable(L, mllm_dtype_count(), 0);
    for (int i = 0; i < mllm_dtype_count(); i++) {
        lua_pushstring(L, mllm_dtype_name((mllm_dtype)i));
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "dtypes");
    lua_newtable(L);
    for (int i = 0; mllm_kv_type_names[i]; i++) {
        lua_pushstring(L, mllm_kv_type_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "kv_types");
    /* each adds its functions to the module table on top; a class's type is
       registered before the files that add methods to it */
    mllm_lua_open_interrupt(L);
    mllm_lua_open_model(L);
    mllm_lua_open_tokenizer(L);
    mllm_lua_open_session(L);
    mllm_lua_open_stream(L);
    mllm_lua_open_calls(L);
    mllm_lua_open_json(L);
    mllm_lua_open_convert(L);
    mllm_lua_open_constrain(L);
    mllm_lua_open_sampler(L);
    mllm_lua_open_job(L);
#ifdef MLLM_FAULT_INJECTION
    lua_pushcfunction(L, l_fault);
    lua_setfield(L, -2, "_fault");
#endif
    return 1;
}
