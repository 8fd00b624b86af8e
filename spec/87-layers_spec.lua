-- The C sources are layered one way (issue 35): a file includes headers of its
-- own folder and of the folders below it, never above. The order, bottom up:
local LAYERS = { "base", "kernels", "text", "formats", "core", "calls", "lua" }

local rank = {}
for i, name in ipairs(LAYERS) do rank[name] = i end

local function files()
  local p = assert(io.popen("find src -name '*.c' -o -name '*.h' -o -name '*.cpp' | sort"))
  local t = {}
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  return t
end

describe("the layers of src/", function()
  it("every source file sits in a layer's folder", function()
    local list = files()
    assert.is_true(#list > 40)
    for _, path in ipairs(list) do
      local layer = path:match("^src/([^/]+)/[^/]+$")
      assert(layer and rank[layer], path .. " is not in one of the layers' folders")
    end
  end)

  it("no file includes a header of a layer above its own", function()
    local ups = {}
    for _, path in ipairs(files()) do
      local layer = path:match("^src/([^/]+)/")
      for line in io.lines(path) do
        local target = line:match('^%s*#%s*include%s+"([^"]+)"')
        local to = target and target:match("^([^/]+)/")
        if to and rank[to] and rank[to] > rank[layer] then
          ups[#ups + 1] = path .. " includes " .. target
        end
        assert(not (target and target:find("%.%.")), path .. ' includes "' .. tostring(target) .. '" by a relative path')
      end
    end
    assert.are.same({}, ups)
  end)
end)
