--- The Jinja lexer: template source -> tokens, with Hugging Face's whitespace rules
-- (`trim_blocks`, `lstrip_blocks`, no kept trailing newline) and the `-`/`+` markers,
-- as jinja2's own lexer applies them.
--
-- A token is `{ type, value, line }`; types: "data" (template text), "var_begin",
-- "var_end", "block_begin", "block_end", "name", "string", "integer", "float", "op", "eof".
-- Errors are raised through `fail(line, message)`.
-- @module mobilellm.jinja.lexer
local M = {}

-- Longest operators first: the scan tries them in this order.
local OPERATORS = { "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=",
                    "(", ")", "[", "]", "{", "}", ",", ".", ":", "|" }

local CLOSER = { ["("] = ")", ["["] = "]", ["{"] = "}" }

local ESCAPES = { n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ["'"] = "'", ['"'] = '"', a = "\a", b = "\b",
                  f = "\f", v = "\v", ["0"] = "\0", ["\n"] = "" }

local function count_newlines(s, i, j)
  local n = 0
  for _ in s:sub(i, j):gmatch("\n") do n = n + 1 end
  return n
end

-- A string literal's text as Python reads it (an unknown escape keeps its backslash).
local function unescape(body, line, fail)
  if not body:find("\\", 1, true) then return body end
  local parts, i = {}, 1
  while i <= #body do
    local k = body:find("\\", i, true)
    if not k then parts[#parts + 1] = body:sub(i); break end
    parts[#parts + 1] = body:sub(i, k - 1)
    local c = body:sub(k + 1, k + 1)
    if c == "x" or c == "u" then
      local want = c == "x" and 2 or 4
      local hex = body:sub(k + 2, k + 1 + want)
      if not hex:match("^%x+$") or #hex < want then fail(line, "truncated \\" .. c .. " escape in a string") end
      parts[#parts + 1] = utf8.char(tonumber(hex, 16))
      i = k + 2 + want
    else
      parts[#parts + 1] = ESCAPES[c] or ("\\" .. c)
      i = k + 2
    end
  end
  return table.concat(parts)
end

-- Scans the expression tokens of one tag from `pos` up to its end marker (`}}` or `%}`),
-- appending them to `out`; returns the position after the marker (and after what the
-- marker strips), the line there, the marker's sign and whether a newline ended the match.
local function scan_tag(src, pos, line, closer, out, fail, trim_blocks)
  local balance = {}
  local n = #src
  while true do
    local ws = src:match("^%s*", pos)
    line = line + count_newlines(ws, 1, #ws)
    pos = pos + #ws
    if pos > n then fail(line, "unexpected end of template: '" .. closer .. "' missing") end
    if #balance == 0 then
      local sign = src:match("^([-+]?)" .. closer:gsub("%p", "%%%0"), pos)
      if sign then
        pos = pos + #sign + #closer
        local newline_ended = false
        if sign == "-" then
          local after = src:match("^%s*", pos)
          line = line + count_newlines(after, 1, #after)
          pos = pos + #after
          newline_ended = after:sub(-1) == "\n"
        elseif sign == "" and trim_blocks and closer == "%}" and src:sub(pos, pos) == "\n" then
          pos, line, newline_ended = pos + 1, line + 1, true
        end
        return pos, line, newline_ended
      end
    end
    local c = src:sub(pos, pos)
    local tok
    local name = src:match("^[%a_][%w_]*", pos)
    if name then
      tok = { type = "name", value = name }
      pos = pos + #name
    elseif c:match("%d") then
      local num = src:match("^%d[%d_]*%.%d[%d_]*[eE][-+]?%d+", pos) or src:match("^%d[%d_]*%.%d[%d_]*", pos)
        or src:match("^%d[%d_]*[eE][-+]?%d+", pos)
      if num then
        tok = { type = "float", value = tonumber((num:gsub("_", ""))) }
      else
        num = src:match("^%d[%d_]*", pos)
        local v = math.tointeger(tonumber((num:gsub("_", ""))))
        if not v then fail(line, "integer literal " .. num .. " is too large") end
        tok = { type = "integer", value = v }
      end
      pos = pos + #num
    elseif c == "'" or c == '"' then
      local j = pos + 1
      while true do
        local k = src:find("[\\" .. c .. "]", j)
        if not k then fail(line, "unterminated string") end
        if src:sub(k, k) == "\\" then j = k + 2 else j = k; break end
      end
      local body = src:sub(pos + 1, j - 1)
      tok = { type = "string", value = unescape(body, line, fail) }
      tok.line = line
      line = line + count_newlines(body, 1, #body)
      pos = j + 1
    else
      for _, op in ipairs(OPERATORS) do
        if src:sub(pos, pos + #op - 1) == op then tok = { type = "op", value = op }; break end
      end
      if not tok then fail(line, "unexpected character '" .. c .. "'") end
      pos = pos + #tok.value
      local v = tok.value
      if CLOSER[v] then
        balance[#balance + 1] = CLOSER[v]
      elseif v == ")" or v == "]" or v == "}" then
        if #balance == 0 then fail(line, "unexpected '" .. v .. "'") end
        local want = table.remove(balance)
        if want ~= v then fail(line, "unexpected '" .. v .. "', expected '" .. want .. "'") end
      end
    end
    tok.line = tok.line or line
    out[#out + 1] = tok
  end
end

-- The position where a {% raw %} block's text ends, the length of its {% endraw %} tag and
-- that tag's signs.
local function find_endraw(src, pos)
  local i = pos
  while true do
    local s = src:find("{%", i, true)
    if not s then return nil end
    local lsign, rsign, e = src:match("^{%%([-+]?)%s*endraw%s*([-+]?)%%}()", s)
    if lsign then return s, e, lsign, rsign end
    i = s + 2
  end
end

--- Splits `source` into tokens.
-- @tparam string source
-- @tparam function fail `fail(line, message)`, raises
-- @tparam[opt] table opts `trim_blocks`, `lstrip_blocks` (both default true, as Hugging Face)
-- @treturn table the tokens, the last one "eof"
function M.tokenize(source, fail, opts)
  opts = opts or {}
  local trim_blocks = opts.trim_blocks ~= false
  local lstrip_blocks = opts.lstrip_blocks ~= false
  -- jinja2: every line break is "\n", and one trailing newline is dropped
  local src = source:gsub("\r\n", "\n"):gsub("\r", "\n")
  if src:sub(-1) == "\n" then src = src:sub(1, -2) end
  local out, pos, line, n = {}, 1, 1, #src
  local line_starting = true
  local function emit_data(text, at_line)
    if text ~= "" then out[#out + 1] = { type = "data", value = text, line = at_line } end
  end
  while pos <= n do
    local s = src:find("{[{%%#]", pos)
    if not s then
      emit_data(src:sub(pos), line)
      break
    end
    local kind = src:sub(s + 1, s + 1)
    local sign = src:match("^[-+]", s + 2) or ""
    local text = src:sub(pos, s - 1)
    if sign == "-" then
      text = text:gsub("%s+$", "")
    elseif sign ~= "+" and lstrip_blocks and kind ~= "{" then
      -- only spaces and tabs between the last newline (or a line start) and the tag
      local l_pos = (text:match("^.*()\n") or 0) + 1
      if (l_pos > 1 or line_starting) and text:sub(l_pos):match("^[ \t\v\f]+$") then
        text = text:sub(1, l_pos - 1)
      end
    end
    emit_data(text, line)
    line = line + count_newlines(src, pos, s - 1)
    pos = s + 2 + #sign
    if kind == "#" then
      local e = src:find("#}", pos, true)
      if not e then fail(line, "unterminated comment") end
      local csign = src:sub(e - 1, e - 1)
      line = line + count_newlines(src, pos, e)
      pos = e + 2
      line_starting = false
      if csign == "-" and e - 1 >= s + 2 + #sign then
        local after = src:match("^%s*", pos)
        line, pos = line + count_newlines(after, 1, #after), pos + #after
        line_starting = after:sub(-1) == "\n"
      elseif csign ~= "+" and trim_blocks and src:sub(pos, pos) == "\n" then
        pos, line, line_starting = pos + 1, line + 1, true
      end
    elseif kind == "%" and src:match("^%s*raw%s*[-+]?%%}", pos) then
      local rsign = src:match("^%s*raw%s*([-+]?)%%}", pos)
      pos = src:match("^%s*raw%s*[-+]?%%}()", pos)
      if rsign == "-" then pos = src:match("^%s*()", pos)
      elseif rsign == "" and trim_blocks and src:sub(pos, pos) == "\n" then pos = pos + 1 end
      local es, ee, lsign, esign = find_endraw(src, pos)
      if not es then fail(line, "missing endraw for raw") end
      local body = src:sub(pos, es - 1)
      if lsign == "-" then body = body:gsub("%s+$", "") end
      emit_data(body, line)
      line = line + count_newlines(src, pos, ee - 1)
      pos = ee
      line_starting = false
      if esign == "-" then
        local after = src:match("^%s*", pos)
        line, pos = line + count_newlines(after, 1, #after), pos + #after
        line_starting = after:sub(-1) == "\n"
      elseif esign == "" and trim_blocks and src:sub(pos, pos) == "\n" then
        pos, line, line_starting = pos + 1, line + 1, true
      end
    else
      local is_var = kind == "{"
      out[#out + 1] = { type = is_var and "var_begin" or "block_begin", line = line }
      local end_line
      pos, end_line, line_starting = scan_tag(src, pos, line, is_var and "}}" or "%}", out, fail, trim_blocks)
      out[#out + 1] = { type = is_var and "var_end" or "block_end", line = line }
      line = end_line
    end
  end
  out[#out + 1] = { type = "eof", line = line }
  return out
end

return M
