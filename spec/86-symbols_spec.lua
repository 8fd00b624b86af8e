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
