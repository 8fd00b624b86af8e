/* convert.c — mllm.convert(dir, out_path): any checkpoint directory
 * (safetensors or pytorch_model.bin, single or sharded) → one safetensors file.
 *
 * mllm_lua_open_convert(L) adds to the module table on top of the stack:
 *   convert(dir, out_path)  -> true | nil, message
 *
 * Misuse (a non-string argument, an empty or too long path) raises; a missing,
 * corrupt or refused checkpoint, or an unwritable output, returns nil, message. */
#include "binding.h"
#include "opts.h"

#include <lauxlib.h>
#include <lua.h>

/*** Writes the checkpoint in dir as one safetensors file (tensors as stored).
 * @function convert
 * @tparam string dir a checkpoint directory
 * @tparam string out_path the safetensors file to write (replaced atomically)
 * @return true, or nil and a message naming the file at fault */
static int l_convert(lua_State *L)
{
    const char *dir = mllm_lua_check_path(L, 1);
    const char *out = mllm_lua_check_path(L, 2);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_checkpoint_convert(dir, out, err, sizeof err);
    if (st == MLLM_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (st == MLLM_ERR_ARG) return luaL_error(L, "%s", err);
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
}

int mllm_lua_open_convert(lua_State *L)
{
    lua_pushcfunction(L, l_convert);
    lua_setfield(L, -2, "convert");
    return 0;
}
