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

/*** @module mobilellm.core */

/***
 * Writes any checkpoint directory (model.safetensors, its shards,
 * pytorch_model.bin or its shards, found in that order) as one safetensors
 * file: every tensor as stored, with its name, dtype and shape. config.json
 * is not needed. The file is written beside `out_path` and renamed into place,
 * so `out_path` may be a file of the checkpoint itself.
 * @function convert
 * @tparam string dir a checkpoint directory
 * @tparam string out_path the safetensors file to write
 * @treturn boolean true
 * @error a message naming the file at fault: missing, corrupt, refused (the
 *   restricted unpickler) or unwritable
 * @raise on a non-string argument, or a path that is empty, too long or holds
 *   a NUL byte
 */
static int l_convert(lua_State *L)
{
    const char *dir = mllm_lua_check_path(L, 1);
    const char *out = mllm_lua_check_path(L, 2);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_checkpoint_convert(dir, out, err, sizeof err);
    if (st) return fail(L, st, err);
    lua_pushboolean(L, 1);
    return 1;
}

int mllm_lua_open_convert(lua_State *L)
{
    lua_pushcfunction(L, l_convert);
    lua_setfield(L, -2, "convert");
    return 0;
}
