-- Hostile use from Lua (issue 8): wrong types, closed and collected objects,
-- finalizers in any order, callbacks that fail or close things, metamethods
-- that run in the middle of a call, and many load/close cycles without growth.
-- Nothing here may crash the interpreter: every case either works or raises
-- (or returns nil, message) with a message that says what is wrong.
local mllm = require("mobilellm")
local H = require("support.helpers")

local BASIC = H.FIXTURES .. "/f32-basic"
local TEXT = H.FIXTURES .. "/bf16-vocab32k" -- has a tokenizer.model

--- Calls fn under pcall; it must raise a message containing `want` (plain text).
local raises = H.raises

--- A table that looks like an array of n ids to luaL_len/lua_geti and runs
-- on_read(k) the first time an element is read.
local function sneaky_ids(n, on_read, id)
  local fired = false
  return setmetatable({}, {
    __len = function() return n end,
    __index = function(_, k)
      if not fired then fired = true; on_read(k) end
      return id or 5
    end,
  })
end

--- An options table that runs on_read(key) on the first field read.
local function sneaky_opts(on_read)
  local fired = false
  return setmetatable({}, { __index = function(_, k)
    if not fired then fired = true; on_read(k) end
    return nil
  end })
end

local function rss_kb()
  local s = H.read("/proc/self/status")
  return assert(tonumber(s:match("VmRSS:%s*(%d+)")), "no VmRSS line in /proc/self/status")
end

