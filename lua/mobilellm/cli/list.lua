--- `mobilellm list`: the models every command (and `mllm.load`) finds by name, from
-- `$MOBILELLM_MODELS` and the installed models, each with its directory and a one-line
-- description read from its config.json and apis.json (no weights are loaded).
-- @module mobilellm.cli.list
local mllm = require("mobilellm")
local chat = require("mobilellm.chat")

local M = {
  name = "list", args = {},
  brief = "the models found by name ($MOBILELLM_MODELS, then the installed ones)",
  summary = "List the models that every command finds by name (mobilellm agent NAME): each model "
    .. "directory in $MOBILELLM_MODELS (colon-separated directories), then in the installed models.",
  details = "A name found twice is listed once, from the first directory, as the commands pick it.",
  options = { { "json", kind = "flag", help = "print the list as JSON: name, dir, description, tools" } },
}

-- "mobilellm, 8 layers (each run twice), dim 128, bfloat16" from a config.json, or what is wrong with it.
local function describe(dir)
  local text, err = mllm.read_file(dir .. "/config.json")
  if not text then return "(" .. err .. ")" end
  local c, jerr = mllm.json_decode(text)
  if type(c) ~= "table" then return "(" .. dir .. "/config.json: " .. (jerr or "not an object") .. ")" end
  local parts = { tostring(c.model_type or "?") }
  if math.type(c.num_hidden_layers) == "integer" then
    parts[#parts + 1] = c.num_hidden_layers .. " layers" .. (c.layer_sharing == true and " (each run twice)" or "")
  end
  if math.type(c.hidden_size) == "integer" then parts[#parts + 1] = "dim " .. c.hidden_size end
  if type(c.torch_dtype) == "string" then parts[#parts + 1] = c.torch_dtype end
  return table.concat(parts, ", ")
end

-- The number of tools the model ships (DIR/apis.json), 0 without one, or nil and the message
-- of one that is there but unreadable.
local function count_tools(dir)
  local apis, err = chat.load_apis(dir .. "/apis.json")
  if apis then return #apis end
  if chat.is_missing(err) then return 0 end
  return nil, err
end

--- Runs the command.
-- @tparam table ctx the run's context (`mobilellm.cli.common`)
-- @tparam table opts its options (`mobilellm.cli.args`)
-- @treturn integer the exit status
function M.run(ctx, opts)
  local rows = {}
  for i, m in ipairs(mllm.models()) do
    local n, terr = count_tools(m.dir)
    local desc = describe(m.dir) .. "; " .. (terr and "tools: (" .. terr .. ")"
      or n > 0 and string.format("%d tool%s (apis.json)", n, n == 1 and "" or "s") or "no tools")
    rows[i] = { name = m.name, dir = m.dir, description = desc, tools = n }
  end
  if opts.json then
    ctx.out:write(mllm.json_encode({ models = rows, searched = mllm.model_search_path() }), "\n")
    return 0
  end
  if #rows == 0 then
    local searched = mllm.model_search_path()
    ctx.out:write("no models in ", #searched > 0 and table.concat(searched, ", ")
      or "any directory (no $MOBILELLM_MODELS, and no installed models directory)", "\n")
    return 0
  end
  local width = 0
  for _, r in ipairs(rows) do width = math.max(width, #r.name) end
  for _, r in ipairs(rows) do
    ctx.out:write(string.format("%-" .. width .. "s  %s\n%-" .. width .. "s  %s\n", r.name, r.description, "", r.dir))
  end
  return 0
end

return M
