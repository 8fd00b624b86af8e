--- Where this copy of mobilellm keeps its data: `models_dir`, the directory of the models it
-- ships, each in a subdirectory (`mobilellm.find_model` looks there for a model named without
-- a path).
--
-- This file is the checkout's: the models/ directory beside lua/, found from this file's own
-- path (never the working directory). `make install` and LuaRocks install a generated one in
-- its place that names the installed directory.
-- @module mobilellm.site
local file = debug.getinfo(1, "S").source:match("^@(.+)$") or ""
local root = file:match("^(.*)/lua/mobilellm/[^/]+$") or (file:match("^lua/mobilellm/[^/]+$") and ".")

return {
  --- The models directory (nil when this file was not loaded from a checkout's lua/mobilellm/).
  models_dir = root and root .. "/models" or nil,
}