describe("hostile Lua use", function()
  local e = H.expected("f32-basic")
  local model = assert(mllm.load(BASIC, { threads = 1 }))
  local tmodel = assert(mllm.load(TEXT, { threads = 1 }))

  describe("wrong argument types raise, naming the argument or option", function()
    local s = model:session({ n_ctx = 32 })
    local ts = tmodel:session({ n_ctx = 32 })
    local tok = tmodel:tokenizer()
    local seventeen = {}
    for i = 1, 17 do seventeen[i] = string.char(96 + i) end
    local cases = {
      -- module functions
      { "bad argument #1", mllm.load },
      { "bad argument #1", mllm.load, {} },
      { "bad argument #2", mllm.load, BASIC, "fast" },
      { "option 'threads' must be an integer, got number", mllm.load, BASIC, { threads = 1.5 } },
      { "option 'threads' must be an integer, got number", mllm.load, BASIC, { threads = 0 / 0 } },
      { "option 'threads' must be an integer, got number", mllm.load, BASIC, { threads = math.huge } },
      { "option 'threads' must be in [0, 1024], got -3", mllm.load, BASIC, { threads = -3 } },
      { "option 'dtype' must be a string, got number", mllm.load, BASIC, { dtype = 8 } },
      { 'dtype must be "auto"', mllm.load, BASIC, { dtype = "q3" } },
      { "option 'tokenizer' must be a string, got table", mllm.load, BASIC, { tokenizer = {} } },
      { "option 'require_tokenizer' must be a boolean", mllm.load, BASIC, { require_tokenizer = "yes" } },
      { "empty model directory", mllm.load, "" },
      { "bad argument #1", mllm.tokenizer },
      { "bad argument #1", mllm.tokenizer, {} },
      -- model methods: a wrong self, then wrong arguments
      { "bad argument #1", model.tokenize, nil, "x" },
      { "mobilellm.Model expected, got mobilellm.Session", model.session, s },
      { "mobilellm.Model expected, got table", model.generate, {}, "x" },
      { "bad argument #2", tmodel.tokenize, tmodel, {} },
      { "bad argument #3", tmodel.tokenize, tmodel, "x", "bos" },
      { "option 'bos' must be a boolean, got number", tmodel.tokenize, tmodel, "x", { bos = 1 } },
      { "bad argument #2", tmodel.detokenize, tmodel, "1 2 3" },
      { "token id at index 2 is not an integer (number)", tmodel.detokenize, tmodel, { 1, 2.5 } },
      { "token id at index 1 is not an integer (boolean)", tmodel.detokenize, tmodel, { true } },
      { "token id -1 at index 1 is outside the vocabulary [0, 32000)", tmodel.detokenize, tmodel, { -1 } },
      { "token id 32000 at index 3 is outside the vocabulary", tmodel.detokenize, tmodel, { 1, 2, 32000 } },
      { "bad argument #2", tmodel.token_piece, tmodel, "one" },
      { "number has no integer representation", tmodel.token_piece, tmodel, 1.5 },
      { "token id -1 is outside the vocabulary", tmodel.token_piece, tmodel, -1 },
      { "token id 1099511627776 is outside the vocabulary", tmodel.token_piece, tmodel, 1 << 40 },
      { "this model has no tokenizer", model.tokenize, model, "x" },
      { "bad argument #2", model.session, model, 64 },
      { "option 'n_ctx' must be in [0, 2048], got -1", model.session, model, { n_ctx = -1 } },
      { "option 'n_ctx' must be in [0, 2048], got 4096", model.session, model, { n_ctx = 4096 } },
      { "option 'n_ctx' must be an integer, got number", model.session, model, { n_ctx = 0 / 0 } },
      { "option 'n_ctx' must be an integer, got number", model.session, model, { n_ctx = -math.huge } },
      { "option 'n_batch' must be in [0, 4096], got -5", model.session, model, { n_batch = -5 } },
      { "option 'restore' must be a string, got boolean", model.session, model, { restore = true } },
      -- prompts and generation options
      { "string or array of token ids expected, got nil", model.generate, model },
      { "string or array of token ids expected, got boolean", model.generate, model, true },
      { "this model has no tokenizer: pass the prompt as an array of token ids", model.generate, model, "hi" },
      { "empty prompt", model.generate, model, {} },
      { "empty prompt", tmodel.generate, tmodel, "", { bos = false } },
      { "text is not valid UTF-8 (byte 3)", tmodel.generate, tmodel, "ab\255cd" },
      { "text is not valid UTF-8 (byte 1)", tmodel.tokenize, tmodel, "\192\128" },  -- overlong NUL
      { "text is not valid UTF-8", tmodel.stream, tmodel, "\237\160\128" },          -- a surrogate
      { "bad argument #3", model.generate, model, { 5 }, "greedy" },
      { "option 'max_tokens' must be in [0, 131072], got -1", model.generate, model, { 5 }, { max_tokens = -1 } },
      { "option 'max_tokens' must be an integer, got number", model.generate, model, { 5 }, { max_tokens = 0 / 0 } },
      { "option 'temperature' must be in [0, 1e+06], got", model.generate, model, { 5 }, { temperature = 0 / 0 } },
      { "option 'temperature' must be in [0, 1e+06], got inf", model.generate, model, { 5 }, { temperature = math.huge } },
      { "option 'temperature' must be in [0, 1e+06], got -1", model.generate, model, { 5 }, { temperature = -1 } },
      { "option 'temperature' must be a number, got string", model.generate, model, { 5 }, { temperature = "0.5" } },
      { "option 'top_p' must be in", model.generate, model, { 5 }, { top_p = 0 / 0 } },
      { "option 'top_p' must be in", model.generate, model, { 5 }, { top_p = -math.huge } },
      { "option 'min_p' must be in", model.generate, model, { 5 }, { min_p = -0.5 } },
      { "option 'repeat_penalty' must be in", model.generate, model, { 5 }, { repeat_penalty = math.huge } },
      { "option 'top_k' must be in [0, 1048576], got -1", model.generate, model, { 5 }, { top_k = -1 } },
      { "option 'repeat_last_n' must be in [-1, 131072], got -2", model.generate, model, { 5 }, { repeat_last_n = -2 } },
      { "option 'seed' must be an integer, got number", model.generate, model, { 5 }, { seed = 0.5 } },
      { "option 'seed' must be an integer, got table", model.generate, model, { 5 }, { seed = {} } },
      { "option 'stop' must be a string or an array of strings, got number", model.generate, model, { 5 }, { stop = 7 } },
      { "option 'stop' must hold strings (entry 2)", model.generate, model, { 5 }, { stop = { "a", 2 } } },
      { "option 'stop' has an empty string (entry 1)", model.generate, model, { 5 }, { stop = { "" } } },
      { "option 'stop' has 17 strings (limit 16)", model.generate, model, { 5 }, { stop = seventeen } },
      { "option 'stop_at_eos' must be a boolean, got number", model.generate, model, { 5 }, { stop_at_eos = 0 } },
      { "option 'on_token' must be a function", model.generate, model, { 5 }, { on_token = "print" } },
      { "option 'n_ctx' must be in [0, 2048], got 1000000000", model.generate, model, { 5 }, { n_ctx = 1000000000 } },
      { "token id 256 at index 1 is outside the vocabulary [0, 256)", model.generate, model, { 256 } },
      { "token id -7 at index 2 is outside the vocabulary", model.stream, model, { 1, -7 } },
      -- session methods
      { "mobilellm.Session expected, got mobilellm.Model", s.eval, model, { 1 } },
      { "bad argument #2", s.eval, s, "1 2" },
      { "no tokens to evaluate", s.eval, s, {} },
      { "token id 9007199254740993 at index 1 is outside the vocabulary", s.eval, s, { (1 << 53) + 1 } },
      { "token id at index 1 is not an integer (string)", s.eval, s, { "five" } },
      { "the session has no logits yet", s.logits, s },
      { "position must be in [0, 0]", s.rewind, s, -1 },
      { "position must be in [0, 0]", s.rewind, s, 3 },
      { "number has no integer representation", s.rewind, s, 0.5 },
      { "bad argument #2", s.rewind, s, "start" },
      { "bad argument #2", s.save, s },
      { "bad argument #2", s.save, s, {} },
      { "bad argument #3", s.generate, s, { 5 }, 1 },
      { "empty prompt", s.generate, s, {} },
      { "string or array of token ids expected, got function", s.stream, s, print },
      { "option 'bos' must be a boolean, got string", ts.generate, ts, "x", { bos = "yes" } },
      -- tokenizer objects
      { "mobilellm.Tokenizer expected, got mobilellm.Model", tok.decode, tmodel, { 1 } },
      { "bad argument #2", tok.decode, tok, 1 },
      { "token id 40000 at index 1 is outside the vocabulary", tok.decode, tok, { 40000 } },
      { "bad argument #2", tok.piece, tok },
      { "text is not valid UTF-8", tok.encode, tok, "\255" },
      -- the call parser and JSON
      { "bad argument #1", mllm.parse_calls },
      { "bad argument #1", mllm.parse_calls, {} },
      { "bad argument #2", mllm.parse_calls, "x", 3 },
      { "bad argument #1", mllm.json_decode, {} },
    }
    for i, c in ipairs(cases) do
      it(("#%d %s"):format(i, c[1]), function()
        raises(c[1], table.unpack(c, 2, c.n or 8))
      end)
    end

    it("json_decode refuses text after the value, naming the byte (whitespace after it is fine)", function()
      local v, err = mllm.json_decode('{"a": 1} junk')
      assert.is_nil(v)
      assert.are.equal("invalid JSON near byte 10: text after the value", err)
      assert.is_nil((mllm.json_decode("[1] [2]")))
      assert.are.equal(1, mllm.json_decode('{"a": 1} \n').a)
    end)

    it("a sweep of odd values through every function and method never crashes", function()
      local odd = { true, 0, -1, math.maxinteger, math.mininteger, 0 / 0, math.huge, -math.huge, 1.5, "",
        "\255\254", "x", {}, { 1, 2 }, { -1 }, { {} }, print, coroutine.create(print), io.stdout, mllm.null }
      local n_odd = #odd + 1  -- and nil, as odd[n_odd]
      local calls = 0
      local function try(f, ...)
        calls = calls + 1
        local ok, err = pcall(f, ...)
        if not ok then assert(type(err) == "string", "an error that is not a message: " .. tostring(err)) end
      end
      local function sweep(f, self)
        for i = 1, n_odd do
          try(f, odd[i])
          if self then try(f, self, odd[i]) end
          for j = 1, n_odd, 3 do
            if self then try(f, self, odd[i], odd[j]) else try(f, odd[i], odd[j]) end
          end
        end
      end
      -- module functions (not convert: it writes files)
      for _, name in ipairs { "load", "tokenizer", "parse_calls", "call_parser", "json_decode", "json_encode",
        "json_keys", "constraint", "clock" } do
        sweep(mllm[name])
      end
      -- methods, each on fresh objects (close and rewind change them); not save: it writes files
      local methods = {
        model = { "tokenize", "detokenize", "token_piece", "tokenizer", "session", "generate", "stream", "close" },
        session = { "eval", "logits", "pos", "n_ctx", "rewind", "fork", "model", "generate", "stream", "close" },
        stream = { "info", "close" },
        tokenizer = { "encode", "decode", "tokenize", "detokenize", "piece", "vocab_size", "special_ids", "close" },
        parser = { "feed", "finish", "close" },
      }
      for kind, names in pairs(methods) do
        for _, name in ipairs(names) do
          local m = assert(mllm.load(BASIC, { threads = 1 }))
          local sess = m:session({ n_ctx = 64 })
          local _, _, _, st = sess:stream({ 1 }, { max_tokens = 4 })
          local objs = { model = m, session = sess, stream = st, tokenizer = tmodel:tokenizer(),
            parser = mllm.call_parser() }
          local obj = objs[kind]
          local f = obj[name]
          sweep(f, obj)
          for _, other in pairs(objs) do try(f, other) end  -- the wrong kind of self
          for _, o in pairs(objs) do o:close() end
          try(f, obj)  -- and a closed one
        end
      end
      assert.is_true(calls > 5000)
    end)

    it("every case left the objects usable", function()
      assert(s:eval(e.prompt))
      assert.are.equal(e.greedy[1], H.argmax(s:logits()))
      assert.are.same({ 1, 9038 }, tok:encode("Once", { bos = true }))
    end)
  end)

  describe("environment failures return nil, message", function()
    it("a prompt longer than the context, for one-off and session generations", function()
      local long = {}
      for i = 1, 40 do long[i] = 3 + i end
      local text, err = model:generate(long, { n_ctx = 32 })
      assert.is_nil(text)
      assert.matches("prompt of 40 tokens does not fit the context (n_ctx 32, 0 already used)", err, 1, true)
      local s = model:session({ n_ctx = 32 })
      local ok, err2 = s:eval(long)
      assert.is_nil(ok)
      assert.matches("context full: 40 tokens at position 0 do not fit n_ctx 32", err2, 1, true)
      assert.are.equal(0, s:pos())
      local it, msg = s:stream(long)
      assert.is_nil(it)
      assert.matches("does not fit the context", msg, 1, true)
      assert(s:eval({ 1, 2 }))  -- still usable
      -- a text prompt past the model's own maximum (256 positions)
      local t2, err3 = tmodel:generate(("word "):rep(400))
      assert.is_nil(t2)
      assert.matches("does not fit the context", err3, 1, true)
    end)

    it("a session file that cannot be written or read", function()
      local s = model:session({ n_ctx = 16 })
      assert(s:eval({ 1 }))
      local ok, err = s:save("/nonexistent-dir/state.bin")
      assert.is_nil(ok)
      assert.matches("cannot open for writing", err, 1, true)
      local r, err2 = model:session({ restore = "/nonexistent-dir/state.bin" })
      assert.is_nil(r)
      assert.matches("cannot open", err2, 1, true)
    end)

    it("an empty prompt with a BOS is one token, and works", function()
      local text, info = tmodel:generate("", { max_tokens = 2, stop_at_eos = false })
      assert.is_string(text)
      assert.are.equal(1, info.prompt_tokens)
      assert.are.equal(2, info.generated_tokens)
    end)
  end)

  describe("closed objects", function()
    it("a closed model, session, stream and tokenizer raise 'attempt to use a closed ...'", function()
      local m = assert(mllm.load(TEXT, { threads = 1 }))
      local s = m:session({ n_ctx = 16 })
      local t = m:tokenizer()
      local it, _, _, st = s:stream({ 1, 2 }, { max_tokens = 3 })
      m:close()
      for _, name in ipairs { "tokenize", "detokenize", "token_piece", "tokenizer", "session", "generate", "stream" } do
        raises("attempt to use a closed model", m[name], m, { 1 })
      end
      raises("attempt to use a closed model", function() return m.config end)
      assert.are.equal("mobilellm.Model (closed)", tostring(m))
      -- what the model made still works: sessions and tokenizers hold their own reference
      assert.is_string(it())
      assert.are.same({ 1, 9038 }, t:encode("Once", { bos = true }))
      st:close()
      assert.is_nil(it())                    -- a closed stream just ends
      assert.are.equal("mobilellm.Stream (closed)", tostring(st))
      assert.is_table(st:info())
      s:close()
      for _, name in ipairs { "eval", "logits", "pos", "n_ctx", "rewind", "fork", "save", "model", "generate", "stream" } do
        raises("attempt to use a closed session", s[name], s, { 1 })
      end
      assert.are.equal("mobilellm.Session (closed)", tostring(s))
      t:close()
      for _, name in ipairs { "encode", "decode", "piece", "vocab_size", "special_ids" } do
        raises("attempt to use a closed tokenizer", t[name], t, { 1 })
      end
      assert.are.equal("mobilellm.Tokenizer (closed)", tostring(t))
      -- closing again is harmless, through every route
      m:close(); s:close(); st:close(); t:close()
      assert.are.equal("locked", getmetatable(s))  -- the internals stay hidden
    end)

    it("a stream's session closed under it (even from on_token) raises, then the stream is done", function()
      local s = model:session({ n_ctx = 32 })
      local it = s:stream({ 1, 2 }, { max_tokens = 5, stop_at_eos = false })
      assert.is_string(it())
      s:close()
      raises("attempt to use a closed session", it)
      local s2 = model:session({ n_ctx = 32 })
      raises("attempt to use a closed session", s2.generate, s2, { 1, 2 },
        { max_tokens = 5, stop_at_eos = false, on_token = function() s2:close() end })
    end)

    it("objects seen by finalizers after collection raise instead of crashing", function()
      local seen = {}
      do
        local holder = {}
        -- created first, so finalized last: by then the model below is closed
        setmetatable(holder, { __gc = function(h)
          seen.model = { pcall(h.m.session, h.m) }
          seen.session = { pcall(h.s.eval, h.s, { 1 }) }
          seen.tok = { pcall(h.t.encode, h.t, "x") }
          seen.stream = { pcall(h.it) }
        end })
        holder.m = assert(mllm.load(TEXT, { threads = 1 }))
        holder.s = holder.m:session({ n_ctx = 8 })
        holder.t = holder.m:tokenizer()
        holder.it = holder.s:stream({ 1 }, { max_tokens = 2 })
      end
      collectgarbage()
      collectgarbage()
      assert.is_false(seen.model[1])
      assert.matches("attempt to use a closed model", seen.model[2], 1, true)
      assert.is_false(seen.session[1])
      assert.matches("attempt to use a closed session", seen.session[2], 1, true)
      assert.is_false(seen.tok[1])
      assert.matches("attempt to use a closed tokenizer", seen.tok[2], 1, true)
      assert.is_true(seen.stream[1])  -- its generator is gone: the stream has simply ended
    end)

    it("__gc and __close run in any order", function()
      local kinds = { "model", "session", "stream", "tokenizer", "fork" }
      local function permutations(a, n, out)
        n = n or #a
        out = out or {}
        if n <= 1 then out[#out + 1] = { table.unpack(a) } return out end
        for i = 1, n do
          a[n], a[i] = a[i], a[n]
          permutations(a, n - 1, out)
          a[n], a[i] = a[i], a[n]
        end
        return out
      end
      local m0 = assert(mllm.load(TEXT, { threads = 1 }))
      for k, order in ipairs(permutations(kinds)) do
        local objs = {}  -- every reference lives here, so dropping one lets it be collected
        objs.model = assert(mllm.load(TEXT, { threads = 1 }))
        objs.session = objs.model:session({ n_ctx = 8 })
        local iter, _, _, stream = objs.session:stream({ 1, 2 }, { max_tokens = 3 })
        objs.iter, objs.stream = iter, stream
        iter, stream = nil, nil  -- luacheck: ignore 311
        objs.iter()
        objs.tokenizer = objs.model:tokenizer()
        objs.fork = objs.session:fork()
        for i, kind in ipairs(order) do
          -- alternate the routes: close(), the __close metamethod via a to-be-closed variable, collection
          if (k + i) % 3 == 0 then
            objs[kind]:close()
          elseif (k + i) % 3 == 1 then
            do local _ <close> = objs[kind] end
          else
            objs[kind] = nil
            if kind == "stream" then objs.iter = nil end
            collectgarbage()
          end
        end
        for key in pairs(objs) do objs[key] = nil end
        collectgarbage()
      end
      -- the model loaded before all this still works
      local s = m0:session({ n_ctx = 8 })
      assert(s:eval({ 1, 9038 }))
      m0:close()
    end)
  end)

  describe("callbacks and iterators that fail, break or re-enter", function()
    local function greedy_after(s, n)
      local ids = {}
      for _, id in s:stream({}, { max_tokens = n, stop_at_eos = false }) do ids[#ids + 1] = id end
      return ids
    end

    it("an error inside on_token propagates and leaves the session usable", function()
      local s = model:session({ n_ctx = 64 })
      local n = 0
      local ok, err = pcall(s.generate, s, e.prompt, { max_tokens = 10, stop_at_eos = false,
        on_token = function() n = n + 1; if n == 3 then error("boom in on_token") end end })
      assert.is_false(ok)
      assert.matches("boom in on_token", err, 1, true)
      assert.are.equal(#e.prompt + 3, s:pos())  -- the prompt and the three tokens it saw
      assert.are.same({ table.unpack(e.greedy, 4, 6) }, greedy_after(s, 3))
    end)

    it("returning false from on_token stops; a non-function value raises", function()
      local s = model:session({ n_ctx = 64 })
      local text, info = s:generate(e.prompt, { max_tokens = 10, stop_at_eos = false,
        on_token = function() return false end })
      assert.is_string(text)
      assert.are.equal(1, info.generated_tokens)
      assert.are.same({ table.unpack(e.greedy, 2, 3) }, greedy_after(s, 2))
    end)

    it("breaking out of a stream, or an error in the loop body, closes it and leaves the session usable", function()
      local s = model:session({ n_ctx = 64 })
      for _ in s:stream(e.prompt, { max_tokens = 10, stop_at_eos = false }) do break end  -- luacheck: ignore 512
      assert.are.equal(#e.prompt + 1, s:pos())
      local ok, err = pcall(function()
        for _ in s:stream({}, { max_tokens = 10, stop_at_eos = false }) do error("body") end
      end)
      assert.is_false(ok)
      assert.matches(":%d+: body$", err)
      assert.are.equal(#e.prompt + 2, s:pos())
      assert.are.same({ table.unpack(e.greedy, 3, 5) }, greedy_after(s, 3))
    end)

    it("a stream abandoned inside a coroutine is collected", function()
      local s = model:session({ n_ctx = 64 })
      local held = { co = coroutine.wrap(function()
        for piece in s:stream(e.prompt, { max_tokens = 50, stop_at_eos = false }) do coroutine.yield(piece) end
      end) }
      held.co()
      held.co()
      held.co = nil
      collectgarbage()
      collectgarbage()
      assert.are.equal(#e.prompt + 2, s:pos())
      assert.are.same({ table.unpack(e.greedy, 3, 4) }, greedy_after(s, 2))
    end)

    it("yielding from on_token is an error, not a crash", function()
      local co = coroutine.wrap(function()
        return pcall(model.generate, model, { 1, 2 }, { max_tokens = 3, on_token = function() coroutine.yield() end })
      end)
      local ok, err = co()
      assert.is_false(ok)
      assert.matches("yield across", err, 1, true)
    end)

    it("generating, evaluating or rewinding from inside on_token, or a second stream on one session, raise 'busy'", function()
      local s = model:session({ n_ctx = 24 })
      local busy = "the session is busy: a generation is running on it"
      for _, reenter in ipairs {
        function() s:generate({ 3 }, { max_tokens = 2 }) end,
        function() s:eval({ 3 }) end,
        function() s:score({ 3 }) end,
        function() s:rewind(0) end,
        function() s:stream({ 3 }) end,
      } do
        s:rewind(0)
        raises(busy, s.generate, s, { 1, 2 }, { max_tokens = 4, stop_at_eos = false, on_token = reenter })
        -- the failed generation freed the session: it works again, and what it holds is its own
        assert.is_true(s:pos() >= 2 and s:pos() <= 3)
        assert(s:eval({ 7 }))
      end
      s:rewind(0)
      local a, _, _, closer = s:stream({ 4 }, { max_tokens = 30, stop_at_eos = false })
      raises(busy, s.stream, s, { 5 }, { max_tokens = 30 })
      a()
      closer:close()
      assert(s:eval({ 5 }))  -- free once the stream is closed
    end)

    it("rewinding a session under a running stream is refused; after the stream ends it works", function()
      local s = model:session({ n_ctx = 32 })
      local it = s:stream({ 1, 2, 3 }, { max_tokens = 2, stop_at_eos = false })
      it()
      raises("the session is busy", s.rewind, s, 1)
      while it() do end
      s:rewind(1)
      assert(s:eval({ 7 }))
    end)
  end)

  describe("metamethods that run in the middle of a call", function()
    it("an id array whose reads close the session or the tokenizer", function()
      local s = model:session({ n_ctx = 32 })
      raises("attempt to use a closed session", s.eval, s, sneaky_ids(3, function() s:close() end))
      local s2 = model:session({ n_ctx = 32 })
      raises("attempt to use a closed session", s2.generate, s2, sneaky_ids(3, function() s2:close() end))
      local m = assert(mllm.load(TEXT, { threads = 1 }))
      local t = m:tokenizer()
      m:close()
      raises("attempt to use a closed tokenizer", t.decode, t, sneaky_ids(3, function() t:close(); collectgarbage() end))
      local m2 = assert(mllm.load(TEXT, { threads = 1 }))
      raises("attempt to use a closed model", m2.detokenize, m2,
        sneaky_ids(3, function() m2:close(); collectgarbage() end))
    end)

    it("an options table whose reads close the session or the model", function()
      local s = model:session({ n_ctx = 32 })
      raises("attempt to use a closed session", s.generate, s, { 1 }, sneaky_opts(function() s:close() end))
      local ts = tmodel:session({ n_ctx = 32 })
      raises("attempt to use a closed session", ts.stream, ts, "Once", sneaky_opts(function() ts:close() end))
      local m = assert(mllm.load(TEXT, { threads = 1 }))
      raises("attempt to use a closed model", m.tokenize, m, "Once",
        sneaky_opts(function() m:close(); collectgarbage() end))
      local m2 = assert(mllm.load(BASIC, { threads = 1 }))
      raises("attempt to use a closed model", m2.generate, m2, { 1 },
        sneaky_opts(function() m2:close(); collectgarbage() end))
      local m3 = assert(mllm.load(BASIC, { threads = 1 }))
      raises("attempt to use a closed model", m3.session, m3,
        sneaky_opts(function() m3:close(); collectgarbage() end))
    end)

    it("an id array with a huge length raises instead of overflowing", function()
      local s = model:session({ n_ctx = 32 })
      for _, n in ipairs { 1 << 62, (1 << 62) + 1, 1 << 61, math.maxinteger } do
        local too_long = ("an array of %d token ids is too long (limit 2147483647, INT_MAX)"):format(n)
        raises(too_long, s.eval, s, sneaky_ids(n, function() end))
        raises(too_long, model.detokenize, tmodel, sneaky_ids(n, function() end))
      end
      assert(s:eval({ 1 }))
    end)
  end)

  describe("many objects and long life", function()
    it("many sessions on one model give the same logits", function()
      local sessions = {}
      for i = 1, 40 do
        sessions[i] = model:session({ n_ctx = 16 })
        assert(sessions[i]:eval(e.prompt))
      end
      local want = sessions[1]:logits()
      for i = 2, 40 do assert.are.same(want, sessions[i]:logits()) end
      for i = 1, 40, 2 do sessions[i]:close() end
      for i = 1, 40 do sessions[i] = nil end
      collectgarbage()
    end)

    it("100 load/generate/close cycles bring RSS back to its baseline", function()
      local under_asan = os.getenv("LD_PRELOAD") and os.getenv("LD_PRELOAD"):find("asan")
      local function cycle()
        local m1 = assert(mllm.load(TEXT, { threads = 1 }))
        local m2 = assert(mllm.load(BASIC, { threads = 1 }))  -- two models at once
        local s = m1:session({ n_ctx = 16 })
        assert(s:generate("Once upon", { max_tokens = 3 }))
        assert(m2:generate({ 1, 2, 3 }, { max_tokens = 3, n_ctx = 16 }))
        local t = m1:tokenizer()
        t:decode(t:encode("a time"))
        s:close(); t:close(); m1:close(); m2:close()
      end
      -- warm up the allocator and the libraries: alone, the process's RSS settles within about
      -- 100 cycles (+500 kB after 100, +600 kB after 300 to 600); after the whole suite the
      -- first cycles after 5 warm-ups added 2 MB more, the heap's fragments of earlier specs
      for _ = 1, 50 do cycle() end
      collectgarbage(); collectgarbage()
      local base = rss_kb()
      for _ = 1, 100 do cycle() end
      collectgarbage(); collectgarbage()
      local after = rss_kb()
      io.stderr:write(("\n[80-hostile] VmRSS: %d kB after 50 warm-up cycles, %d kB after 100 more (%+d kB)\n")
        :format(base, after, after - base))
      if not under_asan then  -- ASan's quarantine keeps freed memory on purpose; it checks leaks itself
        assert.is_true(after - base < 2048, ("RSS grew by %d kB over 100 cycles"):format(after - base))
      end
    end)
  end)
end)
