-- Option tables of the Lua modules (issue 35's one option check, issue 36's strict
-- options): a misspelled key raises, naming it and the keys the call takes.
local options = require("mobilellm.options")
local agent = require("mobilellm.agent")
local tools = require("mobilellm.tools")

local raises = require("support.helpers").raises

-- agent.new checks its options before it touches the model
local MODEL = setmetatable({}, { __index = function() error("the model was used") end })

describe("options.check", function()
  it("passes known keys and nil, refuses the rest, listing what is known", function()
    assert.are.same({}, options.check(nil, { "a" }, "f"))
    local t = { a = 1 }
    assert.are.equal(t, options.check(t, { "a", "b" }, "f"))
    raises("f: unknown option 'c' (known: a, b)", options.check, { c = 1 }, { "b", "a" }, "f")
    raises("f: unknown option key of type number (known: a)", options.check, { 5 }, { "a" }, "f")
    raises("f: options must be a table, got string", options.check, "x", { "a" }, "f")
  end)
end)

describe("agent.new", function()
  it("refuses a misspelled option instead of ignoring it #raw_keys", function()
    raises("agent.new: unknown option 'constrian' (did you mean 'constrain'?)", agent.new, MODEL, { constrian = true })
    raises("agent.new: unknown option 'max_token'", agent.new, MODEL, { max_token = 5 })
    raises("agent.new: unknown option 'grammar' (known: async, call, constrain, copy,", agent.new, MODEL, { grammar = true })
  end)
end)

describe("tools", function()
  it("refuses a tool definition with a misspelled key #raw_keys", function()
    local reg = tools.registry()
    raises("tools: tool 'f': unknown option 'parms' (did you mean 'params'?)", reg.add, reg, { name = "f", parms = {} })
    raises("tools: tool 'f': unknown option 'args' (known: description, fn, name, parameters, params)",
      reg.add, reg, { name = "f", args = {} })
    assert(reg:add({ name = "g", description = "d", params = {}, fn = function() end }))
  end)
end)
