-- luacheck configuration (Debian's lua-check): `make lint` runs it on all Lua code.
std = "lua54"
max_line_length = 120
exclude_files = { "build/**" }

-- busted's globals in the specs; table-driven cases hold long literal rows
files["spec"] = { std = "+busted", max_line_length = 170 }
-- generated data: long lines are the data itself
files["spec/fixtures"] = { max_line_length = false }
-- LDoc's configuration is a Lua file of assignments
files["config.ld"] = { allow_defined_top = true, ignore = { "111", "131" } }
