-- What the built libraries export (issue 35): the Lua module exports its entry
-- point alone, the C library exactly the functions include/ declares (MLLM_API),
-- so nothing internal can clash with a host's own symbols or be relied upon.
local function lines(cmd)
  local p = assert(io.popen(cmd))
  local t = {}
  for l in p:lines() do t[#t + 1] = l end
  assert(p:close(), "failed: " .. cmd)
  table.sort(t)
  return t
end

local function exports(lib)
  return lines("nm -D --defined-only " .. lib .. " | awk '{ print $3 }'")
end

--- The functions the public headers declare with MLLM_API.
local function declared()
  local t, seen = {}, {}
  for _, h in ipairs { "include/mobilellm.h", "include/mobilellm_calls.h" } do
    local text = assert(io.open(h)):read("a")
    for decl in text:gmatch("\nMLLM_API ([^;]+);") do
      local name = assert(decl:match("(mllm_[%w_]+)%s*%("), decl)
      if not seen[name] then seen[name] = true; t[#t + 1] = name end
    end
  end
  table.sort(t)
  return t
end

-- the module this suite runs (build/ or build/asan/), and the C library built beside it
local MODULE = assert(package.searchpath("mobilellm.core", package.cpath))
local CLIB = MODULE:gsub("mobilellm/core%.so$", "libmobilellm.so")

describe("exported symbols", function()
  it("the Lua module exports luaopen_mobilellm_core and nothing else", function()
    assert.are.same({ "luaopen_mobilellm_core" }, exports(MODULE))
  end)

  it("the C library exports exactly the API of include/", function()
    local want = declared()
    assert.is_true(#want > 50, #want .. " declarations found")
    assert.are.same(want, exports(CLIB))
  end)
end)

describe("the one table of each enum", function()
  local mllm = require("mobilellm")
  it("lists the dtypes and KV types the engine parses, and each is accepted", function()
    assert.are.same({ "f32", "f16", "bf16", "q8", "q4" }, mllm.dtypes)
    assert.are.same({ "auto", "f32", "f16" }, mllm.kv_types)
    local m = assert(mllm.load("spec/fixtures/models/f32-basic", { threads = 1, dtype = "f16" }))
    for _, kv in ipairs(mllm.kv_types) do assert(m:session({ n_ctx = 8, kv_type = kv })) end
    local ok, err = pcall(m.session, m, { n_ctx = 8, kv_type = "q8" })
    assert.is_false(ok)
    assert.matches('kv_type must be "auto", "f32" or "f16", got "q8"', err, 1, true)
    m:close()
  end)

  it("the CLI offers exactly those choices", function()
    local common = require("mobilellm.cli.common")
    local by = {}
    for _, o in ipairs(common.LOAD_OPTS) do by[o[1]] = o end
    for _, o in ipairs(common.GEN_OPTS) do by[o[1]] = o end
    assert.are.same({ "auto", "f32", "f16", "bf16", "q8", "q4" }, by.dtype.values)
    assert.are.same(mllm.kv_types, by["kv-type"].values)
  end)
end)
